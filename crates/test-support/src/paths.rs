//! Where the shared test data is, and scratch directories.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared face photos, read in place (never copied into the repository):
/// `$FACE_DATA_DIR`, else `../shared/data/faces` beside the workspace.
pub fn faces_dir() -> PathBuf {
    std::env::var_os("FACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/data/faces"))
}

/// The shared device-input cases (what real cameras and phones produce): `$CASES_DIR`, else
/// `cases` beside the faces.
pub fn cases_dir() -> PathBuf {
    std::env::var_os("CASES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| faces_dir().join("../cases"))
}

/// A photo of the shared data, by its path below [`faces_dir`]
/// (`face_recognition_examples/obama/obama.jpg`).
pub fn face_path(rel: &str) -> PathBuf {
    faces_dir().join(rel)
}

/// A device-input case by its file name (`photo_with_trailer_after_eoi.jpg`).
pub fn case_path(name: &str) -> PathBuf {
    cases_dir().join(name)
}

/// Another crate's binary of this workspace, built beside the running test
/// (`target/<profile>/<name>`): `cargo test --workspace` builds every binary before it runs a
/// test, so a test can run the real program (`kiosk pair`) where `CARGO_BIN_EXE_*` reaches
/// only its own crate's.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

static N: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory in the system temp dir, unique to this process and call:
/// `<tmp>/test-<tag>-<pid>-<n>`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}
