//! Black-box tests of the whole service over HTTP, on SQLite by default and on
//! PostgreSQL when `NEXTAL_TEST_DATABASE_URL` is set.
#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly where its arrangement breaks"
)]

mod auth;
mod authorization;
mod bad_input;
mod bootstrap;
mod candidates;
mod contract;
mod errors;
mod failures;
mod faults;
mod inbox;
mod integrations;
mod jobs;
mod key_rotation;
mod limits;
mod messaging;
mod operations;
mod quiet_hours;
mod reconcile;
mod recovery;
mod secrets;
mod team_inbox;
mod templates;
mod tenancy;
mod users;
mod webhooks;
