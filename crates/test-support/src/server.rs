//! The Access API server in-process on loopback, with a temp SQLite database, an admin token
//! and a paired test kiosk ([`TestServer::kiosk`]), and the HTTP helpers the suites call it
//! with.
//!
//! ```ignore
//! let t = TestServer::start().await; // no vision, no project
//! let s = TestServer::builder()
//!     .vision(Vision::Fake(FakeFaces::new()))
//!     .login_flow(every_method())
//!     .start()
//!     .await;
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use access_server::config::ServerConfig;
use access_server::face::FaceService;
use access_server::{Clock, OffsetClock, RunningServer};
use access_types::{AccessTokenClaims, ApiScope};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::fakes::FakeFaces;
use crate::paths::temp_dir;
use crate::photos::{b64, photo_bytes};

/// The face engine a test server runs.
#[derive(Clone, Default)]
pub enum Vision {
    /// None: face endpoints answer `VISION_UNAVAILABLE`.
    #[default]
    Off,
    /// The real models, loaded in the background as `access-server serve` loads them.
    Real,
    /// The fake engines of [`crate::fakes`]: no ONNX Runtime, no model files.
    Fake(FakeFaces),
}

/// A login flow offering every method: email, SMS, WhatsApp and face.
pub fn every_method() -> Value {
    json!({"email": true, "sms": true, "whatsapp": true, "face": true})
}

/// A change to the configuration before the server starts.
type Configure = Box<dyn FnOnce(&mut ServerConfig)>;

/// How to start a [`TestServer`]; [`TestServer::builder`] makes one.
#[derive(Default)]
#[must_use]
pub struct ServerBuilder {
    dir: Option<PathBuf>,
    db: Option<PathBuf>,
    port: u16,
    vision: Vision,
    login_flow: Option<Value>,
    configure: Option<Configure>,
}

impl ServerBuilder {
    /// Keep the server's files in `dir` (else a fresh temp dir, removed by
    /// [`TestServer::stop`]).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The SQLite database at `db` (else `access.db` in the dir): a second server can be
    /// started on the same file.
    pub fn db(mut self, db: impl Into<PathBuf>) -> Self {
        self.db = Some(db.into());
        self
    }

    /// Listen on this port of 127.0.0.1 (else any free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    pub fn vision(mut self, vision: Vision) -> Self {
        self.vision = vision;
        self
    }

    /// Create a project ("Lobby") with one active login flow of these settings once started
    /// ([`TestServer::project`], [`TestServer::flow`]).
    pub fn login_flow(mut self, login: Value) -> Self {
        self.login_flow = Some(login);
        self
    }

    /// Change the configuration before the server starts (SMTP, gateways, limits).
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig) + 'static) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    pub async fn start(self) -> TestServer {
        let (dir, owns_dir) = match self.dir {
            Some(d) => (d, false),
            None => (temp_dir("access-server"), true),
        };
        let mut cfg = ServerConfig {
            addr: ([127, 0, 0, 1], self.port).into(),
            db: self
                .db
                .unwrap_or_else(|| match std::env::var("ACCESS_TEST_PG") {
                    Ok(admin_url) if !admin_url.is_empty() => fresh_pg_database(&admin_url),
                    _ => dir.join("access.db"),
                }),
            dev_outbox: true,
            ..Default::default()
        };
        cfg.vision.enabled = matches!(self.vision, Vision::Real);
        cfg.webhooks.backoff_ms = vec![50, 100];
        cfg.webhooks.poll_ms = 20;
        cfg.webhooks.timeout_ms = 2_000;
        // The tests' webhook and security-URL receivers listen on loopback, which customer
        // URLs may not reach unless allow-listed.
        cfg.outbound_allow = vec!["127.0.0.1".into()];
        if let Some(f) = self.configure {
            f(&mut cfg);
        }
        if cfg.db_key_file.is_none() {
            cfg.db_key_file = Some(db_key_file(&cfg.db));
        }
        let face = match &self.vision {
            Vision::Fake(fakes) => Some(access_server::vision_engine::start(fakes.pipeline())),
            Vision::Off | Vision::Real => None,
        };
        let clock = Arc::new(OffsetClock::new());
        let running = access_server::start(cfg.clone(), clock.clone(), face.clone())
            .await
            .expect("the test server starts");
        cfg.addr = running.addr;
        let now = clock.now_ms();
        let keys = &running.state.keys;
        // Recorded, as `access-server token` records it: an unrecorded admin token is refused.
        let admin = access_server::tokens::issue(
            &running.state.db,
            keys,
            "test-admin",
            ApiScope::Admin,
            3600,
            now,
        )
        .expect("an admin token");
        let device = DeviceKey::generate();
        // Until a project exists the test kiosk is registered for none: its token passes
        // authentication, and any call naming a project is refused (403).
        let kiosk_id = "ksk_test".to_string();
        let public_key = device.public_key();
        running
            .state
            .db
            .blocking_tx(|c| {
                c.execute(
                    "INSERT INTO kiosks(id, project_id, name, public_key, created_at)
                     VALUES (?1, 'prj_none', 'Test kiosk', ?2, ?3) ON CONFLICT DO NOTHING",
                    rusqlite::params![kiosk_id, public_key, now],
                )?;
                Ok(())
            })
            .expect("the test kiosk is registered");
        let kiosk = keys
            .issue_kiosk_token(&kiosk_id, "prj_none", 3600, now)
            .expect("a kiosk token");
        let mut t = TestServer {
            running: Some(running),
            cfg,
            face,
            clock,
            client: Client::new(),
            admin,
            kiosk: std::sync::Mutex::new(kiosk),
            device,
            dir,
            owns_dir,
            project: None,
            flow: None,
        };
        if let Some(login) = self.login_flow {
            let (p, f) = t.project_with_flow(login).await;
            t.project = Some(p);
            t.flow = Some(f);
        }
        t
    }
}

/// A pairing code (`ABCD-EFGH-JKMN`) as people's tools produce it, for the kiosk fixtures:
/// `wide` in full-width forms with ideographic spaces, else lower case with en dashes; both
/// with a trailing line break. The kiosk and the server must read it as the code.
pub fn retyped(code: &str, wide: bool) -> String {
    let body: String = code
        .chars()
        .map(|c| match (c, wide) {
            ('-', true) => '\u{3000}',
            ('-', false) => '\u{2013}',
            (c, true) => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            (c, false) => c.to_ascii_lowercase(),
        })
        .collect();
    format!("{body}\n")
}

/// A running (or stopped, for a restart) in-process Access API server.
pub struct TestServer {
    running: Option<RunningServer>,
    /// What it runs with; `addr` is the bound address, so a restart comes back on it.
    pub cfg: ServerConfig,
    /// An injected face engine, kept across restarts.
    face: Option<FaceService>,
    /// The server's clock: `advance_ms` to expire codes and validations.
    pub clock: Arc<OffsetClock>,
    pub client: Client,
    /// An admin-scope API token (valid after a restart: same signing key).
    pub admin: String,
    /// The test kiosk's token, for the newest project ([`TestServer::kiosk`]).
    kiosk: std::sync::Mutex<String>,
    /// The test kiosk's device key.
    pub device: DeviceKey,
    pub dir: PathBuf,
    owns_dir: bool,
    project: Option<String>,
    flow: Option<String>,
}

impl TestServer {
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// A server without vision and without projects.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// What a kiosk talks to: the real models, and a project whose login flow offers every
    /// method, without liveness required at the server: the kiosks of these suites enrol from
    /// photo files (`kiosk enroll --images`), which only an administrator may vouch for where
    /// the flow requires liveness (`FILE_SOURCE_NEEDS_ADMIN`); each kiosk still judges
    /// liveness itself at sign-in.
    pub async fn for_kiosks() -> Self {
        let mut login = every_method();
        login["liveness_required"] = json!(false);
        Self::builder()
            .vision(Vision::Real)
            .login_flow(login)
            .start()
            .await
    }

    /// The running server (its state: keys, database). Panics while it is shut down.
    pub fn server(&self) -> &RunningServer {
        self.running.as_ref().expect("the test server is running")
    }

    /// A kiosk-scope token of the test kiosk, paired (through the API) to the newest project
    /// [`TestServer::project_with_flow`] made; before any project, bound to none.
    pub fn kiosk(&self) -> String {
        self.kiosk.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A one-time pairing code for `project` (`POST /kiosks/pairings`, admin).
    pub async fn pairing_code(&self, project: &str) -> String {
        let v = self
            .post_ok(
                "/kiosks/pairings",
                &self.admin,
                json!({"project_id": project, "name": "Test kiosk"}),
            )
            .await;
        v["data"]["code"]
            .as_str()
            .expect("a pairing code")
            .to_string()
    }

    /// A one-time pairing code for `project`, made on the store as `access-server kiosks
    /// pair` makes it (no await: for the fixtures that build a kiosk's configuration).
    pub fn new_pairing_code(&self, project: &str) -> String {
        let req = access_types::kiosk_identity::CreatePairingRequest {
            project_id: project.to_string(),
            name: Some("Test kiosk".into()),
        };
        let now = self.clock.now_ms();
        self.server()
            .state
            .db
            .blocking_tx(|c| access_server::kiosks::create_pairing(c, &req, now))
            .expect("a pairing code")
            .code
    }

    /// Pairs `device` to `project` with a fresh code and trades a signed assertion for its
    /// token, as a kiosk does: (kiosk_id, token).
    pub async fn pair_device(&self, device: &DeviceKey, project: &str) -> (String, String) {
        let code = self.pairing_code(project).await;
        let v = self
            .post_ok("/kiosks/pair", "", device.pair_request(&code))
            .await;
        let kiosk_id = v["data"]["kiosk_id"]
            .as_str()
            .expect("kiosk id")
            .to_string();
        let token = self.device_token(device, &kiosk_id).await;
        (kiosk_id, token)
    }

    /// A kiosk token for a paired `device` (`POST /kiosks/token`).
    pub async fn device_token(&self, device: &DeviceKey, kiosk_id: &str) -> String {
        let now_s = self.clock.now_ms() / 1000;
        let v = self
            .post_ok(
                "/kiosks/token",
                "",
                json!({"client_assertion": device.assertion(kiosk_id, now_s)}),
            )
            .await;
        v["data"]["access_token"]
            .as_str()
            .expect("an access token")
            .to_string()
    }

    /// The project made by [`ServerBuilder::login_flow`].
    pub fn project(&self) -> &str {
        self.project.as_deref().expect("started with a login flow")
    }

    /// The login flow made by [`ServerBuilder::login_flow`].
    pub fn flow(&self) -> &str {
        self.flow.as_deref().expect("started with a login flow")
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.cfg.addr
    }

    /// The API's base URL, `http://127.0.0.1:<port>/v2/access`.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.cfg.addr, access_types::BASE_PATH)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Any request to the API: its status and JSON answer (`Null` when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        request(&self.client, method, &self.url(path), token, body).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// A POST that must succeed; its JSON answer.
    pub async fn post_ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self.post(path, token, body).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    /// A project ("Lobby") with one active login flow; returns (project_id, flow_id).
    pub async fn project_with_flow(&self, login: Value) -> (String, String) {
        let (s, p) = self
            .post("/projects", &self.admin, json!({"name": "Lobby"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["data"]["id"].as_str().expect("project id").to_string();
        let (s, f) = self
            .post(
                "/project-flows",
                &self.admin,
                json!({"project_id": pid, "type": "login", "status": "active", "login": login}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        // The test kiosk moves to the new project (pairing its key again keeps its id).
        let (_, token) = self.pair_device(&self.device, &pid).await;
        *self.kiosk.lock().unwrap_or_else(|p| p.into_inner()) = token;
        (pid, f["data"]["id"].as_str().expect("flow id").to_string())
    }

    /// New admin and kiosk tokens at the clock's now: after [`OffsetClock::advance_ms`] past
    /// their hour. The kiosk's is asked for as a kiosk does (`POST /kiosks/token`).
    pub async fn renew_tokens(&mut self) {
        let now = self.clock.now_ms();
        let st = &self.server().state;
        self.admin = access_server::tokens::issue(
            &st.db,
            &st.keys,
            "test-admin",
            ApiScope::Admin,
            3600,
            now,
        )
        .expect("an admin token");
        let kiosk_id = "ksk_test";
        let token = self.device_token(&self.device, kiosk_id).await;
        *self.kiosk.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// The messages the dev outbox holds for `to`, newest first.
    pub async fn outbox(&self, to: &str) -> Vec<Value> {
        let url = reqwest::Url::parse_with_params(&self.url("/dev/outbox"), [("to", to)])
            .expect("an outbox URL");
        let (s, v) = request(
            &self.client,
            Method::GET,
            url.as_str(),
            Some(&self.admin),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The newest code the dev outbox holds for `to`.
    pub async fn outbox_code(&self, to: &str) -> String {
        let messages = self.outbox(to).await;
        messages
            .first()
            .and_then(|m| m["code"].as_str())
            .unwrap_or_else(|| panic!("no code in the outbox for {to}: {messages:?}"))
            .to_string()
    }

    /// Enrols `user` in [`TestServer::project`] from shared photos (paths below the faces
    /// dir), as another kiosk or an admin console would.
    pub async fn enrol_at_server(&self, user: &str, photos: &[&str]) {
        let images: Vec<Vec<u8>> = photos.iter().map(|p| photo_bytes(p)).collect();
        self.enrol_images(user, &images).await;
    }

    /// Enrols `user` in [`TestServer::project`] from encoded images, one sample each.
    pub async fn enrol_images(&self, user: &str, images: &[Vec<u8>]) {
        for image in images {
            self.post_ok(
                "/biometric/register-face",
                &self.admin,
                json!({"user_id": user, "project_id": self.project(),
                       "face_image": b64(image)}),
            )
            .await;
        }
    }

    /// The claims of an end-user access token this server issued for `project`, checked as a
    /// relying party would (signature, audience, expiry by the server's clock).
    pub fn access_claims(&self, token: &str, project: &str) -> AccessTokenClaims {
        self.server()
            .state
            .keys
            .verify_access_token(token, project, self.clock.now_ms())
            .unwrap_or_else(|e| panic!("the access token does not verify: {e:?}"))
    }

    /// Waits until the face engine has loaded (or failed to); the health check's `vision`:
    /// `ready`, `unavailable` or `disabled`.
    pub async fn vision_loaded(&self) -> String {
        for _ in 0..600 {
            let (_, h) = self.call(Method::GET, "/healthz", None, None).await;
            match h["data"]["vision"].as_str() {
                Some("loading") | None => tokio::time::sleep(Duration::from_millis(50)).await,
                Some(s) => return s.to_string(),
            }
        }
        panic!("vision still loading after 30 s");
    }

    /// `SELECT COUNT(*) ...` (or any one-integer query) on the server's own database: what it
    /// holds, not what it said.
    pub fn count(&self, sql: &str) -> i64 {
        count_in(&self.cfg.db, sql)
    }

    /// Whether this server's store is PostgreSQL (`ACCESS_TEST_PG`), not an SQLite file.
    pub fn on_postgres(&self) -> bool {
        is_pg(&self.cfg.db)
    }

    /// The app's environment for a kiosk keeping its data in `data`, pointed at this server
    /// with a one-time pairing code for its project (the kiosk pairs itself at its first
    /// sync), and camera `camera` (`replay:DIR@10`, `v4l:0`).
    pub fn kiosk_env(&self, data: &Path, camera: &str) -> Vec<(&'static str, String)> {
        vec![
            ("KIOSK_DATA_DIR", data.display().to_string()),
            ("KIOSK_API_URL", self.base_url()),
            // Typed as a person's phone would: full-width, an ideographic space, a newline.
            (
                "KIOSK_PAIRING_CODE",
                retyped(&self.new_pairing_code(self.project()), true),
            ),
            ("KIOSK_PROJECT", self.project().to_string()),
            ("KIOSK_CAMERA", camera.to_string()),
        ]
    }

    /// The `kiosk` binary's flags for this server and its project, with a one-time pairing
    /// code (used by the first command that talks to the API; a paired data dir ignores it).
    pub fn kiosk_flags(&self) -> Vec<String> {
        vec![
            "--api-url".into(),
            self.base_url(),
            "--pairing-code".into(),
            // Pasted from a document: lower case, en dashes, a line break.
            retyped(&self.new_pairing_code(self.project()), false),
            "--project".into(),
            self.project().to_string(),
        ]
    }

    /// Stops serving (the network is gone for its clients); the database stays for
    /// [`TestServer::restart`].
    pub async fn shutdown(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Starts again on the same address, database and face engine: every state survives,
    /// tokens included.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let running = access_server::start(self.cfg.clone(), self.clock.clone(), self.face.clone())
            .await
            .expect("the test server restarts");
        self.running = Some(running);
    }

    /// While shut down: a new signing key, as `access-server keys rotate` makes it, with every
    /// older key retired at once (tokens they signed stop verifying at the next start).
    pub fn rotate_keys_now(&self) {
        assert!(
            self.running.is_none(),
            "rotate keys while the server is shut down"
        );
        let db = access_server::db::Db::connect(&self.cfg.db).expect("the server's database");
        let db_key = access_server::sealed::DbKey::load(&self.cfg).expect("the database key");
        access_server::auth::Keys::rotate(&db, &db_key, self.clock.now_ms(), 0).expect("a new key");
    }

    /// Shuts down and removes the temp dir it made.
    pub async fn stop(mut self) {
        self.shutdown().await;
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Any request: its status and JSON answer (`Null` when the body is not JSON).
pub async fn request(
    client: &Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut rb = client.request(method, url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url}: {e}"));
    let status = resp.status();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// The error code of an API answer (`<none>` when it has none).
pub fn code_of(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("<none>")
}

/// A kiosk's Ed25519 device key, for tests that act as a kiosk over HTTP: pairing requests,
/// client assertions and signed offline events, built by `access_types::kiosk_identity`.
pub struct DeviceKey(ring::signature::Ed25519KeyPair);

impl DeviceKey {
    pub fn generate() -> Self {
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .expect("an Ed25519 key");
        Self(ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("a key pair"))
    }

    /// The raw public key, 32 bytes.
    pub fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.0.public_key().as_ref().to_vec()
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).as_ref().to_vec()
    }

    /// The body of `POST /kiosks/pair` for `code`.
    pub fn pair_request(&self, code: &str) -> Value {
        use access_types::kiosk_identity as ki;
        let pk = ki::b64(&self.public_key());
        let proof = ki::b64(&self.sign(ki::pairing_proof_text(code, &pk).as_bytes()));
        json!({"code": code, "public_key": pk, "proof": proof})
    }

    /// A fresh client assertion (new `jti`) for `kiosk_id` at `now_s`.
    pub fn assertion(&self, kiosk_id: &str, now_s: i64) -> String {
        let jti = format!("{:x}", rand_u64());
        access_types::kiosk_identity::client_assertion(kiosk_id, now_s, 120, &jti, |m| self.sign(m))
    }

    /// `event` signed as `kiosk_id`'s.
    pub fn sign_event(
        &self,
        kiosk_id: &str,
        mut event: access_types::OfflineEvent,
    ) -> access_types::OfflineEvent {
        event.sign(kiosk_id, |m| self.sign(m));
        event
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    u64::from_le_bytes(b)
}

fn is_pg(db: &Path) -> bool {
    db.to_string_lossy().starts_with("postgres")
}

/// One integer from the database at `db` (an SQLite file or a PostgreSQL URL).
pub fn count_in(db: &Path, sql: &str) -> i64 {
    if is_pg(db) {
        let (url, sql) = (db.to_string_lossy().into_owned(), sql.to_string());
        // Off the test's runtime: the synchronous client starts one of its own.
        return std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            // As BIGINT: PostgreSQL's SUM and the like answer NUMERIC, which is no i64.
            let row = c.query_one(&format!("SELECT CAST(({sql}) AS BIGINT)"), &[])?;
            Ok::<i64, postgres::Error>(row.get(0))
        })
        .join()
        .expect("the query thread")
        .unwrap_or_else(|e| panic!("{e}"));
    }
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The database key file of the test store `db` (servers on one store share it): `<db>.key`
/// beside an SQLite file, as the server's default; for a PostgreSQL database, a file named
/// after it in the temp dir.
pub fn db_key_file(db: &Path) -> PathBuf {
    let s = db.to_string_lossy();
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        let name: String = s
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        std::env::temp_dir()
            .join("access-test-db-keys")
            .join(format!("{name}.key"))
    } else {
        let mut p = db.as_os_str().to_owned();
        p.push(".key");
        p.into()
    }
}

/// A new, empty database on the PostgreSQL at `admin_url` (the suite's throwaway cluster):
/// every test server gets its own, as every SQLite test server gets its own file.
fn fresh_pg_database(admin_url: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        rand_suffix()
    );
    let url = admin_url.to_string();
    let create = name.clone();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
        c.batch_execute(&format!("CREATE DATABASE {create}"))
    })
    .join()
    .expect("the create-database thread")
    .unwrap_or_else(|e| panic!("CREATE DATABASE on {admin_url}: {e}"));
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    PathBuf::from(format!("{base}/{name}"))
}

fn rand_suffix() -> String {
    let mut b = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}
