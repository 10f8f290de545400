//! Kiosk sync: a delta feed of face templates and an idempotent upload of offline events.

use access_types::{
    ErrorCode, SyncEventsRequest, SyncEventsResponse, TemplateChange, TemplateOp, TemplatePage,
    TemplateSyncQuery,
};
use axum::extract::State;
use axum::response::Response;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::db::exec;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::flows::project_exists;
use crate::ok;
use crate::state::AppState;

const MAX_PAGE: u32 = 500;
const MAX_EVENTS: usize = 1000;

/// Changes with `rev > cursor`, oldest first. The cursor is the last `rev` seen; deleted
/// templates come as `op: delete` tombstones.
pub async fn templates(
    State(st): State<AppState>,
    _a: Auth,
    ApiQuery(q): ApiQuery<TemplateSyncQuery>,
) -> ApiResult<Response> {
    let after: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| ApiError::bad_request("invalid cursor"))?,
    };
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_PAGE);
    let page = st
        .db
        .call(move |c| {
            if !project_exists(c, &q.project_id)? {
                return Err(ApiError::new(
                    ErrorCode::ProjectNotFound,
                    "unknown project_id",
                ));
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
            Ok(TemplatePage {
                items,
                next_cursor: next.to_string(),
                has_more,
            })
        })
        .await?;
    Ok(ok(page, ""))
}

/// Store offline events; an id seen before is reported as a duplicate and not stored again,
/// so a kiosk can blindly retry a whole batch.
pub async fn events(
    State(st): State<AppState>,
    _a: Auth,
    ApiJson(req): ApiJson<SyncEventsRequest>,
) -> ApiResult<Response> {
    if req.events.len() > MAX_EVENTS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_EVENTS} events per batch"
        )));
    }
    for e in &req.events {
        if e.event_id.trim().is_empty() || e.event_id.len() > 128 {
            return Err(ApiError::bad_request(
                "event_id must be 1 to 128 characters",
            ));
        }
        if e.kind.trim().is_empty() || e.kind.len() > 64 {
            return Err(ApiError::bad_request("kind must be 1 to 64 characters"));
        }
        if parse_rfc3339(&e.occurred_at).is_none() {
            return Err(ApiError::bad_request(format!(
                "event {}: occurred_at must be RFC 3339",
                e.event_id
            )));
        }
    }
    let now = st.clock.now_ms();
    let res = st
        .db
        .tx(move |tx| {
            let mut accepted = Vec::new();
            let mut duplicates = Vec::new();
            for e in req.events {
                if !project_exists(tx, &e.project_id)? {
                    return Err(ApiError::new(ErrorCode::ProjectNotFound, "unknown project_id")
                        .with_details(serde_json::json!({ "event_id": e.event_id })));
                }
                let n = exec(tx,
                    "INSERT OR IGNORE INTO sync_events(event_id, kiosk_id, kind, project_id, user_id,
                       occurred_at, payload, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    rusqlite::params![
                        e.event_id,
                        req.kiosk_id,
                        e.kind,
                        e.project_id,
                        e.user_id,
                        e.occurred_at,
                        e.payload.to_string(),
                        now
                    ],
                )?;
                if n == 1 { accepted.push(e.event_id) } else { duplicates.push(e.event_id) }
            }
            Ok(SyncEventsResponse { accepted, duplicates })
        })
        .await?;
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
