//! Erasure of a person's face samples in a project, from an administrator or from a kiosk of
//! that project (after its admin PIN): the templates become tombstones in the template feed
//! (`rev` moves on, the embedding bytes are cleared), so every kiosk drops its copies at its
//! next sync, and the erasure is recorded in `erasures` (who, when, how many samples).
//! `DELETE /biometric/users/{user_id}` (an addition to the contract) and the admin's
//! `DELETE /users/{user_id}` both go through [`erase`].

use crate::sql::Connection;
use access_types::{ApiTokenClaims, DeletedUser, ErrorCode, UserId};
use axum::extract::{Path, State};
use axum::response::Response;

use crate::admin::RequiredProject;
use crate::db::{exec, next_counter};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Auth};
use crate::flows::project_exists;
use crate::ok;
use crate::state::AppState;

/// Tombstones every live template of `user_id` in `project_id` and records the erasure (the
/// `erasures` table, the audit log and a `face.erased` webhook event: `people::record`), in
/// the caller's transaction. Erasing someone with no samples erases nothing (and records
/// that). The caller checked who may erase (`people::may_erase`) and invalidates the
/// project's template cache after the commit.
///
/// (See also [`refuse_if_erased_since`]: a sample taken before an erasure never brings the
/// person back.)
pub fn erase(
    tx: &Connection,
    project_id: &str,
    user_id: &str,
    actor: &ApiTokenClaims,
    now_ms: i64,
) -> ApiResult<DeletedUser> {
    if !project_exists(tx, project_id)? {
        return Err(ApiError::new(
            ErrorCode::ProjectNotFound,
            "unknown project_id",
        ));
    }
    let ids: Vec<String> = {
        let mut s = tx.prepare_cached(
            "SELECT id FROM templates WHERE project_id = ?1 AND user_id = ?2 AND deleted_at IS NULL",
        )?;
        s.query_map([project_id, user_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for id in &ids {
        let rev = next_counter(tx, "template_rev")?;
        exec(
            tx,
            "UPDATE templates SET deleted_at = ?1, rev = ?2, embedding = ?4 WHERE id = ?3",
            rusqlite::params![now_ms, rev, id, Vec::<u8>::new()],
        )?;
    }
    crate::activity::forget(tx, project_id, user_id)?;
    exec(
        tx,
        "INSERT INTO erasures(project_id, user_id, templates_deleted, actor, scope, erased_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            project_id,
            user_id,
            ids.len() as i64,
            actor.sub,
            actor.scope.as_str(),
            now_ms
        ],
    )?;
    crate::people::record(
        tx,
        now_ms,
        &crate::people::actor(actor),
        access_types::WebhookEventType::FaceErased,
        project_id,
        Some(user_id),
        serde_json::json!({ "templates_deleted": ids.len() }),
    )?;
    Ok(DeletedUser {
        user_id: user_id.to_string(),
        project_id: project_id.to_string(),
        templates_deleted: ids.len() as u32,
    })
}

/// `DELETE /biometric/users/{user_id}?project_id=`: erases the person's samples (200 with
/// how many, 0 when there were none: a kiosk's retried erasure is not an error). A kiosk
/// erases only its own unconfirmed people (`people::may_erase`, 403 `ERASURE_NEEDS_ADMIN`).
#[utoipa::path(
    delete,
    path = "/biometric/users/{user_id}",
    tag = "faces",
    summary = "Erase a person's face samples (tombstones in the template feed; 0 when none)",
    params(("user_id" = String, Path), ("project_id" = String, Query)),
    responses((status = 200, description = "success", body = access_types::DeletedUser)),
    security(("bearer" = [])),
)]
pub async fn delete_biometric_user(
    State(st): State<AppState>,
    auth: Auth,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<RequiredProject>,
) -> ApiResult<Response> {
    let user_id = UserId::parse(&user_id)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .to_string();
    auth.allow_project(&q.project_id)?;
    let now = st.clock.now_ms();
    let project = q.project_id.clone();
    let d = st
        .db
        .tx(move |tx| {
            crate::people::may_erase(tx, &auth, &project, &user_id)?;
            erase(tx, &project, &user_id, &auth.0, now)
        })
        .await?;
    st.templates.invalidate(&d.project_id);
    st.webhook_wake.notify_one();
    tracing::info!(
        project = %d.project_id,
        templates = d.templates_deleted,
        "person's face samples erased"
    );
    Ok(ok(d, "face samples erased"))
}

/// Refuses (409 `PERSON_ERASED`) a sample of `user_id` taken at `captured_ms`, before the
/// person's latest erasure in the project: a kiosk that enrolled them offline, and syncs after
/// someone erased them elsewhere, does not bring them back.
pub fn refuse_if_erased_since(
    tx: &Connection,
    project_id: &str,
    user_id: &str,
    captured_ms: i64,
) -> ApiResult<()> {
    let erased: Option<i64> = tx.query_row(
        "SELECT MAX(erased_at) FROM erasures WHERE project_id = ?1 AND user_id = ?2",
        [project_id, user_id],
        |r| r.get(0),
    )?;
    match erased {
        Some(at) if at > captured_ms => Err(ApiError::new(
            ErrorCode::PersonErased,
            "this person was erased after the sample was taken",
        )),
        _ => Ok(()),
    }
}
