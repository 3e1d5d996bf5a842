//! Sealing secrets at rest: XChaCha20-Poly1305 under a master key, a random nonce per
//! value, and associated data binding each value to its organization, provider and
//! field, so a ciphertext copied to another row does not open.
//!
//! Envelope: `version (1) | key id (8) | nonce (24) | ciphertext and tag`. The key id
//! names the master key that sealed the value, so several keys can be tried during a
//! rotation and a value sealed under a retired key is recognisable.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

const ENVELOPE_VERSION: u8 = 1;
const KEY_ID_LENGTH: usize = 8;
const NONCE_LENGTH: usize = 24;
const HEADER_LENGTH: usize = 1 + KEY_ID_LENGTH + NONCE_LENGTH;

/// Why a secret could not be sealed or opened, or a key not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// A configured master key is not 32 bytes of standard base64.
    #[error("{0} must be 32 bytes encoded in base64 (e.g. `openssl rand -base64 32`)")]
    InvalidKey(&'static str),
    /// The value was sealed under a master key that is not configured.
    #[error("sealed under an unknown master key (id {0}); set NEXTAL_PREVIOUS_MASTER_KEYS")]
    UnknownKey(String),
    /// The value does not open under its key and context: tampered, or copied from
    /// another organization, provider or field.
    #[error("does not decrypt: the stored value was altered or belongs to another record")]
    Tampered,
    /// The stored bytes are not an envelope.
    #[error("is not a sealed value")]
    Malformed,
    /// The key file could not be read or written.
    #[error("master key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where a sealed value belongs; part of the associated data.
#[derive(Debug, Clone, Copy)]
pub struct SecretContext<'a> {
    /// The owning organization.
    pub organization_id: &'a str,
    /// The provider's slug, as stored.
    pub provider: &'a str,
    /// The field, e.g. `secret` or `webhook_token`.
    pub field: &'a str,
}

impl SecretContext<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "nextal-sms/v1|{}|{}|{}",
            self.organization_id, self.provider, self.field
        )
        .into_bytes()
    }
}

struct MasterKey {
    id: [u8; KEY_ID_LENGTH],
    key: SecretBox<[u8; 32]>,
}

impl MasterKey {
    fn new(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"nextal-sms master key id")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; KEY_ID_LENGTH];
        id.copy_from_slice(&digest[..KEY_ID_LENGTH]);
        Self {
            id,
            key: SecretBox::new(Box::new(bytes)),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_secret().into())
    }
}

/// The current master key, which seals, and previous ones, which only open.
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current_key_id", &hex(&self.current.id))
            .field("previous_keys", &self.previous.len())
            .finish()
    }
}

impl Keyring {
    /// A keyring from raw keys.
    pub fn new(current: [u8; 32], previous: Vec<[u8; 32]>) -> Self {
        Self {
            current: MasterKey::new(current),
            previous: previous.into_iter().map(MasterKey::new).collect(),
        }
    }

    /// A keyring from base64 keys as configured (`NEXTAL_MASTER_KEY`,
    /// `NEXTAL_PREVIOUS_MASTER_KEYS`).
    pub fn from_base64(
        current: &SecretString,
        previous: &[SecretString],
    ) -> Result<Self, SecretError> {
        let current = decode_key(current, "NEXTAL_MASTER_KEY")?;
        let previous = previous
            .iter()
            .map(|key| decode_key(key, "NEXTAL_PREVIOUS_MASTER_KEYS"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(current, previous))
    }

    /// The key stored in `path`, created there (mode 0600) with a fresh random key when
    /// the file does not exist. True in the second place when it was created.
    pub fn load_or_create_file(path: &Path) -> Result<(SecretString, bool), SecretError> {
        let file_error = |reason: String| SecretError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((SecretString::from(text.trim().to_owned()), false)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let encoded = STANDARD.encode(rand::random::<[u8; 32]>());
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| file_error(e.to_string()))?;
                }
                write_private(path, &encoded).map_err(|e| file_error(e.to_string()))?;
                Ok((SecretString::from(encoded), true))
            }
            Err(error) => Err(file_error(error.to_string())),
        }
    }

    /// Seals `plaintext` under the current key.
    pub fn seal(&self, plaintext: &str, context: SecretContext<'_>) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LENGTH] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let aad = context.associated_data();
        // Encryption fails only for inputs beyond the cipher's ~256 GiB limit.
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut envelope = Vec::with_capacity(HEADER_LENGTH + ciphertext.len());
        envelope.push(ENVELOPE_VERSION);
        envelope.extend_from_slice(&self.current.id);
        envelope.extend_from_slice(&nonce_bytes);
        envelope.extend_from_slice(&ciphertext);
        envelope
    }

    /// Opens an envelope sealed under any configured key for `context`.
    pub fn open(
        &self,
        envelope: &[u8],
        context: SecretContext<'_>,
    ) -> Result<SecretString, SecretError> {
        if envelope.len() < HEADER_LENGTH || envelope[0] != ENVELOPE_VERSION {
            return Err(SecretError::Malformed);
        }
        let key_id = &envelope[1..1 + KEY_ID_LENGTH];
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == key_id)
            .ok_or_else(|| SecretError::UnknownKey(hex(key_id)))?;
        let nonce_bytes: [u8; NONCE_LENGTH] = envelope[1 + KEY_ID_LENGTH..HEADER_LENGTH]
            .try_into()
            .map_err(|_| SecretError::Malformed)?;
        let aad = context.associated_data();
        let plaintext = key
            .cipher()
            .decrypt(
                &XNonce::from(nonce_bytes),
                Payload {
                    msg: &envelope[HEADER_LENGTH..],
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Tampered)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| SecretError::Malformed)
    }

    /// True when `envelope` was sealed under the current key.
    pub fn is_current(&self, envelope: &[u8]) -> bool {
        envelope.get(1..1 + KEY_ID_LENGTH) == Some(&self.current.id[..])
    }
}

fn decode_key(encoded: &SecretString, setting: &'static str) -> Result<[u8; 32], SecretError> {
    STANDARD
        .decode(encoded.expose_secret().trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(SecretError::InvalidKey(setting))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(organization_id: &'a str, field: &'a str) -> SecretContext<'a> {
        SecretContext {
            organization_id,
            provider: "provider-slug",
            field,
        }
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_own_context() {
        let keyring = Keyring::new([7; 32], vec![]);
        let sealed = keyring.seal("api-key-123", context("org-a", "secret"));

        let opened = keyring
            .open(&sealed, context("org-a", "secret"))
            .expect("opens");
        assert_eq!(opened.expose_secret(), "api-key-123");
        assert_eq!(
            keyring.open(&sealed, context("org-b", "secret")).err(),
            Some(SecretError::Tampered)
        );
        assert_eq!(
            keyring
                .open(&sealed, context("org-a", "webhook_token"))
                .err(),
            Some(SecretError::Tampered)
        );
        assert!(!sealed.windows(11).any(|w| w == b"api-key-123"));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let keyring = Keyring::new([7; 32], vec![]);
        let a = keyring.seal("same", context("o", "secret"));
        let b = keyring.seal("same", context("o", "secret"));
        assert_ne!(a, b);
    }

    #[test]
    fn tampering_and_unknown_keys_are_errors_not_panics() {
        let old = Keyring::new([1; 32], vec![]);
        let mut sealed = old.seal("value", context("o", "secret"));
        let new = Keyring::new([2; 32], vec![]);
        assert!(matches!(
            new.open(&sealed, context("o", "secret")),
            Err(SecretError::UnknownKey(_))
        ));
        let rotating = Keyring::new([2; 32], vec![[1; 32]]);
        assert!(rotating.open(&sealed, context("o", "secret")).is_ok());
        assert!(!rotating.is_current(&sealed));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            old.open(&sealed, context("o", "secret")).err(),
            Some(SecretError::Tampered)
        );
        assert_eq!(
            old.open(&[1, 2, 3], context("o", "secret")).err(),
            Some(SecretError::Malformed)
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert_eq!(
            Keyring::from_base64(&short, &[]).err(),
            Some(SecretError::InvalidKey("NEXTAL_MASTER_KEY"))
        );
        let good = SecretString::from(STANDARD.encode([0u8; 32]));
        assert!(Keyring::from_base64(&good, &[]).is_ok());
        assert!(!format!("{:?}", Keyring::from_base64(&good, &[])).contains("AAAA"));
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let folder = std::env::temp_dir().join(format!("nextal-key-{}", uuid::Uuid::new_v4()));
        let path = folder.join("master.key");
        let (first, created) = Keyring::load_or_create_file(&path).expect("created");
        let (second, created_again) = Keyring::load_or_create_file(&path).expect("read");
        assert!(created && !created_again);
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(folder).ok();
    }
}
