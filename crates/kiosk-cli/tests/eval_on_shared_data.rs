//! The `kiosk` binary's eval and bench commands on the shared labelled photos: the accuracy
//! the product promises, checked end to end.

use std::process::{Command, Output};

use serde_json::Value;
use test_support::face_path;

fn kiosk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(args)
        .output()
        .expect("run kiosk")
}

fn json(args: &[&str]) -> Value {
    let out = kiosk(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn path(rel: &str) -> String {
    face_path(rel).display().to_string()
}

#[test]
fn verification_on_the_shared_pairs_meets_the_accuracy_bar() {
    let r = json(&["eval", "verify", "--pairs", &path("pairs.csv"), "--json"]);
    assert_eq!(r["pairs"], 885);
    assert_eq!(r["undetected"], 0, "{r}");
    assert!(r["auc"].as_f64().unwrap() >= 0.999, "{r}");
    assert_eq!(r["fmr"].as_f64().unwrap(), 0.0, "{r}");
    assert!(r["fnmr"].as_f64().unwrap() <= 0.02, "{r}");
    assert!(r["ms_per_image"].as_f64().unwrap() > 0.0);
    // A threshold of 0 accepts everyone: the impostor rate must then be 1.
    let loose = json(&[
        "eval",
        "verify",
        "--pairs",
        &path("pairs.csv"),
        "--threshold=-1",
        "--json",
    ]);
    assert_eq!(loose["fmr"].as_f64().unwrap(), 1.0);
}

#[test]
fn liveness_classifies_every_labelled_sample() {
    let r = json(&[
        "eval",
        "liveness",
        "--labels",
        &path("liveness_labels.csv"),
        "--json",
    ]);
    assert_eq!(r["samples"], 3);
    assert_eq!(r["apcer"].as_f64().unwrap(), 0.0, "{r}");
    assert_eq!(r["bpcer"].as_f64().unwrap(), 0.0, "{r}");
    for s in r["results"].as_array().unwrap() {
        assert_eq!(s["label"], s["decision"], "{s}");
        assert!(s["score"].as_f64().is_some());
    }
}

#[test]
fn detection_recall_on_the_dlib_sets() {
    for xml in ["dlib_faces/training.xml", "dlib_faces/testing.xml"] {
        let r = json(&["eval", "detect", "--voc", &path(xml), "--json"]);
        assert!(r["ground_truth"].as_u64().unwrap() > 0);
        assert!(r["recall"].as_f64().unwrap() >= 0.95, "{xml}: {r}");
        assert!(r["precision"].as_f64().unwrap() >= 0.9, "{xml}: {r}");
    }
}

#[test]
fn bench_reports_every_stage() {
    let r = json(&[
        "bench",
        "--images",
        &path("face_recognition_examples/obama"),
        "--rounds",
        "1",
        "--gallery",
        "1000",
        "--queries",
        "10",
        "--json",
    ]);
    let stages: Vec<&str> = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    for want in [
        "decode (file)",
        "detect",
        "align",
        "embed (1 face)",
        "liveness (2 models)",
        "per frame (detect..liveness)",
        "decision (3 frames, embed, 1:1k)",
        "match 1:N, N=1000",
    ] {
        assert!(stages.contains(&want), "{want} missing from {stages:?}");
    }
    assert_eq!(r["frames_with_face"], 4);
}

#[test]
fn bad_inputs_fail_with_a_message_not_a_panic() {
    let out = kiosk(&["eval", "verify", "--pairs", "/nonexistent/pairs.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/pairs.csv"));

    let dir = test_support::temp_dir("kiosk-cli-bad");
    let csv = dir.join("pairs.csv");
    std::fs::write(&csv, "image_a,image_b,same\na.png,b.png,maybe\n").unwrap();
    let out = kiosk(&["eval", "verify", "--pairs", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same must be 0 or 1"));

    // An image that is not an image: the stable code reaches the user.
    std::fs::write(dir.join("a.png"), b"garbage").unwrap();
    std::fs::write(&csv, "image_a,image_b,same\na.png,a.png,1\n").unwrap();
    let out = kiosk(&["eval", "verify", "--pairs", csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("IMAGE_UNSUPPORTED"), "{err}");

    let out = kiosk(&[
        "--models-dir",
        dir.to_str().unwrap(),
        "eval",
        "liveness",
        "--labels",
        &path("liveness_labels.csv"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MODEL_MISSING") && err.contains("scripts/setup.sh"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}
