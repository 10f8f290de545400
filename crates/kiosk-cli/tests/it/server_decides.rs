//! The server's refusal stands, and erasure reaches every copy (issue 12): the real `kiosk`
//! binary on real data dirs, against the real access-server (real models) over loopback.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{PIN, json, kiosk, photo, run, stderr};
use reqwest::Method;
use serde_json::{Value, json};
use test_support::{TestServer, temp_dir};

fn enrol(data: &Path, flags: &[String], user: &str) -> Value {
    let (a, b, c) = (
        photo("obama/obama.jpg"),
        photo("obama/obama1.jpg"),
        photo("obama/obama2.jpg"),
    );
    let out = run(
        data,
        flags,
        &["enroll", "--user", user, "--images", &a, &b, &c],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)
}

/// A face sign-in with a photo of the person enrolled as "obama": (decision, mode, reason).
fn sign_in(data: &Path, flags: &[String]) -> (String, String, Option<String>) {
    let out = run(
        data,
        flags,
        &["sign-in", "--face", &photo("obama/obama3.jpg")],
    );
    let v = json(&out);
    (
        v["decision"].as_str().unwrap_or_default().to_string(),
        v["mode"].as_str().unwrap_or_default().to_string(),
        v["reason"].as_str().map(String::from),
    )
}

fn sync(data: &Path, flags: &[String]) -> Value {
    let out = run(data, flags, &["sync", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)
}

fn status(data: &Path, flags: &[String]) -> Value {
    json(&run(data, flags, &["status", "--json"]))
}

fn set_pin(data: &Path) {
    let out = run(data, &[], &["admin", "set-pin", "--new-pin", PIN]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

async fn patch_flow(server: &TestServer, body: Value) {
    let (s, v) = server
        .call(
            Method::PATCH,
            &format!("/project-flows/{}", server.flow()),
            Some(&server.admin),
            Some(body),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_at_one_kiosk_reaches_the_server_and_the_other_kiosk() {
    let mut server = TestServer::for_kiosks().await;
    // Two kiosks, each paired with its own one-time code.
    let (f, fb) = (server.kiosk_flags(), server.kiosk_flags());
    let (a, b) = (temp_dir("kiosk-erase-a"), temp_dir("kiosk-erase-b"));
    set_pin(&a);

    // Enrolled at A, online: on the server, and B pulls the samples.
    assert_eq!(enrol(&a, &f, "obama")["state"], "registered");
    assert_eq!(sync(&b, &fb)["templates_pulled"], 3);
    // Offline, B's cache knows him (so what follows can fail).
    server.shutdown().await;
    assert_eq!(
        sign_in(&b, &fb),
        ("accepted".into(), "offline".into(), None)
    );
    server.restart().await;

    // Erased at A: queued, then sent by A's sync.
    let out = run(&a, &f, &["users", "delete", "obama"]);
    assert_eq!(json(&out)["deleted"], true, "{}", stderr(&out));
    assert_eq!(status(&a, &f)["pending_events"], 1);
    let r = sync(&a, &f);
    assert_eq!(
        (r["erasures_sent"].as_u64(), r["pending"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM templates WHERE user_id = 'obama' AND deleted_at IS NULL"),
        0
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM erasures WHERE user_id = 'obama' AND scope = 'kiosk'"),
        1
    );
    let audit = json(&run(&a, &f, &["admin", "audit", "--limit", "5"]));
    let deletions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["decision"] == "user_deleted" && e["user_id"] == "obama")
        .filter_map(|e| e["mode"].as_str())
        .collect();
    assert_eq!(deletions.len(), 2, "{audit}");
    assert!(deletions.contains(&"offline") && deletions.contains(&"online"));

    // B has not synced yet and its cache still has him: online, the server's refusal stands.
    assert_eq!(status(&b, &fb)["templates"], 3);
    let (decision, mode, _) = sign_in(&b, &fb);
    assert_eq!((decision.as_str(), mode.as_str()), ("rejected", "online"));
    // B's sync drops his samples; offline now, its cache does not know him either.
    assert_eq!(sync(&b, &fb)["templates_deleted"], 3);
    assert_eq!(status(&b, &fb)["templates"], 0);
    server.shutdown().await;
    assert_eq!(
        sign_in(&b, &fb),
        ("rejected".into(), "offline".into(), some("NOT_ENROLLED"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_enrolled_offline_and_deleted_at_the_kiosk_does_not_come_back() {
    let mut server = TestServer::for_kiosks().await;
    let f = server.kiosk_flags();
    let data = temp_dir("kiosk-erase-offline");
    set_pin(&data);
    server.shutdown().await;
    assert_eq!(enrol(&data, &f, "ada")["state"], "queued");
    assert_eq!(status(&data, &f)["pending_events"], 3);
    let out = run(&data, &f, &["users", "delete", "ada"]);
    assert_eq!(json(&out)["deleted"], true, "{}", stderr(&out));
    // Her three samples are gone from the outbox; the erasure waits in their place.
    assert_eq!(status(&data, &f)["pending_events"], 1);

    server.restart().await;
    let r = sync(&data, &f);
    assert_eq!(
        (
            r["enrolments_sent"].as_u64(),
            r["erasures_sent"].as_u64(),
            r["templates_pulled"].as_u64(),
            r["pending"].as_u64()
        ),
        (Some(0), Some(1), Some(0), Some(0))
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM templates WHERE user_id = 'ada'"),
        0
    );
    assert_eq!(json(&run(&data, &f, &["users", "list"])), json!([]));
    assert_eq!(sync(&data, &f)["templates_pulled"], 0);
    assert_eq!(status(&data, &f)["templates"], 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customers_check_down_is_refused_at_the_kiosk() {
    let server = TestServer::for_kiosks().await;
    let f = server.kiosk_flags();
    let data = temp_dir("kiosk-security-url");
    set_pin(&data);
    assert_eq!(enrol(&data, &f, "obama")["state"], "registered");
    // The customer's URL stops answering (nothing listens on port 9).
    patch_flow(
        &server,
        json!({"security": {"mode": "url", "url": "http://127.0.0.1:9/check", "timeout_ms": 500}}),
    )
    .await;
    assert_eq!(status(&data, &f)["templates"], 3, "the cache knows him");
    assert_eq!(
        sign_in(&data, &f),
        (
            "rejected".into(),
            "online".into(),
            some("SECURITY_CHECK_UNAVAILABLE")
        )
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_kiosk_keeps_the_flows_rules_and_its_window() {
    let mut server = TestServer::for_kiosks().await;
    let f = server.kiosk_flags();
    let data = temp_dir("kiosk-offline-policy");
    set_pin(&data);
    assert_eq!(enrol(&data, &f, "obama")["state"], "registered");

    // Each rule is learnt at a sync, then the server goes away.
    for (flow, reason) in [
        (
            json!({"security": {"mode": "blacklist", "identifiers": ["obama"]}}),
            "IDENTIFIER_NOT_ALLOWED",
        ),
        (
            json!({"status": "paused", "security": {"mode": "none"}}),
            "FLOW_PAUSED",
        ),
        (
            json!({"status": "active", "login": {"face": false}}),
            "METHOD_DISABLED",
        ),
    ] {
        server.restart().await;
        patch_flow(&server, flow).await;
        assert_eq!(sync(&data, &f)["policy"], true);
        server.shutdown().await;
        assert_eq!(
            sign_in(&data, &f),
            ("rejected".into(), "offline".into(), some(reason)),
            "{reason}"
        );
    }

    // The window: 0.003 h (10.8 s) since the last good sync.
    server.restart().await;
    patch_flow(&server, json!({"login": {"face": true}})).await;
    sync(&data, &f);
    let synced = Instant::now();
    server.shutdown().await;
    let short = |args: &[&str]| {
        kiosk(&data, &f, args)
            .env("KIOSK_OFFLINE_MAX_HOURS", "0.003")
            .output()
            .unwrap()
    };
    let face = photo("obama/obama3.jpg");
    let within = short(&["sign-in", "--face", &face]);
    assert!(synced.elapsed() < Duration::from_millis(10_800));
    assert_eq!(
        (
            json(&within)["decision"].as_str(),
            json(&within)["mode"].as_str()
        ),
        (Some("accepted"), Some("offline")),
        "{}",
        stderr(&within)
    );
    tokio::time::sleep(Duration::from_millis(10_900).saturating_sub(synced.elapsed())).await;
    let late = short(&["sign-in", "--face", &face]);
    assert_eq!(late.status.code(), Some(1), "{}", stderr(&late));
    assert!(
        stderr(&late).contains("OFFLINE_TOO_LONG"),
        "{}",
        stderr(&late)
    );
    // With the default 72 h the same kiosk still decides.
    assert_eq!(
        sign_in(&data, &f),
        ("accepted".into(), "offline".into(), None)
    );
    let audit = json(&run(&data, &f, &["admin", "audit", "--limit", "3"]));
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"] == "OFFLINE_TOO_LONG" && e["decision"] == "rejected"),
        "{audit}"
    );
    server.stop().await;
}

#[test]
fn wrong_pins_impose_a_growing_delay_that_survives_a_restart() {
    let data = temp_dir("kiosk-pin-delay");
    let short = run(&data, &[], &["admin", "set-pin", "--new-pin", "2468"]);
    assert_eq!(short.status.code(), Some(1));
    assert!(
        stderr(&short).contains("ADMIN_PIN_INVALID"),
        "{}",
        stderr(&short)
    );
    set_pin(&data);
    let with_pin = |pin: &str| {
        kiosk(&data, &[], &["users", "delete", "nobody"])
            .env("KIOSK_ADMIN_PIN", pin)
            .output()
            .unwrap()
    };
    let started = Instant::now();
    for _ in 0..4 {
        let out = with_pin("000000");
        assert!(stderr(&out).contains("[ADMIN_REFUSED]"), "{}", stderr(&out));
    }
    let fifth = with_pin("000000");
    assert!(
        stderr(&fifth).contains("[ADMIN_PIN_LOCKED]")
            && stderr(&fifth).contains("try again in 30 s"),
        "{}",
        stderr(&fifth)
    );
    // Each attempt is its own process: the delay is in the store. The right PIN waits too.
    let right = with_pin(PIN);
    assert_eq!(right.status.code(), Some(1));
    let msg = stderr(&right);
    assert!(msg.contains("[ADMIN_PIN_LOCKED]"), "{msg}");
    let secs: u64 = msg
        .split("try again in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seconds in {msg}"));
    let waited = started.elapsed().as_secs();
    assert!(
        secs <= 30 && secs + waited + 1 >= 30,
        "{secs} s left after {waited} s"
    );
    let audit = json(&run(&data, &[], &["admin", "audit", "--limit", "10"]));
    let of = |d: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["method"] == "admin_pin" && e["decision"] == d)
            .count()
    };
    assert_eq!((of("refused"), of("locked_out")), (5, 1), "{audit}");
}
