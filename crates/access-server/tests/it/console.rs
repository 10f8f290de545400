//! The console's operators over HTTP on loopback: sign-in, the session cookie's flags, CSRF,
//! throttling, idle and absolute timeouts, logout, TOTP; the session as an admin credential on
//! the REST routes; the audit log; the console's page headers; `access-server admins`.

use crate::common::TestServer;

use access_server::Clock;
use access_server::operators;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const EMAIL: &str = "ana@example.org";
const PASSWORD: &str = "correct horse battery staple";

/// Adds an operator straight in the store, as `access-server admins add` does.
fn add_operator(t: &TestServer, email: &str, password: &str) {
    let hash = operators::hash_password(password).expect("a hash");
    let now = t.clock.now_ms();
    t.server()
        .state
        .db
        .blocking_tx(|c| operators::add(c, email, &hash, now))
        .expect("the operator is added");
}

fn console_url(t: &TestServer, path: &str) -> String {
    format!("http://{}/console/api{path}", t.addr())
}

/// A signed-in browser, as far as the server can tell: the cookie and the CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
    set_cookie: String,
}

async fn login_raw(t: &TestServer, body: Value) -> reqwest::Response {
    t.client
        .post(console_url(t, "/login"))
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

async fn sign_in(t: &TestServer, email: &str, password: &str) -> Browser {
    let r = login_raw(t, json!({"email": email, "password": password})).await;
    assert_eq!(r.status(), StatusCode::OK);
    browser_from(r).await
}

async fn browser_from(r: reqwest::Response) -> Browser {
    let set_cookie = r
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    Browser {
        cookie,
        csrf: v["data"]["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .into(),
        set_cookie,
    }
}

/// A request as the console makes it: the cookie, and the CSRF header when `csrf` is given.
async fn send(
    t: &TestServer,
    method: Method,
    url: &str,
    b: &Browser,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = t
        .client
        .request(method, url)
        .header(COOKIE, b.cookie.as_str());
    if let Some(c) = csrf {
        req = req.header("X-CSRF-Token", c);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.expect("the server answers");
    let status = r.status();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

async fn me(t: &TestServer, b: &Browser) -> StatusCode {
    send(t, Method::GET, &console_url(t, "/me"), b, None, None)
        .await
        .0
}

#[tokio::test]
async fn a_session_is_an_admin_credential_with_csrf_on_every_change() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);
    // The account name is case-insensitive.
    let b = sign_in(&t, "Ana@Example.org", PASSWORD).await;

    // The cookie: HttpOnly, SameSite=Strict, Path=/, not Secure without TLS.
    let flags: Vec<&str> = b.set_cookie.split(';').map(str::trim).collect();
    assert!(b.cookie.starts_with("access_console="), "{}", b.set_cookie);
    for f in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(flags.contains(&f), "{f} missing: {}", b.set_cookie);
    }
    assert!(!flags.contains(&"Secure"), "{}", b.set_cookie);
    // Only a hash of the session token is stored.
    let token = b.cookie.split_once('=').unwrap().1.to_string();
    let stored: Vec<Vec<u8>> = t
        .server()
        .state
        .db
        .blocking(|c| {
            let mut s = c.prepare("SELECT id_hash FROM operator_sessions")?;
            Ok(s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token.as_bytes());

    let (s, v, _) = send(&t, Method::GET, &console_url(&t, "/me"), &b, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["operator"]["email"], EMAIL);
    assert_eq!(v["data"]["csrf_token"], b.csrf.as_str());

    // The REST routes take the session: a read needs no CSRF token...
    let projects = t.url("/projects");
    let (s, _, _) = send(&t, Method::GET, &projects, &b, None, None).await;
    assert_eq!(s, StatusCode::OK);
    // ...a change without one, or with another, is refused with a stable code and reason.
    let body = json!({"name": "Lobby", "description": ""});
    for csrf in [None, Some("forged"), Some("")] {
        let (s, v, _) = send(&t, Method::POST, &projects, &b, csrf, Some(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{csrf:?}: {v}");
        assert_eq!(v["code"], "FORBIDDEN");
        assert_eq!(v["details"]["reason"], "csrf");
    }
    let (s, v, _) = send(&t, Method::POST, &projects, &b, Some(&b.csrf), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let project = v["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(t.count("SELECT COUNT(*) FROM projects"), 1);

    // Operators mint and revoke scoped API tokens for integrations.
    let (s, v, _) = send(
        &t,
        Method::POST,
        &t.url("/tokens"),
        &b,
        Some(&b.csrf),
        Some(json!({"subject": "payroll-sync", "scope": "metrics", "ttl_s": 3600, "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let minted = v["data"]["token"].as_str().unwrap().to_string();
    let id = v["data"]["id"].as_str().unwrap().to_string();
    let metrics_url = format!("http://{}/metrics", t.addr());
    let scrape = |tok: String| {
        let c = t.client.clone();
        let u = metrics_url.clone();
        async move { c.get(u).bearer_auth(tok).send().await.unwrap().status() }
    };
    assert_eq!(scrape(minted.clone()).await, StatusCode::OK);
    let (s, _, _) = send(
        &t,
        Method::POST,
        &t.url(&format!("/tokens/{id}/revoke")),
        &b,
        Some(&b.csrf),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(scrape(minted).await, StatusCode::UNAUTHORIZED);

    // A bearer token never looks at the cookie (no CSRF token needed, none used).
    let (s, _) = t
        .call(
            Method::PATCH,
            &format!("/projects/{project}"),
            Some(&t.admin),
            Some(json!({"description": "by token"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // The audit log names who changed what; a refused change is recorded with its status.
    let (s, v, _) = send(
        &t,
        Method::GET,
        &console_url(&t, "/audit?actor=operator"),
        &b,
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let entries = v["data"]["entries"].as_array().unwrap();
    let actions: Vec<(String, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["status"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        actions.contains(&("POST /v2/access/projects".into(), 201)),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("POST /v2/access/tokens".into(), 201)),
        "{actions:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] == "operator:ana@example.org")
    );
    let (_, v, _) = send(
        &t,
        Method::GET,
        &console_url(&t, "/audit?actor=test-admin"),
        &b,
        None,
        None,
    )
    .await;
    assert_eq!(
        v["data"]["entries"][0]["action"],
        format!("PATCH /v2/access/projects/{project}")
    );
    let (_, v, _) = send(
        &t,
        Method::GET,
        &console_url(&t, "/audit?action=console.login"),
        &b,
        None,
        None,
    )
    .await;
    assert_eq!(v["data"]["entries"][0]["actor"], EMAIL);

    // The console's own endpoints take no bearer token: an operator signs in as a person.
    let (s, _) = request_console(&t, "/me", Some(&t.admin)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    t.stop().await;
}

async fn request_console(t: &TestServer, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    crate::common::request(&t.client, Method::GET, &console_url(t, path), token, None).await
}

#[tokio::test]
async fn wrong_passwords_are_throttled_and_names_are_not_told_apart() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);

    let wrong = login_raw(&t, json!({"email": EMAIL, "password": "not the password"})).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let wrong: Value = wrong.json().await.unwrap();
    let unknown: Value = login_raw(
        &t,
        json!({"email": "nobody@example.org", "password": "not the password"}),
    )
    .await
    .json()
    .await
    .unwrap();
    // The same answer for an unknown name and a wrong password.
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["code"], "UNAUTHORIZED");
    assert_eq!(wrong["details"]["reason"], "credentials");

    // Three free tries per account, then each waits: even the right password.
    for _ in 0..2 {
        let r = login_raw(&t, json!({"email": EMAIL, "password": "still wrong"})).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_raw(&t, json!({"email": EMAIL, "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "RATE_LIMITED");

    // The delay grows: one more wrong try after the wait doubles it.
    t.clock.advance_ms(1_100);
    let r = login_raw(&t, json!({"email": EMAIL, "password": "still wrong"})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = login_raw(&t, json!({"email": EMAIL, "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "2");

    // After the wait the right password works, and clears the account's count.
    t.clock.advance_ms(2_100);
    sign_in(&t, EMAIL, PASSWORD).await;
    let r = login_raw(&t, json!({"email": EMAIL, "password": "wrong again"})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Failures were audited under the account's name; the unknown name was not written down.
    let names: Vec<String> = t
        .server()
        .state
        .db
        .blocking(|c| {
            let mut s =
                c.prepare("SELECT actor FROM audit_log WHERE action = 'console.login_failed'")?;
            Ok(s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert!(names.contains(&"unknown".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("nobody")), "{names:?}");
    t.stop().await;
}

#[tokio::test]
async fn sessions_end_when_idle_at_their_lifetime_and_on_logout() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);

    // Idle: 30 minutes without a request.
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    t.clock.advance_ms(29 * 60 * 1000);
    assert_eq!(me(&t, &b).await, StatusCode::OK);
    t.clock.advance_ms(29 * 60 * 1000);
    assert_eq!(
        me(&t, &b).await,
        StatusCode::OK,
        "a request resets the idle time"
    );
    t.clock.advance_ms(31 * 60 * 1000);
    let (s, v, _) = send(&t, Method::GET, &console_url(&t, "/me"), &b, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["details"]["reason"], "session");
    // ...and on the REST routes too.
    let (s, _, _) = send(&t, Method::GET, &t.url("/projects"), &b, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Absolute: 12 hours after sign-in, however busy.
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    for _ in 0..(12 * 3) {
        t.clock.advance_ms(20 * 60 * 1000);
        if me(&t, &b).await != StatusCode::OK {
            break;
        }
    }
    assert_eq!(me(&t, &b).await, StatusCode::UNAUTHORIZED);

    // Logout: the old cookie is dead even if replayed; the answer clears it.
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let (s, _, _) = send(
        &t,
        Method::POST,
        &console_url(&t, "/logout"),
        &b,
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "logout needs the CSRF token too");
    let (s, _, h) = send(
        &t,
        Method::POST,
        &console_url(&t, "/logout"),
        &b,
        Some(&b.csrf),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(me(&t, &b).await, StatusCode::UNAUTHORIZED);

    // A new password ends every session.
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let hash = operators::hash_password("another long password").unwrap();
    let now = t.clock.now_ms();
    t.server()
        .state
        .db
        .blocking_tx(|c| operators::set_password(c, EMAIL, &hash, now))
        .unwrap();
    assert_eq!(me(&t, &b).await, StatusCode::UNAUTHORIZED);
    t.stop().await;
}

#[tokio::test]
async fn once_enrolled_totp_is_required_and_a_code_works_once() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let (s, v, _) = send(
        &t,
        Method::POST,
        &console_url(&t, "/totp/enrol"),
        &b,
        Some(&b.csrf),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let secret = v["data"]["secret"].as_str().unwrap().to_string();
    assert!(
        v["data"]["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let code = |at: i64| operators::totp_code(&secret, at).unwrap();
    let (s, _, _) = send(
        &t,
        Method::POST,
        &console_url(&t, "/totp/confirm"),
        &b,
        Some(&b.csrf),
        Some(json!({"code": "000000"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a wrong code does not turn it on"
    );
    let (s, v, _) = send(
        &t,
        Method::POST,
        &console_url(&t, "/totp/confirm"),
        &b,
        Some(&b.csrf),
        Some(json!({"code": code(t.clock.now_ms())})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The secret is never given again.
    let (_, v, _) = send(&t, Method::GET, &console_url(&t, "/me"), &b, None, None).await;
    assert_eq!(v["data"]["operator"]["totp_enabled"], true);
    assert!(!v.to_string().contains(&secret));

    // The password alone is not enough; the answer asks for the code.
    t.clock.advance_ms(30_000);
    let r = login_raw(&t, json!({"email": EMAIL, "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["details"]["reason"], "totp_required");
    let r = login_raw(
        &t,
        json!({"email": EMAIL, "password": PASSWORD, "totp_code": "123456"}),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["details"]["reason"], "totp_invalid");
    // A wrong password with a right code is still the generic answer.
    let now_code = code(t.clock.now_ms());
    let r = login_raw(
        &t,
        json!({"email": EMAIL, "password": "wrong password!", "totp_code": now_code}),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["details"]["reason"], "credentials");

    t.clock.advance_ms(4_000); // past the throttle of the three failures above
    let r = login_raw(
        &t,
        json!({"email": EMAIL, "password": PASSWORD, "totp_code": now_code}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b2 = browser_from(r).await;
    assert_eq!(me(&t, &b2).await, StatusCode::OK);
    // The same code again (a replay, same 30 s step) is refused.
    let r = login_raw(
        &t,
        json!({"email": EMAIL, "password": PASSWORD, "totp_code": now_code}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // `admins reset-totp` (a lost phone) turns it off and ends the sessions.
    t.server()
        .state
        .db
        .blocking_tx(|c| operators::clear_totp(c, EMAIL))
        .unwrap();
    assert_eq!(me(&t, &b2).await, StatusCode::UNAUTHORIZED);
    t.clock.advance_ms(10_000);
    sign_in(&t, EMAIL, PASSWORD).await;
    t.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_and_host_bound_behind_https() {
    let t = TestServer::builder()
        .configure(|c| c.console.secure_cookie = true)
        .start()
        .await;
    add_operator(&t, EMAIL, PASSWORD);
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    assert!(
        b.cookie.starts_with("__Host-access_console="),
        "{}",
        b.set_cookie
    );
    let flags: Vec<&str> = b.set_cookie.split(';').map(str::trim).collect();
    for f in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(flags.contains(&f), "{f} missing: {}", b.set_cookie);
    }
    assert_eq!(me(&t, &b).await, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy() {
    let t = TestServer::start().await;
    for path in ["/console", "/console/"] {
        let r = t
            .client
            .get(format!("http://{}{path}", t.addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap();
        for d in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(d), "{csp}");
        }
        let body = r.text().await.unwrap();
        // Built or not, the page never loads anything from elsewhere.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{body}"
        );
        if access_server::console::built() {
            assert!(body.contains("<script type=\"module\""), "{body}");
        } else {
            assert!(body.contains("console was not built"), "{body}");
        }
    }
    let r = t
        .client
        .get(format!("http://{}/console/assets/nothing.js", t.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    t.stop().await;
}

#[test]
fn admins_cli_adds_once_lists_and_resets() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let dir = crate::common::temp_dir();
    let db = dir.join("access.db");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(crate::cli::BIN)
            .args(args)
            .arg("--create")
            .arg("--db")
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, out, err) = run(&["admins", "add", "--if-none", EMAIL], None);
    assert!(ok, "{err}");
    let password = out.trim().to_string();
    assert!(password.len() >= 20, "a generated password: {out:?}");
    // Idempotent for a setup script: no second operator.
    let (ok, out, err) = run(&["admins", "add", "--if-none", "bo@example.org"], None);
    assert!(ok && out.is_empty(), "{out} {err}");
    assert!(err.contains("exists"), "{err}");
    let (ok, out, _) = run(&["admins", "list"], None);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["email"], EMAIL);
    assert!(!out.contains("argon2"), "no hash is listed: {out}");
    // A password from stdin; a short one is refused.
    let (ok, _, err) = run(
        &["admins", "reset-password", "--password-stdin", EMAIL],
        Some("short\n"),
    );
    assert!(!ok, "{err}");
    let (ok, out, err) = run(
        &["admins", "reset-password", "--password-stdin", EMAIL],
        Some("a brand new passphrase\n"),
    );
    assert!(ok && out.is_empty(), "{out} {err}");
    let (ok, _, err) = run(&["admins", "remove", "nobody@example.org"], None);
    assert!(!ok, "{err}");
    let (ok, _, _) = run(&["admins", "remove", EMAIL], None);
    assert!(ok);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_customer_url_is_tested_from_the_console() {
    use axum::routing::post;
    let t = TestServer::builder()
        .login_flow(json!({"email": true}))
        .start()
        .await;
    add_operator(&t, EMAIL, PASSWORD);
    // The customer's URL: allows ana, refuses everyone else.
    let app = axum::Router::new().route(
        "/check",
        post(|axum::Json(v): axum::Json<Value>| async move {
            axum::Json(json!({"allowed": v["identifier"] == "ana@example.org"}))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/check", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let flow = t.flow().to_string();
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{flow}"),
            Some(&t.admin),
            Some(json!({"security": {"mode": "url", "url": url, "timeout_ms": 2000}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let test = |identifier: &'static str| {
        let url = console_url(&t, &format!("/project-flows/{flow}/test-url"));
        let b = &b;
        let t = &t;
        async move {
            send(
                t,
                Method::POST,
                &url,
                b,
                Some(&b.csrf),
                Some(json!({ "identifier": identifier })),
            )
            .await
        }
    };
    let (s, v, _) = test("ana@example.org").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["allowed"], true);
    let (_, v, _) = test("bo@example.org").await;
    assert_eq!(v["data"]["allowed"], false);
    let (s, v, _) = test("  ").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_from_the_console() {
    use axum::routing::post;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let t = TestServer::builder()
        .login_flow(json!({"email": true}))
        .configure(|c| c.webhooks.max_attempts = 1)
        .start()
        .await;
    add_operator(&t, EMAIL, PASSWORD);
    // The receiver fails the first request, then accepts.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let (s, v, _) = send(
        &t,
        Method::POST,
        &t.url("/webhooks"),
        &b,
        Some(&b.csrf),
        Some(
            json!({"project_id": t.project(), "url": url, "events": ["email_validation.created"]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let hook = v["data"]["id"].as_str().unwrap().to_string();
    t.post_ok(
        "/email/send-otp",
        &t.admin,
        json!({"email": "ana@example.org", "project_id": t.project()}),
    )
    .await;
    let deliveries = t.url(&format!("/webhooks/{hook}/deliveries"));
    let status_is = |want: &'static str| {
        let (t, b, deliveries) = (&t, &b, deliveries.clone());
        async move {
            for _ in 0..200 {
                let (_, v, _) = send(t, Method::GET, &deliveries, b, None, None).await;
                if v["data"][0]["status"] == want {
                    return v["data"][0].clone();
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("the delivery never became {want}");
        }
    };
    let failed = status_is("failed").await;
    let id = failed["id"].as_str().unwrap().to_string();
    let retry = console_url(&t, &format!("/webhooks/deliveries/{id}/retry"));
    let (s, _, _) = send(&t, Method::POST, &retry, &b, None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a retry needs the CSRF token");
    let (s, v, _) = send(&t, Method::POST, &retry, &b, Some(&b.csrf), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let delivered = status_is("delivered").await;
    assert_eq!(delivered["id"], id.as_str());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A delivered one is not sent again.
    let (s, _, _) = send(&t, Method::POST, &retry, &b, Some(&b.csrf), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    t.stop().await;
}

#[tokio::test]
async fn recent_validations_page_without_losing_one_in_a_shared_millisecond() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let project = "prj_front_door".to_string();
    // Three in one millisecond, one a millisecond earlier, one in another project.
    let at = 1_772_443_800_000i64;
    t.server()
        .state
        .db
        .blocking(|c| {
            for (id, created, pid) in [
                ("val_a", at, project.as_str()),
                ("val_b", at, project.as_str()),
                ("val_c", at, project.as_str()),
                ("val_d", at - 1, project.as_str()),
                ("val_e", at, "prj_other"),
            ] {
                c.execute(
                    "INSERT INTO validations(id, kind, channel, identifier, project_id, flow_id,
                       status, attempts, max_attempts, expires_at, created_at, updated_at)
                     VALUES (?1, 'email', 'email', 'a@example.org', ?2, 'flow', 'pending', 0, 3,
                       ?3, ?3, ?3)",
                    rusqlite::params![id, pid, created],
                )?;
            }
            Ok(())
        })
        .unwrap();
    let page = |before: Option<i64>| {
        let mut url = console_url(&t, &format!("/validations?project_id={project}&limit=2"));
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let b = &b;
        let t = &t;
        async move {
            let (s, v, _) = send(t, Method::GET, &url, b, None, None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let ids: Vec<String> = v["data"]["validations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            (ids, v["data"]["next_before"].as_i64())
        }
    };
    // A page of 2 would end inside the shared millisecond: it takes the whole millisecond.
    let (first, next) = page(None).await;
    assert_eq!(first, ["val_a", "val_b", "val_c"]);
    assert_eq!(next, Some(at));
    let (second, next) = page(next).await;
    assert_eq!(second, ["val_d"]);
    assert_eq!(next, None);
}

/// Sign-in as from another client address (any 127.x address is this host's loopback).
async fn login_from(t: &TestServer, ip: &str, password: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .post(console_url(t, "/login"))
        .json(&json!({"email": EMAIL, "password": password}))
        .send()
        .await
        .expect("the server answers")
}

#[tokio::test]
async fn another_address_cannot_lock_an_operator_out() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);
    // An attacker at 127.0.0.2 guesses until held back, there, even with the right password.
    for _ in 0..3 {
        let r = login_from(&t, "127.0.0.2", "a wrong guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&t, "127.0.0.2", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(t.count("SELECT COUNT(*) FROM operator_sessions"), 0);
    // The operator, at another address, signs in at once.
    let r = login_from(&t, "127.0.0.3", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(t.count("SELECT COUNT(*) FROM operator_sessions"), 1);
    // A spray over names from one address is held back by the address's own count (20 free).
    let spray = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..18 {
        let r = spray
            .post(console_url(&t, "/login"))
            .json(&json!({"email": format!("n{i}@example.org"), "password": "a wrong guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert!(
        statuses[..17]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[17], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(t.count("SELECT COUNT(*) FROM operator_sessions"), 1);
    t.stop().await;
}

#[tokio::test]
async fn a_session_alone_makes_no_lasting_credential() {
    let t = TestServer::start().await;
    add_operator(&t, EMAIL, PASSWORD);
    let b = sign_in(&t, EMAIL, PASSWORD).await;
    let totp_pending = || t.count("SELECT COUNT(*) FROM operators WHERE totp_pending IS NOT NULL");
    let tokens = || t.count("SELECT COUNT(*) FROM api_tokens");
    let before = tokens();
    // TOTP set-up and a token need the password again: none, or a wrong one, changes nothing.
    for body in [json!({}), json!({"password": "not the password"})] {
        let (s, v, _) = send(
            &t,
            Method::POST,
            &console_url(&t, "/totp/enrol"),
            &b,
            Some(&b.csrf),
            Some(body.clone()),
        )
        .await;
        assert!(s.is_client_error(), "{v}");
        let mint = json!({"subject": "exfil", "ttl_s": 30 * 86_400});
        let mut mint = mint.as_object().unwrap().clone();
        if let Some(p) = body.get("password") {
            mint.insert("password".into(), p.clone());
        }
        let (s, v, _) = send(
            &t,
            Method::POST,
            &t.url("/tokens"),
            &b,
            Some(&b.csrf),
            Some(Value::Object(mint)),
        )
        .await;
        assert_eq!(
            (s, &v["details"]["reason"]),
            (StatusCode::FORBIDDEN, &json!("password")),
            "{v}"
        );
    }
    assert_eq!((totp_pending(), tokens()), (0, before));
    // The session still stands after a wrong password (it is the password that is asked).
    assert_eq!(me(&t, &b).await, StatusCode::OK);

    // With it: a token tied to the operator.
    let mint = |b: &Browser, password: &'static str| {
        let (t, csrf, cookie) = (&t, b.csrf.clone(), b.cookie.clone());
        async move {
            let b = Browser {
                cookie,
                csrf: csrf.clone(),
                set_cookie: String::new(),
            };
            let (s, v, _) = send(
                t,
                Method::POST,
                &t.url("/tokens"),
                &b,
                Some(&csrf),
                Some(json!({"subject": "ops", "ttl_s": 3600, "password": password})),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["data"]["token"].as_str().unwrap().to_string()
        }
    };
    t.clock.advance_ms(2_000); // past the wrong password's throttle
    let token = mint(&b, PASSWORD).await;
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM api_tokens WHERE operator_id IS NOT NULL AND subject = 'ops'"
        ),
        1
    );
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::OK);

    // A password reset ends the sessions and revokes what they minted (its next request,
    // once the 2 s revocation cache has turned over).
    let hash = operators::hash_password("a brand new passphrase").unwrap();
    let now = t.clock.now_ms();
    t.server()
        .state
        .db
        .blocking_tx(|c| operators::set_password(c, EMAIL, &hash, now))
        .unwrap();
    t.clock.advance_ms(2_100);
    assert_eq!(me(&t, &b).await, StatusCode::UNAUTHORIZED);
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::UNAUTHORIZED);

    // Removing the operator revokes theirs too; tokens minted by bearer are untouched.
    let b = sign_in(&t, EMAIL, "a brand new passphrase").await;
    let token = mint(&b, "a brand new passphrase").await;
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::OK);
    let now = t.clock.now_ms();
    t.server()
        .state
        .db
        .blocking_tx(|c| operators::remove(c, EMAIL, now))
        .unwrap();
    t.clock.advance_ms(2_100);
    assert_eq!(t.get("/projects", &token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.get("/projects", &t.admin).await.0, StatusCode::OK);
    t.stop().await;
}
