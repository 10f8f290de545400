//! Health, JWKS and the dev outbox.

use access_types::{Channel, ErrorCode, Health, OutboxList, OutboxMessage};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiQuery};
use crate::ok;
use crate::state::AppState;

/// Liveness: the process is up and answering. Touches nothing else, so a slow database does
/// not get a healthy process restarted; `/readyz` is the one a load balancer asks.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness of the process",
    responses((status = 200, description = "success", body = access_types::Health)),
)]
pub async fn healthz(State(st): State<AppState>) -> Response {
    ok(
        Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vision: st.face.status().into(),
        },
        "",
    )
}

/// How long readiness waits for the database before calling it not ready.
const READY_DB_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: the database answers and the face models are loaded (or face recognition is
/// off). 503 `NOT_READY` with `details.database` / `details.vision` otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness: 503 NOT_READY until the database answers and the models are loaded",
    responses((status = 200, description = "success", body = access_types::Health)),
)]
pub async fn readyz(State(st): State<AppState>) -> ApiResult<Response> {
    let probe = st
        .db
        .call(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?));
    let database = match tokio::time::timeout(READY_DB_WAIT, probe).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(_)) => "error",
        Err(_) => "timeout",
    };
    let vision = st.face.status();
    if database != "ok" || !matches!(vision, "ready" | "disabled") {
        return Err(ApiError::new(ErrorCode::NotReady, "not ready to serve")
            .with_details(serde_json::json!({ "database": database, "vision": vision })));
    }
    Ok(ok(
        Health {
            status: "ready".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vision: vision.into(),
        },
        "",
    ))
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "documents",
    summary = "Public keys of the token signer (EdDSA, RFC 8037): a plain JWK set, no envelope",
    responses((status = 200, description = "success", body = access_types::JwkSet)),
)]
pub async fn jwks(State(st): State<AppState>) -> Response {
    // Plain JWKS (no envelope): JWT libraries fetch this document directly.
    axum::Json(st.keys.jwks()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub to: String,
}

/// Admin scope only: the outbox holds every code sent, and a kiosk token must not read codes
/// sent to people at other kiosks (or to anyone).
#[utoipa::path(
    get,
    path = "/dev/outbox",
    tag = "dev",
    summary = "Dev outbox (only with dev_outbox on)",
    params(("to" = String, Query)),
    responses((status = 200, description = "success", body = access_types::OutboxList)),
    security(("bearer" = [])),
)]
pub async fn outbox(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Response> {
    // An unencoded `+` in a query string arrives as a space: restore the E.164 prefix.
    let raw = q.to.trim();
    let to = if q.to.starts_with(' ') && !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit())
    {
        format!("+{raw}")
    } else {
        raw.to_ascii_lowercase()
    };
    let messages = st
        .db
        .call(move |c| {
            let mut s = c.prepare_cached(
                "SELECT channel, recipient, body, code, created_at FROM outbox
                 WHERE recipient = ?1 ORDER BY id DESC LIMIT 100",
            )?;
            Ok(s.query_map([to], |r| {
                let ch: String = r.get(0)?;
                Ok(OutboxMessage {
                    channel: Channel::parse(&ch).unwrap_or(Channel::Email),
                    to: r.get(1)?,
                    body: r.get(2)?,
                    code: r.get(3)?,
                    created_at: rfc3339(r.get(4)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(ok(OutboxList { messages }, ""))
}
