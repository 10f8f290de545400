//! What the kiosk-cli tests share: the real `kiosk` binary on a private data dir, and the shared
//! photos and device-input cases as command-line arguments.

use std::path::Path;
use std::process::{Command, Output};

/// The administrator PIN the tests set (the kiosk wants at least six digits).
pub const PIN: &str = "246810";

/// A shared photo below `face_recognition_examples`, as a command-line argument.
pub fn photo(rel: &str) -> String {
    test_support::face_path(&format!("face_recognition_examples/{rel}"))
        .display()
        .to_string()
}

/// A shared device-input case, as a command-line argument.
pub fn case(name: &str) -> String {
    test_support::case_path(name).display().to_string()
}

/// The kiosk binary on `data` (made when missing), with `flags` (the server's) before the
/// command, no config file from the user's home and none of the caller's kiosk variables, the
/// administrator PIN in its variable.
pub fn kiosk(data: &Path, flags: &[String], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    c.env_remove("KIOSK_API_URL")
        .env_remove("KIOSK_TOKEN")
        .env_remove("KIOSK_PROJECT")
        .env_remove("KIOSK_OFFLINE_MAX_HOURS")
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("KIOSK_ADMIN_PIN", PIN)
        // Each test's data dir is its own new kiosk.
        .arg("--create")
        .arg("--data-dir")
        .arg(data)
        .args(flags)
        .args(args);
    c
}

pub fn run(data: &Path, flags: &[String], args: &[&str]) -> Output {
    kiosk(data, flags, args).output().expect("run kiosk")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The command's stdout as JSON; a panic showing both streams when it is not.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {} / {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}
