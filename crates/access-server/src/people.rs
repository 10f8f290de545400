//! Who may change a person's face samples beyond the project a token is bound to, and the
//! record each change leaves. A kiosk credential must not be able to take a person over by
//! erasing them and enrolling another face under their id (two calls, each allowed alone).
//!
//! - **A kiosk erases only its own, unconfirmed people:** every live sample of the person was
//!   enrolled by this kiosk and no administrator confirmed the person; anyone else's erasure
//!   needs an admin token or the console (403 `ERASURE_NEEDS_ADMIN`). Why not admin-only: a
//!   kiosk must still undo its own mistaken enrolment at once (a wrong name typed, consent
//!   withdrawn at the desk), and erasing samples it made itself cannot help a takeover.
//! - **An id a kiosk erased is enrolled again by a kiosk only after an administrator confirms
//!   the person** (`POST /biometric/users/{user_id}/confirm`; 409
//!   `REENROLMENT_NEEDS_APPROVAL`). An admin token's enrolment is its own approval.
//! - **Kiosks add at most `kiosk_max_samples_per_person` samples to a person** (409
//!   `TOO_MANY_SAMPLES`): every sample moves the person's fused template, so a bounded number
//!   bounds how far samples from kiosks can move it (see `vision::Gallery::admit`).
//! - **A kiosk's `source: file` sample is refused where the flow requires liveness** (403
//!   `FILE_SOURCE_NEEDS_ADMIN`, `biometric::file_source_allowed`): a file is not judged live, so
//!   only an administrator may vouch for one there. Where liveness is not required both
//!   sources are held to the same checks and the label is only a record.
//!
//! Every enrolment, erasure, confirmation and change of a project's 1:N availability is written
//! to the audit log (the console's Audit screen) and queued as a webhook event, in the same
//! transaction as the change.

use access_types::{ApiTokenClaims, ErrorCode, WebhookEventType};
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::admin::RequiredProject;
use crate::clock::rfc3339;
use crate::db::{exec, row};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiQuery, Auth};
use crate::sql::{Connection, OptionalExtension};
use crate::state::AppState;
use crate::{audit, ok, webhooks};

/// Who made a change, as the audit log and `templates.enrolled_by` name them: `kiosk:<id>`
/// for a paired kiosk, the token's subject for an administrator (as the audit middleware).
pub fn actor(claims: &ApiTokenClaims) -> String {
    match &claims.kiosk_id {
        Some(k) => format!("kiosk:{k}"),
        None => claims.sub.clone(),
    }
}

/// When an administrator last confirmed `user_id` in `project_id` (ms), if ever.
fn confirmed_at(c: &Connection, project_id: &str, user_id: &str) -> ApiResult<Option<i64>> {
    Ok(c.query_row(
        "SELECT MAX(confirmed_at) FROM person_confirmations WHERE project_id = ?1 AND user_id = ?2",
        [project_id, user_id],
        |r| r.get(0),
    )?)
}

/// Refuses a kiosk's erasure of anyone but its own unconfirmed people (module docs). An
/// admin token erases anyone; nobody's live samples left (a retried erasure) is no refusal.
pub fn may_erase(c: &Connection, auth: &Auth, project_id: &str, user_id: &str) -> ApiResult<()> {
    if auth.is_admin() {
        return Ok(());
    }
    let me = actor(&auth.0);
    let (live, others): (i64, i64) = row(
        c,
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN enrolled_by = ?3 THEN 0 ELSE 1 END), 0)
         FROM templates WHERE project_id = ?1 AND user_id = ?2 AND deleted_at IS NULL",
        [project_id, user_id, me.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if live == 0 {
        return Ok(());
    }
    let confirmed = confirmed_at(c, project_id, user_id)?.is_some();
    if others > 0 || confirmed {
        return Err(ApiError::new(
            ErrorCode::ErasureNeedsAdmin,
            "a kiosk may erase only people it enrolled itself and no administrator confirmed",
        )
        .with_details(
            json!({ "reason": if confirmed { "confirmed" } else { "enrolled_elsewhere" } }),
        ));
    }
    Ok(())
}

/// Refuses a kiosk's sample of a person a kiosk erased since their last confirmation, and one
/// beyond the kiosks' share of samples (module docs). An admin token is not bounded.
pub fn may_enrol(
    c: &Connection,
    auth: &Auth,
    project_id: &str,
    user_id: &str,
    max_samples: u32,
) -> ApiResult<()> {
    if auth.is_admin() {
        return Ok(());
    }
    let erased_by_kiosk: Option<i64> = c.query_row(
        "SELECT MAX(erased_at) FROM erasures
         WHERE project_id = ?1 AND user_id = ?2 AND scope = 'kiosk'",
        [project_id, user_id],
        |r| r.get(0),
    )?;
    if let Some(erased) = erased_by_kiosk
        && confirmed_at(c, project_id, user_id)?.is_none_or(|at| at < erased)
    {
        return Err(ApiError::new(
            ErrorCode::ReenrolmentNeedsApproval,
            "a kiosk erased this person: an administrator must confirm them before a kiosk enrols them again",
        ));
    }
    let from_kiosks: i64 = row(
        c,
        "SELECT COUNT(*) FROM templates WHERE project_id = ?1 AND user_id = ?2
         AND deleted_at IS NULL AND enrolled_by LIKE 'kiosk:%'",
        [project_id, user_id],
        |r| r.get(0),
    )?;
    if from_kiosks >= i64::from(max_samples) {
        return Err(ApiError::new(
            ErrorCode::TooManySamples,
            "kiosks added as many samples to this person as they may: more need an administrator",
        )
        .with_details(json!({ "max_samples": max_samples })));
    }
    Ok(())
}

/// One change to a person's samples (or a project's 1:N), recorded where operators and
/// integrations see it: an audit line (`action` = the event's name, `target` =
/// `project/user` or the project) and a webhook event with `data`, in the caller's
/// transaction.
pub fn record(
    tx: &Connection,
    now: i64,
    actor: &str,
    event: WebhookEventType,
    project_id: &str,
    user_id: Option<&str>,
    mut data: Value,
) -> ApiResult<()> {
    let target = match user_id {
        Some(u) => format!("{project_id}/{u}"),
        None => project_id.to_string(),
    };
    audit::record(tx, now, actor, event.as_str(), Some(&target), None, None)?;
    if let Value::Object(m) = &mut data {
        m.insert("project_id".into(), json!(project_id));
        if let Some(u) = user_id {
            m.insert("user_id".into(), json!(u));
        }
        m.insert("by".into(), json!(actor));
    }
    webhooks::enqueue(tx, project_id, "", event, data, now)?;
    Ok(())
}

/// Records a project's 1:N availability when it differs from the last one recorded (never
/// recorded: on), so the log holds each change once, not every search.
pub async fn note_identification(
    st: &AppState,
    project_id: &str,
    on: bool,
    details: Value,
) -> ApiResult<()> {
    let (p, now) = (project_id.to_string(), st.clock.now_ms());
    let last = |c: &Connection, p: &str| -> ApiResult<bool> {
        let action: Option<String> = c
            .query_row(
                "SELECT action FROM audit_log WHERE target = ?1 AND action IN (?2, ?3)
                 ORDER BY id DESC LIMIT 1",
                [
                    p,
                    WebhookEventType::FaceIdentificationOff.as_str(),
                    WebhookEventType::FaceIdentificationOn.as_str(),
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(action.as_deref() != Some(WebhookEventType::FaceIdentificationOff.as_str()))
    };
    let p2 = p.clone();
    if st.db.call(move |c| last(c, &p2)).await? == on {
        return Ok(());
    }
    let changed = st
        .db
        .tx(move |tx| {
            // Again inside the write: two requests (or replicas) noticing it together record once.
            if last(tx, &p)? == on {
                return Ok(false);
            }
            let event = if on {
                WebhookEventType::FaceIdentificationOn
            } else {
                WebhookEventType::FaceIdentificationOff
            };
            record(tx, now, "server", event, &p, None, details)?;
            Ok(true)
        })
        .await?;
    if changed {
        tracing::warn!(project = %project_id, on, "1:N face identification changed");
        st.webhook_wake.notify_one();
    }
    Ok(())
}

/// `POST /biometric/users/{user_id}/confirm` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonConfirmed {
    pub project_id: String,
    pub user_id: String,
    /// RFC 3339.
    pub confirmed_at: String,
    /// Live samples the person has now.
    pub samples: u32,
}

/// An administrator confirms a person: kiosks may no longer erase them, and after a kiosk's
/// erasure a kiosk may enrol them again. 404 `USER_NOT_FOUND` for an id with neither samples
/// nor an erasure in the project.
pub fn confirm(
    tx: &Connection,
    project_id: &str,
    user_id: &str,
    actor: &str,
    now: i64,
) -> ApiResult<PersonConfirmed> {
    let (samples, erasures): (i64, i64) = row(
        tx,
        "SELECT (SELECT COUNT(*) FROM templates WHERE project_id = ?1 AND user_id = ?2
                 AND deleted_at IS NULL),
                (SELECT COUNT(*) FROM erasures WHERE project_id = ?1 AND user_id = ?2)",
        [project_id, user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if samples == 0 && erasures == 0 {
        return Err(ApiError::new(
            ErrorCode::UserNotFound,
            "no enrolled or erased person with that id in this project",
        ));
    }
    exec(
        tx,
        "INSERT INTO person_confirmations(project_id, user_id, confirmed_at, actor)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project_id, user_id)
         DO UPDATE SET confirmed_at = excluded.confirmed_at, actor = excluded.actor",
        rusqlite::params![project_id, user_id, now, actor],
    )?;
    record(
        tx,
        now,
        actor,
        WebhookEventType::FaceConfirmed,
        project_id,
        Some(user_id),
        json!({ "samples": samples }),
    )?;
    Ok(PersonConfirmed {
        project_id: project_id.to_string(),
        user_id: user_id.to_string(),
        confirmed_at: rfc3339(now),
        samples: samples as u32,
    })
}

/// `POST /biometric/users/{user_id}/confirm?project_id=` (admin).
#[utoipa::path(
    post,
    path = "/biometric/users/{user_id}/confirm",
    tag = "faces",
    summary = "Confirm a person's face samples (kiosks may no longer erase them; a kiosk may enrol them again after a kiosk's erasure)",
    params(("user_id" = String, Path), ("project_id" = String, Query)),
    responses((status = 200, description = "success", body = PersonConfirmed)),
    security(("bearer" = [])),
)]
pub async fn confirm_handler(
    State(st): State<AppState>,
    AdminAuth(claims): AdminAuth,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<RequiredProject>,
) -> ApiResult<Response> {
    let user_id = access_types::UserId::parse(&user_id)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .to_string();
    let now = st.clock.now_ms();
    let done = st
        .db
        .tx(move |tx| confirm(tx, &q.project_id, &user_id, &claims.sub, now))
        .await?;
    st.webhook_wake.notify_one();
    Ok(ok(done, "person confirmed"))
}
