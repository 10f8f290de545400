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
    /// The key file or the database could not be made or kept private (or read).
    #[error(transparent)]
    Private(#[from] private_file::PrivateFileError),
    #[error("key file {path} is not a 32-byte key")]
    KeyInvalid { path: PathBuf },
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
            Self::Private(e) => match e {
                private_file::PrivateFileError::Exposed { .. } => "KEY_FILE_PERMISSIONS",
                private_file::PrivateFileError::Io { .. } => "KEY_FILE_UNREADABLE",
            },
            Self::KeyInvalid { .. } => "KEY_FILE_INVALID",
            Self::Decrypt { .. } => "STORE_DECRYPT_FAILED",
            Self::Corrupt(_) => "STORE_CORRUPT",
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
