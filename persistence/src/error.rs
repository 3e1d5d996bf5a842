//! The persistence crate's one error type.

/// Why a database operation failed. Messages never carry connection strings or bound values.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// `DATABASE_URL` names no supported backend or is malformed.
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    /// No connection could be had: the database is down, unreachable or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write; the name says which one.
    #[error("conflicts with existing data ({constraint})")]
    UniqueViolation {
        /// The constraint or index name reported by the database, when it reports one.
        constraint: String,
    },
    /// Applying migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// Rows could not be encoded for a set-based statement.
    #[error("cannot encode rows: {0}")]
    Encoding(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Query(#[source] diesel::result::Error),
}

impl From<diesel::result::Error> for PersistenceError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                PersistenceError::UniqueViolation {
                    constraint: info
                        .constraint_name()
                        .map(str::to_owned)
                        .unwrap_or_else(|| info.message().to_owned()),
                }
            }
            // diesel-async reports a PostgreSQL connection lost mid-query (and any other
            // failure without an SQLSTATE: I/O, a timeout) as `UnableToSendCommand`.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => PersistenceError::Unavailable(info.message().to_owned()),
            other => PersistenceError::Query(other),
        }
    }
}

impl PersistenceError {
    /// True when the failure says nothing about the data, only that the database
    /// could not be reached: callers may retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PersistenceError::Unavailable(_))
    }
}
