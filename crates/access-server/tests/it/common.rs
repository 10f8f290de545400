//! The shared fixtures live in `crates/test-support` (the in-process server, temp dirs, the
//! shared photos, the fake face engines); this module keeps the names these tests use.
#![allow(dead_code, unused_imports)]

pub use test_support::*;

/// A fresh, empty temp directory.
pub fn temp_dir() -> std::path::PathBuf {
    test_support::temp_dir("access-server")
}
