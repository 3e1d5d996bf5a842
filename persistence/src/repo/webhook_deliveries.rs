//! The raw log of webhook deliveries: every reply and receipt as it arrived, with what
//! became of it, so none is ever lost and each can be replayed or audited.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use nextal_domain::ProviderKind;

use crate::db::batch_insert;
use crate::schema::webhook_deliveries;
use crate::{DbConn, PersistenceError};

/// One delivery as received.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = webhook_deliveries, treat_none_as_default_value = false)]
pub struct WebhookDelivery {
    pub id: String,
    pub organization_id: String,
    pub provider: ProviderKind,
    /// `inbound` or `receipt`.
    pub kind: String,
    pub provider_message_id: Option<String>,
    pub content_type: Option<String>,
    /// The body (or query string) exactly as it arrived.
    pub payload: String,
    /// `applied`, `duplicate`, `provider_inactive`, `unmatched`, `stale`, `unreadable`
    /// or `failed`.
    pub outcome: String,
    pub received_at: NaiveDateTime,
}

const COLUMNS: usize = 9;

const INSERT_POSTGRES: &str = "
INSERT INTO webhook_deliveries (id, organization_id, provider, kind, provider_message_id,
                                content_type, payload, outcome, received_at)
SELECT id, organization_id, provider, kind, provider_message_id, content_type, payload,
       outcome, received_at
FROM jsonb_to_recordset($1::jsonb) AS v(id text, organization_id text, provider text,
     kind text, provider_message_id text, content_type text, payload text, outcome text,
     received_at timestamp)";

/// Stores deliveries.
pub async fn insert_many(
    conn: &mut DbConn,
    deliveries: &[WebhookDelivery],
) -> Result<(), PersistenceError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    match conn {
        DbConn::Postgres(object) => {
            let rows = serde_json::to_string(deliveries)
                .map_err(|error| PersistenceError::Encoding(error.to_string()))?;
            diesel::sql_query(INSERT_POSTGRES)
                .bind::<Text, _>(rows)
                .execute(&mut **object)
                .await?;
        }
        DbConn::Sqlite(_) => batch_insert!(conn, webhook_deliveries::table, deliveries, COLUMNS),
    }
    Ok(())
}
