//! Black-box tests of the whole service over HTTP, on SQLite by default and on
//! PostgreSQL when `NEXTAL_TEST_DATABASE_URL` is set.

mod auth;
mod bootstrap;
mod contract;
mod errors;
mod operations;
mod tenancy;
mod users;
