//! Projects, flows, webhooks (signed, retried, logged), kiosk sync, OpenAPI.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestServer, code_of};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

#[tokio::test]
async fn project_and_flow_crud() {
    let t = TestServer::start().await;
    let a = t.admin.clone();
    let (s, p) = t
        .post(
            "/projects",
            &a,
            json!({"name": "HQ", "description": "front door"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let pid = p["data"]["id"].as_str().unwrap().to_string();
    let (s, v) = t.get(&format!("/projects/{pid}"), &a).await;
    assert_eq!(
        (s, v["data"]["name"].as_str()),
        (StatusCode::OK, Some("HQ"))
    );
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/projects/{pid}"),
            Some(&a),
            Some(json!({"name": "HQ2"})),
        )
        .await;
    assert_eq!(
        (s, v["data"]["name"].as_str()),
        (StatusCode::OK, Some("HQ2"))
    );
    assert_eq!(v["data"]["description"], "front door");
    let (_, v) = t.get("/projects", &a).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (s, v) = t.post("/projects", &a, json!({"name": "  "})).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );

    let (s, f) = t
        .post(
            "/project-flows",
            &a,
            json!({"project_id": pid, "type": "login", "name": "door",
                   "login": {"email": true, "face": true, "liveness_required": true, "liveness_min_score": 0.7, "match_min_score": 0.6},
                   "security": {"mode": "blacklist", "identifiers": ["x@y.z"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    assert_eq!(f["data"]["status"], "draft");
    assert_eq!(f["data"]["type"], "login");
    let fid = f["data"]["id"].as_str().unwrap().to_string();
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{fid}"),
            Some(&a),
            Some(json!({"status": "active", "login": {"sms": true}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["login"]["sms"], true);
    assert_eq!(
        v["data"]["login"]["email"], true,
        "PATCH keeps unspecified fields"
    );
    assert!((v["data"]["login"]["match_min_score"].as_f64().unwrap() - 0.6).abs() < 1e-6);
    assert_eq!(v["data"]["security"]["mode"], "blacklist");
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{fid}"),
            Some(&a),
            Some(json!({"login": {"match_min_score": 1.5}})),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{fid}"),
            Some(&a),
            Some(json!({"status": "archived"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = t
        .post(
            "/project-flows",
            &a,
            json!({"project_id": pid, "type": "signup"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = t.get(&format!("/project-flows?project_id={pid}"), &a).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    // A project with flows cannot be deleted; after deleting the flow it can.
    let (s, v) = t
        .call(Method::DELETE, &format!("/projects/{pid}"), Some(&a), None)
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "CONFLICT"));
    let (s, _) = t
        .call(
            Method::DELETE,
            &format!("/project-flows/{fid}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = t.get(&format!("/project-flows/{fid}"), &a).await;
    assert_eq!((s, code_of(&v)), (StatusCode::NOT_FOUND, "FLOW_NOT_FOUND"));
    let (s, _) = t
        .call(Method::DELETE, &format!("/projects/{pid}"), Some(&a), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = t.get(&format!("/projects/{pid}"), &a).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::NOT_FOUND, "PROJECT_NOT_FOUND")
    );
    t.stop().await;
}

/// Verify a Standard Webhooks signature independently of the server code.
fn verify_sig(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ts = headers
        .get("webhook-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sig = headers
        .get("webhook-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    sig.split(' ').any(|s| s == expected)
}

/// (webhook-id, status answered, body, signature ok)
type Seen = (String, u16, Value, bool);

#[derive(Clone, Default)]
struct Receiver {
    /// (webhook-id, status answered, body, signature ok)
    seen: Arc<Mutex<Vec<Seen>>>,
    secret: Arc<Mutex<String>>,
    /// Status answers to give, in order; then 200.
    script: Arc<Mutex<Vec<u16>>>,
}

async fn spawn_receiver(r: Receiver) -> String {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let r = r.clone();
            async move {
                let ok = verify_sig(&r.secret.lock().unwrap(), &headers, &body);
                let status = {
                    let mut s = r.script.lock().unwrap();
                    if s.is_empty() { 200 } else { s.remove(0) }
                };
                let id = headers
                    .get("webhook-id")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                r.seen.lock().unwrap().push((id, status, v, ok));
                AxStatus::from_u16(status).unwrap()
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}/hook")
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not met in 5 s");
}

#[tokio::test]
async fn webhook_signed_retried_delivered_once_and_logged() {
    let t = TestServer::start().await;
    let a = t.admin.clone();
    let (pid, fid) = t.project_with_flow(json!({"email": true})).await;
    let rx = Receiver::default();
    *rx.script.lock().unwrap() = vec![500, 503];
    let url = spawn_receiver(rx.clone()).await;
    let (s, h) = t
        .post("/webhooks", &a, json!({"project_id": pid, "project_flow_id": fid, "url": url, "events": ["email_validation.validated"]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    let secret = h["data"]["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    *rx.secret.lock().unwrap() = secret.clone();
    let hid = h["data"]["id"].as_str().unwrap().to_string();
    // The secret is never shown again.
    let (_, g) = t.get(&format!("/webhooks/{hid}"), &a).await;
    assert!(g["data"].get("secret").is_none());
    assert!(!g.to_string().contains(&secret));
    // Unknown event types are refused.
    let (s, _) = t
        .post(
            "/webhooks",
            &a,
            json!({"project_id": pid, "url": url, "events": ["bogus.event"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A login produces created (not subscribed) and validated (subscribed).
    let (_, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "w@example.com", "project_id": pid}),
        )
        .await;
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let code = t.outbox_code("w@example.com").await;
    let (s, _) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "w@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    wait_for(|| rx.seen.lock().unwrap().iter().any(|s| s.1 == 200)).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // would any extra retry come?
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two failures, one success: {seen:?}");
    assert!(seen.iter().all(|s| s.3), "every attempt correctly signed");
    assert!(
        seen.iter().all(|s| s.0 == seen[0].0),
        "same webhook-id across retries"
    );
    assert_eq!(
        seen.iter().filter(|s| s.1 == 200).count(),
        1,
        "delivered exactly once"
    );
    assert_eq!(seen[2].2["type"], "email_validation.validated");
    assert_eq!(seen[2].2["data"]["validation_id"], vid.as_str());

    let (s, log) = t.get(&format!("/webhooks/{hid}/deliveries"), &a).await;
    assert_eq!(s, StatusCode::OK);
    let d = &log["data"][0];
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["id"], seen[0].0.as_str());
    let codes: Vec<u64> = d["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 503, 200]);
    assert_eq!(
        t.get(&format!("/webhooks/{hid}/deliveries"), &t.kiosk())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    t.stop().await;
}

#[tokio::test]
async fn webhook_410_disables_the_endpoint() {
    let t = TestServer::start().await;
    let a = t.admin.clone();
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let rx = Receiver::default();
    *rx.script.lock().unwrap() = vec![410];
    let url = spawn_receiver(rx.clone()).await;
    let (_, h) = t
        .post("/webhooks", &a, json!({"project_id": pid, "url": url}))
        .await;
    *rx.secret.lock().unwrap() = h["data"]["secret"].as_str().unwrap().to_string();
    let hid = h["data"]["id"].as_str().unwrap().to_string();
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "g@example.com", "project_id": pid}),
    )
    .await;
    wait_for(|| !rx.seen.lock().unwrap().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, g) = t.get(&format!("/webhooks/{hid}"), &a).await;
    assert_eq!(g["data"]["enabled"], false, "{g}");
    assert!(
        g["data"]["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    // Further events are not queued for it.
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "h@example.com", "project_id": pid}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.seen.lock().unwrap().len(), 1);
    let (_, log) = t.get(&format!("/webhooks/{hid}/deliveries"), &a).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1);
    assert_eq!(log["data"][0]["status"], "failed");
    // Re-enable via PATCH, then delete.
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/webhooks/{hid}"),
            Some(&a),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (s, v["data"]["enabled"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (s, _) = t
        .call(Method::DELETE, &format!("/webhooks/{hid}"), Some(&a), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.get(&format!("/webhooks/{hid}"), &a).await.0,
        StatusCode::NOT_FOUND
    );
    t.stop().await;
}

#[tokio::test]
async fn sync_templates_feed_and_idempotent_events() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    // Seed templates straight into the store (the biometric tests enrol real faces).
    let p2 = pid.clone();
    t.server()
        .state
        .db
        .tx(move |tx| {
            for (i, user) in ["u1", "u2", "u3"].iter().enumerate() {
                let rev = access_server::db::next_counter(tx, "template_rev")?;
                let emb = vision::Embedding::values_to_le_bytes(&[i as f32, 1.0]);
                tx.execute(
                    "INSERT INTO templates(id, project_id, user_id, model_id, embedding, created_at, rev)
                     VALUES (?1, ?2, ?3, 'm1', ?4, 0, ?5)",
                    rusqlite::params![format!("tpl_{user}"), p2, user, emb, rev],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let k = t.kiosk();
    let (s, v) = t
        .get(&format!("/sync/templates?project_id={pid}&limit=2"), &k)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"]["has_more"], true);
    assert_eq!(v["data"]["items"][0]["model_id"], "m1");
    assert_eq!(v["data"]["items"][1]["embedding"], json!([1.0, 1.0]));
    let c1 = v["data"]["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = t
        .get(&format!("/sync/templates?project_id={pid}&cursor={c1}"), &k)
        .await;
    assert_eq!(v["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"]["has_more"], false);
    let c2 = v["data"]["next_cursor"].as_str().unwrap().to_string();
    // Nothing new.
    let (_, v) = t
        .get(&format!("/sync/templates?project_id={pid}&cursor={c2}"), &k)
        .await;
    assert!(v["data"]["items"].as_array().unwrap().is_empty());
    assert_eq!(v["data"]["next_cursor"], c2.as_str());
    // Admin deletes u2: the feed reports the deletion.
    let (_, users) = t.get(&format!("/users?project_id={pid}"), &t.admin).await;
    assert_eq!(users["data"].as_array().unwrap().len(), 3);
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("/users/u2?project_id={pid}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["templates_deleted"], 1);
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("/users/u2?project_id={pid}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::NOT_FOUND, "USER_NOT_FOUND"));
    let (_, v) = t
        .get(&format!("/sync/templates?project_id={pid}&cursor={c2}"), &k)
        .await;
    let items = v["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["op"], "delete");
    assert_eq!(items[0]["user_id"], "u2");
    assert!(items[0].get("embedding").is_none());

    // Offline events, signed by the test kiosk's device key: a retried batch is not
    // duplicated; one dated "yesterday" (not RFC 3339) is refused alone, with its reason.
    let now = access_server::clock::rfc3339(access_server::Clock::now_ms(&*t.clock));
    let ev = |id: &str, kind: &str, user: Option<&str>, payload: Value, at: &str| {
        let e = access_types::OfflineEvent {
            event_id: id.into(),
            kind: kind.into(),
            project_id: pid.clone(),
            occurred_at: at.into(),
            user_id: user.map(Into::into),
            payload,
            signature: None,
        };
        serde_json::to_value(t.device.sign_event("ksk_test", e)).unwrap()
    };
    let batch = json!({"events": [
        ev("e1", "sign_in", Some("u1"), Value::Null, &now),
        ev("e2", "enrolment", None, json!({"x": 1}), &now),
    ]});
    let (s, v) = t.post("/sync/events", &k, batch.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["accepted"], json!(["e1", "e2"]));
    assert_eq!(v["data"]["duplicates"], json!([]));
    let mut batch2 = batch.clone();
    batch2["events"]
        .as_array_mut()
        .unwrap()
        .push(ev("e3", "sign_in", None, Value::Null, &now));
    let (_, v) = t.post("/sync/events", &k, batch2).await;
    assert_eq!(v["data"]["accepted"], json!(["e3"]));
    assert_eq!(v["data"]["duplicates"], json!(["e1", "e2"]));
    let n: i64 = t
        .server()
        .state
        .db
        .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM sync_events", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 3);
    let (s, v) = t
        .post(
            "/sync/events",
            &k,
            json!({"events": [ev("e9", "x", None, Value::Null, "yesterday")]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["refused"][0]["event_id"], "e9");
    assert_eq!(v["data"]["refused"][0]["reason"], "malformed");
    assert_eq!(t.count("SELECT COUNT(*) FROM sync_events"), 3);
    t.stop().await;
}

#[tokio::test]
async fn openapi_health_and_outbox_switch() {
    let t = TestServer::start().await;
    let (s, doc) = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v2/access/email/send-otp",
        "/v2/access/biometric/verify-face",
        "/v2/access/sync/events",
        "/v2/access/projects/{id}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
    assert!(
        doc["paths"]["/v2/access/projects/{id}"]
            .get("patch")
            .is_some()
    );
    let schemas = &doc["components"]["schemas"];
    for code in [
        "MAX_ATTEMPTS_EXCEEDED",
        "INVALID_EMAIL",
        "INVALID_PHONE",
        "INVALID_OTP_FORMAT",
    ] {
        assert!(schemas["ErrorCode"].to_string().contains(code), "{code}");
    }
    let sms = doc["paths"]["/v2/access/phone/send-sms"]["post"]["summary"].to_string();
    assert!(sms.contains("INVALID_PHONE"), "{sms}");
    assert!(
        schemas["SendEmailOtpRequest"]["properties"]
            .get("project_id")
            .is_some()
    );
    assert!(
        schemas.get("LoginSettings").is_some(),
        "nested schemas are included"
    );
    // Collected from the router: the routes a hand-kept table once missed are there, the
    // console's and the operator's pages' own among them, each answer in its envelope.
    for p in [
        "/v2/access/kiosks/pair",
        "/v2/access/kiosks/{id}/revoke",
        "/v2/access/tokens/{id}/revoke",
        "/v2/access/keys/rotate",
        "/v2/access/project-flows/{id}/security-secret",
        "/console/api/login",
        "/console/api/audit",
        "/metrics",
        "/readyz",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
    let send = &doc["paths"]["/v2/access/email/send-otp"]["post"];
    let ok = &send["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        ok["properties"]["data"]["$ref"],
        "#/components/schemas/OtpValidation"
    );
    assert_eq!(
        send["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApiErrorBody"
    );
    // Every documented operation is routed: none falls through to the router's 404 or 405.
    let base = format!("http://{}", t.addr());
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let url = format!(
                "{base}{}",
                path.replace("{id}", "x").replace("{user_id}", "x")
            );
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = t.client.request(m, &url).send().await.unwrap();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no such endpoint"),
                "{method} {path}: {status} {body}"
            );
            operations += 1;
        }
    }
    assert!(operations >= 55, "{operations} operations documented");
    // The API reference reads that document; its assets are served by the server itself.
    let r = t.client.get(format!("{base}/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("swagger-initializer.js"));
    let init = t
        .client
        .get(format!("{base}/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/v2/access/openapi.json"), "{init}");
    let (s, h) = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["data"]["status"], "ok");
    let r = t
        .client
        .get(format!("http://{}/healthz", t.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    t.stop().await;

    // Without --dev-outbox the endpoint does not exist.
    let t = TestServer::builder()
        .configure(|cfg| cfg.dev_outbox = false)
        .start()
        .await;
    let (s, v) = t.get("/dev/outbox?to=a%40b.co", &t.kiosk()).await;
    assert_eq!((s, code_of(&v)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    // And with no provider either, sending says so.
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "a@b.co", "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::SERVICE_UNAVAILABLE, "CHANNEL_NOT_CONFIGURED")
    );
    t.stop().await;
}

#[tokio::test]
async fn webhook_queue_survives_restart() {
    let mut t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    // Reserve a port, then close it: the receiver is down while the event is queued.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let (_, h) = t
        .post("/webhooks", &t.admin, json!({"project_id": pid, "url": format!("http://{addr}/hook"), "events": ["email_validation.created"]}))
        .await;
    let secret = h["data"]["secret"].as_str().unwrap().to_string();
    let hid = h["data"]["id"].as_str().unwrap().to_string();
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "s@example.com", "project_id": pid}),
    )
    .await;
    // Wait for at least one failed attempt to be logged.
    let mut attempts = 0;
    for _ in 0..100 {
        let (_, log) = t
            .get(&format!("/webhooks/{hid}/deliveries"), &t.admin)
            .await;
        attempts = log["data"][0]["attempts"].as_u64().unwrap_or(0);
        if attempts > 0 {
            assert_eq!(log["data"][0]["status"], "pending");
            assert!(log["data"][0]["log"][0]["error"].as_str().is_some());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(attempts > 0);
    t.shutdown().await;

    // Receiver comes up on that port; a restarted server delivers the queued event.
    let rx = Receiver::default();
    *rx.secret.lock().unwrap() = secret;
    let r2 = rx.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let r = r2.clone();
            async move {
                let ok = verify_sig(&r.secret.lock().unwrap(), &headers, &body);
                let id = headers
                    .get("webhook-id")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                r.seen.lock().unwrap().push((id, 200, v, ok));
                AxStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    t.restart().await;
    wait_for(|| !rx.seen.lock().unwrap().is_empty()).await;
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].3, "signature verifies");
    assert_eq!(seen[0].2["type"], "email_validation.created");
    t.stop().await;
}

#[tokio::test]
async fn webhook_retry_honours_retry_after() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let times = Arc::new(Mutex::new(Vec::<std::time::Instant>::new()));
    let t2 = times.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let times = t2.clone();
            async move {
                let mut v = times.lock().unwrap();
                v.push(std::time::Instant::now());
                if v.len() == 1 {
                    (AxStatus::SERVICE_UNAVAILABLE, [("retry-after", "1")])
                } else {
                    (AxStatus::OK, [("retry-after", "0")])
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    t.post(
        "/webhooks",
        &t.admin,
        json!({"project_id": pid, "url": format!("http://{addr}/hook")}),
    )
    .await;
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "ra@example.com", "project_id": pid}),
    )
    .await;
    wait_for(|| times.lock().unwrap().len() >= 2).await;
    let v = times.lock().unwrap().clone();
    let gap = v[1] - v[0];
    // Backoff is 50 ms in tests; the receiver asked for 1 s.
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
    t.stop().await;
}

/// One slow receiver (a 4 s answer) must not hold up another project's deliveries.
#[tokio::test]
async fn a_slow_receiver_only_delays_its_own_queue() {
    let t = TestServer::start().await;
    let a = t.admin.clone();
    let (slow_pid, _) = t.project_with_flow(json!({"email": true})).await;
    let (fast_pid, _) = t.project_with_flow(json!({"email": true})).await;
    let slow_app = Router::new().route(
        "/",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            "late"
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, slow_app).await.unwrap() });
    let arrived = Arc::new(Mutex::new(None::<std::time::Instant>));
    let a2 = arrived.clone();
    let fast_app = Router::new().route(
        "/",
        post(move || {
            *a2.lock().unwrap() = Some(std::time::Instant::now());
            async { "ok" }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fast_url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, fast_app).await.unwrap() });
    for (pid, url) in [(&slow_pid, &slow_url), (&fast_pid, &fast_url)] {
        let (s, v) = t
            .post("/webhooks", &a, json!({"project_id": pid, "url": url}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    // The slow project's event first, then (once its delivery is under way) the fast one's.
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "s@example.com", "project_id": slow_pid}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = std::time::Instant::now();
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "f@example.com", "project_id": fast_pid}),
    )
    .await;
    wait_for(|| arrived.lock().unwrap().is_some()).await;
    let late = arrived.lock().unwrap().unwrap() - sent;
    println!("the other project's event arrived {late:?} after it happened");
    assert!(
        late < Duration::from_secs(2),
        "held up by the slow receiver: {late:?}"
    );
}

/// Webhook and security URLs are customer input: refused when they point inside the server's
/// network (unless allow-listed), carry credentials or are not http(s).
#[tokio::test]
async fn outbound_urls_to_internal_addresses_are_refused() {
    let t = TestServer::builder()
        .configure(|c| c.outbound_allow.clear())
        .start()
        .await;
    let a = t.admin.clone();
    let (pid, fid) = t.project_with_flow(json!({"email": true})).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:22",
        "http://user:pw@[::1]/hook",
        "http://[::ffff:10.0.0.1]/",
        "http://192.168.1.10/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
    ] {
        let (s, v) = t
            .post(
                "/webhooks",
                &a,
                json!({"project_id": pid, "url": url, "events": []}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "URL_NOT_ALLOWED"),
            "{url}: {v}"
        );
        let (s, v) = t
            .call(
                Method::PATCH,
                &format!("/project-flows/{fid}"),
                Some(&a),
                Some(json!({"security": {"mode": "url", "url": url}})),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "URL_NOT_ALLOWED"),
            "{url}: {v}"
        );
    }
    assert_eq!(
        t.count("SELECT COUNT(*) FROM webhooks"),
        0,
        "nothing was stored"
    );
    // A security URL stored before the check existed is refused when it would be called: the
    // login fails closed (503), and nothing is sent to 127.0.0.1.
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
    let security = serde_json::to_string(&json!({
        "mode": "url", "url": format!("http://127.0.0.1:{port}/check"), "identifiers": [],
        "timeout_ms": 2000,
    }))
    .unwrap();
    t.server()
        .state
        .db
        .blocking_tx(|c| {
            c.execute(
                "UPDATE flows SET security_json = ?1 WHERE id = ?2",
                rusqlite::params![security, fid],
            )?;
            Ok(())
        })
        .unwrap();
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "a@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SECURITY_CHECK_UNAVAILABLE"
        ),
        "{v}"
    );
    assert_eq!(*hits.lock().unwrap(), 0, "the internal URL was called");
    // Allow-listed, the same receiver is asked.
    let t2 = TestServer::start().await;
    let (pid2, fid2) = t2.project_with_flow(json!({"email": true})).await;
    let (s, v) = t2
        .call(
            Method::PATCH,
            &format!("/project-flows/{fid2}"),
            Some(&t2.admin),
            Some(json!({"security": {"mode": "url", "url": format!("http://127.0.0.1:{port}/check")}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t2
        .post(
            "/email/send-otp",
            &t2.kiosk(),
            json!({"email": "a@example.com", "project_id": pid2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(*hits.lock().unwrap(), 1);
}

/// Two servers on one database file, each with its own delivery worker: every event reaches
/// its receivers exactly once (counted by webhook-id), whichever server queued it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_deliver_each_webhook_once() {
    let a = TestServer::start().await;
    let (pid, _) = a.project_with_flow(json!({"email": true})).await;
    let b = TestServer::builder().db(a.cfg.db.clone()).start().await;
    let rx = Receiver::default();
    let url = spawn_receiver(rx.clone()).await;
    const HOOKS: usize = 6;
    const EVENTS: usize = 20;
    for _ in 0..HOOKS {
        let (s, v) = a
            .post(
                "/webhooks",
                &a.admin,
                json!({"project_id": pid, "url": url, "events": ["email_validation.created"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let kiosk = a.kiosk();
    for n in 0..EVENTS {
        let server = if n % 2 == 0 { &a } else { &b };
        let (s, v) = server
            .post(
                "/email/send-otp",
                &kiosk,
                json!({"email": format!("p{n}@example.com"), "project_id": pid}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let want = HOOKS * EVENTS;
    for _ in 0..400 {
        if rx.seen.lock().unwrap().len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // would a second copy come?
    let seen = rx.seen.lock().unwrap().clone();
    let mut ids: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    ids.sort_unstable();
    let total = ids.len();
    ids.dedup();
    assert_eq!(
        (ids.len(), total),
        (want, want),
        "each delivery once: {} distinct of {total} received",
        ids.len()
    );
    b.stop().await;
    a.stop().await;
}

/// A worker that claimed a delivery and died holds it only until its lease runs out; then
/// another worker delivers it, once.
#[tokio::test]
async fn a_dead_workers_lease_expires_and_the_job_is_retried() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let rx = Receiver::default();
    let url = spawn_receiver(rx.clone()).await;
    let (_, h) = t
        .post(
            "/webhooks",
            &t.admin,
            json!({"project_id": pid, "url": url}),
        )
        .await;
    let hid = h["data"]["id"].as_str().unwrap().to_string();
    let now = access_server::Clock::now_ms(&*t.clock);
    // What a worker leaves behind when it is killed mid-delivery.
    t.server()
        .state
        .db
        .blocking_tx(|c| {
            c.execute(
                "INSERT INTO webhook_deliveries(id, webhook_id, event_type, payload, status,
                   attempts, next_attempt_at, created_at, claimed_by, lease_until)
                 VALUES ('msg_orphan', ?1, 'email_validation.created', '{}', 'pending', 0, ?2,
                   ?2, 'wkr_dead', ?3)",
                rusqlite::params![hid, now, now + 60_000],
            )?;
            Ok(())
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(rx.seen.lock().unwrap().is_empty(), "the lease still holds");
    t.clock.advance_ms(61_000);
    wait_for(|| !rx.seen.lock().unwrap().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "msg_orphan");
    t.stop().await;
}

/// A server stopped mid-delivery gives the job back: restarted, it sends it again at once,
/// not after the lease (the request timeout plus 30 s) has run out.
#[tokio::test]
async fn a_stopped_server_gives_its_deliveries_back() {
    let mut t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let c2 = calls.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let calls = c2.clone();
            async move {
                let id = headers["webhook-id"].to_str().unwrap().to_string();
                let first = {
                    let mut c = calls.lock().unwrap();
                    c.push(id);
                    c.len() == 1
                };
                if first {
                    // The first attempt hangs until the server is gone.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    t.post(
        "/webhooks",
        &t.admin,
        json!({"project_id": pid, "url": url}),
    )
    .await;
    t.post(
        "/email/send-otp",
        &t.kiosk(),
        json!({"email": "r@example.com", "project_id": pid}),
    )
    .await;
    wait_for(|| !calls.lock().unwrap().is_empty()).await;
    t.shutdown().await;
    t.restart().await;
    wait_for(|| calls.lock().unwrap().len() >= 2).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls[0], calls[1], "the same delivery, sent again");
    t.stop().await;
}

/// Stores one template per user straight into the store (no faces needed to page a feed).
fn seed_templates(t: &TestServer, pid: &str, users: std::ops::Range<usize>) {
    let (pid, now) = (pid.to_string(), access_server::Clock::now_ms(&*t.clock));
    t.server()
        .state
        .db
        .blocking_tx(move |c| {
            for i in users {
                let e = vision::Embedding::from_raw(vec![i as f32 + 1.0, 1.0]);
                let user = format!("u{i}");
                let new = access_server::templates::NewTemplate {
                    project_id: &pid,
                    user_id: &user,
                    model_id: "m1",
                    embedding: &e,
                    source: access_types::EnrolSource::File,
                    enrolled_by: "test",
                };
                access_server::templates::insert(c, &new, now)?;
            }
            Ok(())
        })
        .unwrap();
}

/// A kiosk reading the feed a page at a time while people are enrolled and erased between
/// its pages: every change comes once, in order, and the pages applied in order leave exactly
/// the server's live templates. At the head, `If-None-Match` with the feed's ETag is a 304
/// with no body; after a change the same request is a page again.
#[tokio::test]
async fn the_feed_pages_every_change_once_and_answers_304_at_its_head() {
    let t = TestServer::start().await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    seed_templates(&t, &pid, 0..25);
    let k = t.kiosk();
    let feed = |cursor: &str, etag: Option<&str>| {
        let mut r = t
            .client
            .get(format!(
                "{}/sync/templates?project_id={pid}&limit=10&cursor={cursor}",
                t.base_url()
            ))
            .bearer_auth(&k);
        if let Some(e) = etag {
            r = r.header("if-none-match", e);
        }
        r.send()
    };
    let mut cursor = "0".to_string();
    let mut revs = Vec::new();
    let mut upserts = std::collections::HashMap::<String, usize>::new();
    let mut live = std::collections::BTreeSet::new();
    let mut pages = 0;
    let etag = loop {
        let r = feed(&cursor, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        for item in v["data"]["items"].as_array().unwrap() {
            let id = item["template_id"].as_str().unwrap().to_string();
            // One template per person here.
            let user = item["user_id"].as_str().unwrap().to_string();
            revs.push(item["rev"].as_u64().unwrap());
            if item["op"] == "upsert" {
                *upserts.entry(id).or_default() += 1;
                live.insert(user);
            } else {
                live.remove(&user);
            }
        }
        pages += 1;
        if pages == 1 {
            // Between pages: five more people, one erased already read, one not yet read.
            seed_templates(&t, &pid, 25..30);
            for u in ["u3", "u20"] {
                let (s, v) = t
                    .call(
                        Method::DELETE,
                        &format!("/users/{u}?project_id={pid}"),
                        Some(&t.admin),
                        None,
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
            }
        }
        cursor = v["data"]["next_cursor"].as_str().unwrap().to_string();
        if v["data"]["has_more"] == false {
            break etag;
        }
    };
    // After the first page: 14 of the first 25 still unread, 5 new, 2 tombstones.
    assert_eq!(pages, 4, "21 changes after the first page, in pages of 10");
    assert!(
        revs.windows(2).all(|w| w[0] < w[1]),
        "each change once, in order: {revs:?}"
    );
    assert!(upserts.values().all(|n| *n == 1), "no template sent twice");
    let want: std::collections::BTreeSet<String> = (0..30)
        .filter(|i| ![3, 20].contains(i))
        .map(|i| format!("u{i}"))
        .collect();
    assert_eq!(live, want, "the pages applied in order leave the live set");
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM templates WHERE project_id = '{pid}' AND deleted_at IS NULL"
        )),
        want.len() as i64
    );
    // At the head: the ETag is the cursor, and asking with it is a 304 with no body.
    assert_eq!(etag, format!("\"{cursor}\""));
    let r = feed(&cursor, Some(&etag)).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.bytes().await.unwrap().is_empty());
    // A client that does not ask conditionally still gets the (empty) page.
    let r = feed(&cursor, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Something new: the same conditional request is a page with it.
    seed_templates(&t, &pid, 30..31);
    let r = feed(&cursor, Some(&etag)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"]["items"][0]["user_id"], "u30");
    t.stop().await;
}
