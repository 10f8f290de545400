//! The app's log file: an unattended kiosk has nobody watching its terminal, and it may run
//! for months, so the file rolls over at a size limit, keeping one previous file.

use std::fs::{File, OpenOptions};
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
        let file = OpenOptions::new().create(true).append(true).open(path)?;
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
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
