//! Files that hold secrets (signing keys, sealing keys, databases with key material, templates
//! or personal data) are created with mode 0600 and checked every time they are opened: a file
//! that group or others can read is either refused or, where the caller owns the whole data
//! directory, tightened back to 0600. Unix only (the kiosk and the server run on Linux).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What may be done with a file others can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Refuse it: an operator must look (a server's key material may already have leaked).
    Refuse,
    /// Set it back to 0600 and go on (an appliance's own data directory).
    Tighten,
}

#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} can be read by other users (mode {mode:03o}): it holds secrets; `chmod 600` it (and check who may have copied it)"
    )]
    Exposed { path: PathBuf, mode: u32 },
}

impl PrivateFileError {
    /// Stable code: `FILE_EXPOSED` or `FILE_IO`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "FILE_IO",
            Self::Exposed { .. } => "FILE_EXPOSED",
        }
    }
}

type Result<T> = std::result::Result<T, PrivateFileError>;

fn io(path: &Path) -> impl Fn(std::io::Error) -> PrivateFileError + '_ {
    move |source| PrivateFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that group and others have no access to `path` (if it exists), per `policy`.
pub fn check(path: &Path, policy: Exposure) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    match policy {
        Exposure::Refuse => Err(PrivateFileError::Exposed {
            path: path.to_path_buf(),
            mode,
        }),
        Exposure::Tighten => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))
        }
    }
}

/// The secret in `path`, or None when there is no such file. A file others can read is
/// refused (`FILE_EXPOSED`) before it is read.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    check(path, Exposure::Refuse)?;
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes a new secret file: created exclusively with mode 0600 (never readable by others,
/// not even for a moment), written and synced. Fails if the file exists.
pub fn create(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(path))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// The secret in `path`, made by `make` and stored (0600) when the file does not exist yet.
pub fn read_or_create(path: &Path, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
    if let Some(bytes) = read(path)? {
        return Ok(bytes);
    }
    let bytes = make();
    create(path, &bytes)?;
    Ok(bytes)
}

/// Opens `path` for appending, created with mode 0600 when absent and set back to 0600 when
/// others could read it (a log of who signed in, and when, is personal data).
pub fn open_append(path: &Path) -> Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    check(path, Exposure::Tighten)?;
    Ok(f)
}

/// Makes an SQLite database private before it is opened: creates it empty with mode 0600 when
/// absent (SQLite then gives its `-wal` and `-shm` files the database's own mode), and checks
/// the database and any `-wal`/`-shm` beside it per `policy`.
pub fn prepare_database(path: &Path, policy: Exposure) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(path))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(path)(e)),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        check(Path::new(&p), policy)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("private-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_created_private_and_exposed_ones_refused() {
        let d = dir("secret");
        let p = d.join("device.key");
        assert_eq!(read(&p).unwrap(), None);
        assert_eq!(read_or_create(&p, || b"k1".to_vec()).unwrap(), b"k1");
        assert_eq!(mode(&p), 0o600);
        // Made once: a second call reads what is there.
        assert_eq!(read_or_create(&p, || b"k2".to_vec()).unwrap(), b"k1");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read(&p).unwrap_err();
        assert_eq!(e.code(), "FILE_EXPOSED");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(create(&p, b"x").is_err(), "never overwrites");
    }

    #[test]
    fn databases_are_made_private_and_checked_with_their_wal() {
        let d = dir("db");
        let db = d.join("sub/access.db");
        prepare_database(&db, Exposure::Refuse).unwrap();
        assert_eq!(mode(&db), 0o600);
        let wal = d.join("sub/access.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            prepare_database(&db, Exposure::Refuse).unwrap_err().code(),
            "FILE_EXPOSED"
        );
        prepare_database(&db, Exposure::Tighten).unwrap();
        assert_eq!(mode(&wal), 0o600);
        prepare_database(&db, Exposure::Refuse).unwrap();
    }
}
