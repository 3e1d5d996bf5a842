//! Storage for Nextal SMS: the schema, embedded migrations for SQLite and PostgreSQL,
//! the connection pools and the repositories. The only crate that knows SQL.

mod db;
mod error;
mod migrations;
pub mod notifications;
pub mod repo;
pub mod schema;
mod secrets;

pub use db::{Backend, DatabaseUrl, Db, DbConn, PoolOptions, Tx};
pub use error::PersistenceError;
pub use secrets::{Keyring, SecretContext, SecretError};
