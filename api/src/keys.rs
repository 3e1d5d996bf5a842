//! Loading the master key that seals provider secrets.

use anyhow::Context;
use nextal_persistence::{DatabaseUrl, Keyring};

use crate::config::Settings;

/// The file, beside the SQLite database, that holds a generated master key.
pub const KEY_FILE_NAME: &str = "master.key";

/// The keyring from `NEXTAL_MASTER_KEY` (and previous keys). Without a configured key,
/// the embedded SQLite setup uses `master.key` beside the database, generating it once;
/// PostgreSQL refuses to start, since every replica must share one key.
pub fn load_keyring(settings: &Settings, url: &DatabaseUrl) -> anyhow::Result<Keyring> {
    let current = match (&settings.master_key, url) {
        (Some(key), _) => key.clone(),
        (None, DatabaseUrl::Sqlite(database)) => {
            let path = database
                .parent()
                .map(|folder| folder.join(KEY_FILE_NAME))
                .unwrap_or_else(|| KEY_FILE_NAME.into());
            let (key, created) = Keyring::load_or_create_file(&path)?;
            if created {
                tracing::warn!(
                    path = %path.display(),
                    "generated a master key for provider secrets; back it up with the database, \
                     or set NEXTAL_MASTER_KEY (without it, stored secrets cannot be read)"
                );
            }
            key
        }
        (None, DatabaseUrl::Postgres(_)) => anyhow::bail!(
            "NEXTAL_MASTER_KEY is required with PostgreSQL: every replica must seal and open \
             provider secrets with the same key (make one with `openssl rand -base64 32`)"
        ),
    };
    Keyring::from_base64(&current, &settings.previous_master_keys).context("loading the master key")
}
