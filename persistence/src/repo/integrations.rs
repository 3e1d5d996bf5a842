//! Provider integrations: one row per organization and provider, created on first edit.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nextal_domain::ProviderKind;

use crate::db::run;
use crate::schema::integrations;
use crate::{DbConn, PersistenceError};

/// The organization's integration row with `provider`, to select or update.
macro_rules! row_of {
    ($organization_id:expr, $provider:expr) => {
        integrations::table
            .filter(integrations::organization_id.eq($organization_id))
            .filter(integrations::provider.eq($provider))
    };
}

/// A stored integration. `secret` and `webhook_token` are sealed envelopes.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = integrations)]
pub struct Integration {
    pub id: String,
    pub organization_id: String,
    pub provider: ProviderKind,
    pub active: bool,
    pub phone_number: Option<String>,
    pub username: Option<String>,
    pub secret: Option<Vec<u8>>,
    pub secret_set_at: Option<NaiveDateTime>,
    pub webhook_token: Vec<u8>,
    pub webhook_token_hash: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for Integration {
    // Sealed values stay out of logs even though they are ciphertext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("provider", &self.provider)
            .field("active", &self.active)
            .field("phone_number", &self.phone_number)
            .field("username", &self.username)
            .field("secret_set", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// The organization's integrations.
pub async fn list(
    conn: &mut DbConn,
    organization_id: &str,
) -> Result<Vec<Integration>, PersistenceError> {
    Ok(run!(conn, |c| integrations::table
        .filter(integrations::organization_id.eq(organization_id))
        .select(Integration::as_select())
        .load(c)
        .await)?)
}

/// The organization's integration with `provider`.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
) -> Result<Option<Integration>, PersistenceError> {
    Ok(run!(conn, |c| row_of!(organization_id, provider)
        .select(Integration::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The organization's integration with `provider` if it is active, locked `FOR SHARE`
/// on PostgreSQL until the transaction ends, so a deactivation waits for the hand-over.
pub async fn find_active_for_handover(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
) -> Result<Option<Integration>, PersistenceError> {
    macro_rules! active {
        () => {
            row_of!(organization_id, provider)
                .filter(integrations::active.eq(true))
                .select(Integration::as_select())
        };
    }
    Ok(match conn {
        DbConn::Postgres(object) => active!()
            .for_share()
            .first(&mut **object)
            .await
            .optional()?,
        DbConn::Sqlite(object) => active!().first(&mut **object).await.optional()?,
    })
}

/// The integration whose webhook token hashes to `token_hash`.
pub async fn find_by_webhook_token(
    conn: &mut DbConn,
    token_hash: &[u8],
) -> Result<Option<Integration>, PersistenceError> {
    Ok(run!(conn, |c| integrations::table
        .filter(integrations::webhook_token_hash.eq(token_hash))
        .select(Integration::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Stores a new integration row unless the organization already has one for its
/// provider (two first requests may race to create it).
pub async fn insert_if_missing(
    conn: &mut DbConn,
    integration: &Integration,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(integrations::table)
        .values(integration)
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    Ok(())
}

/// The Edit panel's fields.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = integrations, treat_none_as_null = true)]
pub struct Settings {
    pub active: bool,
    pub phone_number: Option<String>,
    pub username: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// Saves the Edit panel's fields of `provider`.
pub async fn update_settings(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    settings: &Settings,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::update(row_of!(organization_id, provider))
        .set(settings)
        .execute(c)
        .await)?;
    Ok(())
}

/// Deactivates every active integration of the organization other than `provider`;
/// returns the providers it switched off.
pub async fn deactivate_others(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    now: NaiveDateTime,
) -> Result<Vec<ProviderKind>, PersistenceError> {
    let switched_off: Vec<ProviderKind> = run!(conn, |c| integrations::table
        .filter(integrations::organization_id.eq(organization_id))
        .filter(integrations::provider.ne(provider))
        .filter(integrations::active.eq(true))
        .select(integrations::provider)
        .load(c)
        .await)?;
    if !switched_off.is_empty() {
        run!(conn, |c| diesel::update(
            integrations::table
                .filter(integrations::organization_id.eq(organization_id))
                .filter(integrations::provider.ne(provider))
        )
        .set((
            integrations::active.eq(false),
            integrations::updated_at.eq(now)
        ))
        .execute(c)
        .await)?;
    }
    Ok(switched_off)
}

/// Sealed values to store on an integration; `None` leaves a column as it is.
#[derive(Default, AsChangeset)]
#[diesel(table_name = integrations)]
pub struct SealedChanges<'a> {
    /// A newly sealed secret, and when it was entered.
    pub secret: Option<&'a [u8]>,
    pub secret_set_at: Option<NaiveDateTime>,
    /// A new webhook token (sealed) and its lookup hash.
    pub webhook_token: Option<&'a [u8]>,
    pub webhook_token_hash: Option<&'a [u8]>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Stores newly sealed values on the organization's integration with `provider`.
pub async fn store_sealed(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    changes: &SealedChanges<'_>,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::update(row_of!(organization_id, provider))
        .set(changes)
        .execute(c)
        .await)?;
    Ok(())
}

/// Every organization's active integration, for reconciliation with its provider.
pub async fn all_active(conn: &mut DbConn) -> Result<Vec<Integration>, PersistenceError> {
    Ok(run!(conn, |c| integrations::table
        .filter(integrations::active.eq(true))
        .order(integrations::id.asc())
        .select(Integration::as_select())
        .load(c)
        .await)?)
}

/// Every integration of every organization, for re-sealing under a new master key.
pub async fn all(conn: &mut DbConn) -> Result<Vec<Integration>, PersistenceError> {
    Ok(run!(conn, |c| integrations::table
        .order(integrations::id.asc())
        .select(Integration::as_select())
        .load(c)
        .await)?)
}

/// Replaces the sealed values of `row` (a re-seal changes no plaintext), unless they
/// changed since `row` was read; false then.
pub async fn reseal(
    conn: &mut DbConn,
    row: &Integration,
    secret: Option<&[u8]>,
    webhook_token: &[u8],
) -> Result<bool, PersistenceError> {
    // Only the values `row` was read with are replaced: a change meanwhile wins.
    macro_rules! replace_unchanged {
        ($secret_as_read:expr) => {
            run!(conn, |c| diesel::update(
                integrations::table
                    .find(&row.id)
                    .filter($secret_as_read)
                    .filter(integrations::webhook_token.eq(&row.webhook_token))
            )
            .set((
                integrations::secret.eq(secret),
                integrations::webhook_token.eq(webhook_token)
            ))
            .execute(c)
            .await)?
        };
    }
    let updated = match &row.secret {
        Some(current) => replace_unchanged!(integrations::secret.eq(current)),
        None => replace_unchanged!(integrations::secret.is_null()),
    };
    Ok(updated > 0)
}
