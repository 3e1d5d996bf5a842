//! Signing in and out, bearer sessions and sign-in throttling.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{NaiveDateTime, TimeDelta};
use nextal_domain::Role;
use nextal_persistence::Db;
use nextal_persistence::repo::users::User;
use nextal_persistence::repo::{login_throttle, sessions, users};
use sha2::{Digest, Sha256};

use crate::passwords::Passwords;
use crate::services::{ServiceError, new_id, now};

/// Failed sign-ins allowed per account within [`FAILURE_WINDOW_MINUTES`].
pub const ACCOUNT_FAILURE_LIMIT: i32 = 5;
/// Failed sign-ins allowed per client address within the window; higher than the
/// account limit because offices share addresses.
pub const ADDRESS_FAILURE_LIMIT: i32 = 50;
/// How long failures are remembered, and so how long a throttled client waits at most.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

/// Prefix of every session token, so a leaked one is recognisable in a secret scanner.
const TOKEN_PREFIX: &str = "nxs_";
/// Longest header value considered a token; anything longer is refused before hashing.
const MAX_TOKEN_LENGTH: usize = 128;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The session the request came with.
    pub session_id: String,
    /// The user, as stored.
    pub user: User,
    /// The user's role.
    pub role: Role,
}

impl CurrentUser {
    /// The organization every query of this request is scoped to.
    pub fn organization_id(&self) -> &str {
        &self.user.organization_id
    }
}

/// A new session.
pub struct SignedIn {
    /// The bearer token; shown once, stored only as a hash.
    pub token: String,
    /// When the token stops working.
    pub expires_at: NaiveDateTime,
    /// Who signed in.
    pub user: User,
}

fn failure_window() -> TimeDelta {
    TimeDelta::minutes(FAILURE_WINDOW_MINUTES)
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

/// Checks the credentials and opens a session lasting `session_ttl`. Unknown emails
/// cost the same time as wrong passwords; too many failures for the account or the
/// address are [`ServiceError::Throttled`].
pub async fn sign_in(
    db: &Db,
    passwords: &Passwords,
    session_ttl: Duration,
    email: &str,
    password: String,
    client: Option<IpAddr>,
) -> Result<SignedIn, ServiceError> {
    let started = now();
    let account = account_key(email);
    let mut keys = vec![account.clone()];
    if let Some(address) = client {
        keys.push(format!("address:{address}"));
    }

    let stored = {
        let mut conn = db.conn().await?;
        let windows = login_throttle::find(&mut conn, &keys).await?;
        if let Some(retry_after_secs) = throttled_for(&windows, started) {
            return Err(ServiceError::Throttled { retry_after_secs });
        }
        users::find_for_login(&mut conn, &email.trim().to_lowercase())
            .await?
            .filter(|(user, _)| user.active)
    };
    // The connection is back in the pool while the hash runs.
    let (user, hash) = match stored {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = passwords
        .verify(password, hash)
        .await
        .map_err(ServiceError::Internal)?;

    let mut tx = db.begin().await?;
    let Some(user) = user.filter(|_| matches) else {
        for key in &keys {
            login_throttle::record_failure(&mut tx, key, started, started - failure_window())
                .await?;
        }
        tx.commit().await?;
        return Err(ServiceError::InvalidCredentials);
    };
    login_throttle::clear(&mut tx, &account).await?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let expires_at = started
        + TimeDelta::from_std(session_ttl).map_err(|error| ServiceError::Internal(error.into()))?;
    sessions::insert(
        &mut tx,
        &sessions::Session {
            id: new_id(),
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            organization_id: user.organization_id.clone(),
            created_at: started,
            expires_at,
            revoked_at: None,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "signed in");
    Ok(SignedIn {
        token,
        expires_at,
        user,
    })
}

/// Seconds until the most constraining throttle on `windows` lifts, if any applies.
fn throttled_for(windows: &[login_throttle::FailureWindow], now: NaiveDateTime) -> Option<u64> {
    windows
        .iter()
        .filter(|window| {
            let limit = if window.key.starts_with("account:") {
                ACCOUNT_FAILURE_LIMIT
            } else {
                ADDRESS_FAILURE_LIMIT
            };
            window.failures >= limit && window.window_started_at + failure_window() > now
        })
        .map(|window| {
            let remaining = (window.window_started_at + failure_window() - now).num_seconds();
            u64::try_from(remaining.max(1)).unwrap_or(1)
        })
        .max()
}

/// The session and user behind an `Authorization` header value.
pub async fn authenticate(
    db: &Db,
    authorization: Option<&str>,
) -> Result<CurrentUser, ServiceError> {
    let token = authorization
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| token.starts_with(TOKEN_PREFIX) && token.len() <= MAX_TOKEN_LENGTH)
        .ok_or(ServiceError::Unauthorized)?;
    let mut conn = db.conn().await?;
    let (session, user) = sessions::find_live(&mut conn, &token_hash(token), now())
        .await?
        .ok_or(ServiceError::Unauthorized)?;
    let role = user.role.parse::<Role>().map_err(|_| {
        ServiceError::Internal(anyhow::anyhow!("user {} has an unknown role", user.id))
    })?;
    Ok(CurrentUser {
        session_id: session.id,
        user,
        role,
    })
}

/// Ends the caller's session.
pub async fn sign_out(db: &Db, current: &CurrentUser) -> Result<(), ServiceError> {
    let mut conn = db.conn().await?;
    sessions::revoke(&mut conn, &current.session_id, now()).await?;
    tracing::info!(user_id = %current.user.id, "signed out");
    Ok(())
}

/// Tokens are stored only as their SHA-256: a copy of the database opens no session.
/// Lookup by this digest needs no constant-time comparison, since a caller cannot steer
/// which stored digest a guess is compared with.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use login_throttle::FailureWindow;

    fn window_of(key: &str, failures: i32, started_minutes_ago: i64) -> FailureWindow {
        FailureWindow {
            key: key.into(),
            failures,
            window_started_at: now() - TimeDelta::minutes(started_minutes_ago),
        }
    }

    #[test]
    fn throttles_only_full_and_recent_windows() {
        let now = now();
        assert_eq!(throttled_for(&[window_of("account:a", 4, 1)], now), None);
        assert_eq!(throttled_for(&[window_of("account:a", 5, 16)], now), None);
        assert_eq!(
            throttled_for(&[window_of("address:1.2.3.4", 49, 1)], now),
            None
        );
        let retry = throttled_for(&[window_of("account:a", 5, 5)], now).expect("throttled");
        assert!((599..=600).contains(&retry), "{retry}");
    }
}
