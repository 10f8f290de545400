//! The console in a real browser: Debian's headless Chromium driven through its chromedriver
//! (W3C WebDriver) against the real server on loopback. An operator is throttled after wrong
//! passwords, signs in, creates a project and a login flow, adds a webhook and sees a delivery,
//! pairs a kiosk with the code the page shows (the real `kiosk pair`), sees it in the list with
//! the version its first sync reported, finds a person with their last sign-in and erases them,
//! revokes the kiosk, mints an API token; a change without the CSRF header is refused.
//! Screenshots of every screen go to `target/console-screens/`.
//!
//! Skipped (with a message) only when chromedriver, the built console or the kiosk program is
//! missing and neither `CI` nor `ACCESS_TEST_STRICT` is set: scripts/test.sh installs
//! chromium-driver (scripts/setup.sh), builds the console and sets `ACCESS_TEST_STRICT`, so
//! there it always runs.

use crate::common::TestServer;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_server::{Clock, operators};
use axum::Router;
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const EMAIL: &str = "operator@example.org";
const PASSWORD: &str = "a long operator passphrase";

/// Ends chromedriver (and so its browser) when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small W3C WebDriver client (the style of tests/src/lib.rs), elements by CSS selector.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    shots: PathBuf,
    shot_n: usize,
    _driver: Driver,
    _profile: PathBuf,
}

impl Browser {
    async fn start(shots: PathBuf) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = crate::common::temp_dir();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--lang=en-US", "--no-first-run", "--disable-extensions",
                         format!("--user-data-dir={}", profile.display())],
            }
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no WebDriver session: {v}"))?
            .to_string();
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots)?;
        Ok(Self {
            http,
            base,
            session,
            shots,
            shot_n: 0,
            _driver: driver,
            _profile: profile,
        })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().map(str::to_string)
    }

    /// The element once present (10 s), else a screenshot and a panic naming it.
    async fn wait(&mut self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(id) = self.find(css).await {
                return id;
            }
            if Instant::now() > deadline {
                self.shot(&format!(
                    "failed-waiting-{}",
                    css.replace(['#', ' ', '.'], "_")
                ))
                .await;
                panic!("{css} never appeared; the page says: {}", self.body().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&mut self, css: &str) {
        let id = self.wait(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn clear_and_type(&mut self, css: &str, text: &str) {
        let id = self.wait(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Keys sent to an element as a keyboard would (`\u{E007}` is Enter).
    async fn keys(&mut self, css: &str, keys: &str) {
        let id = self.wait(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": keys })),
        )
        .await;
    }

    /// Visible controls a screen reader could not name (WCAG 4.1.2), as short HTML.
    async fn unnamed_controls(&self) -> Vec<String> {
        let v = self
            .exec(
                "const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; }; \
                 const byId = id => id ? document.getElementById(id)?.textContent : ''; \
                 const name = e => (e.getAttribute('aria-label') || byId(e.getAttribute('aria-labelledby')) \
                   || (e.labels && e.labels[0] ? e.labels[0].textContent : '') \
                   || (e.tagName === 'INPUT' ? '' : e.textContent) || e.getAttribute('title') || '').trim(); \
                 return [...document.querySelectorAll('button, input, select, textarea, a[href]')] \
                   .filter(e => shown(e) && !name(e)).map(e => e.outerHTML.slice(0, 80));",
            )
            .await;
        v.as_array()
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default()
    }

    /// Text whose contrast with its background is under WCAG AA (4.5:1, 3:1 for large text),
    /// as "text: ratio".
    async fn low_contrast(&self) -> Vec<String> {
        let v = self
            .exec(
                r#"const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
                const lum = ([r, g, b]) => {
                  const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
                  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
                const bg = e => {
                  for (; e; e = e.parentElement) {
                    const c = rgb(getComputedStyle(e).backgroundColor);
                    if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
                  }
                  return [255, 255, 255]; };
                const out = [];
                for (const e of document.querySelectorAll('body *')) {
                  const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
                  const r = e.getBoundingClientRect();
                  if (!own || r.width === 0 || e.disabled || e.closest('.skip')) continue;
                  const s = getComputedStyle(e);
                  const a = lum(rgb(s.color)), b = lum(bg(e));
                  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
                  const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
                  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
                  if (ratio < need) out.push(e.textContent.trim().slice(0, 30) + ': ' + ratio.toFixed(2));
                }
                return out;"#,
            )
            .await;
        v.as_array()
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_else(|| vec![format!("the check failed: {v}")])
    }

    /// Every screen: named controls, AA contrast, and a screenshot.
    async fn screen(&mut self, name: &str) {
        let unnamed = self.unnamed_controls().await;
        assert!(
            unnamed.is_empty(),
            "{name}: controls without a name: {unnamed:?}"
        );
        let faint = self.low_contrast().await;
        assert!(
            faint.is_empty(),
            "{name}: text under AA contrast: {faint:?}"
        );
        self.shot(name).await;
    }

    async fn text(&mut self, css: &str) -> String {
        let id = self.wait(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn body(&self) -> String {
        let v = self.exec("return document.body.innerText").await;
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    }

    /// Waits until the page's text contains `needle` (10 s).
    async fn wait_text(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.body().await.contains(needle) {
            if Instant::now() > deadline {
                self.shot("failed-waiting-text").await;
                panic!(
                    "{needle:?} never shown; the page says: {}",
                    self.body().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn exec(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn exec_async(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn shot(&mut self, name: &str) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        self.shot_n += 1;
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(png) = v
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        {
            let _ = std::fs::write(
                self.shots.join(format!("{:02}-{name}.png", self.shot_n)),
                png,
            );
        }
    }

    async fn quit(self) {
        self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}

/// Counts the webhook deliveries it answers 200 to.
async fn spawn_receiver() -> (String, Arc<Mutex<usize>>) {
    let seen = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let s = s.clone();
            async move {
                *s.lock().unwrap() += 1;
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/hook"), seen)
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// Two workers: the kiosk program is run blocking while the server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_a_site_from_the_console_in_a_real_browser() {
    // scripts/test.sh sets ACCESS_TEST_STRICT: there nothing may be skipped.
    let ci = std::env::var_os("CI").is_some() || std::env::var_os("ACCESS_TEST_STRICT").is_some();
    let kiosk_bin = crate::common::workspace_bin("kiosk");
    let missing = if !std::path::Path::new(CHROMEDRIVER).exists() {
        Some("chromedriver is not installed (scripts/setup.sh installs chromium-driver)")
    } else if !access_server::console::built() {
        Some("the console is not built (cd console && npm ci && npm run build)")
    } else if !kiosk_bin.exists() {
        Some("the kiosk program is not built (cargo build -p kiosk-cli)")
    } else {
        None
    };
    if let Some(why) = missing {
        assert!(!ci, "CI must run the console's browser test: {why}");
        eprintln!("SKIPPED the console's browser test: {why}");
        return;
    }
    let started = Instant::now();
    // The fake face engines: the flow screen shows what its face targets give.
    let t = TestServer::builder()
        .vision(crate::common::Vision::Fake(crate::common::FakeFaces::new()))
        .start()
        .await;
    let hash = operators::hash_password(PASSWORD).unwrap();
    let now = t.clock.now_ms();
    t.server()
        .state
        .db
        .blocking_tx(|c| operators::add(c, EMAIL, &hash, now))
        .unwrap();
    let console = format!("http://{}/console/", t.addr());
    let mut b = Browser::start(workspace().join("target/console-screens"))
        .await
        .expect("chromedriver starts a headless Chromium");

    // Sign-in: wrong passwords are refused in words, then throttled.
    b.go(&console).await;
    b.wait("#signin-email").await;
    b.screen("sign-in").await;
    let failures = || {
        t.count(&format!(
            "SELECT COALESCE(MAX(failures), 0) FROM login_throttle WHERE key LIKE 'acct:{EMAIL}|%'"
        ))
    };
    b.clear_and_type("#signin-email", EMAIL).await;
    b.clear_and_type("#signin-password", "not my password")
        .await;
    for n in 1..=3 {
        b.click("#signin-submit").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while failures() < n {
            assert!(Instant::now() < deadline, "failure {n} not counted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        b.wait_text("Wrong email or password.").await;
    }
    b.clear_and_type("#signin-password", PASSWORD).await;
    b.click("#signin-submit").await;
    b.wait_text("Too many tries").await;
    b.screen("sign-in-throttled").await;
    t.clock.advance_ms(1_500);
    // By keyboard: Enter in the password field submits.
    b.keys("#signin-password", "\u{E007}").await;
    b.wait("#nav-projects").await;

    // A project.
    b.clear_and_type("#project-name", "Head office").await;
    b.clear_and_type("#project-description", "Front door").await;
    b.click("#project-create").await;
    b.wait_text("Project created.").await;
    b.screen("projects").await;
    let project: String = t
        .server()
        .state
        .db
        .blocking(|c| Ok(c.query_row("SELECT id FROM projects", [], |r| r.get(0))?))
        .unwrap();

    // A login flow: email and face, only listed people.
    b.click("#nav-flows").await;
    b.clear_and_type("#flow-new-name", "Front door").await;
    b.click("#flow-create").await;
    b.wait("#flow-edit").await;
    b.click("#flow-face").await;
    b.click("input[name=security-mode][value=whitelist]").await;
    b.clear_and_type("#flow-identifiers", "ana@example.org\nvisitor-1")
        .await;
    b.click("#flow-save").await;
    b.wait_text("Saved.").await;
    // The face targets in words, for the gallery the project has (nobody yet).
    b.wait("#flow-rates-summary").await;
    let rates = b.text("#flow-rates-summary").await;
    assert!(rates.contains("With 0 people enrolled"), "{rates}");
    b.screen("login-flow").await;
    let (face, security): (bool, String) = t
        .server()
        .state
        .db
        .blocking(|c| {
            Ok(
                c.query_row("SELECT login_json, security_json FROM flows", [], |r| {
                    let l: String = r.get(0)?;
                    let s: String = r.get(1)?;
                    let l: Value = serde_json::from_str(&l).unwrap();
                    Ok((l["face"].as_bool().unwrap_or(false), s))
                })?,
            )
        })
        .unwrap();
    assert!(face);
    assert!(
        security.contains("whitelist") && security.contains("visitor-1"),
        "{security}"
    );

    // A webhook: the secret shown once; a sign-in code sent makes a delivery the page shows.
    let (hook_url, seen) = spawn_receiver().await;
    b.click("#nav-webhooks").await;
    b.clear_and_type("#webhook-url", &hook_url).await;
    b.click("#webhook-create").await;
    let secret = b.text("#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    b.screen("webhook-created").await;
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.admin,
            json!({"email": "ana@example.org", "project_id": project}),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while *seen.lock().unwrap() == 0 {
        assert!(Instant::now() < deadline, "no webhook delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.click("button.deliveries").await;
    b.wait("#delivery-list").await;
    b.wait_text("Delivered").await;
    b.screen("webhook-deliveries").await;

    // Pair a kiosk with the code the page shows, as `kiosk pair --code` does over HTTP.
    b.click("#nav-kiosks").await;
    b.clear_and_type("#kiosk-name", "Lobby kiosk").await;
    b.click("#kiosk-pair").await;
    let code = b.text("#pairing-code").await;
    let qr = b
        .exec("return document.querySelector('.pairing img')?.naturalWidth ?? 0")
        .await;
    assert!(qr.as_u64().unwrap_or(0) > 50, "a QR code image: {qr}");
    b.screen("kiosk-pairing-code").await;
    // The real kiosk program pairs with it, then reports its version in a sync round.
    let kiosk_data = crate::common::temp_dir();
    let kiosk = |args: &[&str]| {
        let out = Command::new(&kiosk_bin)
            .env_remove("KIOSK_API_URL")
            .env_remove("KIOSK_TOKEN")
            .env_remove("KIOSK_PROJECT")
            .env_remove("KIOSK_PAIRING_CODE")
            .env("XDG_CONFIG_HOME", kiosk_data.join("no-config"))
            .arg("--data-dir")
            .arg(&kiosk_data)
            .args(["--api-url", &t.base_url()])
            .args(args)
            .output()
            .expect("run the kiosk program");
        assert!(
            out.status.success(),
            "kiosk {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("the kiosk answers in JSON")
    };
    let paired = kiosk(&["pair", "--code", &code]);
    let kiosk_id = paired["kiosk_id"].as_str().unwrap().to_string();
    assert_eq!(paired["project_id"], project.as_str(), "{paired}");
    kiosk(&["sync", "--once"]);
    b.click("#kiosk-refresh").await;
    b.wait(&format!("tr[data-kiosk='{kiosk_id}']")).await;
    b.wait_text("Lobby kiosk").await;
    b.wait_text(env!("CARGO_PKG_VERSION")).await;
    b.screen("kiosks").await;

    // A person enrolled at a kiosk, found and erased with confirmation.
    t.server()
        .state
        .db
        .blocking(|c| {
            c.execute(
                "INSERT INTO templates(id, project_id, user_id, model_id, embedding, created_at, rev)
                 VALUES ('tpl_1', ?1, 'visitor-1', 'test', ?3, ?2, 1),
                        ('tpl_2', ?1, 'visitor-1', 'test', ?3, ?2, 2)",
                rusqlite::params![project, now, vec![0u8]],
            )?;
            // ... who signed in at 09:30 UTC on 2 March 2026.
            c.execute(
                "INSERT INTO validations(id, kind, identifier, project_id, flow_id, status,
                   attempts, max_attempts, expires_at, created_at, updated_at, validated_at,
                   matched_user)
                 VALUES ('val_v1', 'biometric', 'visitor-1', ?1, 'flow', 'validated', 1, 3,
                   ?2, ?2, ?2, ?2, 'visitor-1')",
                rusqlite::params![project, 1_772_443_800_000i64],
            )?;
            // As the face validation records it (validation.rs): the person's last sign-in.
            access_server::activity::record_sign_in(
                c,
                &project,
                "visitor-1",
                1_772_443_800_000,
            )?;
            Ok(())
        })
        .unwrap();
    b.click("#nav-people").await;
    b.clear_and_type("#people-search", "visitor").await;
    b.wait("#people-list").await;
    let last = b.text("#people-list td.last-sign-in").await;
    assert!(last.contains("2026"), "the last sign-in shown: {last}");
    b.screen("people").await;
    b.click("button.erase").await;
    b.wait("#erase-confirm").await;
    b.screen("people-erase-confirm").await;
    b.click("#erase-confirm").await;
    b.wait_text("visitor-1 was erased (2 samples).").await;
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE deleted_at IS NULL"),
        0
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM erasures WHERE actor = 'operator:operator@example.org'"),
        1
    );

    // Revoke the kiosk.
    b.click("#nav-kiosks").await;
    b.click("button.revoke").await;
    b.click("#revoke-confirm").await;
    b.wait_text("Revoked").await;
    b.screen("kiosk-revoked").await;
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM kiosks WHERE id = '{kiosk_id}' AND revoked_at IS NOT NULL"
        )),
        1
    );

    // A scoped API token for an integration, shown once.
    b.click("#nav-tokens").await;
    b.clear_and_type("#token-subject", "prometheus").await;
    b.clear_and_type("#token-password", PASSWORD).await;
    b.click("#token-create").await;
    let token = b.text("#token-value").await;
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    b.screen("api-tokens").await;

    b.click("#nav-validations").await;
    b.wait("#validation-list").await;
    b.wait_text("ana@example.org").await;
    b.screen("validations").await;
    b.click("#nav-audit").await;
    b.wait("#audit-list").await;
    b.wait_text("DELETE /v2/access/users/visitor-1").await;
    b.screen("audit-log").await;
    b.click("#nav-account").await;
    b.wait("#totp-start").await;
    b.screen("account").await;

    // Spanish.
    b.exec("const s = document.getElementById('lang'); s.value = 'es'; s.dispatchEvent(new Event('change', {bubbles: true}))")
        .await;
    b.wait_text("Registro de auditoría").await;
    b.click("#nav-kiosks").await;
    b.wait_text("Quioscos").await;
    b.screen("kiosks-es").await;

    // A change made with the session cookie but without the CSRF header is refused.
    let refused = b
        .exec_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/v2/access/projects', {method: 'POST', credentials: 'same-origin', \
               headers: {'Content-Type': 'application/json'}, \
               body: JSON.stringify({name: 'forged', description: ''})}) \
             .then(r => r.json().then(v => done({status: r.status, v})));",
        )
        .await;
    assert_eq!(refused["status"], 403, "{refused}");
    assert_eq!(refused["v"]["details"]["reason"], "csrf", "{refused}");
    assert_eq!(t.count("SELECT COUNT(*) FROM projects"), 1);

    // Sign out: the page is back at sign-in and the session is gone.
    b.click("#signout").await;
    b.wait("#signin-email").await;
    assert_eq!(t.count("SELECT COUNT(*) FROM operator_sessions"), 0);
    b.quit().await;
    eprintln!("console browser test: {:?}", started.elapsed());
    t.stop().await;
}
