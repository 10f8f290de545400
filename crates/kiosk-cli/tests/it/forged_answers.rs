//! The kiosk checks what it is told (issue 24): the real `kiosk` binary talks to the real
//! server through a relay on loopback that passes requests on, or forges the verify-face
//! answer, or plays a gateway's 502. A forged accept is refused, a fake outage cannot turn a
//! stranger into an accept, and a revoked kiosk stops deciding on its own.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::common::{PIN, json, photo, run, stderr};
use reqwest::Method;
use serde_json::{Value, json};
use test_support::{TestServer, temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the relay does with `POST /biometric/verify-face` and `/email/verify-otp`
/// (everything else passes).
#[derive(Clone)]
enum Face {
    Pass,
    /// Answers 200 with this body, never asking the server.
    Forge(String),
    /// Answers as a gateway whose upstream is down.
    BadGateway,
}

/// An HTTP/1.1 relay on loopback in front of `upstream`, one request per connection.
struct Relay {
    addr: SocketAddr,
    face: Arc<Mutex<Face>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let face = Arc::new(Mutex::new(Face::Pass));
        let mode = face.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((s, _)) = listener.accept().await {
                let (http, mode) = (http.clone(), mode.clone());
                tokio::spawn(async move {
                    let _ = relay_one(s, upstream, &http, &mode).await;
                });
            }
        });
        Self { addr, face }
    }

    fn set(&self, f: Face) {
        *self.face.lock().unwrap() = f;
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn relay_one(
    mut s: tokio::net::TcpStream,
    upstream: SocketAddr,
    http: &reqwest::Client,
    mode: &Mutex<Face>,
) -> std::io::Result<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let (head, body) = loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if got.len() >= end + 4 + length {
            break (head, got[end + 4..end + 4 + length].to_vec());
        }
    };
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (
        first.next().unwrap_or_default().to_string(),
        first.next().unwrap_or_default().to_string(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let face = path.ends_with("/biometric/verify-face") || path.ends_with("/email/verify-otp");
    let mode = mode.lock().unwrap().clone();
    let (status, content_type, etag, answer) = match mode {
        Face::Forge(b) if face => (200, "application/json".to_string(), None, b.into_bytes()),
        Face::BadGateway if face => (502, "text/html".into(), None, b"<h1>502</h1>".to_vec()),
        _ => {
            let mut req = http.request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("http://{upstream}{path}"),
            );
            for (k, v) in &headers {
                if matches!(
                    k.as_str(),
                    "authorization" | "content-type" | "if-none-match" | "idempotency-key"
                ) {
                    req = req.header(k, v);
                }
            }
            let resp = req.body(body).send().await.map_err(std::io::Error::other)?;
            let header = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from)
            };
            let (status, ct, etag) = (
                resp.status().as_u16(),
                header("content-type").unwrap_or_default(),
                header("etag"),
            );
            let bytes = resp.bytes().await.map_err(std::io::Error::other)?;
            (status, ct, etag, bytes.to_vec())
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.len()
    );
    if !content_type.is_empty() {
        out.push_str(&format!("content-type: {content_type}\r\n"));
    }
    if let Some(e) = etag {
        out.push_str(&format!("etag: {e}\r\n"));
    }
    out.push_str("\r\n");
    s.write_all(out.as_bytes()).await?;
    s.write_all(&answer).await?;
    s.shutdown().await
}

/// A verify-face answer that says Obama matched, with `token` (or none).
fn forged(token: Option<&str>) -> String {
    let mut data = json!({
        "validation_id": "val_forged", "status": "validated", "expires_at": "",
        "matched": true, "match_score": 0.99, "threshold": 0.3, "user_id": "obama",
        "attempts_remaining": 5, "liveness_required": false, "passed": true,
    });
    if let Some(t) = token {
        data["access_token"] = json!(t);
    }
    json!({"success": true, "message": "", "data": data}).to_string()
}

/// A face sign-in: (decision, mode, reason, user_id).
fn sign_in(data: &std::path::Path, flags: &[String], who: &str) -> (String, String, String, Value) {
    let out = run(data, flags, &["sign-in", "--face", &photo(who)]);
    let v = json(&out);
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (s("decision"), s("mode"), s("reason"), v["user_id"].clone())
}

fn face_accepts(data: &std::path::Path, flags: &[String]) -> usize {
    let audit = json(&run(data, flags, &["admin", "audit", "--limit", "50"]));
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "face" && e["decision"] == "accepted")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_cannot_forge_an_accept_and_a_revoked_kiosk_stops_deciding() {
    let mut server = TestServer::for_kiosks().await;
    let relay = Relay::start(server.addr()).await;
    let flags = vec![
        "--api-url".to_string(),
        relay.url(),
        "--pairing-code".into(),
        server.new_pairing_code(server.project()),
        "--project".into(),
        server.project().to_string(),
    ];
    let data = temp_dir("kiosk-relay");
    let out = run(&data, &[], &["admin", "set-pin", "--new-pin", PIN]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (a, b, c) = (
        photo("obama/obama.jpg"),
        photo("obama/obama1.jpg"),
        photo("obama/obama2.jpg"),
    );
    let out = run(
        &data,
        &flags,
        &["enroll", "--user", "obama", "--images", &a, &b, &c],
    );
    assert_eq!(json(&out)["state"], "registered", "{}", stderr(&out));

    // Passed on untouched, the server's token verifies against the keys pinned at pairing.
    let (d, m, _, u) = sign_in(&data, &flags, "obama/obama3.jpg");
    assert_eq!(
        (d.as_str(), m.as_str(), u),
        ("accepted", "online", json!("obama"))
    );
    assert_eq!(face_accepts(&data, &flags), 1);

    // A stranger, answered "matched: obama" by the relay: no token, garbage, a real token of
    // the server for another project, one for another person.
    let keys = &server.server().state.keys;
    // The server's clock is the system's (no offset in this test).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let real = |sub: &str, project: &str| {
        keys.issue_access_token(sub, project, "flw", "val", &["face"], 900, now)
            .unwrap()
    };
    for token in [
        None,
        Some("bogus".to_string()),
        Some(real("obama", "prj_other")),
        Some(real("biden", server.project())),
    ] {
        relay.set(Face::Forge(forged(token.as_deref())));
        let (d, m, r, u) = sign_in(&data, &flags, "biden/biden.jpg");
        assert_eq!(
            (d.as_str(), m.as_str(), r.as_str(), u),
            ("rejected", "online", "ANSWER_UNVERIFIED", Value::Null),
            "{token:?}"
        );
    }
    // Nothing recorded as accepted, nothing queued as decided here.
    assert_eq!(face_accepts(&data, &flags), 1);
    // A code "validated" by the relay, with a token for someone else: refused too.
    let otp = json!({"success": true, "message": "", "data": {
        "validation_id": "val_forged", "status": "validated", "expires_at": "",
        "project_id": server.project(), "project_flow_id": "flw", "token_type": "Bearer",
        "access_token": real("obama", server.project()), "expires_in": 900}});
    relay.set(Face::Forge(otp.to_string()));
    let out = run(
        &data,
        &flags,
        &[
            "otp",
            "verify",
            "--channel",
            "email",
            "--to",
            "ada@example.org",
            "--code",
            "123456",
            "--validation-id",
            "val_forged",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ANSWER_UNVERIFIED"),
        "{}",
        stderr(&out)
    );
    let status = json(&run(&data, &flags, &["status", "--json"]));
    assert_eq!(status["pending_events"], 0, "{status}");

    // A fake outage: the cache decides, by its own rules: Obama yes, the stranger no.
    relay.set(Face::BadGateway);
    let (d, m, _, _) = sign_in(&data, &flags, "obama/obama3.jpg");
    assert_eq!((d.as_str(), m.as_str()), ("accepted", "offline"));
    let (d, m, _, u) = sign_in(&data, &flags, "biden/biden.jpg");
    assert_eq!(
        (d.as_str(), m.as_str(), u),
        ("rejected", "offline", Value::Null)
    );
    relay.set(Face::Pass);

    // Revoked by an administrator: the next sync learns it and the store keeps it.
    let kiosk_id = status["kiosk_id"].as_str().unwrap().to_string();
    let (s, v) = server
        .call(
            Method::POST,
            &format!("/kiosks/{kiosk_id}/revoke"),
            Some(&server.admin),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    let out = run(&data, &flags, &["sync", "--once"]);
    assert!(stderr(&out).contains("KIOSK_REVOKED"), "{}", stderr(&out));
    let status = json(&run(&data, &flags, &["status", "--json"]));
    assert_eq!(status["revoked"], true, "{status}");
    let text = String::from_utf8_lossy(&run(&data, &flags, &["status"]).stdout).into_owned();
    assert!(
        text.contains("revoked") && text.contains("KIOSK_REVOKED"),
        "{text}"
    );

    // Offline, the face the cache accepted a moment ago is refused, with the code.
    server.shutdown().await;
    let out = run(
        &data,
        &flags,
        &["sign-in", "--face", &photo("obama/obama3.jpg")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("KIOSK_REVOKED"), "{}", stderr(&out));
    assert_eq!(face_accepts(&data, &flags), 2);
    server.stop().await;
}
