//! Shared helpers: where the real photos are, and scratch folders outside the repository.

#![allow(dead_code)]

use std::path::PathBuf;

/// The shared face photos, read in place (never copied into the repository).
pub fn faces_dir() -> PathBuf {
    std::env::var_os("FACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
        })
}

/// The shared device-input cases (../shared/data/cases, or `$CASES_DIR`): what real cameras
/// and phones produce.
pub fn cases_dir() -> PathBuf {
    std::env::var_os("CASES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| faces_dir().join("../cases"))
}

/// A fresh scratch folder in the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("camera-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The JPEG files of one shared folder, sorted.
pub fn jpegs(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(faces_dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v
}

fn riff_chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend_from_slice(&(body.len() as u32).to_le_bytes());
    c.extend_from_slice(body);
    if body.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// A minimal MJPEG AVI (main header with the frame period, frames in `movi`), as a recorder
/// writes one.
pub fn build_avi(frames: &[Vec<u8>], fps: u32) -> Vec<u8> {
    let mut avih = (1_000_000 / fps).to_le_bytes().to_vec();
    avih.resize(56, 0);
    let mut hdrl = b"hdrl".to_vec();
    hdrl.extend(riff_chunk(b"avih", &avih));
    let mut movi = b"movi".to_vec();
    for f in frames {
        movi.extend(riff_chunk(b"00dc", f));
    }
    let mut body = b"AVI ".to_vec();
    body.extend(riff_chunk(b"LIST", &hdrl));
    body.extend(riff_chunk(b"LIST", &movi));
    riff_chunk(b"RIFF", &body)
}
