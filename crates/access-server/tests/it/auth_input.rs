//! Hostile tokens and hostile input: always an error envelope, never a panic.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{TestServer, code_of};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::Sha256;

fn b64json(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ed_token(pair: &Ed25519KeyPair, kid: &str, claims: &Value) -> String {
    let h = b64json(&json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}));
    let p = b64json(claims);
    let sig = pair.sign(format!("{h}.{p}").as_bytes());
    format!("{h}.{p}.{}", B64.encode(sig.as_ref()))
}

fn api_claims(aud: &str, exp: i64, scope: &str) -> Value {
    json!({"iss": "access-server", "sub": "mallory", "aud": aud, "scope": scope, "token_use": "api",
           "iat": now_s(), "nbf": now_s(), "exp": exp, "jti": "x"})
}

#[tokio::test]
async fn hostile_tokens_are_401_and_scope_is_enforced() {
    let t = TestServer::start().await;
    let (s, jwks) = t
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_string();
    let public = B64.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();

    // A key of our own, claiming the server's kid.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let foreign = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    assert_ne!(foreign.public_key().as_ref(), public.as_slice());

    let good = t.kiosk();
    let parts: Vec<&str> = good.split('.').collect();
    let claims = api_claims("access-api", now_s() + 600, "admin");

    // HS256 signed with the public key bytes as the secret (the classic confusion attack).
    let hs_header = b64json(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
    let hs_payload = b64json(&claims);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&public).unwrap();
    mac.update(format!("{hs_header}.{hs_payload}").as_bytes());
    let hs = format!(
        "{hs_header}.{hs_payload}.{}",
        B64.encode(mac.finalize().into_bytes())
    );

    let mut tampered_claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    tampered_claims["scope"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64json(&tampered_claims), parts[2]);

    let none = format!(
        "{}.{}.",
        b64json(&json!({"alg": "none", "typ": "JWT"})),
        b64json(&claims)
    );
    let rs = format!(
        "{}.{}.{}",
        b64json(&json!({"alg": "RS256", "kid": kid})),
        b64json(&claims),
        parts[2]
    );

    let expired = t
        .server()
        .state
        .keys
        .issue_api_token(
            "old",
            access_types::ApiScope::Admin,
            60,
            (now_s() - 3600) * 1000,
        )
        .unwrap();
    let end_user = t
        .server()
        .state
        .keys
        .issue_access_token(
            "u@example.com",
            "prj_x",
            "flw_x",
            "val_x",
            &["otp"],
            600,
            now_s() * 1000,
        )
        .unwrap();

    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.jwt".into()),
        ("empty segments", "..".into()),
        ("alg none", none),
        ("HS256 with public key", hs),
        ("RS256 header", rs),
        ("tampered payload", tampered),
        ("foreign key", ed_token(&foreign, &kid, &claims)),
        (
            "wrong audience",
            ed_token(
                &foreign,
                &kid,
                &api_claims("someone-else", now_s() + 600, "admin"),
            ),
        ),
        ("expired", expired),
        ("end-user token as API token", end_user),
        ("huge", "a".repeat(20_000)),
    ];
    for (name, tok) in &cases {
        let (s, v) = t.get("/projects", tok).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}: {v}");
        assert_eq!(code_of(&v), "UNAUTHORIZED", "{name}");
        assert_eq!(v["success"], false);
    }
    // Missing header / wrong scheme.
    let (s, v) = t.call(reqwest::Method::GET, "/projects", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&v), "UNAUTHORIZED");
    let r = t
        .client
        .get(t.url("/projects"))
        .header("authorization", format!("Basic {}", t.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Expiry by the injected clock: a token valid now is refused two hours later.
    let st = &t.server().state;
    let short = access_server::tokens::issue(
        &st.db,
        &st.keys,
        "s",
        access_types::ApiScope::Admin,
        3600,
        now_s() * 1000,
    )
    .unwrap();
    assert_eq!(t.get("/projects", &short).await.0, StatusCode::OK);
    t.clock.advance_ms(2 * 3600 * 1000);
    assert_eq!(t.get("/projects", &short).await.0, StatusCode::UNAUTHORIZED);
    t.clock.advance_ms(-2 * 3600 * 1000);

    // Kiosk scope: login endpoints yes, setup no.
    let (s, v) = t.post("/projects", &t.kiosk(), json!({"name": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code_of(&v), "FORBIDDEN");
    for path in [
        "/projects",
        "/project-flows",
        "/webhooks",
        "/users?project_id=x",
    ] {
        assert_eq!(
            t.get(path, &t.kiosk()).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(t.get("/projects", &t.admin).await.0, StatusCode::OK);
    // The server is still fine.
    let (s, v) = t.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_error_envelope() {
    let t = TestServer::start().await;
    let (pid, _) = t
        .project_with_flow(json!({"email": true, "face": true}))
        .await;
    let raw = |path: &str, body: Vec<u8>, ctype: Option<&str>| {
        let mut rb = t.client.post(t.url(path)).bearer_auth(t.kiosk()).body(body);
        if let Some(c) = ctype {
            rb = rb.header("content-type", c);
        }
        async move {
            let r = rb.send().await.unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let json_ct = Some("application/json");
    let (s, v) = raw("/email/send-otp", b"{\"email\": ".to_vec(), json_ct).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "MALFORMED_JSON"),
        "{v}"
    );
    let (s, v) = raw(
        "/email/send-otp",
        br#"{"email": 42, "project_id": "p"}"#.to_vec(),
        json_ct,
    )
    .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        "{v}"
    );
    let (s, v) = raw(
        "/email/send-otp",
        br#"{"email": "a@b.co", "project_id": "p", "admin": true}"#.to_vec(),
        json_ct,
    )
    .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("unknown field"));
    let (s, v) = raw(
        "/email/send-otp",
        br#"{"project_id": "p"}"#.to_vec(),
        json_ct,
    )
    .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        "{v}"
    );
    let (s, v) = raw("/email/send-otp", br#"[]"#.to_vec(), json_ct).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = raw(
        "/email/send-otp",
        br#"{"email":"a@b.co","project_id":"p"}"#.to_vec(),
        None,
    )
    .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
        "{v}"
    );
    let (s, v) = raw("/email/send-otp", vec![b' '; 2 * 1024 * 1024], json_ct).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
        "{v}"
    );
    let (s, v) = raw("/email/send-otp", vec![0xff, 0xfe, 0x00], json_ct).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "not-an-email", "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_EMAIL"),
        "{v}"
    );
    assert_eq!(v["details"]["reason"], "no @", "{v}");

    // Images: not base64; base64 of an oversize image (13 MB raw > 10 MB): 413 either way.
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "u", "project_id": pid, "face_image": "%%%not base64%%%"}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IMAGE_CORRUPT"),
        "{v}"
    );
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 11 * 1024 * 1024]);
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "u", "project_id": pid, "face_image": big}),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let huge = "A".repeat(20 * 1024 * 1024);
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "u", "project_id": pid, "face_image": huge}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
        "{v}"
    );
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "u", "project_id": pid, "face_image": ""}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "IMAGE_EMPTY"),
        "{v}"
    );

    // Unknown endpoint / wrong method.
    let (s, v) = t.get("/nope", &t.kiosk()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let (s, v) = t.get("/email/send-otp", &t.kiosk()).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    );
    // Query errors.
    let (s, v) = t.get("/sync/templates", &t.kiosk()).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        "{v}"
    );
    let (s, v) = t
        .get(
            &format!("/sync/templates?project_id={pid}&cursor=-5"),
            &t.kiosk(),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        "{v}"
    );
    // Every response carries a request id.
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert!(r.headers().get("x-request-id").is_some());
    t.stop().await;
}
