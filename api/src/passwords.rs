//! Password hashing with Argon2id at OWASP's recommended cost, off the async threads.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use nextal_domain::NewPassword;

/// OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// Hashes and verifies passwords. Verifying for an unknown account runs against a
/// dummy hash so that the answer takes as long as for a wrong password.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    dummy_hash: String,
}

impl Passwords {
    /// Prepares the hasher; computes the dummy hash once.
    pub fn new() -> anyhow::Result<Self> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy: [u8; 32] = rand::random();
        let dummy_hash = argon2
            .hash_password(&dummy)
            .map_err(|error| anyhow::anyhow!("argon2: {error}"))?
            .to_string();
        Ok(Self { argon2, dummy_hash })
    }

    /// The PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: &NewPassword) -> anyhow::Result<String> {
        let argon2 = self.argon2.clone();
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| anyhow::anyhow!("argon2: {error}"))
        })
        .await?
    }

    /// True when `password` matches `stored` (a PHC string). With no stored hash it
    /// checks against the dummy and answers false, in the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let argon2 = self.argon2.clone();
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|error| anyhow::anyhow!("stored hash: {error}"))?;
            Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok() && known)
        })
        .await?
    }
}
