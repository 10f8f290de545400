//! The `access-server` binary: `token` prints a usable JWT; `serve` reads a TOML config,
//! answers on loopback and shuts down gracefully on SIGTERM.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::{Method, StatusCode};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_access-server");

/// POSTs `body` to `base` + `path` with `token`; the status and the JSON answer.
async fn post_json(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    common::request(
        c,
        Method::POST,
        &format!("{base}{path}"),
        Some(token),
        Some(body),
    )
    .await
}

/// The address a `serve` child prints on its first line of stdout.
pub(crate) fn listening_addr(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string()
}

#[tokio::test]
async fn token_command_and_serve_with_config_file() {
    let dir = common::temp_dir();
    let db = dir.join("cli.db");
    let out = Command::new(BIN)
        .args([
            "token",
            "--create",
            "--db",
            db.to_str().unwrap(),
            "--subject",
            "ops",
            "--scope",
            "admin",
            "--ttl",
            "1h",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(token.split('.').count(), 3);
    // A mistyped --db is an error with its code on one line, and creates nothing.
    let typo = dir.join("clii.db");
    let out = Command::new(BIN)
        .args(["token", "--db", typo.to_str().unwrap(), "--subject", "x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
    assert!(
        stderr.starts_with("error [NO_DATABASE]: no database at "),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!typo.exists());
    let bad = Command::new(BIN)
        .args([
            "token",
            "--db",
            db.to_str().unwrap(),
            "--subject",
            "x",
            "--scope",
            "root",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let bad = Command::new(BIN)
        .args([
            "token",
            "--db",
            db.to_str().unwrap(),
            "--subject",
            "x",
            "--scope",
            "kiosk",
            "--ttl",
            "soon",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    // Kiosk tokens come from pairing only; an admin token lives at most 30 days (config).
    for args in [
        ["--scope", "kiosk", "--ttl", "1h"],
        ["--scope", "admin", "--ttl", "36500d"],
        ["--scope", "admin", "--ttl", "31d"],
    ] {
        let out = Command::new(BIN)
            .args(["token", "--db", db.to_str().unwrap(), "--subject", "x"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stdout.is_empty(), "{args:?} printed a token");
    }

    let cfg = dir.join("server.toml");
    std::fs::write(
        &cfg,
        format!(
            "addr = \"127.0.0.1:0\"\ndb = \"{}\"\ndev_outbox = true\n[vision]\nenabled = false\n",
            db.display()
        ),
    )
    .unwrap();
    let log_path = dir.join("server.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    let base = format!("http://{addr}/v2/access");
    let c = reqwest::Client::new();
    // The token minted offline works against the served database.
    let r = c
        .get(format!("{base}/projects"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(format!("{base}/dev/outbox?to=a%40b.co"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "dev_outbox from the config file"
    );

    // A full OTP login through the binary, to check the log afterwards.
    let post =
        |path: &'static str, body: serde_json::Value| post_json(&c, &base, &token, path, body);
    let (_, p) = post("/projects", serde_json::json!({"name": "log"})).await;
    let pid = p["data"]["id"].as_str().unwrap().to_string();
    post(
        "/project-flows",
        serde_json::json!({"project_id": pid, "type": "login", "status": "active"}),
    )
    .await;
    let (s, v) = post(
        "/email/send-otp",
        serde_json::json!({"email": "log@example.com", "project_id": pid}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let r = c
        .get(format!("{base}/dev/outbox?to=log%40example.com"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let outbox: serde_json::Value = r.json().await.unwrap();
    let code = outbox["data"]["messages"][0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = post(
        "/email/verify-otp",
        serde_json::json!({"email": "log@example.com", "otp": code, "validation_id": vid}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let access = v["data"]["access_token"].as_str().unwrap().to_string();

    // SIGTERM: graceful exit with status 0.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");

    // Even at debug level, no code, token or signature material reaches the log.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("/v2/access/email/verify-otp"),
        "requests are logged: {log}"
    );
    for (what, secret) in [
        ("otp", code.as_str()),
        ("api token", &token),
        ("access token", &access),
    ] {
        assert!(!log.contains(secret), "{what} leaked into the log");
    }
    let sig = token.rsplit('.').next().unwrap();
    assert!(!log.contains(sig));
    assert!(!log.contains("sign-in code"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `access-server serve` configured by its environment only, on `db` (a file or a URL): any
/// port on loopback, the dev outbox on, no vision. The child and its address.
pub(crate) fn serve_by_env(db: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("ACCESS_ADDR", "127.0.0.1:0")
        .env("ACCESS_DB", db)
        .env("ACCESS_DB_KEY_FILE", test_support::server::db_key_file(db))
        .env("ACCESS_DEV_OUTBOX", "true")
        .env("ACCESS_NO_VISION", "true")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    (child, addr)
}

#[tokio::test]
async fn serve_reads_env_vars() {
    let dir = common::temp_dir();
    let db = dir.join("env.db");
    let (mut child, addr) = serve_by_env(&db);
    let out = Command::new(BIN)
        .args(["token", "--subject", "e"])
        .env("ACCESS_DB", &db)
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let c = reqwest::Client::new();
    let r = c
        .get(format!("http://{addr}/v2/access/healthz"))
        .send()
        .await
        .unwrap();
    let h: serde_json::Value = r.json().await.unwrap();
    assert_eq!(h["data"]["vision"], "disabled");
    let r = c
        .get(format!("http://{addr}/v2/access/dev/outbox?to=x%40y.zz"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(format!("http://{addr}/v2/access/projects"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "an admin token");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cut-short ONNX Runtime (an interrupted copy) used to kill the server with SIGBUS as the
/// models loaded. Now it serves without vision: codes work, faces answer 503.
#[tokio::test]
async fn serve_starts_without_vision_on_a_cut_short_runtime() {
    let dir = common::temp_dir();
    let real = vision::runtime::resolved_ort_library(&vision::RuntimeConfig::default())
        .expect("setup installs ONNX Runtime");
    let lib = std::fs::read(real).unwrap();
    let cut = dir.join("libonnxruntime.so.1.32.0");
    std::fs::write(&cut, &lib[..lib.len() / 2]).unwrap();
    let db = dir.join("cut.db");
    let out = Command::new(BIN)
        .args([
            "token",
            "--create",
            "--db",
            db.to_str().unwrap(),
            "--subject",
            "ops",
            "--scope",
            "admin",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let cfg = dir.join("server.toml");
    std::fs::write(
        &cfg,
        format!(
            "addr = \"127.0.0.1:0\"\ndb = \"{}\"\ndev_outbox = true\n[vision]\nenabled = true\nort_library = \"{}\"\n",
            db.display(),
            cut.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    let base = format!("http://{addr}/v2/access");
    let c = reqwest::Client::new();
    let mut vision = String::new();
    for _ in 0..100 {
        let h: serde_json::Value = c
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        vision = h["data"]["vision"].as_str().unwrap_or("").to_string();
        if vision != "loading" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(vision, "unavailable");
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    let post =
        |path: &'static str, body: serde_json::Value| post_json(&c, &base, &token, path, body);
    let (_, p) = post("/projects", serde_json::json!({"name": "cut"})).await;
    let pid = p["data"]["id"].as_str().unwrap().to_string();
    post(
        "/project-flows",
        serde_json::json!({"project_id": pid, "type": "login", "status": "active", "login": {"email": true, "face": true}}),
    )
    .await;
    let (s, v) = post(
        "/email/send-otp",
        serde_json::json!({"email": "a@example.com", "project_id": pid}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = post(
        "/biometric/verify-face",
        serde_json::json!({"project_id": pid, "face_image": "aGVsbG8="}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("VISION_UNAVAILABLE")),
        "{v}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_closed_stdout_ends_the_commands_quietly() {
    let dir = common::temp_dir();
    let db = dir.join("pipe.db");
    let runs: [(&str, Vec<&str>); 3] = [
        (
            BIN,
            vec![
                "token",
                "--create",
                "--db",
                db.to_str().unwrap(),
                "--subject",
                "ops",
                "--scope",
                "admin",
            ],
        ),
        (BIN, vec!["--help"]),
        (
            env!("CARGO_BIN_EXE_access-loadgen"),
            vec![
                "--requests",
                "20",
                "--connections",
                "2",
                "--max-seconds",
                "5",
            ],
        ),
    ];
    for (bin, args) in runs {
        let mut cmd = Command::new(bin);
        cmd.args(&args);
        test_support::assert_quiet_on_closed_stdout(cmd);
    }
}

#[test]
fn the_database_is_private_and_an_exposed_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::temp_dir();
    let db = dir.join("modes.db");
    let token = |db: &std::path::Path| {
        Command::new(BIN)
            .args([
                "token",
                "--create",
                "--db",
                db.to_str().unwrap(),
                "--subject",
                "ops",
                "--scope",
                "admin",
            ])
            .output()
            .unwrap()
    };
    assert!(token(&db).status.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    for (file, m) in [("modes.db", 0o644), ("modes.db-wal", 0o604)] {
        let p = dir.join(file);
        if !p.exists() {
            std::fs::write(&p, b"").unwrap();
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        let out = token(&db);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} {m:o}: served anyway");
        assert!(out.stdout.is_empty(), "{file}: a token was minted");
        assert!(stderr.contains("chmod 600"), "{stderr}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(token(&db).status.success());
}

/// `serve` on a fresh database with `extra` TOML lines; the child and its address.
fn serve_with(dir: &std::path::Path, extra: &str) -> (std::process::Child, String) {
    let cfg = dir.join("edges.toml");
    std::fs::write(
        &cfg,
        format!(
            "addr = \"127.0.0.1:0\"\ndb = \"{}\"\n{extra}\n[vision]\nenabled = false\n",
            dir.join("edges.db").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    (child, addr)
}

/// Reads until the server closes the connection; how long that took (None: still open at
/// `limit`).
fn closed_within(
    s: &mut std::net::TcpStream,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    use std::io::Read;
    let start = std::time::Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed());
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn stalled_clients_are_closed_and_the_connection_cap_holds() {
    use std::io::Write;
    use std::time::Duration;
    let dir = common::temp_dir();
    let out = Command::new(BIN)
        .args([
            "token",
            "--create",
            "--db",
            dir.join("edges.db").to_str().unwrap(),
            "--subject",
            "k",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (mut child, addr) = serve_with(
        &dir,
        "header_timeout_ms = 1000\nrequest_timeout_ms = 1200\nmax_connections = 8",
    );
    // Half-sent headers (slow loris): every one closed after the header timeout.
    let mut stalled: Vec<std::net::TcpStream> = (0..6)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Silent ones, and a partial HTTP/2 preface: closed too (no version sniffing waits on
    // them without a clock).
    stalled.push(std::net::TcpStream::connect(&addr).unwrap());
    let mut preface = std::net::TcpStream::connect(&addr).unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    stalled.push(preface);
    for s in &mut stalled {
        let t = closed_within(s, Duration::from_secs(5)).expect("a stalled client was held open");
        assert!(t < Duration::from_secs(3), "closed after {t:?}");
    }
    // A body that never completes: answered 408 in the API's envelope.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(
        format!(
            "POST /v2/access/email/send-otp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\":"
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    // The server closes a connection's socket a moment before its task gives back the slot:
    // let the closed ones' slots come back before counting to the cap.
    drop(s);
    drop(stalled);
    std::thread::sleep(Duration::from_millis(300));
    // Over the cap: eight held connections, the ninth is closed at once.
    let held: Vec<_> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = std::net::TcpStream::connect(&addr).unwrap();
    // Well under the 1 s header timeout that would close an admitted one (room for a loaded
    // machine).
    let t = closed_within(&mut extra, Duration::from_millis(800)).expect("the cap let a ninth in");
    assert!(t < Duration::from_millis(800));
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn sigterm_with_an_idle_keep_alive_exits_at_once_and_checkpoints() {
    use std::io::{Read, Write};
    let dir = common::temp_dir();
    let (mut child, addr) = serve_with(&dir, "");
    // `systemctl reload` (SIGHUP) on a server without TLS: logged, not the end of it.
    assert!(
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended the server"
    );
    // One request on a keep-alive connection, answered, then left idle.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let start = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let took = start.elapsed();
    println!("SIGTERM with an idle keep-alive: exited in {took:?}");
    assert!(status.success(), "{status:?}");
    assert!(took < std::time::Duration::from_secs(5), "waited {took:?}");
    // The WAL was folded back into the database.
    let wal = dir.join("edges.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the WAL was not checkpointed"
    );
    drop(s);
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".into()])
        .unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// A client that trusts `cert_pem` alone and keeps no connection between requests.
fn trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_serves_with_hsts_and_a_sighup_reloads_the_certificate() {
    let dir = common::temp_dir();
    let (cert_a, key_a) = self_signed();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &cert_a).unwrap();
    std::fs::write(&key, &key_a).unwrap();
    let (mut child, addr) = serve_with(
        &dir,
        &format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nhsts_max_age_s = 600",
            cert.display(),
            key.display()
        ),
    );
    let url = format!("https://{addr}/readyz");
    let r = trusting(&cert_a)
        .get(&url)
        .send()
        .await
        .expect("HTTPS with certificate A");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=600");
    // Plain HTTP on the HTTPS port gets no answer.
    assert!(reqwest::get(format!("http://{addr}/readyz")).await.is_err());

    // A renewal: new files, then SIGHUP; new connections get certificate B.
    let (cert_b, key_b) = self_signed();
    std::fs::write(&cert, &cert_b).unwrap();
    std::fs::write(&key, &key_b).unwrap();
    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        )
    };
    hup(child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while trusting(&cert_b).get(&url).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "certificate B never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(trusting(&cert_a).get(&url).send().await.is_err());

    // A broken renewal keeps the certificate being served, and the process.
    std::fs::write(&cert, "not a certificate").unwrap();
    hup(child.id());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = trusting(&cert_b)
        .get(&url)
        .send()
        .await
        .expect("still certificate B");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_missing_certificate_stops_serve_with_its_path() {
    let dir = common::temp_dir();
    let cfg = dir.join("tls.toml");
    std::fs::write(
        &cfg,
        format!(
            "addr = \"127.0.0.1:0\"\ndb = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n[vision]\nenabled = false\n",
            dir.join("t.db").display(),
            dir.join("nowhere.pem").display(),
            dir.join("key.pem").display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere.pem"), "{err}");
}
