//! The installable server (issue 15): `scripts/server-deb.sh` packs the binary these tests were
//! built with; the package, unpacked and started the way its systemd unit starts it (its
//! `ExecStart`, its own config file, a fresh state directory), serves `/readyz` with the models
//! and ONNX Runtime it carries.

use crate::cli::{BIN, listening_addr};
use crate::common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `Key=Value` lines of a systemd unit (the last of a key wins, as systemd reads them).
fn unit_keys(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[tokio::test]
async fn the_deb_unpacked_and_started_as_its_unit_serves_readyz() {
    let dir = common::temp_dir();
    let deb = run(Command::new("bash")
        .arg(common::workspace().join("scripts/server-deb.sh"))
        .arg(BIN)
        .arg(&dir)
        .env("DEB_COMPRESS", "-Zgzip -z1")
        // The debug info split into -dbgsym is scripts/test.sh's to check.
        .env("DEB_DBGSYM", "0"));
    // The package's path first (a -dbgsym's would follow).
    let deb = deb.lines().next().unwrap_or_default();
    let fields = run(Command::new("dpkg-deb").args(["-f", deb, "Package", "Depends"]));
    assert!(fields.contains("Package: access-server"), "{fields}");
    // The operator's edits to the config survive upgrades.
    let conffiles = run(Command::new("dpkg-deb").args(["-I", deb, "conffiles"]));
    assert_eq!(conffiles.trim(), "/etc/access-server/server.toml");

    let root = dir.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));

    // The unit: its own user, state directory and hardening.
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/access-server.service")).unwrap();
    let keys = unit_keys(&unit);
    let exec = "/usr/bin/access-server serve --config /etc/access-server/server.toml";
    assert_eq!(keys["ExecStart"], exec);
    for (k, v) in [
        ("User", "access-server"),
        ("StateDirectory", "access-server"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(keys.get(k).map(String::as_str), Some(v), "{k} in the unit");
    }

    // The package's own config, re-rooted into the unpacked tree and a fresh state directory.
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    let packaged = std::fs::read_to_string(root.join("etc/access-server/server.toml")).unwrap();
    let lib = root.join("usr/lib/access-server");
    let cfg = packaged
        .replace("/usr/lib/access-server", lib.to_str().unwrap())
        .replace("/var/lib/access-server", state.to_str().unwrap())
        .replace("127.0.0.1:8787", "127.0.0.1:0");
    assert!(
        cfg.contains(&format!("models_dir = \"{}/models\"", lib.display())),
        "{cfg}"
    );
    let cfg_path = dir.join("server.toml");
    std::fs::write(&cfg_path, cfg).unwrap();

    // ExecStart's command line, with nothing from this environment to find the runtime.
    let bin = root.join("usr/bin/access-server");
    let serve = |journal: &str| {
        Command::new(&bin)
            .args(["serve", "--config", cfg_path.to_str().unwrap()])
            .current_dir(&state)
            .env_remove("ORT_DYLIB_PATH")
            .env_remove("ACCESS_DB")
            .env_remove("ACCESS_ADDR")
            .env_remove("ACCESS_NO_VISION")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            // What journald would get.
            .stderr(std::fs::File::create(dir.join(journal)).unwrap())
            .spawn()
            .unwrap()
    };
    // A stop, then what the journal got: no colour codes, nothing at ERROR (the start-up's
    // 503 probes are not errors, nor is a stop while the models load).
    let stop = |mut child: std::process::Child, journal: &str| {
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        assert!(child.wait().unwrap().success());
        let journal = std::fs::read_to_string(dir.join(journal)).unwrap();
        assert!(journal.contains("shutting down"), "{journal}");
        assert!(
            !journal.contains('\u{1b}'),
            "ANSI codes in the journal: {journal}"
        );
        assert!(
            !journal.lines().any(|l| l.contains("ERROR")),
            "errors logged on a clean start and stop: {journal}"
        );
    };
    let mut child = serve("journal.log");
    let addr = listening_addr(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let r = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
        if r.status().is_success() || Instant::now() > deadline {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["data"]["status"], "ready", "{ready}");
    assert_eq!(ready["data"]["vision"], "ready", "{ready}");
    // The database was made in the state directory, private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("access.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "database mode {mode:o}");

    stop(child, "journal.log");

    // Stopped again at once after a restart, while every face pipeline is still loading:
    // the process waits for the loads instead of tearing ONNX Runtime down under them.
    let mut child = serve("journal-restart.log");
    listening_addr(&mut child);
    stop(child, "journal-restart.log");
}
