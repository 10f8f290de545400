//! The audit log: who changed what through the admin API or the console, and the console's
//! sign-ins. Every request other than GET/HEAD that an admin credential (an admin token or an
//! operator session) authenticated is written down after it was answered, with its method,
//! route path (never the query string or body) and status.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::sql::Connection;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::ok;
use crate::operators::{OperatorSession, PeerAddr};
use crate::state::AppState;

/// Filled by the extractors with the caller's name once it is authenticated as an admin.
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<Option<String>>>);

/// Names the admin caller of this request for the audit log (no-op on requests the
/// middleware does not audit).
pub fn note_actor(parts: &Parts, actor: &str) {
    if let Some(slot) = parts.extensions.get::<Slot>() {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(actor.to_string());
    }
}

pub fn record(
    c: &Connection,
    at: i64,
    actor: &str,
    action: &str,
    target: Option<&str>,
    status: Option<u16>,
    addr: Option<IpAddr>,
) -> crate::sql::Result<()> {
    c.prepare_cached(
        "INSERT INTO audit_log(at, actor, action, target, status, addr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(rusqlite::params![
        at,
        actor,
        action,
        target,
        status,
        addr.map(|a| a.to_string())
    ])?;
    Ok(())
}

/// Middleware: audits unsafe requests an admin made.
pub async fn track(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let action = format!("{} {}", req.method(), req.uri().path());
    let addr = req.extensions().get::<PeerAddr>().map(|p| p.0);
    let resp = next.run(req).await;
    let actor = slot.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(actor) = actor {
        let status = resp.status().as_u16();
        let now = st.clock.now_ms();
        let r = st
            .db
            .call(move |c| Ok(record(c, now, &actor, &action, None, Some(status), addr)?))
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "an audit record was not written");
        }
    }
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Part of the actor's name (`operator:ana@…`, a token's subject).
    pub actor: Option<String>,
    /// Part of the action (`DELETE`, `/kiosks`, `console.login`).
    pub action: Option<String>,
    /// Entries before this id (the previous page's `next_before`).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub status: Option<u16>,
    pub addr: Option<String>,
}

fn like(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
}

/// `GET /console/api/audit`: newest first, 50 a page.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "console",
    summary = "The audit log, newest first (before, actor, action, limit)",
    params(("before" = Option<String>, Query), ("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("limit" = Option<String>, Query)),
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    _s: OperatorSession,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let (actor, action) = (like(q.actor), like(q.action));
    let before = q.before.unwrap_or(i64::MAX);
    let entries = st
        .db
        .call(move |c| {
            let mut s = c.prepare_cached(
                "SELECT id, at, actor, action, target, status, addr FROM audit_log
                 WHERE id < ?1 AND (CAST(?2 AS TEXT) IS NULL OR lower(actor) LIKE lower(?2) ESCAPE '\\')
                   AND (CAST(?3 AS TEXT) IS NULL OR lower(action) LIKE lower(?3) ESCAPE '\\')
                 ORDER BY id DESC LIMIT ?4",
            )?;
            Ok(
                s.query_map(rusqlite::params![before, actor, action, limit], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: rfc3339(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        status: r.get(5)?,
                        addr: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?,
            )
        })
        .await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(ok(
        json!({ "entries": entries, "next_before": next_before }),
        "",
    ))
}
