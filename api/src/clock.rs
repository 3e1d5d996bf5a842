//! The time sending decisions are taken at (quiet hours, `send_at`, the daily send
//! cap). It is the system's clock; the test harness may set it to a chosen instant, so
//! a black-box test can say "it is 02:00 in New York" without waiting for it. Nothing
//! in the service sets it.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::services::truncate_to_micros;

/// The system clock, unless set.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    set_to: Arc<RwLock<Option<DateTime<Utc>>>>,
}

impl Clock {
    /// The current time as stored: UTC without a zone, at microsecond precision.
    pub fn now(&self) -> NaiveDateTime {
        let set_to = *self
            .set_to
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        truncate_to_micros(set_to.unwrap_or_else(Utc::now).naive_utc())
    }

    /// Stops the clock at `at`: every later reading is `at` until set again.
    pub fn set(&self, at: DateTime<Utc>) {
        *self
            .set_to
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(at);
    }
}
