//! What an operator's tooling touches (issue 15): `/healthz` (process up) apart from `/readyz`
//! (database and models), and `/metrics` in the Prometheus text format behind a token scope of
//! its own. HTTPS with a certificate reloaded on SIGHUP is in `cli.rs` (it needs the binary).

use crate::common::{self, TestServer, Vision, every_method};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// GET of a path outside `/v2/access` (`/healthz`, `/readyz`, `/metrics`).
async fn root_get(t: &TestServer, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut rb = reqwest::Client::new().get(format!("http://{}{path}", t.addr()));
    if let Some(token) = token {
        rb = rb.bearer_auth(token);
    }
    rb.send().await.unwrap()
}

#[tokio::test]
async fn readiness_names_the_part_that_is_not_ready_while_health_stays_up() {
    let t = TestServer::start().await;
    let r = root_get(&t, "/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["status"], "ready");
    assert_eq!(v["data"]["vision"], "disabled");

    // Face recognition wanted, models nowhere: the process is healthy, not ready.
    let dir = common::temp_dir();
    let s = TestServer::builder()
        .vision(Vision::Real)
        .configure(move |c| c.vision.models_dir = Some(dir.join("no-models-here")))
        .start()
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let v = loop {
        let r = root_get(&s, "/readyz", None).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "NOT_READY", "{v}");
        assert_eq!(v["details"]["database"], "ok", "{v}");
        if v["details"]["vision"] != "loading" || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(v["details"]["vision"], "unavailable", "{v}");
    let r = root_get(&s, "/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["vision"], "unavailable");
}

/// The samples of one exposition, parsed by a Prometheus text parser.
async fn scrape(t: &TestServer, token: &str) -> prometheus_parse::Scrape {
    let r = root_get(t, "/metrics", Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// The value of the sample `name` whose labels include every one of `labels` (0 when none).
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_count_requests_codes_and_limits_for_a_metrics_token_only() {
    let t = TestServer::builder()
        .login_flow(every_method())
        .start()
        .await;
    let kiosk = t.kiosk();
    let send = |to: &'static str| {
        let t = &t;
        let kiosk = kiosk.clone();
        async move {
            t.post(
                "/email/send-otp",
                &kiosk,
                json!({ "email": to, "project_id": t.project() }),
            )
            .await
            .0
        }
    };
    // Five codes to one address are sent; the sixth hits the per-address limit.
    for _ in 0..5 {
        assert_eq!(send("ana@example.com").await, StatusCode::OK);
    }
    assert_eq!(send("ana@example.com").await, StatusCode::TOO_MANY_REQUESTS);
    let (s, v) = t
        .post(
            "/email/send-otp",
            &kiosk,
            json!({ "email": "ana@", "project_id": t.project() }),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_EMAIL"))
    );

    // A made-up method is counted as `other`: clients cannot mint labels.
    let odd = reqwest::Method::from_bytes(b"XYZZYXYZZYXYZZYXYZZY").unwrap();
    reqwest::Client::new()
        .request(odd, format!("http://{}/healthz", t.addr()))
        .send()
        .await
        .unwrap();

    // A scraper gets a token of its own scope from an administrator.
    let minted = t
        .post_ok(
            "/tokens",
            &t.admin,
            json!({ "subject": "prometheus", "scope": "metrics" }),
        )
        .await;
    let metrics_token = minted["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(minted["data"]["scope"], "metrics");

    let m = scrape(&t, &metrics_token).await;
    let route = "/v2/access/email/send-otp";
    let sent = [("route", route), ("method", "POST"), ("status", "200")];
    assert_eq!(value(&m, "access_http_requests_total", &sent), 5.0);
    let limited = [("route", route), ("status", "429")];
    assert_eq!(value(&m, "access_http_requests_total", &limited), 1.0);
    assert_eq!(
        value(&m, "access_errors_total", &[("code", "RATE_LIMITED")]),
        1.0
    );
    assert_eq!(
        value(&m, "access_errors_total", &[("code", "INVALID_EMAIL")]),
        1.0
    );
    assert_eq!(
        value(&m, "access_codes_sent_total", &[("channel", "email")]),
        5.0
    );
    assert!(
        m.samples
            .iter()
            .all(|x| x.labels.get("method") != Some("XYZZYXYZZYXYZZYXYZZY"))
    );
    assert_eq!(
        value(&m, "access_http_requests_total", &[("method", "other")]),
        1.0
    );
    // Every answer is in the route's latency histogram.
    let count = m
        .samples
        .iter()
        .find(|x| {
            x.metric == "access_http_request_duration_seconds"
                && x.labels.get("route") == Some(route)
        })
        .map(|x| match &x.value {
            prometheus_parse::Value::Histogram(h) => h.last().map(|b| b.count).unwrap_or(0.0),
            _ => 0.0,
        });
    assert_eq!(
        count,
        Some(7.0),
        "{:?}",
        m.samples.iter().map(|x| &x.metric).collect::<Vec<_>>()
    );
    // Every paired kiosk is in one last-seen bucket, every bucket is there (zero or not).
    let (_, kiosks) = t.get("/kiosks", &t.admin).await;
    let paired = kiosks["data"]["kiosks"].as_array().unwrap().len() as f64;
    assert!(paired >= 1.0);
    assert_eq!(value(&m, "access_kiosks", &[]), paired);
    let mut buckets: Vec<&str> = m
        .samples
        .iter()
        .filter(|x| x.metric == "access_kiosks")
        .filter_map(|x| x.labels.get("last_seen"))
        .collect();
    buckets.sort_unstable();
    assert_eq!(buckets, ["1h", "24h", "5m", "never", "older"]);
    // No identifier in a label: the address sent to appears nowhere.
    let text = root_get(&t, "/metrics", Some(&metrics_token))
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("ana@example.com"));

    // The scraper's token reads metrics and nothing else; a kiosk's cannot read metrics.
    let (s, v) = t.get("/projects", &metrics_token).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
    );
    let (s, _) = t
        .call(
            Method::POST,
            "/email/send-otp",
            Some(&metrics_token),
            Some(json!({ "email": "b@example.com", "project_id": t.project() })),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        root_get(&t, "/metrics", Some(&kiosk)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        root_get(&t, "/metrics", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // An admin token may read them; a kiosk scope cannot be minted here.
    assert_eq!(
        root_get(&t, "/metrics", Some(&t.admin)).await.status(),
        StatusCode::OK
    );
    let (s, _) = t
        .post(
            "/tokens",
            &t.admin,
            json!({ "subject": "k", "scope": "kiosk" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Revoked, the scraper's token is refused.
    let id = minted["data"]["id"].as_str().unwrap();
    t.post_ok(&format!("/tokens/{id}/revoke"), &t.admin, json!({}))
        .await;
    assert_eq!(
        root_get(&t, "/metrics", Some(&metrics_token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
