//! Fixtures the test suites of several crates share. Only ever a dev-dependency: no shipped
//! binary links it.
//!
//! - [`paths`]: the shared photos (`$FACE_DATA_DIR`), the device-input cases (`$CASES_DIR`),
//!   fresh temp directories.
//! - [`photos`]: loading those photos as bytes, base64 or decoded frames, and the people the
//!   suites use.
//! - [`fakes`]: deterministic face engines behind the `vision` traits, for tests that need no
//!   ONNX Runtime and no model files.
//! - [`server`] (feature `server`, on by default): the Access API server in-process on
//!   loopback with a temp SQLite database, its tokens and HTTP helpers.

pub mod fakes;
pub mod paths;
pub mod photos;
#[cfg(feature = "server")]
pub mod server;

pub use fakes::FakeFaces;
pub use paths::{case_path, cases_dir, face_path, faces_dir, temp_dir, workspace, workspace_bin};
pub use photos::{
    ALEX_ENROL, BIDEN, OBAMA_ENROL, OBAMA_PROBE, b64, burst, case_b64, case_bytes, farther, frames,
    photo, photo_b64, photo_bytes,
};
#[cfg(feature = "server")]
pub use reqwest::Method;
pub use server::{DeviceKey, TestServer, Vision, code_of, every_method, request};

use std::process::{Command, Stdio};

/// A code of ASCII digits as typed in another script's digits, `zero` being that script's 0:
/// `'\u{FF10}'` full-width (a Japanese keyboard), `'\u{0660}'` Arabic-Indic.
pub fn digits_in(code: &str, zero: char) -> String {
    code.chars()
        .map(|c| {
            let d = c
                .to_digit(10)
                .unwrap_or_else(|| panic!("{code:?}: not all digits"));
            char::from_u32(zero as u32 + d).expect("a digit of that script")
        })
        .collect()
}

/// Runs `cmd` with a stdout nobody reads (every write fails with EPIPE, as in
/// `kiosk users list | head -0`) and asserts it ends quietly: exit 0 or 141 (what a shell shows
/// for SIGPIPE), no panic on stderr.
pub fn assert_quiet_on_closed_stdout(mut cmd: Command) {
    let label = format!("{cmd:?}");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = cmd
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run the command");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{label}: {:?} {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{label}: {stderr}");
}
