//! Two servers on one store, as replicas behind a load balancer: on PostgreSQL when the suite
//! runs with `ACCESS_TEST_PG` (scripts/test.sh runs it both ways), else two servers on one
//! SQLite file. Everything that decides (codes, attempts, limits, keys) is in the store, so a
//! request may land on either replica. (Webhooks once across two workers and a face enrolled
//! through one replica matched through the other: setup_webhooks_sync.rs and
//! erasure_and_policy.rs, which run both ways too.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{TestServer, code_of};

use crate::cli::serve_by_env;

async fn two_replicas() -> (TestServer, TestServer, String) {
    let a = TestServer::start().await;
    let (pid, _) = a.project_with_flow(json!({"email": true})).await;
    let b = TestServer::builder().db(a.cfg.db.clone()).start().await;
    // The PostgreSQL pass really is on PostgreSQL.
    assert_eq!(
        a.on_postgres(),
        std::env::var("ACCESS_TEST_PG").is_ok_and(|u| !u.is_empty())
    );
    (a, b, pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_sent_through_one_replica_is_verified_through_the_other() {
    let (a, b, pid) = two_replicas().await;
    let kiosk = a.kiosk();
    let to = "both@example.com";
    let (s, v) = a
        .post(
            "/email/send-otp",
            &kiosk,
            json!({"email": to, "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = a.outbox_code(to).await;
    // A wrong code through B counts against the validation A made.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (s, v) = b
        .post(
            "/email/verify-otp",
            &kiosk,
            json!({"email": to, "otp": wrong, "validation_id": vid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_OTP"),
        "{v}"
    );
    let (s, v) = b
        .post(
            "/email/verify-otp",
            &kiosk,
            json!({"email": to, "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["data"]["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!token.is_empty(), "{v}");
    // The code is used: A refuses it now.
    let (s, v) = a
        .post(
            "/email/verify-otp",
            &kiosk,
            json!({"email": to, "otp": code, "validation_id": vid}),
        )
        .await;
    assert!(
        s.is_client_error(),
        "a used code verified again through A: {v}"
    );
    assert_eq!(
        a.count(&format!(
            "SELECT attempts FROM validations WHERE id = '{vid}'"
        )),
        1,
        "the wrong code through B is counted once, in the shared store"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_email_limit_holds_across_replicas() {
    let (a, b, pid) = two_replicas().await;
    let kiosk = a.kiosk();
    let body = json!({"email": "split@example.com", "project_id": pid});
    for n in 0..5 {
        let server = if n % 2 == 0 { &a } else { &b };
        let (s, v) = server.post("/email/send-otp", &kiosk, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "send {n}: {v}");
    }
    for server in [&b, &a] {
        let (s, v) = server.post("/email/send-otp", &kiosk, body.clone()).await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            "{v}"
        );
    }
    assert_eq!(
        a.count("SELECT COUNT(*) FROM validations WHERE identifier = 'split@example.com'"),
        1,
        "the resends kept one validation"
    );
    b.stop().await;
    a.stop().await;
}

/// A replica killed with SIGKILL in the middle of a burst: every send it answered is in the
/// store, and a client retrying the unanswered ones through the other replica ends with one
/// validation per address, whose code verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_burst_loses_and_duplicates_nothing() {
    let a = TestServer::start().await;
    let (pid, _) = a.project_with_flow(json!({"email": true})).await;
    let kiosk = a.kiosk();
    let (mut child, addr) = serve_by_env(&a.cfg.db);
    let base = format!("http://{addr}{}", access_types::BASE_PATH);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    const N: usize = 60;
    let mut sends = Vec::new();
    for n in 0..N {
        let (http, base, kiosk, pid) = (http.clone(), base.clone(), kiosk.clone(), pid.clone());
        sends.push(tokio::spawn(async move {
            // Spread over ~60 ms so the kill lands among them.
            tokio::time::sleep(Duration::from_millis(n as u64)).await;
            let r = http
                .post(format!("{base}/email/send-otp"))
                .bearer_auth(kiosk)
                .json(&json!({"email": format!("k{n}@example.com"), "project_id": pid}))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == StatusCode::OK => Some(r.json::<Value>().await.ok()?),
                _ => None,
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(25)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut answered = 0;
    for (n, s) in sends.into_iter().enumerate() {
        let email = format!("k{n}@example.com");
        let stored = |srv: &TestServer| {
            srv.count(&format!(
                "SELECT COUNT(*) FROM validations WHERE identifier = '{email}'"
            ))
        };
        if let Some(v) = s.await.unwrap() {
            answered += 1;
            assert!(v["data"]["validation_id"].is_string(), "{v}");
            assert_eq!(
                stored(&a),
                1,
                "{email} was answered but is not in the store"
            );
        }
        // The client retries every address through A (resent or new, never a second one).
        let (s, v) = a
            .post(
                "/email/send-otp",
                &kiosk,
                json!({"email": email, "project_id": pid}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(stored(&a), 1, "{email}: one validation after the retry");
        let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
        let code = a.outbox_code(&email).await;
        let (s, v) = a
            .post(
                "/email/verify-otp",
                &kiosk,
                json!({"email": email, "otp": code, "validation_id": vid}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{email}: {v}");
    }
    eprintln!("{answered} of {N} sends answered before the kill");
    assert!(
        answered < N,
        "the kill came after every send; the test proved nothing"
    );
    a.stop().await;
}
