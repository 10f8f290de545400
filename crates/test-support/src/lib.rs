//! Fixtures the test suites of several crates share. Only ever a dev-dependency.

use std::process::{Command, Stdio};

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
