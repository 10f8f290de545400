//! The attacks of issue 11, each tried over real HTTP on loopback against the real server
//! (fake face engines where a face is needed): each test asserts the refusal and that nothing
//! was stored. The kiosk-side ones (a kiosk left offline renews its token by itself, events
//! signed by the real `kiosk` binary) are in the kiosk crates' suites.

use crate::common;

use access_server::Clock;
use common::fakes::face_jpeg;
use common::{DeviceKey, FakeFaces, TestServer, Vision, b64, code_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn photo(who: u8, variant: u32) -> String {
    b64(&face_jpeg(who, variant))
}

async fn face_server() -> (TestServer, String) {
    let t = TestServer::builder()
        .vision(Vision::Fake(FakeFaces::new()))
        .login_flow(json!({"email": true, "sms": true, "face": true, "liveness_required": false}))
        .start()
        .await;
    assert_eq!(t.vision_loaded().await, "ready");
    let p = t.project().to_string();
    (t, p)
}

fn now_rfc3339(t: &TestServer) -> String {
    access_server::clock::rfc3339(t.clock.now_ms())
}

fn event(t: &TestServer, id: &str, project: &str, user: &str) -> access_types::OfflineEvent {
    access_types::OfflineEvent {
        event_id: id.into(),
        kind: "sign_in".into(),
        project_id: project.into(),
        occurred_at: now_rfc3339(t),
        user_id: Some(user.into()),
        payload: json!({"decision": "accepted", "score": 0.81}),
        signature: None,
    }
}

#[tokio::test]
async fn a_face_cannot_take_over_a_person_or_a_second_identity() {
    let (t, p) = face_server().await;
    let k = t.kiosk();
    let register = |user: &'static str, image: String, token: String| {
        let (t, p) = (&t, p.clone());
        async move {
            t.post(
                "/biometric/register-face",
                &token,
                json!({"user_id": user, "project_id": p, "face_image": image}),
            )
            .await
        }
    };
    let (s, v) = register("ada", photo(1, 1), k.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Another person's face appended to Ada with a kiosk token: refused, nothing stored.
    let (s, v) = register("ada", photo(2, 1), k.clone()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "SAMPLE_MISMATCH"));
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'ada'"),
        1
    );
    // ...so that face does not sign in as Ada.
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": p, "user_id": "ada", "face_image": photo(2, 2)}),
        )
        .await;
    assert!(v["data"]["access_token"].is_null(), "{s} {v}");
    assert_ne!(v["data"]["matched"], true, "{v}");
    // Ada's face as a new person: refused without naming her.
    let (s, v) = register("eve", photo(1, 2), k.clone()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "DUPLICATE_FACE"));
    assert!(!v.to_string().contains("ada"), "{v}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'eve'"),
        0
    );
    // Kiosk enrolment keeps working: more of Ada's own face, and a new face.
    assert_eq!(
        register("ada", photo(1, 3), k.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        register("bob", photo(3, 1), k.clone()).await.0,
        StatusCode::OK
    );
    // An administrator may add a different-looking sample on purpose.
    let (s, v) = register("ada", photo(4, 1), t.admin.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn a_token_of_another_project_is_refused_everywhere() {
    let (t, p) = face_server().await;
    let (other, _) = t
        .project_with_flow(json!({"email": true, "face": true}))
        .await;
    // A kiosk paired to the first project.
    let device = DeviceKey::generate();
    let (kid, k) = t.pair_device(&device, &p).await;
    let before = t.count("SELECT COUNT(*) FROM validations");
    for (path, body) in [
        (
            "/email/send-otp",
            json!({"email": "ada@example.com", "project_id": other}),
        ),
        (
            "/biometric/register-face",
            json!({"user_id": "ada", "project_id": other, "face_image": photo(1, 1)}),
        ),
        (
            "/biometric/verify-face",
            json!({"project_id": other, "face_image": photo(1, 1)}),
        ),
    ] {
        let (s, v) = t.post(path, &k, body).await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::FORBIDDEN, "PROJECT_FORBIDDEN"),
            "{path}"
        );
    }
    let (s, v) = t
        .get(&format!("/sync/templates?project_id={other}"), &k)
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "PROJECT_FORBIDDEN")
    );
    // An event for the other project, signed by this kiosk, claiming another kiosk's id in
    // the body: refused (the body's kiosk id means nothing).
    let e = device.sign_event(&kid, event(&t, "evt_x", &other, "ada"));
    let (s, v) = t
        .post(
            "/sync/events",
            &k,
            json!({"kiosk_id": "ksk_victim", "events": [e]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["refused"][0]["reason"], "other_project");
    // Admin routes stay admin-only.
    let (s, _) = t.get("/projects", &k).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(t.count("SELECT COUNT(*) FROM validations"), before);
    assert_eq!(t.count("SELECT COUNT(*) FROM templates"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM sync_events"), 0);
    t.stop().await;
}

#[tokio::test]
async fn a_revoked_kiosk_is_refused_its_tokens_and_events() {
    let (t, p) = face_server().await;
    let device = DeviceKey::generate();
    let (kid, k) = t.pair_device(&device, &p).await;
    let send = json!({"email": "ada@example.com", "project_id": p});
    assert_eq!(
        t.post("/email/send-otp", &k, send.clone()).await.0,
        StatusCode::OK
    );
    let (s, v) = t
        .post(&format!("/kiosks/{kid}/revoke"), &t.admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["data"]["revoked_at"].is_string());
    // Its token, a new token, its events: all refused.
    let (s, v) = t.post("/email/send-otp", &k, send).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "KIOSK_REVOKED")
    );
    let now_s = t.clock.now_ms() / 1000;
    let (s, v) = t
        .post(
            "/kiosks/token",
            "",
            json!({"client_assertion": device.assertion(&kid, now_s)}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "KIOSK_REVOKED")
    );
    let e = device.sign_event(&kid, event(&t, "evt_1", &p, "ada"));
    let (s, v) = t.post("/sync/events", &k, json!({"events": [e]})).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "KIOSK_REVOKED")
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM sync_events"), 0);
    // The list says so.
    let (_, v) = t.get(&format!("/kiosks?project_id={p}"), &t.admin).await;
    let listed = v["data"]["kiosks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kiosk_id"] == kid.as_str())
        .cloned()
        .unwrap();
    assert!(listed["revoked_at"].is_string(), "{listed}");
    t.stop().await;
}

#[tokio::test]
async fn expired_foreign_and_replayed_credentials_are_refused() {
    let (t, p) = face_server().await;
    let other = TestServer::start().await;
    let send = json!({"email": "ada@example.com", "project_id": p});
    // Another server's admin token (its own signing key).
    let (s, v) = t.post("/email/send-otp", &other.admin, send.clone()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    other.stop().await;
    // A client assertion used twice, and one signed by another key for this kiosk.
    let device = DeviceKey::generate();
    let (kid, k) = t.pair_device(&device, &p).await;
    let now_s = t.clock.now_ms() / 1000;
    let a = json!({"client_assertion": device.assertion(&kid, now_s)});
    assert_eq!(
        t.post("/kiosks/token", "", a.clone()).await.0,
        StatusCode::OK
    );
    let (s, v) = t.post("/kiosks/token", "", a).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "ASSERTION_INVALID")
    );
    let thief = DeviceKey::generate();
    let (s, v) = t
        .post(
            "/kiosks/token",
            "",
            json!({"client_assertion": thief.assertion(&kid, now_s)}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "ASSERTION_INVALID")
    );
    // A pairing code pairs one key. That key may retry it (its answer was lost) and gets the
    // same kiosk; no other key can use it, and a revoked kiosk is not revived by a replay.
    let code = t.pairing_code(&p).await;
    let (s, first) = t.post("/kiosks/pair", "", thief.pair_request(&code)).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, again) = t.post("/kiosks/pair", "", thief.pair_request(&code)).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again["data"]["kiosk_id"], first["data"]["kiosk_id"]);
    let revoked_id = first["data"]["kiosk_id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(&format!("/kiosks/{revoked_id}/revoke"), &t.admin, json!({}))
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = t.post("/kiosks/pair", "", thief.pair_request(&code)).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "PAIRING_CODE_INVALID")
    );
    let (s, v) = t
        .post(
            "/kiosks/pair",
            "",
            DeviceKey::generate().pair_request(&code),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "PAIRING_CODE_INVALID")
    );
    // A kiosk token lives at most an hour.
    assert_eq!(
        t.post("/email/send-otp", &k, send.clone()).await.0,
        StatusCode::OK
    );
    t.clock.advance_ms(3_601_000);
    let (s, v) = t.post("/email/send-otp", &k, send).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    t.stop().await;
}

#[tokio::test]
async fn twelve_wrong_codes_across_four_validations_then_the_right_one_gets_no_token() {
    let (t, p) = face_server().await;
    let k = t.kiosk();
    let to = "target@example.com";
    let mut wrong = 0;
    let mut locked = None;
    let mut last_vid = String::new();
    'outer: for _ in 0..4 {
        let (s, v) = t
            .post("/email/send-otp", &k, json!({"email": to, "project_id": p}))
            .await;
        if s == StatusCode::LOCKED {
            locked = Some(v);
            break;
        }
        assert_eq!(s, StatusCode::OK, "{v}");
        last_vid = v["data"]["validation_id"].as_str().unwrap().to_string();
        let right = t.outbox_code(to).await;
        let guess = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        for _ in 0..3 {
            let (s, v) = t
                .post(
                    "/email/verify-otp",
                    &k,
                    json!({"email": to, "otp": guess, "validation_id": last_vid}),
                )
                .await;
            wrong += 1;
            if s == StatusCode::LOCKED {
                // The 10th wrong code is counted and locks the identifier at once.
                locked = Some(v);
                break 'outer;
            }
        }
    }
    let locked = locked.expect("the identifier was locked");
    assert_eq!(wrong, 10, "locked after the 10th wrong code in a row");
    assert_eq!(code_of(&locked), "IDENTIFIER_LOCKED");
    assert!(locked["details"]["retry_after_s"].as_u64().unwrap() >= 15 * 60);
    // The right code of the open validation: still no token, and no new code is sent.
    let right = t.outbox_code(to).await;
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &k,
            json!({"email": to, "otp": right, "validation_id": last_vid}),
        )
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::LOCKED, "IDENTIFIER_LOCKED"));
    assert!(v["data"]["access_token"].is_null());
    assert_eq!(
        t.count("SELECT COUNT(*) FROM validations WHERE status = 'validated'"),
        0
    );
    t.stop().await;
}

#[tokio::test]
async fn rapid_one_to_n_probes_are_limited_and_misses_carry_no_score() {
    let (t, p) = face_server().await;
    let k = t.kiosk();
    t.post_ok(
        "/biometric/register-face",
        &k,
        json!({"user_id": "ada", "project_id": p, "face_image": photo(1, 1)}),
    )
    .await;
    let mut answers = Vec::new();
    for i in 0..15 {
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                &k,
                json!({"project_id": p, "face_image": photo(5, i)}),
            )
            .await;
        answers.push((s, v));
    }
    let served: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(served.len(), 12, "the caller's 1:N limit is 12 a minute");
    for v in &served {
        assert_eq!(v["data"]["matched"], false, "{v}");
        assert!(
            v["data"]["match_score"].is_null(),
            "a miss tells no score: {v}"
        );
    }
    let (s, v) = &answers[14];
    assert_eq!(
        (*s, code_of(v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    t.stop().await;
}

#[tokio::test]
async fn forged_unsigned_altered_and_replayed_events_are_refused() {
    let (t, p) = face_server().await;
    let device = DeviceKey::generate();
    let (kid, k) = t.pair_device(&device, &p).await;
    let good = device.sign_event(&kid, event(&t, "evt_good", &p, "ada"));
    let unsigned = event(&t, "evt_unsigned", &p, "ada");
    let forged = DeviceKey::generate().sign_event(&kid, event(&t, "evt_forged", &p, "ada"));
    let mut altered = device.sign_event(&kid, event(&t, "evt_altered", &p, "ada"));
    altered.user_id = Some("mallory".into());
    let mut old = event(&t, "evt_old", &p, "ada");
    old.occurred_at = access_server::clock::rfc3339(t.clock.now_ms() - 60 * 86_400_000);
    let old = device.sign_event(&kid, old);
    let mut big = event(&t, "evt_big", &p, "ada");
    big.payload = json!({"junk": "x".repeat(10_000)});
    let big = device.sign_event(&kid, big);
    let (s, v) = t
        .post(
            "/sync/events",
            &k,
            json!({"events": [good, unsigned, forged, altered, old, big]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["accepted"], json!(["evt_good"]));
    let reasons: Vec<(String, String)> = v["data"]["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event_id"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("evt_unsigned", "unsigned"),
            ("evt_forged", "bad_signature"),
            ("evt_altered", "bad_signature"),
            ("evt_old", "implausible_time"),
            ("evt_big", "too_large"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Replayed: a duplicate, stored once; under the token's kiosk id.
    let again = device.sign_event(&kid, event(&t, "evt_good", &p, "ada"));
    let (_, v) = t.post("/sync/events", &k, json!({"events": [again]})).await;
    assert_eq!(v["data"]["duplicates"], json!(["evt_good"]));
    assert_eq!(t.count("SELECT COUNT(*) FROM sync_events"), 1);
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM sync_events WHERE kiosk_id = '{kid}'"
        )),
        1
    );
    // An admin token posts no offline events: they are a kiosk's signed decisions.
    let (s, _) = t
        .post("/sync/events", &t.admin, json!({"events": []}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    t.stop().await;
}

#[tokio::test]
async fn admin_tokens_are_capped_and_revocable_and_keys_rotate() {
    let t = TestServer::start().await;
    // At most 30 days.
    let (s, v) = t
        .post(
            "/tokens",
            &t.admin,
            json!({"subject": "payroll", "ttl_s": 36_500u64 * 86_400}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM api_tokens"), 0);
    let v = t
        .post_ok(
            "/tokens",
            &t.admin,
            json!({"subject": "payroll", "ttl_s": 3600}),
        )
        .await;
    let (token, id) = (
        v["data"]["token"].as_str().unwrap().to_string(),
        v["data"]["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::OK);
    // Rotation: the old key still verifies the tokens it signed; new ones use the new key.
    let old_kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let v = t.post_ok("/keys/rotate", &t.admin, json!({})).await;
    let new_kid = v["data"]["kid"].as_str().unwrap().to_string();
    assert_ne!(old_kid, new_kid);
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::OK);
    let v = t
        .post_ok(
            "/tokens",
            &t.admin,
            json!({"subject": "later", "ttl_s": 60}),
        )
        .await;
    let fresh = v["data"]["token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(fresh).unwrap().kid.unwrap(),
        new_kid
    );
    let (_, jwks) = t
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    // Revoked by id: refused from the next request.
    let (s, _) = t
        .post(&format!("/tokens/{id}/revoke"), &t.admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = t.get("/projects", &token).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    // Once the longest token the old key could sign has expired, it leaves the JWKS.
    t.clock.advance_ms(31 * 86_400_000);
    let st = &t.server().state;
    st.keys.reload(&st.db, t.clock.now_ms()).unwrap();
    let (_, jwks) = t
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert!(!jwks.to_string().contains(&old_kid), "{jwks}");
    t.stop().await;
}

#[tokio::test]
async fn sends_are_capped_per_caller_and_paid_messages_by_budget() {
    let t = TestServer::builder()
        .login_flow(json!({"email": true, "sms": true}))
        .configure(|c| {
            c.sends_per_hour_caller = 3;
            c.paid_messages_per_day = 2;
        })
        .start()
        .await;
    let (k, p) = (t.kiosk(), t.project().to_string());
    // Email bombing through +tags: a fresh address each time, the caller's cap still holds.
    for i in 0..3 {
        let (s, v) = t
            .post(
                "/email/send-otp",
                &k,
                json!({"email": format!("victim+{i}@example.com"), "project_id": p}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let r = t
        .client
        .post(t.url("/email/send-otp"))
        .bearer_auth(&k)
        .json(&json!({"email": "victim+9@example.com", "project_id": p}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(t.count("SELECT COUNT(*) FROM validations"), 3);
    // SMS pumping: the server-wide budget of paid messages (another caller: the admin).
    for n in ["+14155550101", "+14155550102"] {
        let (s, v) = t
            .post(
                "/phone/send-sms",
                &t.admin,
                json!({"phone": n, "project_id": p}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.admin,
            json!({"phone": "+14155550103", "project_id": p}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM validations"), 5);
    t.stop().await;
}

#[tokio::test]
async fn the_security_url_is_asked_after_the_limits_signed_and_its_answer_kept() {
    use axum::{Json, Router, http::HeaderMap, routing::post};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let s2 = seen.clone();
    let app = Router::new().route(
        "/check",
        post(move |h: HeaderMap, body: String| {
            let s2 = s2.clone();
            async move {
                s2.lock().unwrap().push((h, body));
                Json(json!({"allowed": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let t = TestServer::builder()
        .login_flow(json!({"email": true}))
        .configure(|c| c.email_sends_per_min = 2)
        .start()
        .await;
    let (k, p, f) = (t.kiosk(), t.project().to_string(), t.flow().to_string());
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{f}"),
            Some(&t.admin),
            Some(json!({"security": {"mode": "url", "url": format!("http://{addr}/check")}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (s, _) = t
            .post(
                "/email/send-otp",
                &k,
                json!({"email": "ada@example.com", "project_id": p}),
            )
            .await;
        statuses.push(s);
    }
    assert_eq!(&statuses[..2], [StatusCode::OK, StatusCode::OK]);
    assert!(
        statuses[2..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // Asked once: the second send reused its answer, the refused ones never asked.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    // Signed the Standard Webhooks way with the flow's secret.
    let v = t
        .get(&format!("/project-flows/{f}/security-secret"), &t.admin)
        .await
        .1;
    let secret = v["data"]["secret"].as_str().unwrap();
    let (h, body) = &seen[0];
    let header = |n: &str| h.get(n).unwrap().to_str().unwrap().to_string();
    let expected = access_server::webhooks::sign(
        secret,
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        body,
    )
    .unwrap();
    assert_eq!(header("webhook-signature"), expected);
    t.stop().await;
}

/// Issue 24: a proxy in the server's environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`)
/// would take customer calls past the guarded resolver (the proxy resolves the name and
/// reaches whatever it can). With every proxy variable pointing at a listener, the real binary
/// asks an allow-listed receiver directly, still refuses a name that resolves to loopback, and
/// never contacts the proxy. Every kind of address the guard missed before is refused when a
/// URL is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_in_the_environment_neither_carries_nor_unblocks_customer_calls() {
    use axum::{Router, routing::post};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    let hits = Arc::new(Mutex::new(0u32));
    let h2 = hits.clone();
    let app = Router::new().route(
        "/check",
        post(move || {
            *h2.lock().unwrap() += 1;
            async { axum::Json(json!({"allowed": true})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The "proxy": any connection to it is the failure.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());

    let mut t = TestServer::start().await;
    let a = t.admin.clone();
    let (direct, f1) = t.project_with_flow(json!({"email": true})).await;
    let (named, f2) = t.project_with_flow(json!({"email": true})).await;
    for (flow, host) in [(&f1, "127.0.0.1"), (&f2, "localhost")] {
        let url = format!("http://{host}:{port}/check");
        let (s, v) = t
            .call(
                Method::PATCH,
                &format!("/project-flows/{flow}"),
                Some(&a),
                Some(json!({"security": {"mode": "url", "url": url}})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for url in [
        "http://198.18.0.1/hook",
        "http://240.0.0.1/hook",
        "http://[fec0::1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[64:ff9b:1::a00:1]/hook",
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://[2001:0:7f00:1::1]/hook",
        "http://[::127.0.0.1]/hook",
    ] {
        let (s, v) = t
            .post(
                "/webhooks",
                &a,
                json!({"project_id": direct, "url": url, "events": []}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "URL_NOT_ALLOWED"),
            "{url}: {v}"
        );
    }
    t.shutdown().await;

    let mut child = Command::new(crate::cli::BIN)
        .arg("serve")
        .env("ACCESS_ADDR", "127.0.0.1:0")
        .env("ACCESS_DB", &t.cfg.db)
        .env(
            "ACCESS_DB_KEY_FILE",
            test_support::server::db_key_file(&t.cfg.db),
        )
        .env("ACCESS_DEV_OUTBOX", "true")
        .env("ACCESS_NO_VISION", "true")
        .env("ACCESS_OUTBOUND_ALLOW", "127.0.0.1")
        .envs(
            [
                "HTTP_PROXY",
                "http_proxy",
                "HTTPS_PROXY",
                "https_proxy",
                "ALL_PROXY",
                "all_proxy",
            ]
            .map(|n| (n, proxy_url.as_str())),
        )
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = crate::cli::listening_addr(&mut child);
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let send = |pid: &str| {
        let req = c
            .post(format!("http://{addr}/v2/access/email/send-otp"))
            .bearer_auth(&a)
            .json(&json!({"email": "proxy@example.com", "project_id": pid}));
        async move {
            let r = req.send().await.unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or_default())
        }
    };
    let (s, v) = send(&direct).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the allow-listed receiver, directly: {v}"
    );
    assert_eq!(*hits.lock().unwrap(), 1);
    let (s, v) = send(&named).await;
    assert_eq!(
        (s, code_of(&v)),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SECURITY_CHECK_UNAVAILABLE"
        ),
        "localhost is internal, proxy or not: {v}"
    );
    assert_eq!(*hits.lock().unwrap(), 1, "the internal name was called");
    assert_eq!(
        proxy.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the server went through the proxy"
    );
    let _ = child.kill();
    let _ = child.wait();
    t.stop().await;
}
