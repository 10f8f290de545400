//! Setup endpoints (admin scope): projects, project flows, enrolled users.

use crate::sql::{Connection, OptionalExtension, Row};
use access_types::{
    CreateProjectFlowRequest, CreateProjectRequest, EnrolledUser, ErrorCode, FlowStatus, Project,
    ProjectFlow, ProjectMessages, SecurityMode, SecuritySettings, UpdateProjectFlowRequest,
    UpdateProjectRequest,
};
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson, ApiQuery};
use crate::flows::{FLOW_COLUMNS, flow_from_row, load_flow, project_exists};
use crate::outbound::OutboundGuard;
use crate::state::AppState;
use crate::{created, ids, ok};

const PROJECT_COLUMNS: &str = "id, name, description, created_at, updated_at, messages";

/// Stored as JSON; what a server of this version wrote it can read (validated at save).
fn messages_from(text: &str) -> ProjectMessages {
    serde_json::from_str(text).unwrap_or_default()
}

fn project_from_row(r: &Row<'_>) -> crate::sql::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        created_at: rfc3339(r.get(3)?),
        updated_at: rfc3339(r.get(4)?),
        messages: messages_from(&r.get::<_, String>(5)?),
    })
}

fn load_project(c: &Connection, id: &str) -> ApiResult<Project> {
    c.query_row(
        &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"),
        [id],
        project_from_row,
    )
    .optional()?
    .ok_or_else(|| ApiError::new(ErrorCode::ProjectNotFound, "unknown project"))
}

/// How the project's code messages read (the defaults when it set nothing).
pub fn project_messages(c: &Connection, project_id: &str) -> ApiResult<ProjectMessages> {
    let text: Option<String> = c
        .query_row(
            "SELECT messages FROM projects WHERE id = ?1",
            [project_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text.as_deref().map(messages_from).unwrap_or_default())
}

fn messages_json(m: &ProjectMessages) -> ApiResult<String> {
    crate::messages::validate(m)?;
    serde_json::to_string(m).map_err(|_| ApiError::internal())
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request("name must be 1 to 200 characters"));
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    summary = "Create a project",
    request_body = access_types::CreateProjectRequest,
    responses((status = 200, description = "success", body = access_types::Project)),
    security(("bearer" = [])),
)]
pub async fn create_project(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiJson(req): ApiJson<CreateProjectRequest>,
) -> ApiResult<Response> {
    check_name(&req.name)?;
    let messages = messages_json(&req.messages)?;
    let now = st.clock.now_ms();
    let p = st
        .db
        .tx(move |tx| {
            let id = ids::new_id("prj");
            tx.execute(
                "INSERT INTO projects(id, name, description, created_at, updated_at, messages)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                rusqlite::params![id, req.name.trim(), req.description, now, messages],
            )?;
            load_project(tx, &id)
        })
        .await?;
    Ok(created(p, "project created"))
}

#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    summary = "List projects",
    responses((status = 200, description = "success", body = Vec<access_types::Project>)),
    security(("bearer" = [])),
)]
pub async fn list_projects(State(st): State<AppState>, _a: AdminAuth) -> ApiResult<Response> {
    let list = st
        .db
        .call(|c| {
            let mut s = c.prepare(&format!(
                "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY created_at"
            ))?;
            Ok(s.query_map([], project_from_row)?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(ok(list, ""))
}

#[utoipa::path(
    get,
    path = "/projects/{id}",
    tag = "projects",
    summary = "Get a project",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::Project)),
    security(("bearer" = [])),
)]
pub async fn get_project(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(st.db.call(move |c| load_project(c, &id)).await?, ""))
}

#[utoipa::path(
    patch,
    path = "/projects/{id}",
    tag = "projects",
    summary = "Update a project",
    request_body = access_types::UpdateProjectRequest,
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::Project)),
    security(("bearer" = [])),
)]
pub async fn update_project(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateProjectRequest>,
) -> ApiResult<Response> {
    if let Some(n) = &req.name {
        check_name(n)?;
    }
    let messages = req.messages.as_ref().map(messages_json).transpose()?;
    let now = st.clock.now_ms();
    let p = st
        .db
        .tx(move |tx| {
            let mut p = load_project(tx, &id)?;
            if let Some(n) = req.name {
                p.name = n.trim().to_string();
            }
            if let Some(d) = req.description {
                p.description = d;
            }
            tx.execute(
                "UPDATE projects SET name = ?1, description = ?2, updated_at = ?3,
                 messages = COALESCE(?5, messages) WHERE id = ?4",
                rusqlite::params![p.name, p.description, now, id, messages],
            )?;
            load_project(tx, &id)
        })
        .await?;
    Ok(ok(p, "project updated"))
}

/// Refused while flows exist: deleting a project must be a deliberate, two-step act.
#[utoipa::path(
    delete,
    path = "/projects/{id}",
    tag = "projects",
    summary = "Delete a project (no flows left)",
    params(("id" = String, Path)),
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn delete_project(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let pid = id.clone();
    st.db
        .tx(move |tx| {
            load_project(tx, &id)?;
            let flows: i64 =
                tx.query_row("SELECT COUNT(*) FROM flows WHERE project_id = ?1", [&id], |r| r.get(0))?;
            if flows > 0 {
                return Err(ApiError::new(ErrorCode::Conflict, "delete the project's flows first")
                    .with_details(json!({ "flows": flows })));
            }
            tx.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d
                   JOIN webhooks w ON w.id = d.webhook_id WHERE w.project_id = ?1)",
                [&id],
            )?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE project_id = ?1)",
                [&id],
            )?;
            tx.execute("DELETE FROM webhooks WHERE project_id = ?1", [&id])?;
            tx.execute("DELETE FROM templates WHERE project_id = ?1", [&id])?;
            tx.execute("DELETE FROM projects WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
    st.templates.invalidate(&pid);
    crate::webhooks::refresh_hooks_flag(&st).await;
    Ok(ok(json!({}), "project deleted"))
}

/// Checks the security settings and normalises their whitelist / blacklist entries (refusing
/// one that is no identifier), so what is stored compares with what a login presents.
fn check_security(guard: &OutboundGuard, s: &mut SecuritySettings) -> ApiResult<()> {
    crate::flows::normalize_list(&mut s.identifiers)?;
    if s.mode == SecurityMode::Url {
        let url = s.url.as_deref().unwrap_or("");
        guard
            .check(url)
            .map_err(|e| crate::outbound::refused("security.url", &e))?;
    }
    if s.timeout_ms == 0 || s.timeout_ms > 30_000 {
        return Err(ApiError::bad_request(
            "security.timeout_ms must be 1 to 30000",
        ));
    }
    Ok(())
}

fn check_scores(l: &access_types::LoginSettings) -> ApiResult<()> {
    let ok = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
    if !ok(l.liveness_min_score) || !l.match_min_score.is_none_or(ok) {
        return Err(ApiError::bad_request("scores must be between 0 and 1"));
    }
    // Rates are fractions strictly between 0 and 1 (0 would refuse everyone, 1 accept anyone).
    let rate = |v: f64| v.is_finite() && v > 0.0 && v < 1.0;
    if !rate(l.target_fmr) || !rate(l.target_fpir) || !rate(l.fnir_ceiling) {
        return Err(ApiError::bad_request(
            "target_fmr, target_fpir and fnir_ceiling must be between 0 and 1 (exclusive)",
        ));
    }
    Ok(())
}

fn save_flow(c: &Connection, f: &ProjectFlow, now: i64) -> ApiResult<()> {
    let login = serde_json::to_string(&f.login).map_err(|_| ApiError::internal())?;
    let security = serde_json::to_string(&f.security).map_err(|_| ApiError::internal())?;
    c.execute(
        "UPDATE flows SET name = ?1, status = ?2, login_json = ?3, security_json = ?4, updated_at = ?5
         WHERE id = ?6",
        rusqlite::params![f.name, f.status.as_str(), login, security, now, f.id],
    )?;
    Ok(())
}

pub(crate) fn get_flow(c: &Connection, id: &str) -> ApiResult<ProjectFlow> {
    load_flow(c, id)?.ok_or_else(|| ApiError::new(ErrorCode::FlowNotFound, "unknown project flow"))
}

#[utoipa::path(
    post,
    path = "/project-flows",
    tag = "flows",
    summary = "Create a login flow",
    request_body = access_types::CreateProjectFlowRequest,
    responses((status = 200, description = "success", body = access_types::ProjectFlow)),
    security(("bearer" = [])),
)]
pub async fn create_flow(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiJson(req): ApiJson<CreateProjectFlowRequest>,
) -> ApiResult<Response> {
    let login = req.login.unwrap_or_default();
    let mut security = req.security.unwrap_or_default();
    check_scores(&login)?;
    check_security(&st.outbound, &mut security)?;
    let now = st.clock.now_ms();
    let flow = st
        .db
        .tx(move |tx| {
            if !project_exists(tx, &req.project_id)? {
                return Err(ApiError::new(ErrorCode::ProjectNotFound, "unknown project_id"));
            }
            let id = ids::new_id("flw");
            let name = if req.name.trim().is_empty() { "login".to_string() } else { req.name };
            tx.execute(
                "INSERT INTO flows(id, project_id, name, flow_type, status, login_json, security_json,
                   created_at, updated_at) VALUES (?1, ?2, ?3, 'login', ?4, ?5, ?6, ?7, ?7)",
                rusqlite::params![
                    id,
                    req.project_id,
                    name,
                    req.status.unwrap_or(FlowStatus::Draft).as_str(),
                    serde_json::to_string(&login).map_err(|_| ApiError::internal())?,
                    serde_json::to_string(&security).map_err(|_| ApiError::internal())?,
                    now
                ],
            )?;
            get_flow(tx, &id)
        })
        .await?;
    Ok(created(flow, "project flow created"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectQuery {
    pub project_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/project-flows",
    tag = "flows",
    summary = "List flows",
    params(("project_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Vec<access_types::ProjectFlow>)),
    security(("bearer" = [])),
)]
pub async fn list_flows(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<ProjectQuery>,
) -> ApiResult<Response> {
    let list = st
        .db
        .call(move |c| {
            let mut s = c.prepare(&format!(
                "SELECT {FLOW_COLUMNS} FROM flows WHERE (CAST(?1 AS TEXT) IS NULL OR project_id = ?1) ORDER BY created_at"
            ))?;
            Ok(s.query_map([q.project_id], flow_from_row)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(ok(list, ""))
}

#[utoipa::path(
    get,
    path = "/project-flows/{id}",
    tag = "flows",
    summary = "Get a flow",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::ProjectFlow)),
    security(("bearer" = [])),
)]
pub async fn get_flow_h(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(st.db.call(move |c| get_flow(c, &id)).await?, ""))
}

/// The secret the flow's security-URL requests are signed with (`flows::security_secret`).
#[utoipa::path(
    get,
    path = "/project-flows/{id}/security-secret",
    tag = "flows",
    summary = "The secret this server signs its calls to the flow's security URL with (Standard Webhooks)",
    params(("id" = String, Path)),
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn flow_security_secret(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let flow = st.db.call(move |c| get_flow(c, &id)).await?;
    let secret = crate::flows::security_secret(&st.otp_key, &flow.id);
    Ok(ok(
        json!({ "project_flow_id": flow.id, "secret": secret }),
        "",
    ))
}

#[utoipa::path(
    patch,
    path = "/project-flows/{id}",
    tag = "flows",
    summary = "Update a flow",
    request_body = access_types::UpdateProjectFlowRequest,
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::ProjectFlow)),
    security(("bearer" = [])),
)]
pub async fn update_flow(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateProjectFlowRequest>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let guard = st.outbound.clone();
    let flow = st
        .db
        .tx(move |tx| {
            let mut f = get_flow(tx, &id)?;
            if let Some(n) = req.name {
                check_name(&n)?;
                f.name = n;
            }
            if let Some(s) = req.status {
                f.status = s;
            }
            if let Some(p) = req.login {
                let l = &mut f.login;
                l.email = p.email.unwrap_or(l.email);
                l.sms = p.sms.unwrap_or(l.sms);
                l.whatsapp = p.whatsapp.unwrap_or(l.whatsapp);
                l.face = p.face.unwrap_or(l.face);
                l.liveness_required = p.liveness_required.unwrap_or(l.liveness_required);
                l.liveness_min_score = p.liveness_min_score.unwrap_or(l.liveness_min_score);
                l.target_fmr = p.target_fmr.unwrap_or(l.target_fmr);
                l.target_fpir = p.target_fpir.unwrap_or(l.target_fpir);
                l.fnir_ceiling = p.fnir_ceiling.unwrap_or(l.fnir_ceiling);
                if let Some(m) = p.match_min_score {
                    l.match_min_score = m;
                }
                check_scores(l)?;
            }
            if let Some(mut s) = req.security {
                check_security(&guard, &mut s)?;
                f.security = s;
            }
            save_flow(tx, &f, now)?;
            get_flow(tx, &id)
        })
        .await?;
    Ok(ok(flow, "project flow updated"))
}

#[utoipa::path(
    delete,
    path = "/project-flows/{id}",
    tag = "flows",
    summary = "Delete a flow and its webhooks",
    params(("id" = String, Path)),
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn delete_flow(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    st.db
        .tx(move |tx| {
            get_flow(tx, &id)?;
            tx.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d
                   JOIN webhooks w ON w.id = d.webhook_id WHERE w.flow_id = ?1)",
                [&id],
            )?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE flow_id = ?1)",
                [&id],
            )?;
            tx.execute("DELETE FROM webhooks WHERE flow_id = ?1", [&id])?;
            tx.execute("DELETE FROM flows WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
    crate::webhooks::refresh_hooks_flag(&st).await;
    Ok(ok(json!({}), "project flow deleted"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredProject {
    pub project_id: String,
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "people",
    summary = "Enrolled people of a project, with their samples and last sign-in",
    params(("project_id" = String, Query)),
    responses((status = 200, description = "success", body = Vec<access_types::EnrolledUser>)),
    security(("bearer" = [])),
)]
pub async fn list_users(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<RequiredProject>,
) -> ApiResult<Response> {
    let list = st
        .db
        .call(move |c| {
            if !project_exists(c, &q.project_id)? {
                return Err(ApiError::new(
                    ErrorCode::ProjectNotFound,
                    "unknown project_id",
                ));
            }
            let last = crate::activity::last_sign_ins(c, &q.project_id)?;
            let mut s = c.prepare(
                "SELECT user_id, COUNT(*), MIN(created_at) FROM templates
                 WHERE project_id = ?1 AND deleted_at IS NULL GROUP BY user_id ORDER BY user_id",
            )?;
            Ok(s.query_map([&q.project_id], |r| {
                let user_id: String = r.get(0)?;
                Ok(EnrolledUser {
                    last_sign_in_at: last.get(&user_id).map(|ms| rfc3339(*ms)),
                    user_id,
                    project_id: q.project_id.clone(),
                    samples: r.get(1)?,
                    first_enrolled_at: rfc3339(r.get(2)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(ok(list, ""))
}

/// Forget a user's face: templates are tombstoned (not erased) so kiosks learn of the deletion
/// through the sync feed; the embedding itself is wiped.
#[utoipa::path(
    delete,
    path = "/users/{user_id}",
    tag = "people",
    summary = "Erase a person's face samples",
    params(("user_id" = String, Path), ("project_id" = String, Query)),
    responses((status = 200, description = "success", body = access_types::DeletedUser)),
    security(("bearer" = [])),
)]
pub async fn delete_user(
    State(st): State<AppState>,
    AdminAuth(claims): AdminAuth,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<RequiredProject>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let d = st
        .db
        .tx(move |tx| {
            let d = crate::erasure::erase(tx, &q.project_id, &user_id, &claims, now)?;
            if d.templates_deleted == 0 {
                return Err(ApiError::new(
                    ErrorCode::UserNotFound,
                    "no enrolled user with that id",
                ));
            }
            Ok(d)
        })
        .await?;
    st.templates.invalidate(&d.project_id);
    st.webhook_wake.notify_one();
    Ok(ok(d, "user deleted"))
}
