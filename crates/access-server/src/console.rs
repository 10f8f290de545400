//! `/console`: the operators' web app (console/ at the repository root, Svelte), its assets
//! embedded in release builds and read from `console/dist` in debug builds; and the few read
//! endpoints it needs that the REST API does not have (`/console/api/…`, session only).
//!
//! Every page and asset is served with a strict Content-Security-Policy (scripts, styles and
//! connections to this origin only; images also as `data:` for the pairing QR code), no
//! framing, no sniffing, no referrer. When the console was never built (a fresh clone, a plain
//! `cargo build`) `/console` says so instead of failing to compile or to start.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::ok;
use crate::operators::OperatorSession;
use crate::state::AppState;

#[derive(rust_embed::Embed)]
#[folder = "../../console/dist"]
#[allow_missing = true]
struct Assets;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Access console</title></head><body><h1>The console was not built</h1>\
<p>This server was compiled without the console's files. Build them with \
<code>cd console &amp;&amp; npm ci &amp;&amp; npm run build</code>, then rebuild or restart \
the server (scripts/run.sh does both).</p></body></html>";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn with_headers(mut resp: Response, cache: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

fn file(path: &str) -> Option<Response> {
    let f = Assets::get(path)?;
    // Vite names assets by content hash: they never change under one name.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let resp = (
        [(header::CONTENT_TYPE, content_type(path))],
        f.data.into_owned(),
    )
        .into_response();
    Some(with_headers(resp, cache))
}

/// `GET /console` and `/console/`: the app's page (hash routing: no other page exists).
pub async fn index() -> Response {
    file("index.html").unwrap_or_else(|| {
        with_headers(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                NOT_BUILT,
            )
                .into_response(),
            "no-cache",
        )
    })
}

/// `GET /console/{*path}`: a built asset.
pub async fn asset(Path(path): Path<String>) -> Response {
    if path.is_empty() || path == "index.html" {
        return index().await;
    }
    file(&path).unwrap_or_else(|| {
        with_headers(
            (StatusCode::NOT_FOUND, "not found").into_response(),
            "no-cache",
        )
    })
}

/// Whether the console's files are in this binary (or on disk, in a debug build).
pub fn built() -> bool {
    Assets::get("index.html").is_some()
}

// ------------------------------------------------------------------------------------------
// Read endpoints the console needs
// ------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationsQuery {
    pub project_id: Option<String>,
    /// Created before this time (ms since the epoch): the previous page's `next_before`.
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct ValidationRow {
    pub id: String,
    pub kind: String,
    pub channel: Option<String>,
    pub identifier: String,
    pub project_id: String,
    pub project_flow_id: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub validated_at: Option<String>,
    pub match_score: Option<f64>,
    pub matched_user: Option<String>,
    pub liveness_score: Option<f64>,
}

/// `GET /console/api/validations`: the newest sign-in attempts, 50 a page.
#[utoipa::path(
    get,
    path = "/validations",
    tag = "console",
    summary = "The newest sign-in attempts, about 50 a page (before, project_id, limit); a page never ends inside a millisecond, so `next_before` loses none",
    params(("before" = Option<String>, Query), ("project_id" = Option<String>, Query), ("limit" = Option<String>, Query)),
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn validations(
    State(st): State<AppState>,
    _s: OperatorSession,
    ApiQuery(q): ApiQuery<ValidationsQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = q.before.unwrap_or(i64::MAX);
    let (rows, next_before) = st
        .db
        .call(move |c| {
            const COLUMNS: &str = "id, kind, channel, identifier, project_id, flow_id, status,
                attempts, created_at, validated_at, match_score, matched_user, liveness_score";
            let row = |r: &crate::sql::Row<'_>| {
                let created: i64 = r.get(8)?;
                Ok((
                    created,
                    ValidationRow {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        channel: r.get(2)?,
                        identifier: r.get(3)?,
                        project_id: r.get(4)?,
                        project_flow_id: r.get(5)?,
                        status: r.get(6)?,
                        attempts: r.get(7)?,
                        created_at: rfc3339(created),
                        validated_at: r.get::<_, Option<i64>>(9)?.map(rfc3339),
                        match_score: r.get(10)?,
                        matched_user: r.get(11)?,
                        liveness_score: r.get(12)?,
                    },
                ))
            };
            // One text per filter (not `?2 IS NULL OR project_id = ?2`): each is read from its
            // own index in time order, never by scanning the table.
            let mut rows = match &q.project_id {
                Some(p) => c.query_all(
                    &format!(
                        "SELECT {COLUMNS} FROM validations
                         WHERE project_id = ?1 AND created_at < ?2
                         ORDER BY created_at DESC, id LIMIT ?3"
                    ),
                    rusqlite::params![p, before, limit],
                    row,
                )?,
                None => c.query_all(
                    &format!(
                        "SELECT {COLUMNS} FROM validations WHERE created_at < ?1
                         ORDER BY created_at DESC, id LIMIT ?2"
                    ),
                    rusqlite::params![before, limit],
                    row,
                )?,
            };
            let Some(last) = (rows.len() == limit as usize)
                .then(|| rows.last().map(|(at, _)| *at))
                .flatten()
            else {
                return Ok((rows, None));
            };
            // The next page starts before `last`, so a page never ends inside a millisecond:
            // the rest of that millisecond's validations come on this page.
            rows.retain(|(at, _)| *at != last);
            rows.extend(match &q.project_id {
                Some(p) => c.query_all(
                    &format!(
                        "SELECT {COLUMNS} FROM validations
                         WHERE project_id = ?1 AND created_at = ?2 ORDER BY id"
                    ),
                    rusqlite::params![p, last],
                    row,
                )?,
                None => c.query_all(
                    &format!("SELECT {COLUMNS} FROM validations WHERE created_at = ?1 ORDER BY id"),
                    [last],
                    row,
                )?,
            });
            Ok((rows, Some(last)))
        })
        .await?;
    let rows: Vec<ValidationRow> = rows.into_iter().map(|(_, v)| v).collect();
    Ok(ok(
        json!({ "validations": rows, "next_before": next_before }),
        "",
    ))
}

/// `POST /console/api/webhooks/deliveries/{id}/retry`: a failed (or waiting) delivery is
/// tried again now, with a fresh attempt budget.
#[utoipa::path(
    post,
    path = "/webhooks/deliveries/{id}/retry",
    tag = "console",
    summary = "Retry a failed or waiting webhook delivery now",
    params(("id" = String, Path)),
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn retry_delivery(
    State(st): State<AppState>,
    _s: OperatorSession,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    st.db
        .call(move |c| {
            let n = c.execute(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,
                   next_attempt_at = ?1, claimed_by = NULL, lease_until = NULL
                 WHERE id = ?2 AND status != 'delivered'",
                rusqlite::params![now, id],
            )?;
            if n == 0 {
                return Err(ApiError::new(
                    access_types::ErrorCode::NotFound,
                    "no such delivery waiting or failed",
                ));
            }
            Ok(())
        })
        .await?;
    st.hooks_exist
        .store(true, std::sync::atomic::Ordering::Relaxed);
    st.webhook_wake.notify_one();
    Ok(ok(json!({}), "delivery queued again"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestUrlRequest {
    pub identifier: String,
    /// `email` (default), `sms`, `whatsapp` or `face`: what the sign-in would be.
    #[serde(default)]
    pub method: Option<String>,
}

/// `POST /console/api/project-flows/{id}/test-url`: asks the flow's saved customer URL about
/// one identifier exactly as a sign-in would (signed, with its timeout; the answer is cached
/// as a sign-in's is) and says what it answered: `{allowed, ms}`, or
/// `SECURITY_CHECK_UNAVAILABLE` when it did not answer properly.
#[utoipa::path(
    post,
    path = "/project-flows/{id}/test-url",
    tag = "console",
    summary = "Asks the flow's customer security URL as a sign-in would, and shows its answer",
    request_body = crate::console::TestUrlRequest,
    params(("id" = String, Path)),
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn test_url(
    State(st): State<AppState>,
    _s: OperatorSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TestUrlRequest>,
) -> ApiResult<Response> {
    use crate::flows::Method;
    let method = match req.method.as_deref().unwrap_or("email") {
        "email" => Method::Email,
        "sms" => Method::Sms,
        "whatsapp" => Method::Whatsapp,
        "face" => Method::Face,
        _ => {
            return Err(ApiError::bad_request(
                "method is email, sms, whatsapp or face",
            ));
        }
    };
    let identifier = req.identifier.trim().to_string();
    if identifier.is_empty() {
        return Err(ApiError::bad_request("give an identifier to test"));
    }
    let flow = st
        .db
        .call(move |c| {
            crate::flows::load_flow(c, &id)?.ok_or_else(|| {
                ApiError::new(
                    access_types::ErrorCode::FlowNotFound,
                    "unknown project flow",
                )
            })
        })
        .await?;
    let started = std::time::Instant::now();
    let answer = crate::flows::check_url(&st, &flow, &identifier, method).await;
    let ms = started.elapsed().as_millis() as u64;
    match answer {
        Ok(()) => Ok(ok(json!({ "allowed": true, "ms": ms }), "")),
        Err(e) if e.code == access_types::ErrorCode::IdentifierNotAllowed => {
            Ok(ok(json!({ "allowed": false, "ms": ms }), ""))
        }
        Err(e) => Err(e),
    }
}
