//! Encryption at rest: XChaCha20-Poly1305 with a 32-byte key kept in a file only the kiosk's
//! user can read. Each record is bound to its row identity (associated data), so a ciphertext
//! moved to another row does not decrypt.

use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Result, StoreError};

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The secret that protects templates and queued payloads.
#[derive(Clone)]
pub struct StoreKey([u8; KEY_LEN]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        Self(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// Reads the key file, or creates it (mode 0600, created atomically) when absent.
    /// A key file others can read is refused rather than silently used.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let bytes = private_file::read_or_create(path, || Self::generate().0.to_vec())?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| StoreError::KeyInvalid {
            path: path.to_path_buf(),
        })?;
        Ok(Self(key))
    }
}

pub(crate) struct Sealer(XChaCha20Poly1305);

impl Sealer {
    pub fn new(key: &StoreKey) -> Self {
        Self(XChaCha20Poly1305::new((&key.0).into()))
    }

    /// nonce || ciphertext+tag
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8], what: &str) -> Result<Vec<u8>> {
        let fail = || StoreError::Decrypt {
            what: what.to_string(),
        };
        if sealed.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_row() {
        let s = Sealer::new(&StoreKey::generate());
        let sealed = s.seal(b"secret template", b"row-1");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(s.open(&sealed, b"row-1", "t").unwrap(), b"secret template");
        assert!(s.open(&sealed, b"row-2", "t").is_err());
        let other = Sealer::new(&StoreKey::generate());
        assert!(other.open(&sealed, b"row-1", "t").is_err());
        assert!(s.open(&sealed[..10], b"row-1", "t").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("kiosk-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("store.key");
        let a = StoreKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = StoreKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            StoreKey::load_or_create(&path).unwrap_err().code(),
            "KEY_FILE_PERMISSIONS"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(
            StoreKey::load_or_create(&path).unwrap_err().code(),
            "KEY_FILE_INVALID"
        );
    }
}
