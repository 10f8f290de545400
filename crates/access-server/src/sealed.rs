//! The store's own secrets (the token signing keys, the OTP HMAC key) are sealed at rest with
//! XChaCha20-Poly1305 under a key that never enters the database: a 32-byte file, mode 0600,
//! checked at every load (`private-file`). A database dump, a backup, a replica's reads over
//! the network or a PostgreSQL role that may `SELECT` hold ciphertext only; minting tokens
//! needs the key file too. Each value is bound to its row (associated data), so a sealed key
//! copied into another row does not open.
//!
//! Where the key comes from ([`DbKey::load`]): `db_key_file` (`ACCESS_DB_KEY_FILE`), else, on
//! SQLite, `<database>.key` beside the database. PostgreSQL has no default: replicas sharing a
//! database must share the key, so an operator provisions one file and gives every replica a
//! copy (docs/settings/server.md, `db_key_file`). A missing file is created (0600) on first
//! use; a replica with another key cannot open the store's keys and refuses to start
//! (`DB_KEY_WRONG`) rather than mint a second signing key.
//!
//! Values written before sealing existed are sealed in place when the server starts
//! ([`seal_clear_signing_keys`], [`otp_key`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::config::ServerConfig;
use crate::db::{DbTarget, StoreError};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// Starts every sealed value: `AKS1` || nonce || ciphertext+tag. A clear PKCS#8 key starts
/// with 0x30 (a DER SEQUENCE) and a clear OTP key is exactly 32 bytes, so neither is taken
/// for a sealed one.
const MAGIC: &[u8; 4] = b"AKS1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "a PostgreSQL store needs `db_key_file` (ACCESS_DB_KEY_FILE): the key that seals the signing keys, one file every replica shares"
    )]
    KeyMissing,
    #[error("{path} is not a database key (32 bytes)")]
    KeyInvalid { path: PathBuf },
    #[error(
        "the store's {what} was sealed with another database key: give this server the key file the other replicas use"
    )]
    WrongKey { what: String },
    #[error(transparent)]
    Private(#[from] private_file::PrivateFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SealError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::KeyMissing => "DB_KEY_MISSING",
            Self::KeyInvalid { .. } => "DB_KEY_INVALID",
            Self::WrongKey { .. } => "DB_KEY_WRONG",
            Self::Private(e) => e.code(),
            Self::Store(_) => "DATABASE_ERROR",
        }
    }
}

/// The key that seals the store's secrets.
#[derive(Clone)]
pub struct DbKey(Arc<XChaCha20Poly1305>);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(..)")
    }
}

impl DbKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Arc::new(XChaCha20Poly1305::new((&bytes).into())))
    }

    /// The key file `cfg` names (see the module doc), created when missing.
    pub fn load(cfg: &ServerConfig) -> Result<Self, SealError> {
        let path = key_path(cfg).ok_or(SealError::KeyMissing)?;
        Self::load_file(&path)
    }

    /// Reads `path` (refused when others can read it), or creates it (0600) when absent.
    pub fn load_file(path: &Path) -> Result<Self, SealError> {
        let bytes = private_file::read_or_create(path, || {
            XChaCha20Poly1305::generate_key(&mut OsRng).to_vec()
        })?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::KeyInvalid {
            path: path.to_path_buf(),
        })?;
        Ok(Self::from_bytes(key))
    }

    /// `MAGIC || nonce || ciphertext+tag`, bound to `aad` (the row's identity).
    pub fn seal(&self, clear: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .0
            .encrypt(&nonce, Payload { msg: clear, aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + ct.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// The clear value of `stored`, and whether it was stored in clear (written before
    /// sealing: the caller seals it in place).
    pub fn open(
        &self,
        stored: &[u8],
        aad: &[u8],
        what: &str,
    ) -> Result<(Vec<u8>, bool), SealError> {
        let Some(rest) = stored.strip_prefix(MAGIC.as_slice()) else {
            return Ok((stored.to_vec(), true));
        };
        let wrong = || SealError::WrongKey {
            what: what.to_string(),
        };
        if rest.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let clear = self
            .0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| wrong())?;
        Ok((clear, false))
    }
}

/// `db_key_file`, else `<database>.key` beside an SQLite file; None for PostgreSQL.
pub fn key_path(cfg: &ServerConfig) -> Option<PathBuf> {
    if let Some(p) = &cfg.db_key_file {
        return Some(p.clone());
    }
    match DbTarget::parse(&cfg.db) {
        DbTarget::Sqlite(path) => {
            let mut p = path.into_os_string();
            p.push(".key");
            Some(p.into())
        }
        DbTarget::Postgres(_) => None,
    }
}

/// The associated data of a signing key's row.
pub fn signing_key_aad(kid: &str) -> Vec<u8> {
    [b"signing_keys.private_pkcs8:".as_slice(), kid.as_bytes()].concat()
}

const OTP_KEY_AAD: &[u8] = b"meta.otp_hmac_key";

/// Seals every signing key (retired ones too) still stored in clear.
pub fn seal_clear_signing_keys(
    c: &crate::sql::Connection,
    key: &DbKey,
) -> Result<usize, StoreError> {
    let rows: Vec<(String, Vec<u8>)> = {
        let mut st = c.prepare("SELECT kid, private_pkcs8 FROM signing_keys")?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut sealed = 0;
    for (kid, stored) in rows {
        if stored.starts_with(MAGIC) {
            continue;
        }
        c.execute(
            "UPDATE signing_keys SET private_pkcs8 = ?1 WHERE kid = ?2",
            rusqlite::params![key.seal(&stored, &signing_key_aad(&kid)), kid],
        )?;
        sealed += 1;
    }
    if sealed > 0 {
        tracing::info!(sealed, "signing keys stored in clear are now sealed");
    }
    Ok(sealed)
}

/// The OTP HMAC key (it also derives the flows' security-URL secrets): made once, sealed; a
/// clear one from before sealing is sealed in place.
pub fn otp_key(db: &crate::db::Db, key: &DbKey) -> Result<[u8; 32], SealError> {
    let key = key.clone();
    db.transaction(move |tx| {
        use crate::sql::OptionalExtension;
        let stored: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'otp_hmac_key'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let opened = stored
            .map(|s| key.open(&s, OTP_KEY_AAD, "OTP key"))
            .transpose();
        let opened = match opened {
            Ok(o) => o,
            // Reported after the (empty) transaction: the store is left as it was.
            Err(e) => return Ok(Err(e)),
        };
        let (otp, write) = match opened.and_then(|(clear, was_clear)| {
            <[u8; 32]>::try_from(clear.as_slice())
                .ok()
                .map(|k| (k, was_clear))
        }) {
            Some((k, was_clear)) => (k, was_clear),
            None => (rand::Rng::random(&mut rand::rng()), true),
        };
        if write {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('otp_hmac_key', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key.seal(&otp, OTP_KEY_AAD)],
            )?;
        }
        Ok(Ok(otp))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let k = DbKey::from_bytes([7; 32]);
        let sealed = k.seal(b"0\x2e secret pkcs8", b"row-1");
        assert!(sealed.starts_with(MAGIC));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            k.open(&sealed, b"row-1", "t").unwrap(),
            (b"0\x2e secret pkcs8".to_vec(), false)
        );
        assert!(matches!(
            k.open(&sealed, b"row-2", "t"),
            Err(SealError::WrongKey { .. })
        ));
        let other = DbKey::from_bytes([8; 32]);
        assert!(other.open(&sealed, b"row-1", "t").is_err());
        assert!(k.open(&sealed[..10], b"row-1", "t").is_err());
        // A value from before sealing comes back as clear, to be sealed in place.
        assert_eq!(
            k.open(b"0\x2e clear", b"row-1", "t").unwrap(),
            (b"0\x2e clear".to_vec(), true)
        );
    }

    #[test]
    fn the_key_file_is_made_private_and_postgres_has_no_default() {
        let dir = std::env::temp_dir().join(format!("sealed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = ServerConfig {
            db: dir.join("access.db"),
            ..Default::default()
        };
        assert_eq!(key_path(&cfg), Some(dir.join("access.db.key")));
        let a = DbKey::load(&cfg).unwrap();
        let meta = std::fs::metadata(dir.join("access.db.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        // The same file again: the same key.
        let sealed = a.seal(b"x", b"r");
        assert!(DbKey::load(&cfg).unwrap().open(&sealed, b"r", "t").is_ok());
        // Readable by others: refused, not used.
        std::fs::set_permissions(
            dir.join("access.db.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert_eq!(DbKey::load(&cfg).unwrap_err().code(), "FILE_EXPOSED");
        std::fs::write(dir.join("short.key"), b"short").unwrap();
        std::fs::set_permissions(
            dir.join("short.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        cfg.db_key_file = Some(dir.join("short.key"));
        assert_eq!(DbKey::load(&cfg).unwrap_err().code(), "DB_KEY_INVALID");
        cfg.db_key_file = None;
        cfg.db = "postgres://u@db.example/access".into();
        assert_eq!(DbKey::load(&cfg).unwrap_err().code(), "DB_KEY_MISSING");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
