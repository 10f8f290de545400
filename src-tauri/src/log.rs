//! The app's log file: an unattended kiosk has nobody watching its terminal, and it may run
//! for months, so the file rolls over at a size limit, keeping one previous file. Both are
//! 0600 (`private-file`): the log names the people who signed in.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct RotatingFile {
    path: PathBuf,
    file: File,
    len: u64,
    max: u64,
}

impl RotatingFile {
    /// Appends to `path`; past `max` bytes it becomes `<path>.1` and a new file starts.
    pub fn open(path: &Path, max: u64) -> std::io::Result<Self> {
        let file = private_file::open_append(path).map_err(std::io::Error::other)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len,
            max,
        })
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old)?;
        self.file = private_file::open_append(&self.path).map_err(std::io::Error::other)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.len > 0 && self.len + buf.len() as u64 > self.max {
            self.roll()?;
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_over_past_the_limit_keeping_one_previous_file() {
        let dir = std::env::temp_dir().join(format!("kiosk-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.log");
        let mut log = RotatingFile::open(&path, 100).unwrap();
        for i in 0..25 {
            writeln!(log, "line {i:04} of the log").unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let previous = std::fs::read_to_string(dir.join("kiosk.log.1")).unwrap();
        assert!(current.len() <= 100 && previous.len() <= 100);
        assert!(current.ends_with("line 0024 of the log\n"), "{current}");
        assert!(!dir.join("kiosk.log.1.1").exists());
        // Reopening continues the current file rather than starting over.
        drop(log);
        let reopened = RotatingFile::open(&path, 100).unwrap();
        assert_eq!(reopened.len, current.len() as u64);
        // Both files private; one made readable by others is set back on opening.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (mode(&path), mode(&dir.join("kiosk.log.1"))),
            (0o600, 0o600)
        );
        drop(reopened);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        RotatingFile::open(&path, 100).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
