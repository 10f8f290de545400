//! Shared test harness: an in-process server on 127.0.0.1:0 with a temp database.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use access_server::config::ServerConfig;
use access_server::face::FaceService;
use access_server::{OffsetClock, RunningServer, start};
use access_types::ApiScope;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub struct TestServer {
    pub server: RunningServer,
    pub clock: Arc<OffsetClock>,
    pub client: Client,
    pub admin: String,
    pub kiosk: String,
    pub dir: PathBuf,
}

static N: AtomicU64 = AtomicU64::new(0);

pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "access-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub fn test_config(dir: &std::path::Path) -> ServerConfig {
    let mut cfg = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        db: dir.join("access.db"),
        dev_outbox: true,
        ..Default::default()
    };
    cfg.vision.enabled = false;
    cfg.webhooks.backoff_ms = vec![50, 100];
    cfg.webhooks.poll_ms = 20;
    cfg.webhooks.timeout_ms = 2_000;
    // The tests' webhook and security-URL receivers listen on loopback.
    cfg.outbound_allow = vec!["127.0.0.1".into()];
    cfg
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = temp_dir();
        Self::start_with(test_config(&dir), dir, None).await
    }

    pub async fn start_with(cfg: ServerConfig, dir: PathBuf, face: Option<FaceService>) -> Self {
        let clock = Arc::new(OffsetClock::new());
        let server = start(cfg, clock.clone(), face)
            .await
            .expect("server starts");
        let now = access_server::Clock::now_ms(clock.as_ref());
        let admin = server
            .state
            .keys
            .issue_api_token("test-admin", ApiScope::Admin, 3600, now)
            .unwrap();
        let kiosk = server
            .state
            .keys
            .issue_api_token("test-kiosk", ApiScope::Kiosk, 3600, now)
            .unwrap();
        Self {
            server,
            clock,
            client: Client::new(),
            admin,
            kiosk,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base_url(), path)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, v)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// A project with one active login flow; returns (project_id, flow_id).
    pub async fn project_with_flow(&self, login: Value) -> (String, String) {
        let (s, p) = self
            .post("/projects", &self.admin.clone(), json!({"name": "Lobby"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["data"]["id"].as_str().unwrap().to_string();
        let (s, f) = self
            .post(
                "/project-flows",
                &self.admin.clone(),
                json!({"project_id": pid, "type": "login", "status": "active", "login": login}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        (pid, f["data"]["id"].as_str().unwrap().to_string())
    }

    /// The latest code the dev outbox holds for `to`.
    pub async fn outbox_code(&self, to: &str) -> String {
        let url = format!("/dev/outbox?to={}", urlencode(to));
        let (s, v) = self.get(&url, &self.kiosk.clone()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"]["messages"][0]["code"]
            .as_str()
            .expect("a message in the outbox")
            .to_string()
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn code_of(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("<none>")
}
