//! OTP rules over real HTTP.

use crate::common;

use common::{TestServer, code_of};
use reqwest::StatusCode;
use serde_json::json;

fn email_flow() -> serde_json::Value {
    json!({"email": true, "sms": true, "whatsapp": true})
}

#[tokio::test]
async fn email_login_returns_verifiable_token_and_code_is_single_use() {
    let t = TestServer::start().await;
    let (pid, fid) = t.project_with_flow(email_flow()).await;
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "Ada@Example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["data"]["status"], "pending");
    assert_eq!(v["data"]["project_flow_id"], fid.as_str());
    assert!(v["data"]["expires_at"].as_str().unwrap().ends_with('Z'));
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("ada@example.com").await;
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| c.is_ascii_digit()));

    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "ada@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["status"], "validated");
    let token = v["data"]["access_token"].as_str().unwrap().to_string();

    // The token verifies against the published JWKS, independently of the server's code.
    let (s, jwks) = t
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["alg"], "EdDSA");
    let dk = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    val.set_audience(&[pid.as_str()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &val)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "ada@example.com");
    assert_eq!(claims["amr"], json!(["otp", "email"]));
    assert_eq!(claims["token_use"], "access");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 900);

    // Same code again: refused.
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "ada@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::GONE, "{v}");
    assert_eq!(code_of(&v), "OTP_ALREADY_USED");
    assert_eq!(v["success"], false);
    t.stop().await;
}

#[tokio::test]
async fn three_wrong_codes_fail_the_validation() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "bob@example.com", "project_id": pid}),
        )
        .await;
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("bob@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let body = json!({"email": "bob@example.com", "otp": wrong, "validation_id": vid});

    let (s, v) = t.post("/email/verify-otp", &t.kiosk(), body.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code_of(&v), "INVALID_OTP");
    assert_eq!(v["details"]["attempts_remaining"], 2);
    let (s, v) = t.post("/email/verify-otp", &t.kiosk(), body.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["details"]["attempts_remaining"], 1);
    let (s, v) = t.post("/email/verify-otp", &t.kiosk(), body.clone()).await;
    assert_eq!(s, StatusCode::GONE, "{v}");
    assert_eq!(code_of(&v), "MAX_ATTEMPTS_EXCEEDED");

    // The right code no longer helps.
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "bob@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(code_of(&v), "MAX_ATTEMPTS_EXCEEDED");
    t.stop().await;
}

#[tokio::test]
async fn late_code_is_expired_via_injected_clock() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "c@example.com", "project_id": pid}),
        )
        .await;
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("c@example.com").await;
    t.clock.advance_ms(10 * 60 * 1000 + 1);
    // Re-mint the kiosk token: the old one is still valid (1 h), this just proves the clock moved.
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "c@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::GONE, "{v}");
    assert_eq!(code_of(&v), "OTP_EXPIRED");
    // Stays expired.
    let (_, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "c@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(code_of(&v), "OTP_EXPIRED");
    t.stop().await;
}

#[tokio::test]
async fn sixth_email_send_in_a_minute_is_rate_limited_and_resend_replaces_code() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let body = json!({"email": "d@example.com", "project_id": pid});
    let (s, first) = t.post("/email/send-otp", &t.kiosk(), body.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first["data"]["resent"], false);
    let vid = first["data"]["validation_id"].as_str().unwrap().to_string();
    let first_code = t.outbox_code("d@example.com").await;
    for _ in 0..4 {
        let (s, v) = t.post("/email/send-otp", &t.kiosk(), body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["data"]["resent"], true);
        assert_eq!(
            v["data"]["validation_id"],
            vid.as_str(),
            "a resend keeps the validation"
        );
    }
    let last_code = t.outbox_code("d@example.com").await;
    let resp = t
        .client
        .post(t.url("/email/send-otp"))
        .bearer_auth(t.kiosk())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // A minute's window ends within its last second's bucket (rate.rs): at most 61 s.
    assert!((1..=61).contains(&retry), "Retry-After {retry}");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(code_of(&v), "RATE_LIMITED");
    assert_eq!(v["details"]["retry_after_s"].as_u64(), Some(retry));
    // Another address is not affected.
    let (s, _) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "e@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // After the window the address may send again.
    t.clock.advance_ms(61_000);
    let (s, _) = t.post("/email/send-otp", &t.kiosk(), body.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let newest = t.outbox_code("d@example.com").await;

    // Only the newest code works (old ones were replaced), unless codes collided by chance.
    if first_code != newest && last_code != newest {
        let (s, v) = t
            .post(
                "/email/verify-otp",
                &t.kiosk(),
                json!({"email": "d@example.com", "otp": first_code, "validation_id": vid}),
            )
            .await;
        assert_eq!(code_of(&v), "INVALID_OTP", "{s} {v}");
    }
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "d@example.com", "otp": newest, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn phone_rate_limit_is_three_per_minute_across_channels() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let body = json!({"phone": "+14155550100", "project_id": pid});
    for path in ["/phone/send-sms", "/phone/send-whatsapp", "/phone/send-sms"] {
        let (s, v) = t.post(path, &t.kiosk(), body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = t
        .post("/phone/send-whatsapp", &t.kiosk(), body.clone())
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(code_of(&v), "RATE_LIMITED");
    // The phone OTP verifies through /phone/verify-otp.
    // The outbox holds everyone's codes: a kiosk token may not read it.
    let (s, v) = t.get("/dev/outbox?to=%2B14155550100", &t.kiosk()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    let (_, v) = t.get("/dev/outbox?to=%2B14155550100", &t.admin).await;
    let msgs = v["data"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["channel"], "sms");
    assert_eq!(msgs[1]["channel"], "whatsapp");
    let code = msgs[0]["code"].as_str().unwrap();
    assert!(msgs[0]["body"].as_str().unwrap().contains(code));
    let (_, list) = t.get("/dev/outbox?to=%2B14155550100", &t.admin).await;
    assert_eq!(list["data"]["messages"][0]["to"], "+14155550100");
    t.stop().await;
}

#[tokio::test]
async fn phone_verify_and_wrong_identifier() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let (_, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "+4915112345678", "project_id": pid}),
        )
        .await;
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("+4915112345678").await;
    // Someone else's number with this validation: unknown.
    let (s, v) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+4915100000000", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code_of(&v), "VALIDATION_NOT_FOUND");
    // Email endpoint cannot verify a phone validation.
    let (s, _) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "x@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+4915112345678", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["status"], "validated");
    // Bad phone format.
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "0151 1234", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&v), "INVALID_PHONE");
    t.stop().await;
}

#[tokio::test]
async fn flow_state_and_methods_give_clear_codes() {
    let t = TestServer::start().await;
    let (pid, fid) = t
        .project_with_flow(json!({"email": true, "sms": false}))
        .await;
    // Method off.
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "+14155550101", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(code_of(&v), "METHOD_DISABLED");
    assert_eq!(v["details"]["method"], "sms");

    // Open a validation, then pause the flow: both send and verify refuse.
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "p@example.com", "project_id": pid}),
        )
        .await;
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("p@example.com").await;
    let (s, v) = t
        .call(
            reqwest::Method::PATCH,
            &format!("/project-flows/{fid}"),
            Some(&t.admin),
            Some(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["status"], "paused");
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "p@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(code_of(&v), "FLOW_PAUSED");
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "p@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(code_of(&v), "FLOW_PAUSED");
    // Resume: the code (no attempt burnt) still works.
    t.call(
        reqwest::Method::PATCH,
        &format!("/project-flows/{fid}"),
        Some(&t.admin),
        Some(json!({"status": "active"})),
    )
    .await;
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "p@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Another project than the kiosk's: refused before anything else is looked at.
    let (_, p2) = t
        .post("/projects", &t.admin, json!({"name": "Empty"}))
        .await;
    let p2 = p2["data"]["id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "q@example.com", "project_id": p2}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "PROJECT_FORBIDDEN")
    );

    // Draft flow and no flow at all (an administrator's token: any project).
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.admin,
            json!({"email": "q@example.com", "project_id": p2}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(code_of(&v), "NO_LOGIN_FLOW");
    t.post(
        "/project-flows",
        &t.admin,
        json!({"project_id": p2, "type": "login"}),
    )
    .await;
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.admin,
            json!({"email": "q@example.com", "project_id": p2}),
        )
        .await;
    assert_eq!(code_of(&v), "FLOW_NOT_ACTIVE");
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.admin,
            json!({"email": "q@example.com", "project_id": "prj_nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code_of(&v), "PROJECT_NOT_FOUND");
    t.stop().await;
}

#[tokio::test]
async fn security_lists_and_customer_url() {
    use axum::{Json, Router, routing::post};
    let t = TestServer::start().await;
    let (pid, fid) = t.project_with_flow(json!({"email": true})).await;
    let flow_path = format!("/project-flows/{fid}");
    let patch = |sec: serde_json::Value| {
        t.call(
            reqwest::Method::PATCH,
            &flow_path,
            Some(&t.admin),
            Some(json!({"security": sec})),
        )
    };
    let (s, v) = patch(json!({"mode": "whitelist", "identifiers": ["ok@example.com"]})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "no@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(code_of(&v), "IDENTIFIER_NOT_ALLOWED");
    let (s, _) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "OK@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    patch(json!({"mode": "blacklist", "identifiers": ["bad@example.com"]})).await;
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "bad@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(code_of(&v), "IDENTIFIER_NOT_ALLOWED");

    // Customer URL: allows only addresses at example.org; asserts the request shape.
    let app = Router::new().route(
        "/allowed",
        post(|Json(b): Json<serde_json::Value>| async move {
            assert_eq!(b["method"], "email");
            let id = b["identifier"].as_str().unwrap_or("");
            if id == "slow@example.org" {
                tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            }
            Json(json!({"allowed": id.ends_with("@example.org")}))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    patch(json!({"mode": "url", "url": format!("http://{addr}/allowed"), "timeout_ms": 300})).await;
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "a@example.org", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "a@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(code_of(&v), "IDENTIFIER_NOT_ALLOWED");
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "slow@example.org", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(code_of(&v), "SECURITY_CHECK_UNAVAILABLE");
    t.stop().await;
}

#[tokio::test]
async fn state_survives_restart() {
    let mut t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "r@example.com", "project_id": pid}),
        )
        .await;
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("r@example.com").await;
    t.restart().await;
    // Old token still valid (same signing key), project and validation still there.
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "r@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t.get(&format!("/projects/{pid}"), &t.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;
}

/// `123456` -> `１２３４５６`.
fn full_width(code: &str) -> String {
    common::digits_in(code, '\u{FF10}')
}

/// The `sub` claim of a JWT (not verified: the other tests do that).
fn token_sub(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["sub"].as_str().unwrap().to_string()
}

async fn outbox_is_empty_for(t: &TestServer, to: &str) -> bool {
    t.outbox(to).await.is_empty()
}

#[tokio::test]
async fn phone_numbers_follow_the_numbering_plan_and_a_bad_one_sends_nothing() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    // Typed with the trunk 0 in parentheses: one number, stored and sent to in E.164.
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "+44 (0)20 7946 0958", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    // The same number typed another way (00 prefix) is the same person: a resend.
    let (s, v) = t
        .post(
            "/phone/send-whatsapp",
            &t.kiosk(),
            json!({"phone": "0044 20 7946 0958", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["validation_id"], vid.as_str());
    assert_eq!(v["data"]["resent"], true);
    let code = t.outbox_code("+442079460958").await;
    // Verified with yet another spelling and a full-width code.
    let (s, r) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+44 20 7946 0958", "otp": full_width(&code), "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        token_sub(r["data"]["access_token"].as_str().unwrap()),
        "+442079460958"
    );

    // Impossible numbers: 400 INVALID_PHONE on every route, before anything is stored or sent.
    for bad in [
        "+1 123",
        "+99 12345678",
        "+1 415 555 CALL",
        "415 555 0199",
        "+1 555 0100",
        "+44 20 7946 095",
    ] {
        for path in ["/phone/send-sms", "/phone/send-whatsapp"] {
            let (s, v) = t
                .post(path, &t.kiosk(), json!({"phone": bad, "project_id": pid}))
                .await;
            assert_eq!(
                (s, code_of(&v)),
                (StatusCode::BAD_REQUEST, "INVALID_PHONE"),
                "{path} {bad:?}: {v}"
            );
            assert!(v["details"]["reason"].is_string(), "{v}");
        }
        let (s, v) = t
            .post(
                "/phone/verify-otp",
                &t.kiosk(),
                json!({"phone": bad, "otp": "123456", "validation_id": vid}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_PHONE"),
            "{v}"
        );
    }
    for to in ["+1123", "+1 123", "+9912345678", "+15550100", "+4420794609"] {
        assert!(outbox_is_empty_for(&t, to).await, "{to}");
    }

    // One rate-limit key per number, however it is typed: 3 per minute.
    for typed in ["+1 415-555-0199", "+1 (415) 555-0199", "+1.415.555.0199"] {
        let (s, v) = t
            .post(
                "/phone/send-sms",
                &t.kiosk(),
                json!({"phone": typed, "project_id": pid}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{typed}: {v}");
    }
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "+14155550199", "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        "{v}"
    );
    t.stop().await;
}

#[tokio::test]
async fn emails_are_normalised_one_way_for_send_verify_and_rate_limit() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let forms = [
        " Ana.Lopez@Example.COM ",
        "ANA.LOPEZ@EXAMPLE.COM",
        "ana.lopez@example.com",
        "\tAna.Lopez@example.com\n",
        "ana.LOPEZ@Example.com",
    ];
    let mut vid = String::new();
    for (i, typed) in forms.iter().enumerate() {
        let (s, v) = t
            .post(
                "/email/send-otp",
                &t.kiosk(),
                json!({"email": typed, "project_id": pid}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{typed:?}: {v}");
        assert_eq!(v["data"]["resent"], i > 0, "{typed:?}: one validation");
        if i == 0 {
            vid = v["data"]["validation_id"].as_str().unwrap().to_string();
        }
        assert_eq!(v["data"]["validation_id"], vid.as_str());
    }
    // The sixth send is over the limit of 5 per address, whatever its case.
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "Ana.Lopez@EXAMPLE.com", "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        "{v}"
    );
    let code = t.outbox_code("ana.lopez@example.com").await;
    let (s, r) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "ANA.lopez@EXAMPLE.com ", "otp": format!("{} {}", &code[..3], &code[3..]), "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        token_sub(r["data"]["access_token"].as_str().unwrap()),
        "ana.lopez@example.com"
    );

    for bad in [
        "",
        "ana",
        "ana@example",
        "ana lopez@example.com",
        "Ana <ana@example.com>",
        "ana@exa!mple.com",
        "ana@example..com",
        "ana\u{200B}@example.com",
    ] {
        let (s, v) = t
            .post(
                "/email/send-otp",
                &t.kiosk(),
                json!({"email": bad, "project_id": pid}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_EMAIL"),
            "{bad:?}: {v}"
        );
        let (s, v) = t
            .post(
                "/email/verify-otp",
                &t.kiosk(),
                json!({"email": bad, "otp": "123456", "validation_id": vid}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_EMAIL"),
            "{bad:?}: {v}"
        );
        assert!(outbox_is_empty_for(&t, bad.trim()).await, "{bad:?}");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_code_typed_another_way_is_the_same_code_and_a_malformed_one_costs_no_attempt() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(email_flow()).await;
    let kiosk = t.kiosk();
    let send = || {
        t.post(
            "/email/send-otp",
            &kiosk,
            json!({"email": "kim@example.com", "project_id": pid}),
        )
    };
    let (s, v) = send().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["attempts_remaining"], 3);
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    for bad in [
        "",
        "12345",
        "1234567",
        "12345a",
        "abc-def",
        "123.456",
        "123_456",
        "①②③④⑤⑥",
    ] {
        let (s, v) = t
            .post(
                "/email/verify-otp",
                &t.kiosk(),
                json!({"email": "kim@example.com", "otp": bad, "validation_id": vid}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_OTP_FORMAT"),
            "{bad:?}: {v}"
        );
        assert!(v["details"].get("attempts_remaining").is_none(), "{v}");
    }
    // A resend tells the attempts left: still all three.
    let (s, v) = send().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["resent"], true);
    assert_eq!(v["data"]["attempts_remaining"], 3, "{v}");
    let code = t.outbox_code("kim@example.com").await;
    // A well-formed wrong code does count.
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "kim@example.com", "otp": wrong, "validation_id": vid}),
        )
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::BAD_REQUEST, "INVALID_OTP"));
    assert_eq!(v["details"]["attempts_remaining"], 2);
    // The right code with a hyphen.
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "kim@example.com", "otp": format!("{}-{}", &code[..3], &code[3..]), "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Phone verify: the same rules, with Arabic-Indic digits and spaces.
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "+57 301 234 5678", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let pvid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+573012345678", "otp": "12 34", "validation_id": pvid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_OTP_FORMAT"),
        "{v}"
    );
    let code = t.outbox_code("+573012345678").await;
    let arabic = common::digits_in(&code, '\u{0660}');
    let spaced = format!(" {} {} ", &arabic[..6], &arabic[6..]);
    let (s, v) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+57 301 234 5678", "otp": spaced, "validation_id": pvid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;
}

/// Send a code; (status, error code or `<none>`).
async fn send(
    t: &TestServer,
    pid: &str,
    path: &str,
    field: &str,
    value: &str,
) -> (StatusCode, String) {
    let (s, v) = t
        .post(path, &t.kiosk(), json!({field: value, "project_id": pid}))
        .await;
    (s, code_of(&v).to_string())
}

#[tokio::test]
async fn security_list_entries_are_normalised_when_saved_and_bad_ones_refused() {
    let t = TestServer::start().await;
    let (pid, fid) = t.project_with_flow(email_flow()).await;
    let flow_path = format!("/project-flows/{fid}");
    let patch = |sec: serde_json::Value| {
        t.call(
            reqwest::Method::PATCH,
            &flow_path,
            Some(&t.admin),
            Some(json!({"security": sec})),
        )
    };
    let refused = (StatusCode::FORBIDDEN, "IDENTIFIER_NOT_ALLOWED".to_string());
    let sent = (StatusCode::OK, "<none>".to_string());

    // A blacklisted number typed with formatting keeps that number out, however it is typed.
    let (s, v) = patch(
        json!({"mode": "blacklist", "identifiers": ["+1 415-555-0199", " Bad@Example.COM "]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"]["security"]["identifiers"],
        json!(["+14155550199", "bad@example.com"])
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+14155550199").await,
        refused
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+1 (415) 555-0199").await,
        refused
    );
    assert_eq!(
        send(
            &t,
            &pid,
            "/phone/send-whatsapp",
            "phone",
            "001 415 555 0199"
        )
        .await,
        refused
    );
    assert_eq!(
        send(&t, &pid, "/email/send-otp", "email", "BAD@example.com").await,
        refused
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+14155550123").await,
        sent
    );

    // A whitelisted number typed with spaces lets that number in.
    let (s, v) =
        patch(json!({"mode": "whitelist", "identifiers": ["+44 20 7946 0958", "ana@example.com"]}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"]["security"]["identifiers"],
        json!(["+442079460958", "ana@example.com"])
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+442079460958").await,
        sent
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+44 (0)20 7946 0958").await,
        sent
    );
    assert_eq!(
        send(&t, &pid, "/email/send-otp", "email", "Ana@Example.com").await,
        sent
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+14155550123").await,
        refused
    );

    // An entry that is no identifier is refused at save, named in details; nothing changes.
    for (entries, index, code) in [
        (json!(["ok@example.com", "+1 123"]), 1, "INVALID_PHONE"),
        (json!(["+99 12345678"]), 0, "INVALID_PHONE"),
        (json!(["415 555 0199"]), 0, "INVALID_PHONE"),
        (json!(["bad @example.com"]), 0, "INVALID_EMAIL"),
        (json!(["ok@example.com", "  "]), 1, "INVALID_REQUEST"),
    ] {
        let (s, v) = patch(json!({"mode": "blacklist", "identifiers": entries})).await;
        assert_eq!((s, code_of(&v)), (StatusCode::BAD_REQUEST, code), "{v}");
        assert_eq!(v["details"]["field"], "security.identifiers", "{v}");
        assert_eq!(v["details"]["index"], index, "{v}");
        assert_eq!(v["details"]["entry"], entries[index], "{v}");
    }
    let (_, v) = t.get(&flow_path, &t.admin).await;
    assert_eq!(v["data"]["security"]["mode"], "whitelist");
    assert_eq!(
        v["data"]["security"]["identifiers"],
        json!(["+442079460958", "ana@example.com"])
    );

    // Creating a flow: the same rules; duplicates after normalising are dropped.
    let (s, v) = t
        .post(
            "/project-flows",
            &t.admin,
            json!({"project_id": pid, "type": "login",
                   "security": {"mode": "blacklist", "identifiers": ["+99 12345678"]}}),
        )
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::BAD_REQUEST, "INVALID_PHONE"));
    assert_eq!(v["details"]["entry"], "+99 12345678");
    let (s, v) = t
        .post(
            "/project-flows",
            &t.admin,
            json!({"project_id": pid, "type": "login",
                   "security": {"mode": "blacklist",
                                "identifiers": ["+1 415-555-0199", "+14155550199", "obama"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["data"]["security"]["identifiers"],
        json!(["+14155550199", "obama"])
    );

    // A database from before this rule: entries stored as typed still compare normalised.
    let store = |security: serde_json::Value| {
        let fid = fid.clone();
        t.server().state.db.call(move |c| {
            c.execute(
                "UPDATE flows SET security_json = ?1 WHERE id = ?2",
                rusqlite::params![security.to_string(), fid],
            )?;
            Ok(())
        })
    };
    store(json!({"mode": "blacklist", "identifiers": ["+1 415-555-0198", " Old@Example.com"], "timeout_ms": 2000}))
        .await
        .unwrap();
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+14155550198").await,
        refused
    );
    assert_eq!(
        send(&t, &pid, "/email/send-otp", "email", "old@example.com").await,
        refused
    );
    assert_eq!(
        send(&t, &pid, "/email/send-otp", "email", "new@example.com").await,
        sent
    );
    store(
        json!({"mode": "whitelist", "identifiers": ["+33 (0)6 12 34 56 78"], "timeout_ms": 2000}),
    )
    .await
    .unwrap();
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+33612345678").await,
        sent
    );
    assert_eq!(
        send(&t, &pid, "/phone/send-sms", "phone", "+14155550123").await,
        refused
    );
    t.stop().await;
}

/// Guessing is bounded per person: wrong codes count across validations, a new send buys no
/// fresh guesses, and once locked not even the right code gets a token.
#[tokio::test]
async fn twelve_wrong_codes_across_four_validations_lock_the_identifier() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let k = t.kiosk();
    let who = "guess@example.com";
    let mut wrong = 0;
    let mut locked_at = None;
    'sends: for _ in 0..4 {
        let (s, v) = t
            .post(
                "/email/send-otp",
                &k,
                json!({"email": who, "project_id": pid}),
            )
            .await;
        if s == StatusCode::LOCKED {
            break;
        }
        assert_eq!(s, StatusCode::OK, "{v}");
        let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
        let right = t.outbox_code(who).await;
        let bad = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        for _ in 0..3 {
            let (s, v) = t
                .post(
                    "/email/verify-otp",
                    &k,
                    json!({"email": who, "otp": bad, "validation_id": vid}),
                )
                .await;
            wrong += 1;
            if s == StatusCode::LOCKED {
                assert_eq!(code_of(&v), "IDENTIFIER_LOCKED", "{v}");
                assert!(v["details"]["retry_after_s"].as_u64().unwrap() > 800, "{v}");
                locked_at = Some(wrong);
                // The right code now: still no token.
                let (s, v) = t
                    .post(
                        "/email/verify-otp",
                        &k,
                        json!({"email": who, "otp": right, "validation_id": vid}),
                    )
                    .await;
                assert_eq!(
                    (s, code_of(&v)),
                    (StatusCode::LOCKED, "IDENTIFIER_LOCKED"),
                    "{v}"
                );
                assert!(v.to_string().find("access_token").is_none(), "{v}");
                break 'sends;
            }
        }
    }
    assert_eq!(locked_at, Some(10), "the 10th wrong code in a row locks");
    // No new code is sent while locked.
    let (s, v) = t
        .post(
            "/email/send-otp",
            &k,
            json!({"email": who, "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::LOCKED, "IDENTIFIER_LOCKED"),
        "{v}"
    );
    // After the lock a success resets the count.
    t.clock.advance_ms(16 * 60 * 1000);
    let (s, v) = t
        .post(
            "/email/send-otp",
            &k,
            json!({"email": who, "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code(who).await;
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &k,
            json!({"email": who, "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["data"]["access_token"].is_string());
}
