//! Router, middleware and the in-process server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use access_types::{BASE_PATH, ErrorCode};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::routing::get;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{KeyError, Keys};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::db::{Db, StoreError};
use crate::delivery::{Delivery, DeliveryError, OutboxSender};
use crate::error::ApiError;
use crate::face::FaceService;
use crate::state::{AppState, Inner};
use crate::{
    admin, audit, biometric, console, erasure, kiosks, misc, openapi, operators, otp, people,
    policy, sync, tokens, webhooks,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Seal(#[from] crate::sealed::SealError),
    #[error("delivery setup: {0}")]
    Delivery(#[from] DeliveryError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot watch for SIGHUP (TLS reload): {0}")]
    Signal(std::io::Error),
}

fn request_id_header() -> HeaderName {
    HeaderName::from_static("x-request-id")
}

/// Where the API reference at `/docs` reads the document from (the one route serving it).
fn openapi_url() -> String {
    format!("{BASE_PATH}/openapi.json")
}

pub fn router(st: AppState) -> Router {
    let small = DefaultBodyLimit::max(st.cfg.max_body_bytes);
    let images = DefaultBodyLimit::max(st.cfg.max_image_body_bytes());

    // Every API route is routed through utoipa-axum's `routes!`, which takes the path and the
    // method from the handler's `#[utoipa::path]`: the OpenAPI document is collected from the
    // router itself, so a route cannot be missing from it.
    let biometric = OpenApiRouter::new()
        .routes(routes!(biometric::register_face))
        .routes(routes!(biometric::verify_face))
        .routes(routes!(biometric::liveness_check))
        .layer(images);

    let mut api = OpenApiRouter::new()
        .routes(routes!(otp::send_email))
        .routes(routes!(otp::verify_email))
        .routes(routes!(otp::send_sms))
        .routes(routes!(otp::send_whatsapp))
        .routes(routes!(otp::verify_phone))
        .routes(routes!(admin::create_project, admin::list_projects))
        .routes(routes!(
            admin::get_project,
            admin::update_project,
            admin::delete_project
        ))
        .routes(routes!(admin::create_flow, admin::list_flows))
        .routes(routes!(
            admin::get_flow_h,
            admin::update_flow,
            admin::delete_flow
        ))
        .routes(routes!(admin::flow_security_secret))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::delete_user))
        .routes(routes!(kiosks::list_handler))
        .routes(routes!(kiosks::create_pairing_handler))
        .routes(routes!(kiosks::pair_handler))
        .routes(routes!(kiosks::token_handler))
        .routes(routes!(kiosks::status_handler))
        .routes(routes!(kiosks::revoke_handler))
        .routes(routes!(tokens::create_handler, tokens::list_handler))
        .routes(routes!(tokens::revoke_handler))
        .routes(routes!(tokens::rotate_keys_handler))
        .routes(routes!(sync::templates))
        .routes(routes!(sync::events))
        .routes(routes!(policy::policy))
        .routes(routes!(erasure::delete_biometric_user))
        .routes(routes!(people::confirm_handler))
        .routes(routes!(biometric::reset_face_attempts))
        .routes(routes!(biometric::face_rates))
        .routes(routes!(misc::jwks))
        .routes(routes!(openapi::serve))
        .routes(routes!(misc::healthz))
        .routes(routes!(misc::readyz))
        .layer(small);
    if st.cfg.dev_outbox {
        api = api.routes(routes!(misc::outbox));
    }
    let api = api.merge(biometric);

    let trace = TraceLayer::new(QuietProbes).make_span_with(|req: &Request<_>| {
        let id = req
            .headers()
            .get(request_id_header())
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        // Path only: query strings may carry identifiers and are not needed to debug.
        tracing::info_span!("req", id = %id, method = %req.method(), path = %req.uri().path())
    });

    // The console's own endpoints: sign-in and the few reads the REST API lacks. Session
    // only (operators.rs); the admin REST routes above take a session too.
    let console_api = OpenApiRouter::new()
        .routes(routes!(operators::login))
        .routes(routes!(operators::logout))
        .routes(routes!(operators::me))
        .routes(routes!(operators::totp_enrol))
        .routes(routes!(operators::totp_confirm))
        .routes(routes!(console::validations))
        .routes(routes!(console::test_url))
        .routes(routes!(audit::list))
        .routes(routes!(console::retry_delivery))
        .layer(DefaultBodyLimit::max(st.cfg.max_body_bytes));

    let (routes, doc) = OpenApiRouter::new()
        .nest(BASE_PATH, api)
        .nest("/console/api", console_api)
        .routes(routes!(misc::healthz))
        .routes(routes!(misc::readyz))
        .routes(routes!(crate::metrics::serve))
        .split_for_parts();
    let doc = Arc::new(openapi::finish(doc));

    // Pages, not API: the console's app and its assets, and the API reference.
    routes
        .route("/console", get(console::index))
        .route("/console/", get(console::index))
        .route("/console/{*path}", get(console::asset))
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .config(utoipa_swagger_ui::Config::from(openapi_url())),
        )
        .layer(axum::Extension(doc))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this endpoint",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            request_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            crate::audit::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            crate::metrics::track,
        ))
        .with_state(st)
        .layer(CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            ApiError::internal().into_response()
        }))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(PropagateRequestIdLayer::new(request_id_header()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(request_id_header(), MakeRequestUuid))
}

/// The headers every answer carries (API JSON, errors, `/docs`, the console), each unless the
/// handler set its own (the console's stricter policy and its caching stay): no MIME sniffing,
/// no framing, no referrer; an API answer is never stored by a cache and runs nothing if a
/// browser opens it.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header;
    let path = req.uri().path();
    let page = path.starts_with("/docs")
        || (path.starts_with("/console") && !path.starts_with("/console/api/"));
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    if page {
        // Swagger UI's page loads its own scripts and styles: only framing is refused.
        set(header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'");
    } else {
        set(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        );
        set(header::CACHE_CONTROL, "no-store");
    }
    r
}

/// Which answers the request log reports as failures (at ERROR): every 5xx but a probe's. A
/// load balancer or systemd asks `/readyz` every few seconds, and its 503 while the models
/// load is the answer it asked for, not a fault; probes are logged at DEBUG like any answer.
#[derive(Clone, Copy)]
struct QuietProbes;

impl tower_http::classify::MakeClassifier for QuietProbes {
    type Classifier = tower_http::classify::StatusInRangeAsFailures;
    type FailureClass = tower_http::classify::StatusInRangeFailureClass;
    type ClassifyEos = tower_http::classify::NeverClassifyEos<Self::FailureClass>;

    fn make_classifier<B>(&self, req: &Request<B>) -> Self::Classifier {
        let path = req.uri().path();
        let probe = path.strip_prefix(BASE_PATH).unwrap_or(path);
        let range = match probe {
            // 999: a status no response has, so no probe answer is a failure.
            "/readyz" | "/healthz" => 999..=999,
            _ => 500..=599,
        };
        tower_http::classify::StatusInRangeAsFailures::new(range)
    }
}

/// A running server.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Serving HTTPS (`[tls]` configured).
    pub https: bool,
    pub state: AppState,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    worker: JoinHandle<()>,
}

impl RunningServer {
    /// Stop accepting, finish in-flight requests, stop the webhook worker.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        let _ = self.worker.await;
        // Models still loading in the background (a stop soon after a start) finish first:
        // ORT torn down under a thread that is building a session reports a failure.
        let face = self.state.face.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if !face.wait_settled(SHUTDOWN_GRACE) {
                tracing::warn!("face models still loading at shutdown");
            }
        })
        .await;
        // Fold the WAL back into the database file so a stopped server leaves one file.
        let db = self.state.db.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if db.engine() == "sqlite" {
                let _ = db.blocking(|c| {
                    Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)
                });
            }
        })
        .await;
    }

    /// `http://ADDR/v2/access` (`https://` with TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, BASE_PATH)
    }
}

/// Open the store, bind, and serve until `shutdown` is called.
pub async fn start(
    cfg: ServerConfig,
    clock: Arc<dyn Clock>,
    face: Option<FaceService>,
) -> Result<RunningServer, StartError> {
    let db_key = crate::sealed::DbKey::load(&cfg)?;
    let db = Db::connect(&cfg.db)?;
    let keys = Keys::load_or_create(&db, &db_key, &cfg.issuer, clock.now_ms())?;
    let otp_key = crate::sealed::otp_key(&db, &db_key)?;
    let hooks_exist = db.blocking(|c| {
        Ok(c.query_row(
            "SELECT EXISTS(SELECT 1 FROM webhooks WHERE enabled = 1)",
            [],
            |r| r.get::<_, bool>(0),
        )?)
    })?;
    let outbox = cfg
        .dev_outbox
        .then(|| OutboxSender::new(db.clone(), clock.clone()));
    let delivery = Delivery::from_config(cfg.smtp.as_ref(), cfg.sms.as_ref(), outbox)?;
    let outbound = crate::outbound::OutboundGuard::new(&cfg.outbound_allow);
    let http = outbound.client(None)?;
    let face = match face {
        Some(f) => f,
        None if cfg.vision.enabled => crate::vision_engine::spawn(&cfg.vision),
        None => FaceService::disabled(),
    };
    let tls = cfg.tls.as_ref().map(crate::tls::Tls::load).transpose()?;
    let addr = cfg.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let st = AppState::new(Inner {
        cfg,
        db,
        clock,
        keys,
        otp_key,
        delivery,
        webhook_wake: Notify::new(),
        hooks_exist: std::sync::atomic::AtomicBool::new(hooks_exist),
        http,
        outbound,
        face,
        templates: Default::default(),
        revocations: Default::default(),
        security_answers: Default::default(),
        metrics: Default::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(webhooks::run_worker(st.clone(), stop_rx.clone()));
    tokio::spawn(reload_keys(st.clone(), stop_rx.clone()));
    let mut app = router(st.clone());
    if let Some(tls) = &tls {
        tokio::spawn(reload_tls_on_sighup(
            tls.clone(),
            hangups().map_err(StartError::Signal)?,
            stop_rx.clone(),
        ));
        if let Some(hsts) = tls.hsts().and_then(|v| HeaderValue::from_str(&v).ok()) {
            app = app.layer(axum::middleware::map_response(
                move |mut r: axum::response::Response| {
                    let hsts = hsts.clone();
                    async move {
                        r.headers_mut()
                            .insert(axum::http::header::STRICT_TRANSPORT_SECURITY, hsts);
                        r
                    }
                },
            ));
        }
    }
    let limits = ConnLimits {
        header_timeout: Duration::from_millis(st.cfg.header_timeout_ms.max(1)),
        max_connections: st.cfg.max_connections.max(1),
        max_per_address: st.cfg.max_connections_per_address.max(1),
        clock: st.clock.clone(),
    };
    let https = tls.is_some();
    let scheme = if https { "https" } else { "http" };
    let server = tokio::spawn(serve(listener, app, tls, limits, stop_rx));
    tracing::info!(%addr, scheme, "access-server listening");
    Ok(RunningServer {
        addr,
        https,
        state: st,
        stop: stop_tx,
        server,
        worker,
    })
}

/// Re-reads the signing keys now and then: a rotation by `access-server keys rotate` (another
/// process) starts signing here, a retired key stops verifying.
async fn reload_keys(st: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(crate::auth::KEY_RELOAD) => {}
        }
        let s = st.clone();
        let r = tokio::task::spawn_blocking(move || s.keys.reload(&s.db, s.clock.now_ms())).await;
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "signing keys not reloaded");
        }
    }
}

fn hangups() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

/// SIGHUP re-reads the certificate and key (a renewal); a bad pair keeps the old one.
async fn reload_tls_on_sighup(
    tls: Arc<crate::tls::Tls>,
    mut hup: tokio::signal::unix::Signal,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            got = hup.recv() => if got.is_none() { return },
        }
        match tls.reload() {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate not reloaded; serving the old one")
            }
        }
    }
}

struct ConnLimits {
    header_timeout: Duration,
    max_connections: usize,
    max_per_address: usize,
    clock: Arc<dyn Clock>,
}

/// The connections each client address (an IPv6 /64) holds.
#[derive(Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One of an address's connection slots, given back when the connection ends.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: std::net::IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<AddressSlot> {
        let ip = operators::PeerAddr::bucket(ip);
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// How often at most a refused connection is logged: a flood writes one line an interval
/// with the count, not one a connection.
const REFUSAL_LOG_EVERY_MS: i64 = 10_000;

/// Counts refused connections between log lines.
#[derive(Default)]
struct RefusalLog {
    count: u64,
    logged_at: Option<i64>,
}

impl RefusalLog {
    /// Counts one refusal at `now` (ms); when a line is due, the refusals it reports (this
    /// one and those since the last line).
    fn refused(&mut self, now: i64) -> Option<u64> {
        self.count += 1;
        if self
            .logged_at
            .is_some_and(|at| now - at < REFUSAL_LOG_EVERY_MS)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// Accepts and serves connections until `stop` turns true, then closes idle keep-alives at
/// once and lets requests in flight finish (bounded by [`SHUTDOWN_GRACE`]). A client that does
/// not send its headers within the header timeout is disconnected; beyond the connection cap
/// new connections are closed on accept.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<crate::tls::Tls>>,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let mut refusals = RefusalLog::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 only: the automatic version sniffing waits for a client's first bytes with no
    // timeout, so silent connections would hold their slots for ever (the header timeout
    // starts only after it). Kiosks and integrations speak HTTP/1.1; nothing here upgrades.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let taken = per_address
            .take(peer.ip(), limits.max_per_address)
            .zip(slots.clone().try_acquire_owned().ok());
        let Some((address_slot, slot)) = taken else {
            if let Some(n) = refusals.refused(limits.clock.now_ms()) {
                tracing::warn!(
                    refused = n,
                    max = limits.max_connections,
                    max_per_address = limits.max_per_address,
                    "connection cap reached; new connections closed (count since the last such line)"
                );
            }
            drop(stream);
            continue;
        };
        // Each request learns its TCP peer (the console's sign-in throttle per address).
        let per_conn = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(operators::PeerAddr(peer.ip()));
                tower::ServiceExt::oneshot(per_conn.clone(), req)
            });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            // Errors here are a client's (reset, header timeout, a failed handshake): nothing
            // to report.
            match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    // The handshake counts against the header timeout: a client that opens a
                    // connection and says nothing is closed either way.
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
            drop((slot, address_slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period were dropped");
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How long requests in flight may take to finish at shutdown: within [`SHUTDOWN_GRACE`],
/// leaving time for the WAL checkpoint after them.
const DRAIN: Duration = Duration::from_secs(15);

/// A whole request, body included, must be read and answered in `request_timeout_ms`.
async fn request_deadline(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = Duration::from_millis(st.cfg.request_timeout_ms.max(1));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            ApiError::new(ErrorCode::RequestTimeout, "the request took too long").into_response()
        }
    }
}

/// Upper bound for a graceful shutdown before in-flight requests are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;
    use tower_http::classify::{ClassifiedResponse, ClassifyResponse, MakeClassifier};

    /// A probe's 503 (still loading) is not logged as a failure; any other 5xx is.
    /// A flood of refused connections writes one line an interval, with the count.
    #[test]
    fn refused_connections_are_logged_once_an_interval_with_their_count() {
        let mut log = RefusalLog::default();
        let lines: Vec<(i64, u64)> = (0..30_000)
            .filter_map(|i| {
                let now = i; // one a millisecond for 30 s
                log.refused(now).map(|n| (now, n))
            })
            .collect();
        assert_eq!(lines, vec![(0, 1), (10_000, 10_000), (20_000, 10_000)]);
        // The rest is told with the next one.
        assert_eq!(log.refused(60_000), Some(10_000));
    }

    /// Each address holds at most its share; a slot given back is free again.
    #[test]
    fn connections_are_capped_per_address() {
        let table = Arc::new(PerAddress::default());
        let a: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: std::net::IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let b: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let first = table.take(a, 2).unwrap();
        let _second = table.take(same_64, 2).unwrap();
        assert!(table.take(a, 2).is_none(), "a /64 is one address");
        assert!(table.take(b, 2).is_some());
        drop(first);
        assert!(table.take(same_64, 2).is_some());
    }

    #[test]
    fn only_non_probe_server_errors_are_failures() {
        let failed = |path: &str, status: u16| {
            let req = Request::get(path).body(()).unwrap();
            let res = axum::http::Response::builder()
                .status(status)
                .body(())
                .unwrap();
            match QuietProbes.make_classifier(&req).classify_response(&res) {
                ClassifiedResponse::Ready(r) => r.is_err(),
                ClassifiedResponse::RequiresEos(_) => unreachable!("no streaming classes"),
            }
        };
        for probe in [
            "/readyz",
            "/healthz",
            "/v2/access/readyz",
            "/v2/access/healthz",
        ] {
            assert!(!failed(probe, 503), "{probe}");
        }
        assert!(failed("/v2/access/otp/send", 503));
        assert!(failed("/readyz/x", 500));
        assert!(!failed("/v2/access/otp/send", 429));
    }
}
