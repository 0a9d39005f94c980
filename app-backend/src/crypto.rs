//! Secrets at rest (connection strings, Attio tokens, Attio webhook secrets) are encrypted
//! with XChaCha20-Poly1305. The key comes from `ENCRYPTION_KEY` (base64 of 32 bytes); without
//! it a key file is generated on first start, with a warning, because losing that file
//! loses every stored secret and anyone who reads it can decrypt them.
//!
//! Stored form: `v1:` + base64(24-byte random nonce || ciphertext+tag). The associated data
//! binds a value to its place (`installations.connection:<id>`), so a ciphertext copied to
//! another row or column does not decrypt.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;
use crate::error::{Error, Result};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;
/// Name of the generated key file inside `DATA_DIR`.
pub const KEY_FILE: &str = "encryption.key";

/// Encrypts and decrypts secrets at rest. `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

impl SecretBox {
    /// A box over a 32-byte key.
    pub fn from_key(key: &[u8]) -> Result<Self> {
        let cipher = XChaCha20Poly1305::new_from_slice(key)
            .map_err(|_| Error::Config("ENCRYPTION_KEY must be 32 bytes (base64)".into()))?;
        Ok(SecretBox { cipher })
    }

    /// The key from the configuration, else from (or into) the key file in `data_dir`.
    pub fn load(config: &Config) -> Result<Self> {
        if let Some(key) = &config.encryption_key {
            let bytes = STANDARD
                .decode(key.expose_secret().trim())
                .map_err(|_| Error::Config("ENCRYPTION_KEY must be base64 of 32 bytes".into()))?;
            return Self::from_key(&bytes);
        }
        Self::from_key_file(&config.data_dir.join(KEY_FILE))
    }

    /// Read the key file, or generate it (mode 0600) with a warning when it is missing.
    pub fn from_key_file(path: &Path) -> Result<Self> {
        match fs::read_to_string(path) {
            Ok(text) => {
                let bytes = STANDARD.decode(text.trim()).map_err(|_| {
                    Error::Config(format!("key file {} is not base64", path.display()))
                })?;
                Self::from_key(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    options.mode(0o600);
                }
                let mut file = options.open(path)?;
                file.write_all(STANDARD.encode(key).as_bytes())?;
                file.sync_all()?;
                tracing::warn!(
                    path = %path.display(),
                    "ENCRYPTION_KEY is not set: generated a key file for secrets at rest; \
                     back it up and keep it private, or set ENCRYPTION_KEY"
                );
                Self::from_key(&key)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Encrypt `plaintext` for the place named by `aad`.
    pub fn encrypt(&self, aad: &str, plaintext: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Crypto("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypt a value made by [`SecretBox::encrypt`] with the same `aad`.
    pub fn decrypt(&self, aad: &str, stored: &str) -> Result<SecretString> {
        let bad = || Error::Crypto(format!("stored secret for {aad} does not decrypt"));
        let encoded = stored.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| bad())?;
        if bytes.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        let text = String::from_utf8(plain).map_err(|_| bad())?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_place() {
        let b = SecretBox::from_key(&[7u8; 32]).unwrap();
        let c = b
            .encrypt("installations.connection:1", "whsec_abc")
            .unwrap();
        assert!(c.starts_with("v1:"));
        assert!(!c.contains("whsec_abc"));
        assert_eq!(
            b.decrypt("installations.connection:1", &c)
                .unwrap()
                .expose_secret(),
            "whsec_abc"
        );
        assert!(b.decrypt("installations.connection:2", &c).is_err());
        let other = SecretBox::from_key(&[8u8; 32]).unwrap();
        assert!(other.decrypt("installations.connection:1", &c).is_err());
        // Two encryptions of one value differ (random nonce).
        assert_ne!(
            c,
            b.encrypt("installations.connection:1", "whsec_abc")
                .unwrap()
        );
    }

    #[test]
    fn key_file_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE);
        let a = SecretBox::from_key_file(&path).unwrap();
        let c = a.encrypt("x", "secret").unwrap();
        let b = SecretBox::from_key_file(&path).unwrap();
        assert_eq!(b.decrypt("x", &c).unwrap().expose_secret(), "secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_env_key_is_refused() {
        assert!(SecretBox::from_key(&[1u8; 16]).is_err());
    }
}
