//! The database handle: backend chosen from `DATABASE_URL`, one pool per backend, and a
//! transaction guard that never returns a half-finished transaction to the pool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::SqliteConnection;
use diesel::connection::AnsiTransactionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::error::PersistenceError;

/// SQLite behind diesel-async: each query runs on tokio's blocking pool.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, DetachedBlocking>;

/// Runs SQLite work on tokio's blocking pool and lets it finish when the caller stops
/// waiting. diesel-async's default instead blocks the dropping thread until the work
/// ends, which panics on actix-web's single-threaded workers whenever a request future
/// is dropped mid-query (a client disconnect, or a sibling extractor failing first).
///
/// A connection's tasks run one after the other, in the order they were spawned, and
/// each lets go of the connection before the next starts. So once a task spawned now
/// has finished, every earlier one has too, abandoned ones included: the pool relies on
/// that before it recycles a connection ([`wait_for_abandoned_work`]), because
/// diesel-async panics when it inspects a connection that a task still holds. The
/// connection's own mutex keeps statements from interleaving, and [`Tx`] never returns
/// a connection to the pool with a transaction in doubt.
pub struct DetachedBlocking {
    /// Closes when the task spawned last on this connection has finished.
    previous: Option<std::sync::mpsc::Receiver<()>>,
}

impl SpawnBlocking for DetachedBlocking {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        let (finished, this_one) = std::sync::mpsc::channel::<()>();
        let previous = self.previous.replace(this_one);
        let handle = tokio::task::spawn_blocking(move || {
            if let Some(previous) = previous {
                // Err once the previous task has finished (its sender is dropped).
                let _ = previous.recv();
            }
            // Calling `task` consumes it: its hold on the connection ends with the call.
            let result = task();
            drop(finished);
            result
        });
        async move { handle.await.map_err(|error| error.into()) }.boxed()
    }

    fn get_runtime() -> Self {
        DetachedBlocking { previous: None }
    }
}

/// Waits, before a SQLite connection goes back into use, for the work of any request
/// that abandoned it mid-query: a no-op queued behind that work finishes after it.
fn wait_for_abandoned_work<'a>(
    conn: &'a mut SqliteConn,
    _: &'a deadpool::managed::Metrics,
) -> deadpool::managed::HookFuture<'a, diesel_async::pooled_connection::PoolError> {
    Box::pin(async move {
        conn.spawn_blocking(|_| Ok(()))
            .await
            .map_err(|error| deadpool::managed::HookError::Message(error.to_string().into()))
    })
}

/// Pragmas every SQLite connection needs. They are per connection, so they run in the
/// pool's setup hook: set on one connection only, concurrent writers hit "database is
/// locked" instead of waiting.
const SQLITE_CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; \
     PRAGMA busy_timeout = 10000; \
     PRAGMA synchronous = NORMAL;";

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For scale and several replicas.
    Postgres,
}

/// A parsed `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://relative/path.db` or `sqlite:///absolute/path.db`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to the driver as given.
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    // A PostgreSQL URL may carry a password: show only the backend.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DatabaseUrl::Postgres(_) => f.write_str("Postgres([redacted])"),
        }
    }
}

impl DatabaseUrl {
    /// Chooses the backend by the URL's scheme.
    pub fn parse(raw: &str) -> Result<Self, PersistenceError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() || path.contains(":memory:") {
                return Err(PersistenceError::InvalidUrl(
                    "sqlite:// needs a file path, e.g. sqlite://data/nextal-sms.db (an in-memory \
                     database would be lost and is not shared between pooled connections)"
                        .into(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        Err(PersistenceError::InvalidUrl(
            "the scheme must be sqlite:// or postgres:// (this build supports SQLite and \
             PostgreSQL)"
                .into(),
        ))
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Pool sizing and patience.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections held open at once.
    pub max_connections: usize,
    /// How long a request waits for a free connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The shared database handle; cheap to clone.
#[derive(Clone)]
pub enum Db {
    /// Connections to PostgreSQL.
    Postgres(Pool<AsyncPgConnection>),
    /// Connections to one SQLite file.
    Sqlite(Pool<SqliteConn>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Db").field(&self.backend()).finish()
    }
}

/// One pooled connection of either backend. Repositories take `&mut DbConn` and run
/// the same query on whichever connection it holds (see the `run!` macro).
#[allow(
    clippy::large_enum_variant,
    reason = "held one per request; boxing would allocate on every checkout"
)]
pub enum DbConn {
    /// A PostgreSQL connection.
    Postgres(Object<AsyncPgConnection>),
    /// A SQLite connection.
    Sqlite(Object<SqliteConn>),
}

/// Runs one Diesel query expression against whichever backend `$conn` (a `&mut
/// DbConn`) holds; the expression is expanded once per backend, so it must be valid
/// for both.
macro_rules! run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(object) => {
                let $c = &mut **object;
                $body
            }
            $crate::DbConn::Sqlite(object) => {
                let $c = &mut **object;
                $body
            }
        }
    };
}
pub(crate) use run;

/// Inserts `$rows` (a slice of `Insertable` records with `$columns` columns) into
/// `$table`, as few statements as each backend's bind-parameter limit allows.
/// diesel-async cannot batch-insert into SQLite (it lacks the `DEFAULT` keyword), so on
/// SQLite the synchronous batch insert runs on the connection's blocking thread.
macro_rules! batch_insert {
    ($conn:expr, $table:expr, $rows:expr, $columns:expr) => {
        match $conn {
            $crate::DbConn::Postgres(object) => {
                for chunk in $rows.chunks($crate::db::POSTGRES_MAX_BINDS / $columns) {
                    diesel_async::RunQueryDsl::execute(
                        diesel::insert_into($table).values(chunk),
                        &mut **object,
                    )
                    .await?;
                }
            }
            $crate::DbConn::Sqlite(object) => {
                for chunk in $rows.chunks($crate::db::SQLITE_MAX_BINDS / $columns) {
                    let rows = chunk.to_vec();
                    object
                        .spawn_blocking(move |sqlite| {
                            diesel::RunQueryDsl::execute(
                                diesel::insert_into($table).values(&rows),
                                sqlite,
                            )
                        })
                        .await?;
                }
            }
        }
    };
}
pub(crate) use batch_insert;

/// Bind parameters one PostgreSQL statement may carry (the protocol allows 65,535).
pub(crate) const POSTGRES_MAX_BINDS: usize = 60_000;
/// Bind parameters one SQLite statement may carry (SQLITE_MAX_VARIABLE_NUMBER is 32,766).
pub(crate) const SQLITE_MAX_BINDS: usize = 32_000;

impl Db {
    /// Opens a pool for `url`; for SQLite the file's folder is created first.
    /// Connections are made lazily, so this succeeds while the database is down.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, PersistenceError> {
        match url {
            DatabaseUrl::Postgres(url) => {
                // A connection that died is noticed by the driver, and the query on it fails
                // like any other: no `SELECT 1` round trip on every checkout.
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                    url.as_str(),
                    config,
                );
                Ok(Db::Postgres(build_pool(manager, options)?))
            }
            DatabaseUrl::Sqlite(path) => {
                create_parent_folder(path)?;
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| {
                    async move {
                        let mut conn = SqliteConn::establish(url).await?;
                        conn.batch_execute(SQLITE_CONNECTION_PRAGMAS)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                    path.to_string_lossy(),
                    config,
                );
                let pool = pool_builder(manager, options)
                    .pre_recycle(deadpool::managed::Hook::async_fn(wait_for_abandoned_work))
                    .build()
                    .map_err(|error| PersistenceError::Unavailable(error.to_string()))?;
                Ok(Db::Sqlite(pool))
            }
        }
    }

    /// Which engine this handle talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A connection from the pool.
    pub async fn conn(&self) -> Result<DbConn, PersistenceError> {
        match self {
            Db::Postgres(pool) => pool.get().await.map(DbConn::Postgres),
            Db::Sqlite(pool) => pool.get().await.map(DbConn::Sqlite),
        }
        .map_err(|error| PersistenceError::Unavailable(error.to_string()))
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails under
    /// concurrency instead of waiting.
    pub async fn begin(&self) -> Result<Tx, PersistenceError> {
        // The guard exists before BEGIN is sent, so that a caller giving up mid-way
        // discards the connection instead of pooling one in an unknown state.
        let mut tx = Tx {
            conn: Some(self.conn().await?),
        };
        match &mut *tx {
            DbConn::Postgres(object) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(
                    &mut **object,
                )
                .await?;
            }
            DbConn::Sqlite(object) => {
                object
                    .spawn_blocking(|sqlite| {
                        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
                    })
                    .await?;
            }
        }
        Ok(tx)
    }

    /// True when a trivial query succeeds: the readiness probe.
    pub async fn ping(&self) -> Result<(), PersistenceError> {
        let mut conn = self.conn().await?;
        let one: i32 = run!(&mut conn, |c| {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
                .get_result(c)
                .await
        })?;
        debug_assert_eq!(one, 1);
        Ok(())
    }
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    options: PoolOptions,
) -> Result<Pool<C>, PersistenceError>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    pool_builder(manager, options)
        .build()
        .map_err(|error| PersistenceError::Unavailable(error.to_string()))
}

fn pool_builder<C>(
    manager: AsyncDieselConnectionManager<C>,
    options: PoolOptions,
) -> deadpool::managed::PoolBuilder<AsyncDieselConnectionManager<C>>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    Pool::builder(manager)
        .max_size(options.max_connections.max(1))
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
}

/// Creates the folder that will hold the SQLite file.
pub(crate) fn create_parent_folder(path: &Path) -> Result<(), PersistenceError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|error| {
                PersistenceError::Unavailable(format!(
                    "cannot create the folder {} for the SQLite database: {error}",
                    parent.display()
                ))
            })
        }
        _ => Ok(()),
    }
}

/// An open transaction. `commit` ends it; dropping it unfinished (an error returned
/// with `?`, or the request future cancelled) closes the connection instead of
/// returning it to the pool, so the database rolls back and no later request inherits
/// the open transaction or, on SQLite, its write lock.
pub struct Tx {
    conn: Option<DbConn>,
}

impl Tx {
    /// Makes the transaction's writes durable and returns the connection to the pool.
    pub async fn commit(mut self) -> Result<(), PersistenceError> {
        // Until COMMIT has answered, the connection stays in the guard: if this future
        // is dropped mid-way, `Drop` discards it.
        let committed = match &mut *self {
            DbConn::Postgres(object) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::commit_transaction(
                    &mut **object,
                )
                .await
            }
            DbConn::Sqlite(object) => {
                <SqliteConn as AsyncConnection>::TransactionManager::commit_transaction(
                    &mut **object,
                )
                .await
            }
        };
        committed?;
        // Back to the pool, in a known state.
        self.conn.take();
        Ok(())
    }
}

impl Tx {
    /// Ends the transaction without writing and returns the connection to the pool.
    pub async fn rollback(mut self) -> Result<(), PersistenceError> {
        let rolled_back = match &mut *self {
            DbConn::Postgres(object) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::rollback_transaction(
                    &mut **object,
                )
                .await
            }
            DbConn::Sqlite(object) => {
                <SqliteConn as AsyncConnection>::TransactionManager::rollback_transaction(
                    &mut **object,
                )
                .await
            }
        };
        rolled_back?;
        self.conn.take();
        Ok(())
    }
}

impl std::ops::Deref for Tx {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        // `conn` is only taken by `commit`, which consumes the guard.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("transaction used after commit"))
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("transaction used after commit"))
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            discard(conn);
        }
    }
}

/// Takes a connection out of its pool and closes it.
fn discard(conn: DbConn) {
    match conn {
        DbConn::Postgres(object) => drop(Object::take(object)),
        DbConn::Sqlite(object) => drop(Object::take(object)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db")
                .map(|u| u.backend())
                .ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u:p@h/db")
                .map(|u| u.backend())
                .ok(),
            Some(Backend::Postgres)
        );
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
    }

    #[test]
    fn debug_output_hides_postgres_credentials() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@db/nextal").expect("valid");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
