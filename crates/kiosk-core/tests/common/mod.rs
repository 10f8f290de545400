//! Harness: the real access-server in-process on loopback (real SQLite, real models), and a
//! kiosk with its own data directory pointed at it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use access_server::config::ServerConfig;
use access_server::{OffsetClock, RunningServer, start};
use access_types::ApiScope;
use kiosk_core::{Kiosk, KioskConfig};
use serde_json::{Value, json};
use vision::{DecodeLimits, Frame, decode_image};

static N: AtomicU64 = AtomicU64::new(0);

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kiosk-core-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn data_dir() -> PathBuf {
    std::env::var_os("FACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
        })
}

pub fn photo(rel: &str) -> Frame {
    let p = data_dir().join(rel);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    decode_image(&bytes, &DecodeLimits::default()).unwrap()
}

/// The same still, `n` times: a person holding still in front of the camera.
pub fn burst(rel: &str, n: usize) -> Vec<Frame> {
    vec![photo(rel); n]
}

pub const OBAMA_ENROL: [&str; 3] = [
    "face_recognition_examples/obama/obama.jpg",
    "face_recognition_examples/obama/obama1.jpg",
    "face_recognition_examples/obama/obama2.jpg",
];
pub const OBAMA_PROBE: &str = "face_recognition_examples/obama/obama3.jpg";
pub const ALEX_ENROL: [&str; 3] = [
    "face_recognition_examples/alex_lacamoire/alex_lacamoire1.jpg",
    "face_recognition_examples/alex_lacamoire/img1.jpg",
    "face_recognition_examples/alex_lacamoire/alex-lacamoire.png",
];
pub const BIDEN: &str = "face_recognition_examples/biden/biden.jpg";

pub struct Server {
    pub running: Option<RunningServer>,
    pub addr: SocketAddr,
    pub db: PathBuf,
    pub admin: String,
    pub kiosk_token: String,
    pub project: String,
    pub http: reqwest::Client,
}

fn config(db: &Path, addr: SocketAddr) -> ServerConfig {
    ServerConfig {
        addr,
        db: db.to_path_buf(),
        dev_outbox: true,
        vision: access_server::config::VisionConfig {
            enabled: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

impl Server {
    /// A fresh server with a project whose active login flow offers email, SMS and face.
    pub async fn start() -> Self {
        let dir = temp_dir("server");
        let db = dir.join("access.db");
        let running = start(
            config(&db, "127.0.0.1:0".parse().unwrap()),
            Arc::new(OffsetClock::new()),
            None,
        )
        .await
        .expect("server starts");
        let now = access_server::Clock::now_ms(&OffsetClock::new());
        let keys = &running.state.keys;
        let admin = keys
            .issue_api_token("admin", ApiScope::Admin, 3600, now)
            .unwrap();
        let kiosk_token = keys
            .issue_api_token("kiosk-1", ApiScope::Kiosk, 3600, now)
            .unwrap();
        let mut s = Self {
            addr: running.addr,
            running: Some(running),
            db,
            admin,
            kiosk_token,
            project: String::new(),
            http: reqwest::Client::new(),
        };
        let p = s.admin_post("/projects", json!({"name": "Lobby"})).await;
        s.project = p["data"]["id"].as_str().unwrap().to_string();
        s.admin_post(
            "/project-flows",
            json!({"project_id": s.project, "type": "login", "status": "active",
                   "login": {"email": true, "sms": true, "whatsapp": true, "face": true}}),
        )
        .await;
        s
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v2/access", self.addr)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base_url()))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Starts again on the same address and database: every state survives.
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = start(
            config(&self.db, self.addr),
            Arc::new(OffsetClock::new()),
            None,
        )
        .await
        .expect("server restarts");
        self.running = Some(running);
    }

    /// Rows of the server's own event table (what it holds, not what it said).
    pub fn event_ids(&self) -> Vec<String> {
        let c = rusqlite_open(&self.db);
        let mut stmt = c
            .prepare("SELECT event_id FROM sync_events ORDER BY event_id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    pub fn kiosk_config(&self, dir: &Path) -> KioskConfig {
        let mut cfg = KioskConfig::new(dir);
        cfg.api_url = Some(self.base_url());
        cfg.token = Some(self.kiosk_token.clone());
        cfg.project_id = Some(self.project.clone());
        cfg.api_timeout = std::time::Duration::from_secs(5);
        cfg
    }
}

fn rusqlite_open(p: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(p).unwrap()
}

pub fn kiosk(cfg: KioskConfig) -> Kiosk {
    let k = Kiosk::open(cfg).expect("kiosk opens");
    k.set_admin_pin(None, "2468").unwrap();
    k
}

pub fn frames(paths: &[&str]) -> Vec<Frame> {
    paths.iter().map(|p| photo(p)).collect()
}
