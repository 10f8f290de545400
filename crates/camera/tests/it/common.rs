//! Shared helpers: the real photos and scratch folders (both from `crates/test-support`),
//! and the camera's own fixtures.

#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

pub use test_support::{cases_dir, faces_dir};

/// A fresh scratch folder in the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        Self(test_support::temp_dir(&format!("camera-{name}")))
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
