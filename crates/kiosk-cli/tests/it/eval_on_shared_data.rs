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
    // The operator's figures: EER, FNMR at the FMR targets the pairs can measure, per subset.
    assert!(r["eer"]["rate"].as_f64().unwrap() <= 0.02, "{r}");
    let at = r["fnmr_at_fmr"].as_array().unwrap();
    assert_eq!(at.len(), 4);
    assert_eq!(at[0]["status"], "measured", "{r}");
    assert!(at[0]["fmr"].as_f64().unwrap() <= 0.01);
    assert!(at[0]["fnmr"].as_f64().unwrap() <= 0.02, "{r}");
    // 791 impostor pairs cannot show an FMR of 1e-3 (3000 needed by the rule of three).
    assert_eq!(at[1]["status"], "not_measurable");
    assert_eq!(at[1]["impostors"], 791);
    let roc = r["all"]["roc"].as_array().unwrap();
    assert!(roc.len() > 100, "one point per distinct score");
    assert_eq!(roc.last().unwrap()["fmr"].as_f64(), Some(1.0));
    for subset in ["face_api_js", "face_recognition_examples"] {
        let s = &r["subsets"][subset];
        assert!(s["eer"]["rate"].as_f64().is_some(), "{subset}: {s}");
        assert_eq!(s["fnmr_at_fmr"].as_array().unwrap().len(), 4);
    }
    assert_eq!(
        r["subsets"]["face_recognition_examples"]["fnmr_at_fmr"][0]["status"], "not_measurable",
        "91 impostor pairs cannot show 1e-2"
    );
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
fn verify_report_draws_the_det_curve_histograms_and_worst_pairs() {
    let dir = test_support::temp_dir("kiosk-cli-report");
    let out = kiosk(&[
        "eval",
        "verify",
        "--pairs",
        &path("pairs.csv"),
        "--report",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stderr is a pipe here: no progress bar is drawn.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for want in [
        "DET curve",
        "det.svg",
        "scores.svg",
        "raj",
        "not measurable on 791 impostor pairs",
    ] {
        assert!(html.contains(want), "{want} missing from the report");
    }
    for svg in ["det.svg", "scores.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("<polyline"),
            "{svg}"
        );
    }
    // Five worst genuine and five worst impostor pairs: every face shown once, as a PNG.
    let thumbs: Vec<_> = std::fs::read_dir(dir.join("thumbs")).unwrap().collect();
    assert!((5..=20).contains(&thumbs.len()), "{}", thumbs.len());
    assert_eq!(html.matches("<td>genuine</td>").count(), 5);
    assert_eq!(html.matches("<td>impostor</td>").count(), 5);
    let png = std::fs::read(dir.join("thumbs/0.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

/// The people of face_api_js.
const PEOPLE: [&str; 8] = [
    "amy",
    "bernadette",
    "howard",
    "leonard",
    "penny",
    "raj",
    "sheldon",
    "stuart",
];

/// face_api_js minus its group photos: a folder per person, as an operator would lay out.
fn people_dir() -> std::path::PathBuf {
    let dir = test_support::temp_dir("kiosk-cli-people");
    for person in PEOPLE {
        std::os::unix::fs::symlink(
            face_path(&format!("face_api_js/{person}")),
            dir.join(person),
        )
        .unwrap();
    }
    dir
}

#[test]
fn calibrate_forms_the_pairs_and_proposes_thresholds() {
    let people = people_dir();
    let r = json(&[
        "eval",
        "calibrate",
        "--people",
        people.to_str().unwrap(),
        "--labels",
        &path("liveness_labels.csv"),
        "--json",
    ]);
    assert_eq!(r["people"], 8);
    // 40 photos: C(40,2) = 780 pairs, 8 people x C(5,2) = 80 of them genuine.
    assert_eq!(r["figures"]["pairs"], 780);
    assert_eq!(r["figures"]["same"], 80);
    assert!(r["figures"]["auc"].as_f64().unwrap() >= 0.999, "{r}");
    // 700 impostor pairs cannot measure 1e-4: said so, no upper bound.
    let p = &r["proposal"];
    assert_eq!(p["measurable"], false, "{p}");
    assert!(p["upper"].is_null());
    assert_eq!(p["false_accept_rate"].as_f64(), Some(0.0));
    // The liveness part, per attack species.
    let l = &r["liveness"];
    assert_eq!(l["samples"], 3);
    assert_eq!(l["species"].as_object().unwrap().len(), 2, "{l}");
    assert_eq!(l["pooled"]["bpcer"].as_f64(), Some(0.0), "{l}");
    assert!(l["proposal"]["threshold"].as_f64().is_some());

    // A target the pairs can measure: the proposal holds it and has both bounds.
    let r = json(&[
        "eval",
        "calibrate",
        "--people",
        people.to_str().unwrap(),
        "--target-fmr",
        "0.01",
        "--json",
    ]);
    let p = &r["proposal"];
    assert_eq!(p["measurable"], true, "{p}");
    assert!(p["false_accept_rate"].as_f64().unwrap() <= 0.01);
    let (lo, t, hi) = (
        p["lower"].as_f64().unwrap(),
        p["threshold"].as_f64().unwrap(),
        p["upper"].as_f64().unwrap(),
    );
    assert!(lo <= t && t <= hi, "{p}");
    assert!(r["liveness"].is_null());

    let out = kiosk(&["eval", "calibrate", "--people", &path("face_api_js/amy")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a folder per person"));
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

/// Open-set 1:N with the product's decision rule, on the shared photos: six of the eight
/// people enrolled with their first photo, the others' photos are strangers; at sizes 3 and
/// all (6). The measured rates come with their bounds, the old fixed threshold beside them.
#[test]
fn identify_reports_open_set_rates_per_gallery_size() {
    let dir = test_support::temp_dir("kiosk-cli-identify");
    let people = people_dir();
    let mut gallery = String::from("image,identity,role\n");
    let mut probes = String::from("image,identity,mated\n");
    for (i, person) in PEOPLE.iter().enumerate() {
        let mut photos: Vec<String> = std::fs::read_dir(people.join(person))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jpg") || n.ends_with(".png"))
            .collect();
        photos.sort();
        let enrolled = i < 6;
        for (j, p) in photos.iter().enumerate() {
            let image = format!("{person}/{p}");
            if enrolled && j == 0 {
                gallery += &format!("{image},{person},mated_enrolled\n");
            } else {
                probes += &format!("{image},{person},{}\n", u8::from(enrolled));
            }
        }
    }
    std::fs::write(dir.join("gallery.csv"), gallery).unwrap();
    std::fs::write(dir.join("probes.csv"), probes).unwrap();
    let r = json(&[
        "eval",
        "identify",
        "--gallery",
        dir.join("gallery.csv").to_str().unwrap(),
        "--probes",
        dir.join("probes.csv").to_str().unwrap(),
        "--images",
        people.to_str().unwrap(),
        "--gallery-sizes",
        "3,all",
        "--json",
    ]);
    let sizes = r["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2, "{r}");
    let (small, all) = (&sizes[0], &sizes[1]);
    assert_eq!(
        (small["people"].as_u64(), all["people"].as_u64()),
        (Some(3), Some(6)),
        "{r}"
    );
    // Fewer people enrolled: more of the probes are strangers.
    assert!(
        small["strangers"].as_u64() > all["strangers"].as_u64(),
        "{r}"
    );
    for s in sizes {
        let t = &s["thresholds"];
        assert!(t["identify"].as_f64() >= t["verify"].as_f64(), "{s}");
        let (fpir, (lo, hi)) = (
            s["fpir"].as_f64().unwrap(),
            (
                s["fpir_interval"][0].as_f64().unwrap(),
                s["fpir_interval"][1].as_f64().unwrap(),
            ),
        );
        assert!(lo <= fpir && fpir <= hi, "{s}");
        assert!(s["fnir"].as_f64().unwrap() <= 1.0);
        assert!(
            (s["baseline"]["threshold"].as_f64().unwrap() - 0.36).abs() < 1e-6,
            "{s}"
        );
    }
    assert!(
        r["calibration"].as_str().unwrap().contains("faces-lfw"),
        "{r}"
    );
    // A size that is not one is refused with words, not a panic.
    let out = kiosk(&[
        "eval",
        "identify",
        "--gallery",
        dir.join("gallery.csv").to_str().unwrap(),
        "--probes",
        dir.join("probes.csv").to_str().unwrap(),
        "--gallery-sizes",
        "ten",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gallery-sizes"));
}
