//! Harness for the app's end-to-end tests: an X server (Xvfb), the real access-server with a
//! seeded project (`test_support::TestServer`), tauri-driver launching the real app binary,
//! and a small W3C WebDriver client. Screenshots of every screen visited go to
//! `target/e2e-screens/<test>/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};
pub use test_support::{TestServer, faces_dir, workspace};

/// The server a kiosk talks to (real models, a project offering every method) with `obama`
/// enrolled (three photos), as if at another site.
pub async fn server_knowing_obama() -> TestServer {
    let server = TestServer::for_kiosks().await;
    server
        .enrol_at_server(
            "obama",
            &[
                "face_recognition_examples/obama/obama.jpg",
                "face_recognition_examples/obama/obama1.jpg",
                "face_recognition_examples/obama/obama3.jpg",
            ],
        )
        .await;
    server
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when dropped (Xvfb, tauri-driver).
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first so Xvfb removes its lock file; then for sure.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A display whose lock names a process that is gone (killed before it cleaned up) is free.
fn display_free(n: u32) -> bool {
    let lock = format!("/tmp/.X{n}-lock");
    match std::fs::read_to_string(&lock) {
        Err(_) => !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists(),
        Ok(pid) => {
            let alive = Path::new(&format!("/proc/{}", pid.trim())).exists();
            if !alive {
                let _ = std::fs::remove_file(&lock);
                let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{n}"));
            }
            !alive
        }
    }
}

/// A private X display for this test, `size` pixels (`"1280x800"`).
pub fn xvfb(size: &str) -> anyhow::Result<(Guard, String)> {
    for n in 90..140 {
        if !display_free(n) {
            continue;
        }
        let child = Command::new("Xvfb")
            .args([
                format!(":{n}"),
                "-screen".into(),
                "0".into(),
                format!("{size}x24"),
                "-nolisten".into(),
                "tcp".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (scripts/setup.sh installs it)")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return Ok((Guard(child), format!(":{n}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("Xvfb :{n} did not start");
    }
    bail!("no free X display")
}

/// The app under test, driven through tauri-driver.
pub struct App {
    http: reqwest::Client,
    base: String,
    session: String,
    shots: PathBuf,
    shot_n: usize,
    /// When the session (and so the app process) was requested: the start of a cold start.
    pub launched_at: Instant,
    /// The app's own log file (in its data dir), quoted when a wait fails.
    log: Option<PathBuf>,
    _driver: Guard,
    _x: Guard,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl App {
    /// Launches the app with `env` (KIOSK_* settings) in a 1280x800 window on a fresh display.
    pub async fn launch(test: &str, env: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::launch_on("1280x800", test, env).await
    }

    /// Launches the app on a fresh display of `screen` pixels (`"1024x768"`).
    pub async fn launch_on(
        screen: &str,
        test: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let app = workspace().join("target/debug/access-kiosk");
        Self::launch_binary(&app, screen, test, env).await
    }

    /// Launches the app binary at `app` (an installed copy, say).
    pub async fn launch_binary(
        app: &Path,
        screen: &str,
        test: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let (x, display) = xvfb(screen)?;
        let port = free_port();
        let native = free_port();
        let driver_bin = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("tauri-driver"));
        let mut cmd = Command::new(driver_bin);
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("DISPLAY", &display)
        .env("KIOSK_WINDOWED", "1")
        // Xvfb has no GPU, and with the app's default (DMABUF off) WebKitWebDriver's screenshots
        // never return; the renderer choice itself is unit-tested in src-tauri.
        .env("KIOSK_WEBKIT_DMABUF", "1")
        .stdout(Stdio::null());
        // The app's own log (it inherits the driver's stderr) when E2E_VERBOSE is set.
        if std::env::var_os("E2E_VERBOSE").is_none() {
            cmd.stderr(Stdio::null());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let driver = Guard(
            cmd.spawn()
                .context("starting tauri-driver (scripts/setup.sh installs it)")?,
        );
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            if Instant::now() > deadline {
                bail!("tauri-driver did not listen on {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps =
            json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}});
        let launched_at = Instant::now();
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = v["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {v}"))?
            .to_string();
        let shots = workspace().join("target/e2e-screens").join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots)?;
        Ok(Self {
            http,
            base,
            session,
            shots,
            shot_n: 0,
            launched_at,
            log: env
                .iter()
                .find(|(k, _)| *k == "KIOSK_DATA_DIR")
                .map(|(_, v)| PathBuf::from(v).join("kiosk.log")),
            _driver: driver,
            _x: x,
        })
    }

    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await?.json().await?;
        if let Some(err) = v["value"].get("error") {
            bail!("webdriver {path}: {err} {}", v["value"]["message"]);
        }
        Ok(v["value"].clone())
    }

    async fn find(&self, testid: &str) -> anyhow::Result<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": format!("[data-testid=\"{testid}\"]")})),
            )
            .await?;
        Ok(v[ELEMENT].as_str().context("element id")?.to_string())
    }

    /// Waits for an element to be present (and returns its id).
    pub async fn wait(&self, testid: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(testid).await {
                Ok(id) => return Ok(id),
                Err(e) if Instant::now() > deadline => {
                    // What the screen showed instead, for whoever reads the failure.
                    let _ = self.save_png(&format!("failed-waiting-for-{testid}")).await;
                    return Err(e.context(format!(
                        "waiting for {testid}; the app's log ends:\n{}",
                        self.log_tail(30)
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Runs `script` in the page; it ends by calling its last argument with the result.
    pub async fn execute_async(&self, script: &str) -> anyhow::Result<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn execute(&self, script: &str) -> anyhow::Result<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Types `keys` (WebDriver key codes allowed, e.g. `\u{E004}` for Tab) into whatever has
    /// the focus, as a physical keyboard would.
    pub async fn press(&self, keys: &str) -> anyhow::Result<()> {
        let v = self
            .cmd(reqwest::Method::GET, "/element/active", None)
            .await?;
        let id = v[ELEMENT]
            .as_str()
            .context("no focused element")?
            .to_string();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": keys })),
        )
        .await?;
        Ok(())
    }

    /// The data-testid of the focused element ("" when it has none).
    pub async fn focused(&self) -> anyhow::Result<String> {
        let v = self
            .execute("return document.activeElement?.getAttribute('data-testid') ?? ''")
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Whether the page fits its viewport: nothing wider than the window, nothing cut off
    /// below it, and no element overflowing its own box horizontally.
    pub async fn layout_fits(&self) -> anyhow::Result<Result<(), String>> {
        let v = self
            .execute(
                "const d = document.documentElement; \
                 const wide = [...document.querySelectorAll('body *')].filter(e => { \
                   const r = e.getBoundingClientRect(); \
                   return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1); }) \
                   .map(e => e.getAttribute('data-testid') || e.className || e.tagName).slice(0, 5); \
                 return {w: innerWidth, h: innerHeight, sw: d.scrollWidth, sh: d.scrollHeight, wide};",
            )
            .await?;
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        let wide = v["wide"].as_array().map_or(0, Vec::len);
        Ok(if n("sw") > n("w") || n("sh") > n("h") || wide > 0 {
            Err(format!("does not fit: {v}"))
        } else {
            Ok(())
        })
    }

    /// Controls a screen reader could not name, and touch targets smaller than 44x44 CSS px
    /// (WCAG 2.5.5), as "testid: what is wrong".
    pub async fn accessibility_issues(&self) -> anyhow::Result<Vec<String>> {
        let v = self
            .execute(
                "const shown = e => { const r = e.getBoundingClientRect(); \
                   return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; }; \
                 const byId = id => id ? document.getElementById(id)?.textContent : ''; \
                 const name = e => (e.getAttribute('aria-label') || byId(e.getAttribute('aria-labelledby')) \
                   || (e.labels && e.labels[0] ? e.labels[0].textContent : '') || e.textContent \
                   || e.getAttribute('title') || '').trim(); \
                 const who = e => e.getAttribute('data-testid') || e.outerHTML.slice(0, 60); \
                 const out = []; \
                 for (const e of document.querySelectorAll('button, input, select, textarea, a[href], [role=button]')) { \
                   if (!shown(e)) continue; \
                   if (!name(e)) out.push(who(e) + ': no accessible name'); \
                   const r = e.getBoundingClientRect(); \
                   if (r.width < 44 || r.height < 44) out.push(who(e) + ': ' + Math.round(r.width) + 'x' + Math.round(r.height) + ' px'); \
                 } \
                 return out;",
            )
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The last lines of the app's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn exists(&self, testid: &str) -> bool {
        self.find(testid).await.is_ok()
    }

    /// Clicks an element once it is enabled: a click on a disabled button does nothing and
    /// reports no error (the face screen's button waits for the first camera frame).
    pub async fn click(&self, testid: &str) -> anyhow::Result<()> {
        let id = self.wait(testid, Duration::from_secs(10)).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{id}/enabled"),
                None,
            )
            .await?
            != Value::Bool(true)
        {
            if Instant::now() > deadline {
                bail!("{testid} stayed disabled");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    pub async fn type_into(&self, testid: &str, text: &str) -> anyhow::Result<()> {
        let id = self.wait(testid, Duration::from_secs(10)).await?;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await?;
        Ok(())
    }

    pub async fn text(&self, testid: &str) -> anyhow::Result<String> {
        let id = self.wait(testid, Duration::from_secs(10)).await?;
        let v = self
            .cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn attribute(&self, testid: &str, name: &str) -> anyhow::Result<String> {
        let id = self.wait(testid, Duration::from_secs(10)).await?;
        let v = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{id}/attribute/{name}"),
                None,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Saves a PNG of the window as `NN-name.png`, after letting the UI settle.
    pub async fn screenshot(&mut self, name: &str) -> anyhow::Result<PathBuf> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        self.shot_n += 1;
        self.save_png(&format!("{:02}-{name}", self.shot_n)).await
    }

    async fn save_png(&self, file_stem: &str) -> anyhow::Result<PathBuf> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().context("png")?)?;
        let path = self.shots.join(format!("{file_stem}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn quit(self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}
