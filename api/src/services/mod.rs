//! Use cases: each function validates nothing the domain types already guarantee, runs
//! its queries (in one transaction when it writes more than once) and returns rows.

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod candidates;
pub mod error;
pub mod inbox;
pub mod integrations;
pub mod jobs;
pub mod messaging;
pub mod organization;
pub mod send_caps;
pub mod templates;
pub mod users;

pub use error::ServiceError;

/// Where a service finds the database. Services take `&Db`; this trait only lets
/// `routes/integrations.rs` (owned by the i16-providers branch) keep passing the whole
/// application state to `organization::default_country` until it passes `&state.db`,
/// after which the trait goes.
pub trait DbSource {
    /// The database.
    fn db(&self) -> &nextal_persistence::Db;
}

impl DbSource for nextal_persistence::Db {
    fn db(&self) -> &nextal_persistence::Db {
        self
    }
}

/// The current time as stored: UTC without a zone, at microsecond precision so that
/// a value read back from either database equals the value written.
pub fn now() -> chrono::NaiveDateTime {
    truncate_to_micros(chrono::Utc::now().naive_utc())
}

/// `time` at the microsecond precision both databases store.
pub fn truncate_to_micros(time: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    chrono::DurationRound::duration_trunc(time, chrono::TimeDelta::microseconds(1)).unwrap_or(time)
}

/// A new time-ordered id (UUIDv7), as stored.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
