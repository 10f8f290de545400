//! The attacks of issues 11 and 24, each tried over real HTTP on loopback against the real
//! server (fake face engines where a face is needed): each test asserts the refusal and that
//! nothing was stored. Another client address is another loopback address (127.0.0.2). The kiosk-side ones (a kiosk left offline renews its token by itself, events
//! signed by the real `kiosk` binary) are in the kiosk crates' suites.

use crate::common;

use access_server::Clock;
use common::fakes::face_jpeg;
use common::{DeviceKey, FakeFaces, TestServer, Vision, b64, code_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) fn photo(who: u8, variant: u32) -> String {
    b64(&face_jpeg(who, variant))
}

/// A server with the fake face engine and a flow of every method (no liveness), and its
/// project.
pub(crate) async fn face_server() -> (TestServer, String) {
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
    // A fresh code (of any project) never revives the revoked id: the same device key pairs
    // as a new kiosk, and the old id and its token stay refused.
    let (other_p, _) = t.project_with_flow(json!({"email": true})).await;
    for project in [&p, &other_p] {
        let (new_id, new_token) = t.pair_device(&device, project).await;
        assert_ne!(new_id, kid);
        assert_eq!(
            t.count(&format!(
                "SELECT COUNT(*) FROM kiosks WHERE id = '{kid}' AND revoked_at IS NOT NULL"
            )),
            1
        );
        let (s, v) = t
            .post(
                "/kiosks/token",
                "",
                json!({"client_assertion": device.assertion(&kid, t.clock.now_ms() / 1000)}),
            )
            .await;
        // The old id no longer holds the key at all.
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert!(
            ["KIOSK_REVOKED", "ASSERTION_INVALID"].contains(&code_of(&v)),
            "{v}"
        );
        let (s, v) = t
            .post(&format!("/kiosks/{new_id}/revoke"), &t.admin, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _) = t
            .post(
                "/email/send-otp",
                &new_token,
                json!({"email": "b@example.com", "project_id": project}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
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
    // Only the fixture's own admin token is recorded.
    assert_eq!(t.count("SELECT COUNT(*) FROM api_tokens"), 1);
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

    // Every window lasts as long as it says, through the table's sweep and a restart: the
    // caller's hour at 11 and 59 minutes, the paid budget all day.
    let mut t = t;
    let refused = |t: &TestServer, path: &'static str, body: Value, token: String| {
        let (c, u) = (t.client.clone(), t.url(path));
        async move {
            let r = c
                .post(u)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let retry: Option<u64> = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok());
            (r.status() == StatusCode::TOO_MANY_REQUESTS).then_some(retry.unwrap_or(0))
        }
    };
    let email = |i: u32| json!({"email": format!("victim+{i}@example.com"), "project_id": p});
    let sms = |n: &str| json!({"phone": n, "project_id": p});
    let sweep = |t: &TestServer| {
        let now = t.clock.now_ms();
        t.server()
            .state
            .db
            .blocking_tx(move |c| access_server::rate::sweep(c, now))
            .unwrap()
    };
    let mut at = 0;
    for (minutes, restart) in [(11, false), (30, true), (59, false)] {
        t.clock.advance_ms((minutes - at) * 60_000);
        at = minutes;
        let _ = sweep(&t);
        if restart {
            t.restart().await;
        }
        t.renew_tokens().await;
        let wait = refused(&t, "/email/send-otp", email(20 + minutes as u32), t.kiosk()).await;
        assert!(
            wait.is_some(),
            "the hourly cap let a send through after {minutes} min"
        );
    }
    t.clock.advance_ms(2 * 60_000);
    t.renew_tokens().await;
    assert_eq!(
        refused(&t, "/email/send-otp", email(99), t.kiosk()).await,
        None
    );
    // The paid budget (2 a day) is still spent 23 hours on, and its Retry-After says when
    // it frees: then, and not before, one more paid message goes.
    t.clock.advance_ms(22 * 3_600_000);
    let _ = sweep(&t);
    t.restart().await;
    t.renew_tokens().await;
    let wait = refused(&t, "/phone/send-sms", sms("+14155550104"), t.admin.clone())
        .await
        .expect("the paid budget held for its day");
    // The sends were 23 h 01 min ago; a day's window ends within one bucket (24 min) after.
    assert!((58 * 60..=84 * 60).contains(&wait), "Retry-After {wait} s");
    t.clock.advance_ms((wait as i64 - 2) * 1000);
    t.renew_tokens().await;
    assert!(
        refused(&t, "/phone/send-sms", sms("+14155550105"), t.admin.clone())
            .await
            .is_some()
    );
    t.clock.advance_ms(2000);
    t.renew_tokens().await;
    assert_eq!(
        refused(&t, "/phone/send-sms", sms("+14155550106"), t.admin.clone()).await,
        None
    );
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

/// A client whose connections come from `ip` (any 127.x address is this host's loopback).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn unrecorded_admin_tokens_and_retired_keys_verify_nothing() {
    let t = TestServer::start().await;
    let st = &t.server().state;
    let now = t.clock.now_ms();
    let create = json!({"name": "forged", "description": ""});
    // Signed by the server's own key before tokens were recorded, for 100 years: refused,
    // and it made nothing.
    let legacy = st
        .keys
        .issue_api_token(
            "legacy",
            access_types::ApiScope::Admin,
            36_500 * 86_400,
            now,
        )
        .unwrap();
    let (s, v) = t.post("/projects", &legacy, create.clone()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    assert_eq!(
        t.get("/projects", &legacy).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM projects"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM api_tokens"), 1);

    // A recorded token, used once (so verified and cached).
    let v = t
        .post_ok(
            "/tokens",
            &t.admin,
            json!({"subject": "ops", "ttl_s": 3600}),
        )
        .await;
    let token = v["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::OK);
    // Another replica rotates, retiring the old key in a minute; this one re-reads its keys
    // (the periodic pass). The token still works until the key retires, then not even from
    // the cache, without another re-read.
    access_server::auth::Keys::rotate(&st.db, st.keys.db_key(), t.clock.now_ms(), 60_000).unwrap();
    st.keys.reload(&st.db, t.clock.now_ms()).unwrap();
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::OK);
    t.clock.advance_ms(60_001);
    let (s, v) = t.post("/projects", &token, create.clone()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    assert_eq!(t.count("SELECT COUNT(*) FROM projects"), 0);

    // A token of the new key, cached; another replica retires that key at once: refused from
    // the next re-read.
    let fresh = access_server::tokens::issue(
        &st.db,
        &st.keys,
        "ops",
        access_types::ApiScope::Admin,
        3600,
        t.clock.now_ms(),
    )
    .unwrap();
    assert_eq!(t.get("/projects", &fresh).await.0, StatusCode::OK);
    access_server::auth::Keys::rotate(&st.db, st.keys.db_key(), t.clock.now_ms(), 0).unwrap();
    st.keys.reload(&st.db, t.clock.now_ms()).unwrap();
    let (s, _) = t.post("/projects", &fresh, create).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(t.count("SELECT COUNT(*) FROM projects"), 0);
    t.stop().await;
}

#[tokio::test]
async fn junk_pairing_from_one_address_blocks_no_one_elses() {
    let t = TestServer::builder()
        .login_flow(json!({"email": true}))
        .start()
        .await;
    let p = t.project().to_string();
    let used = "SELECT COUNT(*) FROM kiosk_pairings WHERE used_at IS NOT NULL";
    let (kiosks, codes_used) = (t.count("SELECT COUNT(*) FROM kiosks"), t.count(used));
    // Junk from 127.0.0.2: ten refusals a minute, then 429 before the store is asked.
    let junk = client_from("127.0.0.2");
    let url = t.url("/kiosks/pair");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let body = DeviceKey::generate().pair_request("AAAA-BBBB-CCCC");
        let (s, _) = common::request(&junk, Method::POST, &url, None, Some(body)).await;
        statuses.push(s);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[10..], [StatusCode::TOO_MANY_REQUESTS; 2]);
    // Even a real code is not tried from there meanwhile: nothing paired, the code unused.
    let code = t.pairing_code(&p).await;
    let (s, v) = common::request(
        &junk,
        Method::POST,
        &url,
        None,
        Some(DeviceKey::generate().pair_request(&code)),
    )
    .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM kiosks"), kiosks);
    assert_eq!(t.count(used), codes_used);
    // From the site's own address every pairing goes through, the same code included, and
    // successes are not counted: twelve kiosks in the same minute.
    for i in 0..12 {
        let code = if i == 0 {
            code.clone()
        } else {
            t.pairing_code(&p).await
        };
        let (s, v) = t
            .post(
                "/kiosks/pair",
                "",
                DeviceKey::generate().pair_request(&code),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}: {v}");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM kiosks"), kiosks + 12);
    t.stop().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestServer::builder()
        .configure(|c| c.max_connections_per_address = 3)
        .start()
        .await;
    let addr = t.addr();
    let open = |ip: &'static str| async move {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        let mut c = s.connect(addr).await.unwrap();
        // A refused one may be closed before this is written.
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut buf = [0u8; 64];
        // A refused connection is closed unanswered: EOF or a reset.
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("an answer or a close")
            .unwrap_or(0);
        (c, String::from_utf8_lossy(&buf[..n]).to_string())
    };
    // One client holds its three keep-alive connections...
    let mut held = Vec::new();
    for _ in 0..3 {
        let (c, head) = open("127.0.0.2").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
        held.push(c);
    }
    // ...and gets no fourth, however often it tries.
    for _ in 0..20 {
        let (_, head) = open("127.0.0.2").await;
        assert_eq!(head, "", "a fourth connection from one address is closed");
    }
    // Everyone else is served.
    let (_, head) = open("127.0.0.3").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
    assert_eq!(t.get("/healthz", "").await.0, StatusCode::OK);
    drop(held);
    t.stop().await;
}

#[tokio::test]
async fn one_to_one_probes_are_limited_per_caller_and_tell_no_one_apart() {
    let t = TestServer::builder()
        .vision(Vision::Fake(FakeFaces::new()))
        .login_flow(json!({"face": true, "liveness_required": false}))
        .configure(|c| c.one_to_one_per_min_caller = 4)
        .start()
        .await;
    let (p, k) = (t.project().to_string(), t.kiosk());
    t.post_ok(
        "/biometric/register-face",
        &t.admin,
        json!({"user_id": "ada", "project_id": p, "face_image": photo(1, 1)}),
    )
    .await;
    let verify = |user: &'static str| {
        let (t, p, k) = (&t, p.clone(), k.clone());
        async move {
            t.post(
                "/biometric/verify-face",
                &k,
                json!({"project_id": p, "user_id": user, "face_image": photo(5, 1)}),
            )
            .await
        }
    };
    // A stranger's face claimed as Ada (enrolled) and as nobody (not): the same answer but
    // for the ids the request itself carried.
    let shape = |(s, v): (StatusCode, Value)| {
        let mut d = v["data"].clone();
        for volatile in ["validation_id", "expires_at", "user_id"] {
            d.as_object_mut().unwrap().remove(volatile);
        }
        (s, code_of(&v).to_string(), v["message"].clone(), d)
    };
    let enrolled = shape(verify("ada").await);
    let unknown = shape(verify("nobody").await);
    assert_eq!(enrolled.0, StatusCode::OK, "{enrolled:?}");
    assert_eq!(enrolled, unknown);
    assert!(enrolled.3.get("match_score").is_none(), "{enrolled:?}");
    // Four a minute per caller, whoever is named; the fifth is refused before any work.
    for user in ["u3", "u4"] {
        assert_eq!(verify(user).await.0, StatusCode::OK);
    }
    let (validations, attempts) = (
        t.count("SELECT COUNT(*) FROM validations"),
        t.count("SELECT COUNT(*) FROM face_attempts"),
    );
    let (s, v) = verify("u5").await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM validations"), validations);
    assert_eq!(t.count("SELECT COUNT(*) FROM face_attempts"), attempts);
    // Another caller (an admin token) is not held back by this one.
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &t.admin,
            json!({"project_id": p, "user_id": "u5", "face_image": photo(5, 1)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let t = TestServer::start().await;
    let root = format!("http://{}", t.addr());
    let get = |url: String, token: Option<String>| {
        let c = t.client.clone();
        async move {
            let mut r = c.get(url);
            if let Some(tok) = token {
                r = r.bearer_auth(tok);
            }
            r.send().await.unwrap().headers().clone()
        }
    };
    let api = [
        (t.url("/projects"), Some(t.admin.clone())), // JSON
        (t.url("/projects"), None),                  // 401
        (t.url("/no-such-thing"), None),             // 404
        (format!("{root}/healthz"), None),
        (format!("{root}/console/api/me"), None),
    ];
    for (url, token) in api {
        let h = get(url.clone(), token).await;
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{url}");
        assert_eq!(h["cache-control"], "no-store", "{url}");
        assert_eq!(
            h["content-security-policy"], "default-src 'none'; frame-ancestors 'none'",
            "{url}"
        );
    }
    // The API reference cannot be framed; the console keeps its own policy.
    let h = get(format!("{root}/docs/"), None).await;
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["content-security-policy"], "frame-ancestors 'none'");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let h = get(format!("{root}/console/"), None).await;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    t.stop().await;
}

/// Issue 24's face takeover: a kiosk erased the victim, then enrolled the impostor's face
/// under the victim's id. A kiosk now erases only people it enrolled itself and no
/// administrator confirmed; an id a kiosk erased is enrolled again by a kiosk only after an
/// administrator confirms it; each step is in the audit log and a webhook event.
#[tokio::test]
async fn a_kiosk_cannot_take_a_person_over_by_erasing_and_re_enrolling_them() {
    let (t, p) = face_server().await;
    let (_, k) = t.pair_device(&DeviceKey::generate(), &p).await;
    let (_, other) = t.pair_device(&DeviceKey::generate(), &p).await;
    // A webhook nobody answers: its queued deliveries are the events.
    let (s, v) = t
        .post(
            "/webhooks",
            &t.admin,
            json!({"project_id": p, "url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let register = |user: &'static str, image: String, token: &str| {
        let (t, p, token) = (&t, p.clone(), token.to_string());
        async move {
            t.post(
                "/biometric/register-face",
                &token,
                json!({"user_id": user, "project_id": p, "face_image": image}),
            )
            .await
        }
    };
    let erase = |user: &'static str, token: &str| {
        let (t, p, token) = (&t, p.clone(), token.to_string());
        async move {
            t.call(
                Method::DELETE,
                &format!("/biometric/users/{user}?project_id={p}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let live = |user: &str| {
        t.count(&format!(
            "SELECT COUNT(*) FROM templates WHERE user_id = '{user}' AND deleted_at IS NULL"
        ))
    };
    // An administrator enrolled the victim: no kiosk erases them.
    assert_eq!(
        register("vic", photo(1, 1), &t.admin).await.0,
        StatusCode::OK
    );
    let (s, v) = erase("vic", &k).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "ERASURE_NEEDS_ADMIN"),
        "{v}"
    );
    assert_eq!(live("vic"), 1);
    // A kiosk's own enrolment: another kiosk may not erase it, its own kiosk may.
    assert_eq!(register("kim", photo(2, 1), &k).await.0, StatusCode::OK);
    let (s, v) = erase("kim", &other).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "ERASURE_NEEDS_ADMIN"),
        "{v}"
    );
    assert_eq!(live("kim"), 1);
    let (s, v) = erase("kim", &k).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["templates_deleted"], 1, "{v}");
    // The impostor's face under the erased id, by any kiosk: refused, nothing stored...
    for token in [&k, &other] {
        let (s, v) = register("kim", photo(3, 1), token).await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::CONFLICT, "REENROLMENT_NEEDS_APPROVAL"),
            "{v}"
        );
    }
    assert_eq!(live("kim"), 0);
    // ...so the impostor does not sign in as them.
    let (_, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": p, "user_id": "kim", "face_image": photo(3, 2)}),
        )
        .await;
    assert!(v["data"]["access_token"].is_null(), "{v}");
    // Confirmation is an administrator's: then a kiosk enrols them again, and no kiosk may
    // erase a confirmed person.
    let confirm = format!("/biometric/users/kim/confirm?project_id={p}");
    let (s, v) = t.post(&confirm, &k, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = t.post(&confirm, &t.admin, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(register("kim", photo(2, 2), &k).await.0, StatusCode::OK);
    let (s, v) = erase("kim", &k).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "ERASURE_NEEDS_ADMIN"),
        "{v}"
    );
    assert_eq!(live("kim"), 1);
    // Every enrolment, erasure and confirmation is written down and announced, refusals not.
    let audited = |action: &str| {
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND target = '{p}/kim'"
        ))
    };
    assert_eq!(
        (
            audited("face.enrolled"),
            audited("face.erased"),
            audited("face.confirmed")
        ),
        (2, 1, 1)
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'face.erased' AND actor LIKE 'kiosk:%'"
        ),
        1
    );
    let events = |kind: &str| {
        t.count(&format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = '{kind}'"
        ))
    };
    assert_eq!(
        (
            events("face.enrolled"),
            events("face.erased"),
            events("face.confirmed")
        ),
        (3, 1, 1)
    );
    t.stop().await;
}

/// A kiosk adds a bounded number of samples to a person (each moves the fused template), may
/// not vouch for a file where the flow requires liveness, and 1:N turning off is recorded once.
#[tokio::test]
async fn kiosk_samples_are_bounded_and_files_need_an_admin_where_liveness_is_required() {
    let fakes = FakeFaces::new();
    let t = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(json!({"face": true, "liveness_required": false}))
        .configure(|c| c.kiosk_max_samples_per_person = 2)
        .start()
        .await;
    let p = t.project().to_string();
    let (_, k) = t.pair_device(&DeviceKey::generate(), &p).await;
    let register = |pid: String, user: &'static str, image: String, token: String, source: &str| {
        let (t, source) = (&t, source.to_string());
        async move {
            t.post(
                "/biometric/register-face",
                &token,
                json!({"user_id": user, "project_id": pid, "face_image": image, "source": source}),
            )
            .await
        }
    };
    for v in 1..=2 {
        let (s, b) = register(p.clone(), "ada", photo(1, v), k.clone(), "camera").await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, v) = register(p.clone(), "ada", photo(1, 3), k.clone(), "camera").await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "TOO_MANY_SAMPLES"),
        "{v}"
    );
    assert_eq!(v["details"]["max_samples"], 2, "{v}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'ada'"),
        2
    );
    // An administrator is not bounded.
    let (s, v) = register(p.clone(), "ada", photo(1, 3), t.admin.clone(), "file").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Where liveness is required a kiosk's "file" would skip it: refused, nothing stored.
    let (live_p, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let (_, k2) = t.pair_device(&DeviceKey::generate(), &live_p).await;
    let (s, v) = register(live_p.clone(), "bob", photo(2, 1), k2, "file").await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "FILE_SOURCE_NEEDS_ADMIN"),
        "{v}"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'bob'"),
        0
    );
    let (s, v) = register(live_p.clone(), "bob", photo(2, 1), t.admin.clone(), "file").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A flow whose 1:N targets no gallery can hold: face-only sign-in is off, recorded once
    // however many searches find it so.
    let (off_p, _) = t
        .project_with_flow(json!({"face": true, "target_fpir": 1e-12}))
        .await;
    let (s, v) = register(off_p.clone(), "cy", photo(3, 1), t.admin.clone(), "file").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for i in 0..2 {
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                &t.admin,
                json!({"project_id": off_p, "face_image": photo(3, 2 + i)}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::CONFLICT, "IDENTIFICATION_UNAVAILABLE"),
            "{v}"
        );
    }
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'face.identification_off' AND target = '{off_p}'"
        )),
        1
    );
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
