//! Embedded migrations: one folder for both backends. The SQL is written so that
//! PostgreSQL and SQLite read it alike (`BYTEA` is a blob to SQLite, `FALSE` a literal
//! since SQLite 3.23), so a table is defined once.

use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::{DatabaseUrl, Db, create_parent_folder};
use crate::error::PersistenceError;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Serialises migrations when several replicas start at once against one PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x6e65_7874_616c_736d; // "nextalsm"

impl Db {
    /// Applies pending migrations and returns the versions applied. Runs on a blocking
    /// thread: the migration harness is synchronous. SQLite is switched to WAL here,
    /// once, since the journal mode is stored in the file.
    pub async fn migrate(url: &DatabaseUrl) -> Result<Vec<String>, PersistenceError> {
        let url = url.clone();
        tokio::task::spawn_blocking(move || match url {
            DatabaseUrl::Sqlite(path) => {
                create_parent_folder(&path)?;
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(|error| PersistenceError::Unavailable(error.to_string()))?;
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 10000;",
                )?;
                switch_to_wal(&mut conn)?;
                // Two processes starting on one file take turns instead of both
                // applying the same migration.
                conn.exclusive_transaction(|conn| apply(conn, MIGRATIONS))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
                    .map_err(|error| PersistenceError::Unavailable(error.to_string()))?;
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    &format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"),
                )?;
                let applied = apply(&mut conn, MIGRATIONS);
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"),
                )?;
                applied
            }
        })
        .await
        .map_err(|error| PersistenceError::Migration(error.to_string()))?
    }
}

/// Puts the SQLite file in WAL mode. Changing the journal mode is refused at once
/// (the busy timeout does not apply) while another process starting on the same file
/// holds its migration transaction, so it is retried for as long as that timeout.
fn switch_to_wal(conn: &mut diesel::SqliteConnection) -> Result<(), PersistenceError> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
    let started = std::time::Instant::now();
    loop {
        match diesel::connection::SimpleConnection::batch_execute(
            conn,
            "PRAGMA journal_mode = WAL;",
        ) {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() < PATIENCE && is_locked(&error) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

fn is_locked(error: &diesel::result::Error) -> bool {
    error.to_string().contains("database is locked")
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<Vec<String>, PersistenceError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|error| PersistenceError::Migration(error.to_string()))
}
