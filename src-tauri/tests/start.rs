//! The app's start, before any window: a broken engine stops it with its code (exit 1), not a
//! crash. Needs no display: the engine loads before the window is made.

use std::process::Command;

#[test]
fn a_cut_short_onnx_runtime_stops_the_app_with_runtime_load() {
    let dir = std::env::temp_dir().join(format!("app-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let real = vision::runtime::resolved_ort_library(&vision::RuntimeConfig::default())
        .expect("setup installs ONNX Runtime");
    let lib = std::fs::read(real).unwrap();
    let cut = dir.join("libonnxruntime.so.1.32.0");
    std::fs::write(&cut, &lib[..lib.len() / 2]).unwrap();
    std::fs::write(dir.join("kiosk.toml"), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_access-kiosk"))
        .env("KIOSK_DATA_DIR", dir.join("data"))
        .env("KIOSK_CONFIG", dir.join("kiosk.toml"))
        .env("ORT_DYLIB_PATH", &cut)
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error [RUNTIME_LOAD]"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
