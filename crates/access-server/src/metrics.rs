//! `GET /metrics` in the OpenMetrics text format (what Prometheus scrapes), for a scraper
//! holding a `metrics`-scope token (`access-server token --scope metrics`) or an admin token.
//!
//! Counted in the process as things happen: requests by route template, method and status, and
//! their latency; errors by stable code (so rate-limit hits are `code="RATE_LIMITED"` and
//! lockouts `code="IDENTIFIER_LOCKED"`); codes handed to a provider by channel (face-verify
//! latency is its route's histogram). Read from the database at scrape time (so every
//! replica reports the same, and a restart loses nothing): webhook deliveries by status (the
//! queue depth is `status="pending"`), failed delivery attempts, kiosks by how long ago they
//! were last seen.
//!
//! The `prometheus-client` crate (the Prometheus project's own) does the encoding: its typed
//! label sets keep label names and escaping right.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use access_types::{Channel, ErrorCode};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ApiResult;
use crate::extract::MetricsAuth;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route template (`/v2/access/webhooks/{id}`), never the raw path: bounded
    /// cardinality and no identifiers in the metrics.
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeenLabels {
    /// `5m`, `1h`, `24h`: seen within; `older`; `never`.
    last_seen: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~33 s in doublings: OTP calls sit at the bottom, face calls in the middle,
    // a slow customer security URL at the top.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The process's metrics. One per server (in `AppState`); cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    errors: Family<CodeLabels, Counter>,
    codes_sent: Family<ChannelLabels, Counter>,
    deliveries: Family<StatusLabels, Gauge>,
    failed_attempts: Gauge,
    kiosks: Family<SeenLabels, Gauge>,
    /// Encoding happens under this lock: the scrape-time gauges are set and read as one.
    scrape: Mutex<()>,
    /// The last database figures and when they were read (ms).
    snapshot: Mutex<Option<(i64, Arc<DbSnapshot>)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("access");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let errors = Family::<CodeLabels, Counter>::default();
        let codes_sent = Family::<ChannelLabels, Counter>::default();
        let deliveries = Family::<StatusLabels, Gauge>::default();
        let failed_attempts = Gauge::default();
        let kiosks = Family::<SeenLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route template",
            latency.clone(),
        );
        registry.register(
            "errors",
            "Error answers by stable code (RATE_LIMITED: a rate limit hit; IDENTIFIER_LOCKED: a lockout)",
            errors.clone(),
        );
        registry.register(
            "codes_sent",
            "One-time codes handed to a provider, by channel",
            codes_sent.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by status (pending is the queue depth), read from the database",
            deliveries.clone(),
        );
        registry.register(
            "webhook_failed_attempts",
            "Webhook delivery attempts that failed (error or non-2xx), read from the database",
            failed_attempts.clone(),
        );
        registry.register(
            "kiosks",
            "Paired, unrevoked kiosks by when they were last seen, read from the database",
            kiosks.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            errors,
            codes_sent,
            deliveries,
            failed_attempts,
            kiosks,
            scrape: Mutex::new(()),
            snapshot: Mutex::new(None),
        }
    }
}

impl Metrics {
    /// A code was handed to the provider of `channel`.
    pub fn code_sent(&self, channel: Channel) {
        self.codes_sent
            .get_or_create(&ChannelLabels {
                channel: channel.as_str().to_string(),
            })
            .inc();
    }

    fn answered(
        &self,
        route: &str,
        method: &str,
        status: u16,
        code: Option<ErrorCode>,
        took: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
        if let Some(code) = code {
            self.errors
                .get_or_create(&CodeLabels {
                    code: code.as_str().to_string(),
                })
                .inc();
        }
    }

    /// The text exposition, with the database-backed gauges set from `snapshot`.
    fn encode(&self, snapshot: &DbSnapshot) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.deliveries.clear();
        for (status, n) in &snapshot.deliveries {
            self.deliveries
                .get_or_create(&StatusLabels {
                    status: status.clone(),
                })
                .set(*n);
        }
        self.failed_attempts.set(snapshot.failed_attempts);
        self.kiosks.clear();
        for (bucket, n) in &snapshot.kiosks {
            self.kiosks
                .get_or_create(&SeenLabels {
                    last_seen: (*bucket).to_string(),
                })
                .set(*n);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Counts every answer (the outermost layer inside the router, so refusals by extractors and
/// fallbacks count too). `ApiError` leaves its code in the response's extensions.
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Methods are whatever a client sends (any token, any length): a label of each would
    // let anyone grow the metrics without bound.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let code = resp.extensions().get::<ErrorCode>().copied();
    st.metrics.answered(
        &route,
        &method,
        resp.status().as_u16(),
        code,
        started.elapsed(),
    );
    resp
}

/// What the scrape reads from the database.
struct DbSnapshot {
    deliveries: Vec<(String, i64)>,
    failed_attempts: i64,
    kiosks: Vec<(&'static str, i64)>,
}

/// Last-seen buckets, in milliseconds (the kiosk reports after each sync round; the default
/// round is a minute, so `5m` is "alive").
const SEEN_BUCKETS: [(&str, i64); 3] = [("5m", 300_000), ("1h", 3_600_000), ("24h", 86_400_000)];

fn snapshot(c: &crate::sql::Connection, now_ms: i64) -> crate::sql::Result<DbSnapshot> {
    let mut s = c.prepare("SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status")?;
    let deliveries = s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let failed_attempts = c.query_row(
        "SELECT COUNT(*) FROM webhook_attempts
         WHERE error IS NOT NULL OR status_code IS NULL OR status_code NOT BETWEEN 200 AND 299",
        [],
        |r| r.get::<_, i64>(0),
    )?;
    let mut s = c.prepare("SELECT last_seen_at FROM kiosks WHERE revoked_at IS NULL")?;
    let seen = s
        .query_map([], |r| r.get::<_, Option<i64>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut kiosks: Vec<(&'static str, i64)> = SEEN_BUCKETS
        .iter()
        .map(|(b, _)| (*b, 0))
        .chain([("older", 0), ("never", 0)])
        .collect();
    for at in seen {
        let slot = match at {
            None => kiosks.len() - 1,
            Some(at) => SEEN_BUCKETS
                .iter()
                .position(|(_, within)| now_ms - at <= *within)
                .unwrap_or(kiosks.len() - 2),
        };
        kiosks[slot].1 += 1;
    }
    Ok(DbSnapshot {
        deliveries,
        failed_attempts,
        kiosks,
    })
}

/// How long a scrape's database figures are reused: a scraper (or a leaked metrics token)
/// asking in a loop costs the single database thread one read per this, not one per request.
const SNAPSHOT_TTL_MS: i64 = 10_000;

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "documents",
    summary = "Prometheus text exposition (a metrics-scope token, or open to loopback when configured)",
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn serve(State(st): State<AppState>, _a: MetricsAuth) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let cached = {
        let c = st
            .metrics
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        c.as_ref()
            .filter(|(at, _)| now - at < SNAPSHOT_TTL_MS)
            .map(|(_, s)| s.clone())
    };
    let snap = match cached {
        Some(s) => s,
        None => {
            let s = Arc::new(st.db.call(move |c| Ok(snapshot(c, now)?)).await?);
            *st.metrics
                .snapshot
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((now, s.clone()));
            s
        }
    };
    let body = st.metrics.encode(&snap);
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(resp)
}

/// `ApiError` marks its response with its code for [`track`].
pub(crate) fn mark(resp: &mut Response, code: ErrorCode) {
    resp.extensions_mut().insert(code);
}
