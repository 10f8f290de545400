//! Face decisions as error rates (`vision::decision`) over real HTTP, on the fake face engines
//! and their registered calibration: the 1:N threshold rises with the gallery, 1:N goes off
//! (and a claim then 1:1 decides) where the flow's targets cannot be held, and failed face
//! attempts are counted per person across replicas, kiosks and offline events (NIST SP
//! 800-63B-4: 5 free, 30 s doubling, disabled at 50, reset by a success, a code or an operator).

use crate::common;

use access_server::Clock;

use common::fakes::face_jpeg;
use common::{DeviceKey, FakeFaces, TestServer, Vision, b64, code_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn photo(who: u8, variant: u32) -> String {
    b64(&face_jpeg(who, variant))
}

async fn face_server(db: Option<std::path::PathBuf>) -> TestServer {
    let mut b = TestServer::builder()
        .vision(Vision::Fake(FakeFaces::new()))
        .login_flow(json!({"email": true, "face": true, "liveness_required": false}))
        // The per-person rate limit (10 a minute) is not what these tests count.
        .configure(|c| c.biometric_per_min = 10_000);
    if let Some(db) = db {
        b = b.db(db);
    }
    let t = b.start().await;
    assert_eq!(t.vision_loaded().await, "ready");
    t
}

async fn enrol(t: &TestServer, user: &str, who: u8) {
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.admin,
            json!({"user_id": user, "project_id": t.project(), "face_image": photo(who, 1)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{user}: {v}");
}

async fn verify(t: &TestServer, token: &str, user: Option<&str>, who: u8) -> (StatusCode, Value) {
    verify_in(t, t.project(), token, user, who).await
}

/// Through `t`, in `project` (a replica serves every project of the store).
async fn verify_in(
    t: &TestServer,
    project: &str,
    token: &str,
    user: Option<&str>,
    who: u8,
) -> (StatusCode, Value) {
    let mut body = json!({"project_id": project, "face_image": photo(who, 2)});
    if let Some(u) = user {
        body["user_id"] = json!(u);
    }
    t.post("/biometric/verify-face", token, body).await
}

async fn patch_login(t: &TestServer, login: Value) {
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{}", t.flow()),
            Some(&t.admin),
            Some(json!({ "login": login })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn the_one_to_n_threshold_rises_with_the_gallery_and_holds_the_target() {
    let t = face_server(None).await;
    let k = t.kiosk();
    enrol(&t, "p1", 1).await;
    enrol(&t, "p2", 2).await;
    let (s, v) = verify(&t, &k, None, 1).await;
    assert_eq!(
        (s, v["data"]["user_id"].as_str()),
        (StatusCode::OK, Some("p1")),
        "{v}"
    );
    let small = v["data"]["threshold"].as_f64().unwrap();
    // 1:1 is held to target_fmr whatever the gallery: lower than 1:N's.
    let (_, v) = verify(&t, &k, Some("p1"), 1).await;
    let one_to_one = v["data"]["threshold"].as_f64().unwrap();
    for who in 3..=40u8 {
        enrol(&t, &format!("p{who}"), who).await;
    }
    let (s, v) = verify(&t, &k, None, 7).await;
    assert_eq!(
        (s, v["data"]["user_id"].as_str()),
        (StatusCode::OK, Some("p7")),
        "{v}"
    );
    let large = v["data"]["threshold"].as_f64().unwrap();
    assert!(
        one_to_one <= small && small < large,
        "1:1 {one_to_one}, 1:N at 2 people {small}, at 40 people {large}"
    );
    // What the console shows: the rates these thresholds give for 40 people, and how many
    // people 1:N can hold the targets for.
    let (s, v) = t
        .get(&format!("/project-flows/{}/face-rates", t.flow()), &t.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = &v["data"];
    assert_eq!(
        (r["people"].as_u64(), r["identify_on"].as_bool()),
        (Some(40), Some(true)),
        "{r}"
    );
    assert!(
        (r["identify_threshold"].as_f64().unwrap() - large).abs() < 1e-6,
        "{r}"
    );
    assert!(r["identify_fpir"].as_f64().unwrap() <= 1e-3 * 1.0001, "{r}");
    assert!(r["identify_capacity"].as_u64().unwrap() >= 40, "{r}");
    assert!(
        r["calibration"].as_str().unwrap().contains("synthetic"),
        "{r}"
    );
    let (s, _) = t
        .get(&format!("/project-flows/{}/face-rates", t.flow()), &k)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A stranger is nobody, at either size.
    let (s, v) = verify(&t, &k, None, 50).await;
    assert_eq!(
        (s, v["data"]["matched"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{v}"
    );
    assert!(v["data"]["user_id"].is_null() && v["data"]["match_score"].is_null());
}

#[tokio::test]
async fn where_one_to_n_cannot_hold_its_targets_a_claim_then_one_to_one_decides() {
    let t = face_server(None).await;
    let k = t.kiosk();
    enrol(&t, "ada", 1).await;
    enrol(&t, "bob", 2).await;
    // A target no threshold can hold with the FNIR under its ceiling: 1:N is off.
    patch_login(&t, json!({"target_fpir": 1e-12})).await;
    let before = common::server::count_in(&t.cfg.db, "SELECT COUNT(*) FROM validations");
    let (s, v) = verify(&t, &k, None, 1).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "IDENTIFICATION_UNAVAILABLE"),
        "{v}"
    );
    assert_eq!(v["details"]["people"], 2, "{v}");
    let (_, r) = t
        .get(&format!("/project-flows/{}/face-rates", t.flow()), &t.admin)
        .await;
    assert_eq!(
        (
            r["data"]["identify_on"].as_bool(),
            r["data"]["identify_off_reason"].as_str()
        ),
        (Some(false), Some("fnir_above_ceiling")),
        "{r}"
    );
    assert!(v["details"]["expected_fnir"].as_f64().unwrap() > 0.2, "{v}");
    // No validation opened, no attempt counted, nobody named.
    assert_eq!(
        common::server::count_in(&t.cfg.db, "SELECT COUNT(*) FROM validations"),
        before
    );
    // The person says who they are: 1:1 decides, the token is theirs.
    let (s, v) = verify(&t, &k, Some("ada"), 1).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["data"]["passed"].as_bool(), v["data"]["user_id"].as_str()),
        (Some(true), Some("ada"))
    );
    let (_, v) = verify(&t, &k, Some("bob"), 1).await;
    assert_eq!(v["data"]["matched"], false, "{v}");
    // An expert threshold too low for the FPIR target keeps 1:N off; back to the targets, on.
    patch_login(&t, json!({"target_fpir": 1e-3, "match_min_score": 0.05})).await;
    let (s, v) = verify(&t, &k, None, 1).await;
    assert_eq!(code_of(&v), "IDENTIFICATION_UNAVAILABLE", "{s} {v}");
    patch_login(&t, json!({"match_min_score": null})).await;
    let (s, v) = verify(&t, &k, None, 1).await;
    assert_eq!(
        (s, v["data"]["user_id"].as_str()),
        (StatusCode::OK, Some("ada")),
        "{v}"
    );
    // Rates out of range are refused.
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{}", t.flow()),
            Some(&t.admin),
            Some(json!({"login": {"target_fmr": 0.0}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_face_attempts_count_per_person_across_replicas_kiosks_and_offline_events() {
    let a = face_server(None).await;
    let b = face_server(Some(a.cfg.db.clone())).await;
    // Two kiosks of a's project, each used through both replicas; their tokens (an hour)
    // are renewed as a kiosk renews them while the test's clock runs days ahead.
    let p = a.project().to_string();
    let (da, db) = (DeviceKey::generate(), DeviceKey::generate());
    let (ida, _) = a.pair_device(&da, &p).await;
    let (idb, _) = a.pair_device(&db, &p).await;
    let tokens = || async {
        (
            a.device_token(&da, &ida).await,
            b.device_token(&db, &idb).await,
        )
    };
    let (mut ka, mut kb) = tokens().await;
    enrol(&a, "ada", 1).await;
    let advance = |ms: i64| {
        a.clock.advance_ms(ms);
        b.clock.advance_ms(ms);
    };
    let wrong = |n: usize, ka: String, kb: String| {
        let (a, b, p) = (&a, &b, p.clone());
        async move {
            // Alternating replicas and kiosks: one count.
            let (server, token) = if n.is_multiple_of(2) {
                (a, ka)
            } else {
                (b, kb)
            };
            verify_in(server, &p, &token, Some("ada"), 2).await
        }
    };
    for n in 0..5 {
        let (s, v) = wrong(n, ka.clone(), kb.clone()).await;
        assert_eq!(
            (s, v["data"]["matched"].as_bool()),
            (StatusCode::OK, Some(false)),
            "{n}: {v}"
        );
    }
    // The sixth waits 30 s, through either replica, even with Ada's own face.
    for (t, k) in [(&a, &ka), (&b, &kb)] {
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                k,
                json!({"project_id": p, "user_id": "ada", "face_image": photo(1, 2)}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::LOCKED, "FACE_ATTEMPTS_LOCKED"),
            "{v}"
        );
        assert_eq!(v["details"]["retry_after_s"], 30, "{v}");
    }
    advance(31_000);
    // A pass opens it again and the count starts over.
    let (s, v) = verify_in(&b, &p, &kb, Some("ada"), 1).await;
    assert_eq!(
        (s, v["data"]["passed"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    let (s, _) = wrong(0, ka.clone(), kb.clone()).await;
    assert_eq!(s, StatusCode::OK);

    // Offline failures a kiosk reports at sync count too.
    let (device, kiosk_id, token) = (&da, &ida, &ka);
    let events: Vec<access_types::OfflineEvent> = (0..4)
        .map(|i| {
            device.sign_event(
                kiosk_id,
                access_types::OfflineEvent {
                    event_id: format!("evt_fail_{i}"),
                    kind: "sign_in_failed".into(),
                    project_id: p.clone(),
                    occurred_at: access_server::clock::rfc3339(b.clock.now_ms() - 1000),
                    user_id: Some("ada".into()),
                    payload: json!({"decision": "rejected", "reason": "NO_MATCH"}),
                    signature: None,
                },
            )
        })
        .collect();
    let (s, v) = b
        .post("/sync/events", token, json!({"events": events}))
        .await;
    assert_eq!(
        v["data"]["accepted"].as_array().map(Vec::len),
        Some(4),
        "{s} {v}"
    );
    // The same upload again (a retry) counts nothing more: 1 online + 4 offline = 5.
    let (_, v) = b
        .post("/sync/events", token, json!({"events": events}))
        .await;
    assert_eq!(
        v["data"]["duplicates"].as_array().map(Vec::len),
        Some(4),
        "{v}"
    );
    let (s, v) = verify(&a, &ka, Some("ada"), 1).await;
    assert_eq!(code_of(&v), "FACE_ATTEMPTS_LOCKED", "{s} {v}");

    // Up to 50 in a row, each after its delay: then disabled, whatever the wait.
    for n in 5..50 {
        advance(24 * 3600 * 1000 + 1);
        (ka, kb) = tokens().await;
        let (s, v) = wrong(n, ka.clone(), kb.clone()).await;
        assert_eq!(s, StatusCode::OK, "{n}: {v}");
    }
    advance(365 * 24 * 3600 * 1000);
    (ka, kb) = tokens().await;
    let st = &a.server().state;
    let admin = access_server::tokens::issue(
        &st.db,
        &st.keys,
        "test-admin",
        access_types::ApiScope::Admin,
        3600,
        a.clock.now_ms(),
    )
    .unwrap();
    let (s, v) = verify_in(&b, &p, &kb, Some("ada"), 1).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::LOCKED, "FACE_ATTEMPTS_LOCKED"),
        "{v}"
    );
    assert_eq!(v["details"]["disabled"], true, "{v}");
    // A kiosk token cannot lift it; an operator can.
    let reset = format!("/biometric/users/ada/face-attempts?project_id={}", p);
    let (s, _) = a.call(Method::DELETE, &reset, Some(&ka), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = a.call(Method::DELETE, &reset, Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = verify_in(&b, &p, &kb, Some("ada"), 1).await;
    assert_eq!(
        (s, v["data"]["passed"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
}
