//! Kiosk sync: a delta feed of face templates and an idempotent upload of offline events.

use access_types::kiosk_identity::ProofError;
use access_types::{
    ErrorCode, EventRefusal, OfflineEvent, RefusedEvent, SyncEventsRequest, SyncEventsResponse,
    TemplateChange, TemplateOp, TemplatePage, TemplateSyncQuery, WebhookEventType,
};
use axum::extract::State;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::db::exec;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::flows::project_exists;
use crate::state::AppState;
use crate::{kiosks, ok, webhooks};

const MAX_PAGE: u32 = 500;
const MAX_EVENTS: usize = 1000;

/// What the feed answers: a page, or "nothing new" when the caller's tag is the head.
pub enum Feed {
    Unchanged { etag: String },
    Page { page: TemplatePage, etag: String },
}

/// Changes with `rev > cursor`, oldest first, `limit` at most (default 200, at most 500).
/// The cursor is the last `rev` seen; deleted templates come as `op: delete` tombstones.
/// Every answer carries the project's head revision as its `ETag` (`TemplatePage::etag`);
/// `If-None-Match` with it is answered 304 after one index lookup, no template read.
#[utoipa::path(
    get,
    path = "/sync/templates",
    tag = "sync",
    summary = "Delta feed of enrolled templates, paged (limit, cursor); ETag is the head revision, If-None-Match with it is 304",
    params(("project_id" = String, Query), ("cursor" = Option<String>, Query), ("limit" = Option<String>, Query)),
    responses((status = 200, description = "success", body = access_types::TemplatePage)),
    security(("bearer" = [])),
)]
pub async fn templates(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<TemplateSyncQuery>,
) -> ApiResult<Response> {
    auth.allow_project(&q.project_id)?;
    let if_none_match = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let feed = read_feed(&st, q, if_none_match).await?;
    Ok(match feed {
        Feed::Unchanged { etag } => (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response(),
        Feed::Page { page, etag } => {
            let mut r = ok(page, "");
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(ETAG, v);
            }
            r
        }
    })
}

/// The template feed of `q.project_id` after `q.cursor`.
pub async fn read_feed(
    st: &AppState,
    q: TemplateSyncQuery,
    if_none_match: Option<String>,
) -> ApiResult<Feed> {
    let after: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| ApiError::bad_request("invalid cursor"))?,
    };
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_PAGE);
    st.db
        .call(move |c| {
            if !project_exists(c, &q.project_id)? {
                return Err(ApiError::new(
                    ErrorCode::ProjectNotFound,
                    "unknown project_id",
                ));
            }
            // The newest revision: the last entry of the (project_id, rev) index.
            let head = crate::templates::head_rev(c, &q.project_id)?;
            let etag = TemplatePage::etag(&head.to_string());
            if if_none_match
                .as_deref()
                .is_some_and(|h| TemplatePage::etag_matches(h, &etag))
            {
                return Ok(Feed::Unchanged { etag });
            }
            let mut s = c.prepare_cached(
                "SELECT id, user_id, model_id, embedding, created_at, deleted_at, rev FROM templates
                 WHERE project_id = ?1 AND rev > ?2 ORDER BY rev LIMIT ?3",
            )?;
            let mut items = s
                .query_map(rusqlite::params![q.project_id, after, limit + 1], |r| {
                    let deleted: Option<i64> = r.get(5)?;
                    let template_id: String = r.get(0)?;
                    // A live template whose bytes are no embedding goes out as deleted: the
                    // kiosk drops any copy, and the feed (and its cursor) moves on.
                    let embedding = match deleted {
                        Some(_) => None,
                        None => decode(&template_id, &r.get::<_, Vec<u8>>(3)?),
                    };
                    Ok(TemplateChange {
                        template_id,
                        user_id: r.get(1)?,
                        project_id: q.project_id.clone(),
                        model_id: r.get(2)?,
                        op: match embedding {
                            Some(_) => TemplateOp::Upsert,
                            None => TemplateOp::Delete,
                        },
                        embedding,
                        rev: r.get::<_, i64>(6)?.max(0) as u64,
                        changed_at: rfc3339(deleted.unwrap_or(r.get(4)?)),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = items.len() > limit as usize;
            items.truncate(limit as usize);
            let next = items.last().map(|i| i.rev as i64).unwrap_or(after);
            Ok(Feed::Page {
                page: TemplatePage {
                    items,
                    next_cursor: next.to_string(),
                    has_more,
                },
                etag,
            })
        })
        .await
}

/// Largest payload of one offline event, bytes of compact JSON.
const MAX_EVENT_PAYLOAD: usize = 4096;
/// How far in the future an event may claim to be (kiosk clocks drift).
const MAX_EVENT_FUTURE_MS: i64 = 5 * 60 * 1000;

/// Why an event cannot be stored, before its signature is looked at.
fn implausible(
    e: &OfflineEvent,
    project_id: &str,
    now: i64,
    max_age_ms: i64,
) -> Option<(EventRefusal, String)> {
    if e.event_id.trim().is_empty() || e.event_id.len() > 128 {
        return Some((
            EventRefusal::Malformed,
            "event_id must be 1 to 128 characters".into(),
        ));
    }
    if e.kind.trim().is_empty() || e.kind.len() > 64 {
        return Some((
            EventRefusal::Malformed,
            "kind must be 1 to 64 characters".into(),
        ));
    }
    if e.user_id.as_ref().is_some_and(|u| u.len() > 128) {
        return Some((EventRefusal::Malformed, "user_id longer than 128".into()));
    }
    if e.payload.to_string().len() > MAX_EVENT_PAYLOAD {
        return Some((
            EventRefusal::TooLarge,
            format!("payload over {MAX_EVENT_PAYLOAD} bytes"),
        ));
    }
    let Some(at) = parse_rfc3339(&e.occurred_at) else {
        return Some((
            EventRefusal::Malformed,
            "occurred_at must be RFC 3339".into(),
        ));
    };
    if at > now + MAX_EVENT_FUTURE_MS || at < now - max_age_ms {
        return Some((
            EventRefusal::ImplausibleTime,
            "occurred_at is in the future or too old".into(),
        ));
    }
    if e.project_id != project_id {
        return Some((
            EventRefusal::OtherProject,
            "the event is for another project than this kiosk's".into(),
        ));
    }
    None
}

/// Store a paired kiosk's signed offline events. Each is checked against the kiosk's
/// registered device key and refused (alone, with a reason) when unsigned, wrongly signed,
/// for another project, oversized, or dated implausibly; an id this kiosk sent before is a
/// duplicate, not stored again, so a kiosk can blindly retry a whole batch. The kiosk id is
/// the token's, never the body's. Each accepted offline sign-in is a webhook event.
#[utoipa::path(
    post,
    path = "/sync/events",
    tag = "sync",
    summary = "Idempotent upload of signed offline events",
    request_body = access_types::SyncEventsRequest,
    responses((status = 200, description = "success", body = access_types::SyncEventsResponse)),
    security(("bearer" = [])),
)]
pub async fn events(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<SyncEventsRequest>,
) -> ApiResult<Response> {
    if req.events.len() > MAX_EVENTS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_EVENTS} events per batch"
        )));
    }
    let Some(kiosk_id) = auth.0.kiosk_id.clone() else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only a paired kiosk posts offline events (signed by its device key)",
        ));
    };
    let now = st.clock.now_ms();
    let max_age_ms = st.cfg.offline_event_max_age_h as i64 * 3_600_000;
    let res = st
        .db
        .tx(move |tx| {
            let key = match kiosks::kiosk_key(tx, &kiosk_id)? {
                Some(k) if !k.revoked => k,
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::KioskRevoked,
                        "this kiosk was revoked; pair it again",
                    ));
                }
            };
            let mut out = SyncEventsResponse {
                accepted: Vec::new(),
                duplicates: Vec::new(),
                refused: Vec::new(),
            };
            for e in req.events {
                let refusal = implausible(&e, &key.project_id, now, max_age_ms).or_else(|| {
                    e.verify(&kiosk_id, &key.public_key).err().map(|err| {
                        let reason = match err {
                            ProofError::Unsigned => EventRefusal::Unsigned,
                            _ => EventRefusal::BadSignature,
                        };
                        (reason, err.to_string())
                    })
                });
                if let Some((reason, detail)) = refusal {
                    tracing::warn!(kiosk = %kiosk_id, event = %e.event_id, %reason, "offline event refused");
                    out.refused.push(RefusedEvent {
                        event_id: e.event_id,
                        reason,
                        detail,
                    });
                    continue;
                }
                let n = exec(tx,
                    "INSERT INTO sync_events(kiosk_id, event_id, kind, project_id,
                       user_id, occurred_at, payload, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                    rusqlite::params![
                        kiosk_id,
                        e.event_id,
                        e.kind,
                        e.project_id,
                        e.user_id,
                        e.occurred_at,
                        e.payload.to_string(),
                        now
                    ],
                )?;
                if n == 0 {
                    out.duplicates.push(e.event_id);
                    continue;
                }
                // A face refused at a kiosk while offline counts against that person as one
                // refused here would (a kiosk's offline success resets nothing: only a
                // success the server saw, or another factor, does).
                // Only a face refused counts (not a try held back, nor "ask who it is").
                let refused_face = matches!(
                    e.payload["reason"].as_str(),
                    Some("NO_MATCH" | "LIVENESS_FAILED")
                );
                if e.kind == "sign_in_failed"
                    && refused_face
                    && let Some(u) = e.user_id.as_deref()
                {
                    let at = crate::clock::parse_rfc3339(&e.occurred_at)
                        .unwrap_or(now)
                        .min(now);
                    crate::face_attempts::record_failure(tx, &e.project_id, u, at)?;
                }
                if e.kind == "sign_in" {
                    if let Some(u) = e.user_id.as_deref() {
                        // Checked plausible above: not in the future, not too old.
                        let at = crate::clock::parse_rfc3339(&e.occurred_at)
                            .unwrap_or(now)
                            .min(now);
                        crate::activity::record_sign_in(tx, &e.project_id, u, at)?;
                    }
                    webhooks::enqueue(
                        tx,
                        &e.project_id,
                        "",
                        WebhookEventType::KioskOfflineSignIn,
                        json!({
                            "kiosk_id": kiosk_id,
                            "event_id": e.event_id,
                            "user_id": e.user_id,
                            "occurred_at": e.occurred_at,
                            "payload": e.payload,
                        }),
                        now,
                    )?;
                }
                out.accepted.push(e.event_id);
            }
            Ok(out)
        })
        .await?;
    if !res.accepted.is_empty() {
        st.webhook_wake.notify_one();
    }
    Ok(ok(res, ""))
}

/// A stored embedding for the feed, as stored (any model's: the kiosk keeps its own model's).
fn decode(template_id: &str, blob: &[u8]) -> Option<Vec<f32>> {
    match vision::Embedding::from_le_bytes(blob) {
        Ok(e) => Some(e.into_vec()),
        Err(e) => {
            tracing::warn!(template = %template_id, error = %e, "stored template unreadable");
            None
        }
    }
}
