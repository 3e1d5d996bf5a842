//! Cross-replica notifications over PostgreSQL `LISTEN`/`NOTIFY`: what one replica
//! commits, every replica's live inbox hears. SQLite has one process, so it needs none.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;

use crate::{DbConn, PersistenceError};

/// The channel inbox events travel on.
pub const CHANNEL: &str = "nextal_sms_events";

/// Queues `payloads` on [`CHANNEL`] as part of the current transaction: PostgreSQL
/// delivers them when (and only if) it commits. Does nothing on SQLite.
pub async fn notify(conn: &mut DbConn, payloads: &[String]) -> Result<(), PersistenceError> {
    let DbConn::Postgres(object) = conn else {
        return Ok(());
    };
    if payloads.is_empty() {
        return Ok(());
    }
    let payloads = serde_json::to_string(payloads)
        .map_err(|error| PersistenceError::Encoding(error.to_string()))?;
    diesel::sql_query(
        "SELECT pg_notify('nextal_sms_events', value) FROM json_array_elements_text($1::json)",
    )
    .bind::<diesel::sql_types::Text, _>(payloads)
    .execute(&mut **object)
    .await?;
    Ok(())
}

/// A dedicated connection listening on [`CHANNEL`].
pub struct Listener {
    conn: AsyncPgConnection,
}

impl Listener {
    /// Connects to `url` and starts listening.
    pub async fn connect(url: &str) -> Result<Self, PersistenceError> {
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .map_err(|error| PersistenceError::Unavailable(error.to_string()))?;
        diesel::sql_query("LISTEN nextal_sms_events")
            .execute(&mut conn)
            .await?;
        Ok(Self { conn })
    }

    /// The next payload; `None` when the connection is gone.
    pub async fn next(&mut self) -> Option<Result<String, PersistenceError>> {
        let mut stream = std::pin::pin!(self.conn.notifications_stream());
        stream
            .next()
            .await
            .map(|notification| Ok(notification?.payload))
    }
}
