//! The headless kiosk as a person or a script uses it: the real binary, real data directories,
//! and the real access-server over loopback; including a kill -9 in the middle of a sync.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{self, case, json, photo};
use serde_json::json;
use test_support::{TestServer, Vision, faces_dir, temp_dir};

/// The kiosk binary on `data` with no server flags.
fn kiosk(data: &Path, args: &[&str]) -> Command {
    common::kiosk(data, &[], args)
}

fn run(data: &Path, args: &[&str]) -> Output {
    common::run(data, &[], args)
}

fn enrol_obama(data: &Path, extra: &[&str]) -> Output {
    let mut args = extra.to_vec();
    let (a, b, c) = (
        photo("obama/obama.jpg"),
        photo("obama/obama1.jpg"),
        photo("obama/obama2.jpg"),
    );
    args.extend([
        "enroll", "--user", "obama", "--name", "Barack", "--images", &a, &b, &c,
    ]);
    run(data, &args)
}

#[test]
fn enrol_sign_in_status_users_and_config_work_without_a_server() {
    let data = temp_dir("kiosk-cli-offline");
    assert!(
        run(&data, &["admin", "set-pin", "--new-pin", "246810"])
            .status
            .success()
    );
    let e = enrol_obama(&data, &[]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    assert_eq!(json(&e)["samples"], 3);

    let ok = run(&data, &["sign-in", "--face", &photo("obama/obama3.jpg")]);
    assert_eq!(ok.status.code(), Some(0));
    let v = json(&ok);
    assert_eq!(
        (
            v["decision"].as_str(),
            v["user_id"].as_str(),
            v["name"].as_str()
        ),
        (Some("accepted"), Some("obama"), Some("Barack"))
    );
    assert_eq!(v["mode"], "offline");

    let no = run(&data, &["sign-in", "--face", &photo("biden/biden.jpg")]);
    assert_eq!(no.status.code(), Some(3));
    assert_eq!(json(&no)["decision"], "rejected");

    let cam = run(
        &data,
        &[
            "sign-in",
            "--camera",
            &format!(
                "replay:{}@0",
                faces_dir()
                    .join("face_recognition_examples/obama")
                    .display()
            ),
            "--frames",
            "4",
        ],
    );
    assert_eq!(
        json(&cam)["decision"],
        "accepted",
        "{}",
        String::from_utf8_lossy(&cam.stdout)
    );

    let s = json(&run(&data, &["status", "--json"]));
    assert_eq!(
        (s["templates"].as_u64(), s["online"].as_bool()),
        (Some(3), Some(false))
    );
    let users = json(&run(&data, &["users", "list"]));
    assert_eq!(users[0]["user_id"], "obama");

    let refused = kiosk(&data, &["users", "delete", "obama"])
        .env("KIOSK_ADMIN_PIN", "0000")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ADMIN_REFUSED"));
    let audit = json(&run(&data, &["admin", "audit", "--limit", "1"]));
    assert_eq!(audit[0]["decision"], "refused");
    assert!(run(&data, &["users", "delete", "obama"]).status.success());
    assert_eq!(json(&run(&data, &["status", "--json"]))["templates"], 0);

    // A corrupt config file is named, and nothing runs on half a configuration.
    let cfg = data.join("bad.toml");
    std::fs::write(&cfg, "api_url = [").unwrap();
    let bad = run(&data, &["--config", cfg.to_str().unwrap(), "status"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad.toml"));

    // No camera here: a clear code, not a crash.
    let none = run(&data, &["sign-in", "--camera", "v4l:/dev/video97"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("NO_CAMERA"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_mid_sync_never_loses_or_duplicates_an_event() {
    let data = temp_dir("kiosk-cli-kill9");
    let mut server = TestServer::builder()
        .vision(Vision::Real)
        .login_flow(json!({"email": true, "face": true, "liveness_required": false}))
        .start()
        .await;
    let flags = server.kiosk_flags();
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    assert!(
        run(&data, &["admin", "set-pin", "--new-pin", "246810"])
            .status
            .success()
    );

    // Offline: an enrolment and a run of sign-ins pile up in the outbox.
    server.shutdown().await;
    let e = enrol_obama(&data, &f);
    assert_eq!(
        json(&e)["state"],
        "queued",
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    let probes = [
        "obama/obama3.jpg",
        "obama/obama1.jpg",
        "biden/biden.jpg",
        "obama/obama.jpg",
        "alex_lacamoire/img1.jpg",
        "obama/obama2.jpg",
    ];
    for p in probes {
        let mut args = f.clone();
        let img = photo(p);
        args.extend(["sign-in", "--face", &img]);
        let out = run(&data, &args);
        assert_eq!(json(&out)["mode"], "offline");
    }
    let mut args = f.clone();
    args.extend(["status", "--json"]);
    assert_eq!(
        json(&run(&data, &args))["pending_events"],
        3 + probes.len() as u64
    );

    // Back online: syncs killed at several points, then one that finishes.
    server.restart().await;
    for delay_ms in [0u64, 40, 80, 150, 300] {
        let mut args = f.clone();
        args.extend(["sync", "--once"]);
        let mut child = kiosk(&data, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        // SIGKILL: no destructor, no flush, exactly what a power cut does to the process.
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut args = f.clone();
    args.extend(["sync", "--once"]);
    let done = run(&data, &args);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(json(&done)["pending"], 0);

    assert_eq!(
        server.count("SELECT COUNT(*) FROM sync_events"),
        probes.len() as i64
    );
    assert_eq!(
        server.count("SELECT COUNT(DISTINCT event_id) FROM sync_events"),
        probes.len() as i64
    );
    // Another sync finds nothing left to send.
    let again = json(&run(&data, &args));
    assert_eq!(
        (again["events_sent"].as_u64(), again["pending"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM sync_events"),
        probes.len() as i64
    );
    // The three queued samples were uploaded with idempotency keys: enrolled once each.
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM templates WHERE user_id = 'obama' AND deleted_at IS NULL"),
        3
    );
    server.stop().await;
}

#[test]
fn photos_with_trailers_and_whole_camera_buffers_enrol_and_sign_in() {
    let data = temp_dir("kiosk-cli-device-inputs");
    assert!(
        run(&data, &["admin", "set-pin", "--new-pin", "246810"])
            .status
            .success()
    );
    // A phone's motion photo among the enrolment photos.
    let (a, b, c) = (
        case("photo_with_trailer_after_eoi.jpg"),
        photo("obama/obama.jpg"),
        photo("obama/obama2.jpg"),
    );
    let e = run(
        &data,
        &["enroll", "--user", "obama", "--images", &a, &b, &c],
    );
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    for face in [
        case("mjpeg_frame_in_full_v4l2_buffer.jpg"),
        case("photo_with_trailer_after_eoi.jpg"),
    ] {
        let out = run(&data, &["sign-in", "--face", &face]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{face}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json(&out)["user_id"], "obama", "{face}");
    }
    // A photo really cut short is still refused with its code.
    let whole = std::fs::read(photo("obama/obama3.jpg")).unwrap();
    let cut = data.join("cut.jpg");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = run(&data, &["sign-in", "--face", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error [IMAGE_CORRUPT]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_cut_short_onnx_runtime_is_an_error_not_a_crash() {
    let data = temp_dir("kiosk-cli-bad-runtime");
    let real = vision::runtime::resolved_ort_library(&vision::RuntimeConfig::default())
        .expect("setup installs ONNX Runtime");
    let lib = std::fs::read(real).unwrap();
    let cut = data.join("libonnxruntime.so.1.32.0");
    std::fs::write(&cut, &lib[..lib.len() / 3]).unwrap();
    let out = kiosk(&data, &["sign-in", "--face", &photo("obama/obama.jpg")])
        .env("ORT_DYLIB_PATH", &cut)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 1 with the code: not killed by SIGBUS, no panic.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error [RUNTIME_LOAD]"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn camera_list_and_camera_test_on_a_replay() {
    let data = temp_dir("kiosk-cli-camera-test");
    let list = run(&data, &["camera", "list", "--json"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(json(&list).is_array());
    let snapshot = data.join("snap.png");
    let replay = format!(
        "replay:{}@10",
        faces_dir()
            .join("face_recognition_examples/obama")
            .display()
    );
    let out = run(
        &data,
        &[
            "camera",
            "test",
            "--camera",
            &replay,
            "--seconds",
            "2",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let seconds = v["seconds"].as_array().unwrap();
    assert!(!seconds.is_empty() && seconds.len() <= 2, "{v}");
    let with_face: u64 = seconds
        .iter()
        .map(|s| s["with_face"].as_u64().unwrap())
        .sum();
    assert!(with_face > 0, "{v}");
    assert!(
        seconds.iter().all(|s| s["liveness"].as_f64().is_some()),
        "{v}"
    );
    assert!(v["fps"].as_f64().unwrap() > 3.0, "{v}");
    assert!(std::fs::read(&snapshot).unwrap().starts_with(b"\x89PNG"));
    // No camera: the code, exit 1.
    let out = run(
        &data,
        &["camera", "test", "--camera", "v4l:97", "--seconds", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error [NO_CAMERA]"));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let data = temp_dir("kiosk-cli-closed-pipe");
    for args in [
        &["users", "list"][..],
        &["status", "--json"],
        &["camera", "list"],
        &["admin", "audit"],
        &["--help"],
    ] {
        test_support::assert_quiet_on_closed_stdout(kiosk(&data, args));
    }
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn the_kiosks_secrets_on_disk_are_private() {
    let data = temp_dir("kiosk-cli-modes");
    assert!(
        run(&data, &["admin", "set-pin", "--new-pin", "246810"])
            .status
            .success()
    );
    for f in ["kiosk.db", "device.key", "store.key"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    // A database someone made readable is set back (the kiosk owns its data directory).
    set_mode(&data.join("kiosk.db"), 0o644);
    assert!(run(&data, &["users", "list"]).status.success());
    assert_eq!(mode(&data.join("kiosk.db")), 0o600);
    // A key others could have read is refused, not used: checked at every load.
    set_mode(&data.join("device.key"), 0o644);
    let out = run(&data, &["users", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error [DEVICE_KEY]") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    set_mode(&data.join("device.key"), 0o600);
    set_mode(&data.join("store.key"), 0o640);
    let out = run(&data, &["users", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error [KEY_FILE_PERMISSIONS]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn commands_that_need_no_face_run_without_models() {
    let data = temp_dir("kiosk-cli-no-models");
    let bare = |args: &[&str]| {
        kiosk(&data, args)
            .env("MODELS_DIR", data.join("no-models"))
            .env("ORT_DYLIB_PATH", data.join("no-runtime.so"))
            .output()
            .unwrap()
    };
    for args in [
        &["admin", "set-pin", "--new-pin", "246810"][..],
        &["users", "list"],
        &["status", "--json"],
        &["admin", "audit"],
    ] {
        let out = bare(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A face still needs them, and says which is missing.
    let out = bare(&["sign-in", "--face", &photo("obama/obama.jpg")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error [MODEL_MISSING]") || stderr.contains("error [RUNTIME_MISSING]"),
        "{stderr}"
    );
}

/// No foot-guns: a mistyped data dir is refused with its code on one line (nothing made),
/// the new PIN comes from standard input, and `config show` says where each value came from
/// without showing a secret.
#[test]
fn a_missing_kiosk_is_refused_the_pin_comes_from_stdin_and_config_show_hides_secrets() {
    use std::io::Write as _;
    let dir = temp_dir("kiosk-cli-footguns");
    let data = dir.join("kiosk");
    let out = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("KIOSK_PAIRING_CODE")
        .args(["--data-dir", data.to_str().unwrap(), "users", "list"])
        .output()
        .unwrap();
    let stderr = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error [NO_KIOSK_DATA]: no kiosk database in "),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!data.exists(), "a kiosk was made at a mistyped path");

    let mut child = kiosk(&data, &["admin", "set-pin"])
        .env_remove("KIOSK_ADMIN_PIN")
        .env_remove("KIOSK_NEW_PIN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"135792\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    // The PIN read from stdin is the one in force: deleting someone asks for it.
    let wrong = kiosk(&data, &["users", "delete", "nobody"])
        .output()
        .unwrap();
    assert!(
        common::stderr(&wrong).contains("error [ADMIN_REFUSED]"),
        "{}",
        common::stderr(&wrong)
    );
    let right = kiosk(&data, &["users", "delete", "nobody"])
        .env("KIOSK_ADMIN_PIN", "135792")
        .output()
        .unwrap();
    // Nobody to delete, but not refused: the right PIN.
    assert!(
        common::stderr(&right).is_empty(),
        "{}",
        common::stderr(&right)
    );
    assert_eq!(json(&right)["deleted"], json!(false));

    let out = kiosk(&data, &["config", "show"])
        .env("KIOSK_LOCALE", "es")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!text.contains(common::PIN), "{text}");
    let line = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{k} =")))
            .unwrap_or_default()
    };
    assert!(line("admin_pin").contains("(set, hidden)"), "{text}");
    assert!(
        line("admin_pin").ends_with("# environment variable KIOSK_ADMIN_PIN"),
        "{text}"
    );
    assert!(line("locale").contains("\"es\""), "{text}");
    assert!(line("data_dir").ends_with("# command-line flags"), "{text}");
    assert!(line("camera").ends_with("# default"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
