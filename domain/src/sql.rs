//! Where the domain's enums meet SQL: each is stored as its `as_str()` name in a `TEXT`
//! column and read back through `FromStr`, on both backends. This is the only place
//! that conversion happens, so repositories bind and load the enums themselves and no
//! status, direction, failure reason or provider name is spelled out in SQL or compared as a string.
//!
//! Built only with the `diesel` feature (enabled by the persistence crate); the
//! mapping does no I/O of its own.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::{Direction, Encoding, FailureReason, MessageStatus, ProviderKind};

/// Implements `ToSql<Text>`/`FromSql<Text>` for both backends from `as_str` and `FromStr`.
macro_rules! text_enum {
    ($ty:ty) => {
        impl ToSql<Text, Sqlite> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.as_str());
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), &mut out.reborrow())
            }
        }

        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let raw = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                raw.parse::<$ty>()
                    .map_err(|error| format!("`{raw}` in the database: {error}").into())
            }
        }
    };
}

text_enum!(MessageStatus);
text_enum!(Direction);
text_enum!(ProviderKind);
text_enum!(FailureReason);
text_enum!(Encoding);
