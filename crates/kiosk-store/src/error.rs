use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database schema version {found} is newer than this kiosk understands ({supported}): update the kiosk, or point --data-dir elsewhere"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not a 32-byte key")]
    KeyInvalid { path: PathBuf },
    #[error(
        "key file {path} is readable by other users (mode {mode:o}); it must be 0600 and owned by the kiosk's user"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("a stored record could not be decrypted (wrong key file or tampered database): {what}")]
    Decrypt { what: String },
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Open { .. } => "STORE_OPEN_FAILED",
            Self::SchemaTooNew { .. } => "STORE_SCHEMA_TOO_NEW",
            Self::Sqlite(_) => "STORE_FAILED",
            Self::KeyFile { .. } => "KEY_FILE_UNREADABLE",
            Self::KeyInvalid { .. } => "KEY_FILE_INVALID",
            Self::KeyPermissions { .. } => "KEY_FILE_PERMISSIONS",
            Self::Decrypt { .. } => "STORE_DECRYPT_FAILED",
            Self::Corrupt(_) => "STORE_CORRUPT",
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
