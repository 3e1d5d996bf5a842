//! Response and request bodies shared by several resources.

use chrono::{DateTime, NaiveDateTime, Utc};
use nextal_domain::{Encoding, Role};
use nextal_persistence::repo::users::User;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stored UTC time as RFC 3339.
pub fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Manages the organization, users and SMS providers.
    Admin,
    /// Texts candidates and works the inbox.
    Recruiter,
}

impl From<UserRole> for Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Admin => Role::Admin,
            UserRole::Recruiter => Role::Recruiter,
        }
    }
}

/// A user of the organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    #[schema(example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10")]
    pub id: String,
    #[schema(example = "ann.lee@example.com")]
    pub email: String,
    #[schema(example = "Ann")]
    pub first_name: String,
    #[schema(example = "Lee")]
    pub last_name: String,
    pub role: UserRole,
    /// Inactive users cannot sign in.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            // The column's CHECK constraint admits only these two values.
            role: if user.role == Role::Admin.as_str() {
                UserRole::Admin
            } else {
                UserRole::Recruiter
            },
            active: user.active,
            created_at: utc(user.created_at),
            updated_at: utc(user.updated_at),
        }
    }
}

/// How an SMS's text is carried: GSM-7 (160 characters in one SMS) or UCS-2 (70), used
/// as soon as one character is outside the GSM 03.38 tables (an emoji, a curly quote).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum SmsEncoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl From<Encoding> for SmsEncoding {
    fn from(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Gsm7 => SmsEncoding::Gsm7,
            Encoding::Ucs2 => SmsEncoding::Ucs2,
        }
    }
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`
/// field of a PATCH body: absent stays `None` (keep), `null` becomes `Some(None)`
/// (clear), a value becomes `Some(Some(value))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
