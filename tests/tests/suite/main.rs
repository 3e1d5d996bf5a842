//! Black-box tests of the whole service over HTTP, on SQLite by default and on
//! PostgreSQL when `NEXTAL_TEST_DATABASE_URL` is set.
#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly where its arrangement breaks"
)]

mod auth;
mod bootstrap;
mod contract;
mod errors;
mod integrations;
mod key_rotation;
mod operations;
mod tenancy;
mod users;
