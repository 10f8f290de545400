//! Project / flow rows and the rules a login must pass before anything is sent.

use std::time::Duration;

use crate::sql::{Connection, OptionalExtension, Row};
use access_types::{
    ErrorCode, FlowStatus, FlowType, ListEntry, LoginSettings, ProjectFlow, SecurityMode,
    SecuritySettings, identifiers,
};
use serde_json::json;

use crate::clock::rfc3339;
use crate::db::row;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Email,
    Sms,
    Whatsapp,
    Face,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Whatsapp => "whatsapp",
            Method::Face => "face",
        }
    }
}

pub const FLOW_COLUMNS: &str =
    "id, project_id, name, flow_type, status, login_json, security_json, created_at, updated_at";

pub fn flow_from_row(r: &Row<'_>) -> crate::sql::Result<ProjectFlow> {
    let status: String = r.get(4)?;
    let login: String = r.get(5)?;
    let security: String = r.get(6)?;
    Ok(ProjectFlow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        flow_type: FlowType::Login,
        status: match status.as_str() {
            "active" => FlowStatus::Active,
            "paused" => FlowStatus::Paused,
            _ => FlowStatus::Draft,
        },
        // Written by this server only; a corrupt row degrades to the safe defaults
        // (email only, no security list) rather than failing every request.
        login: serde_json::from_str::<LoginSettings>(&login).unwrap_or_default(),
        security: serde_json::from_str::<SecuritySettings>(&security).unwrap_or_default(),
        created_at: rfc3339(r.get(7)?),
        updated_at: rfc3339(r.get(8)?),
    })
}

pub fn load_flow(c: &Connection, id: &str) -> crate::sql::Result<Option<ProjectFlow>> {
    row(
        c,
        &format!("SELECT {FLOW_COLUMNS} FROM flows WHERE id = ?1"),
        [id],
        flow_from_row,
    )
    .optional()
}

pub fn project_exists(c: &Connection, id: &str) -> crate::sql::Result<bool> {
    Ok(
        row(c, "SELECT 1 FROM projects WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

fn check_status(flow: &ProjectFlow) -> ApiResult<()> {
    match flow.status {
        FlowStatus::Active => Ok(()),
        FlowStatus::Paused => Err(
            ApiError::new(ErrorCode::FlowPaused, "the login flow is paused")
                .with_details(json!({ "project_flow_id": flow.id })),
        ),
        FlowStatus::Draft => Err(ApiError::new(
            ErrorCode::FlowNotActive,
            "the login flow is a draft; activate it first",
        )
        .with_details(json!({ "project_flow_id": flow.id }))),
    }
}

/// The flow a login of `project_id` goes through: the given one, else the project's active
/// login flow. Refuses paused / draft flows with their own codes.
pub fn resolve_login_flow(
    c: &Connection,
    project_id: &str,
    flow_id: Option<&str>,
) -> ApiResult<ProjectFlow> {
    if !project_exists(c, project_id)? {
        return Err(ApiError::new(
            ErrorCode::ProjectNotFound,
            "unknown project_id",
        ));
    }
    if let Some(fid) = flow_id {
        let flow = load_flow(c, fid)?
            .filter(|f| f.project_id == project_id)
            .ok_or_else(|| ApiError::new(ErrorCode::FlowNotFound, "unknown project_flow_id"))?;
        check_status(&flow)?;
        return Ok(flow);
    }
    let mut st = c.prepare_cached(&format!(
        "SELECT {FLOW_COLUMNS} FROM flows WHERE project_id = ?1 AND flow_type = 'login'
         ORDER BY created_at"
    ))?;
    let flows = st
        .query_map([project_id], flow_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(active) = flows.iter().find(|f| f.status == FlowStatus::Active) {
        return Ok(active.clone());
    }
    // No active flow: explain why with the most telling one.
    if let Some(paused) = flows.iter().find(|f| f.status == FlowStatus::Paused) {
        check_status(paused)?;
    }
    if let Some(draft) = flows.first() {
        check_status(draft)?;
    }
    Err(ApiError::new(
        ErrorCode::NoLoginFlow,
        "the project has no login flow",
    ))
}

pub fn require_method(flow: &ProjectFlow, m: Method) -> ApiResult<()> {
    let on = match m {
        Method::Email => flow.login.email,
        Method::Sms => flow.login.sms,
        Method::Whatsapp => flow.login.whatsapp,
        Method::Face => flow.login.face,
    };
    if on {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::MethodDisabled,
            format!("the login flow does not offer {} login", m.as_str()),
        )
        .with_details(json!({ "method": m.as_str(), "project_flow_id": flow.id })))
    }
}

/// The synchronous part of the flow's security settings ("database connection"): whitelist /
/// blacklist. `identifier` is in its normal form (`Email`, `PhoneE164`, or a user id). Returns
/// true when the customer's URL must still be asked.
pub fn check_lists(flow: &ProjectFlow, identifier: &str) -> ApiResult<bool> {
    let s = &flow.security;
    // Entries saved before lists were normalised are normalised here too (list_contains).
    let listed = || identifiers::list_contains(&s.identifiers, identifier);
    match s.mode {
        SecurityMode::None => Ok(false),
        SecurityMode::Whitelist if listed() => Ok(false),
        SecurityMode::Blacklist if !listed() => Ok(false),
        SecurityMode::Whitelist | SecurityMode::Blacklist => Err(refused()),
        SecurityMode::Url => Ok(true),
    }
}

fn refused() -> ApiError {
    ApiError::new(
        ErrorCode::IdentifierNotAllowed,
        "this identifier may not log in here",
    )
}

/// All of the flow's security settings, the customer URL included.
pub async fn check_identifier(
    st: &AppState,
    flow: &ProjectFlow,
    identifier: &str,
    m: Method,
) -> ApiResult<()> {
    if check_lists(flow, identifier)? {
        check_url(st, flow, identifier, m).await?;
    }
    Ok(())
}

/// Answers of customer security URLs, per flow, identifier and method, kept for
/// `security_answer_cache_s`: a person retrying (or a kiosk hammering) does not make the
/// server call the customer each time. Only clear answers are kept, never an outage.
#[derive(Default)]
pub struct SecurityAnswers {
    answers: std::sync::Mutex<std::collections::HashMap<String, (bool, i64)>>,
}

impl SecurityAnswers {
    fn get(&self, key: &str, now: i64, ttl_ms: i64) -> Option<bool> {
        let map = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, at)| now - at < ttl_ms)
            .map(|(a, _)| *a)
    }

    fn put(&self, key: String, allowed: bool, now: i64, ttl_ms: i64) {
        let mut map = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 10_000 {
            map.retain(|_, (_, at)| now - *at < ttl_ms);
        }
        map.insert(key, (allowed, now));
    }
}

/// The secret a flow's security-URL requests are signed with (Standard Webhooks:
/// `webhook-id`, `webhook-timestamp`, `webhook-signature`), `whsec_` + base64. Derived from the
/// server's key and the flow id, so it needs no storage; an administrator reads it with
/// `GET /project-flows/{id}/security-secret` and gives it to the customer's endpoint.
pub fn security_secret(server_key: &[u8], flow_id: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(server_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"security-url/v1:");
    mac.update(flow_id.as_bytes());
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Ask the customer's URL whether `identifier` may log in; no clear yes within the timeout
/// means no (fail closed). The request is signed the Standard Webhooks way
/// ([`security_secret`]), its answer bounded to 16 KiB and kept briefly
/// ([`SecurityAnswers`]). Callers ask only after their rate limits passed.
pub async fn check_url(
    st: &AppState,
    flow: &ProjectFlow,
    identifier: &str,
    m: Method,
) -> ApiResult<()> {
    let s = &flow.security;
    let Some(url) = s.url.as_deref() else {
        return Err(ApiError::new(
            ErrorCode::SecurityCheckUnavailable,
            "security URL not configured",
        ));
    };
    let now = st.clock.now_ms();
    let ttl_ms = st.cfg.security_answer_cache_s as i64 * 1000;
    let cache_key = format!("{}\n{}\n{identifier}\n{url}", flow.id, m.as_str());
    if let Some(allowed) = st.security_answers.get(&cache_key, now, ttl_ms) {
        return if allowed { Ok(()) } else { Err(refused()) };
    }
    let unavailable = |why: &str| {
        tracing::warn!(flow = %flow.id, reason = why, "security URL check failed");
        ApiError::new(
            ErrorCode::SecurityCheckUnavailable,
            "the customer's security check did not answer",
        )
    };
    // Saved URLs were checked; an old row or an IP literal is checked again here, and names
    // resolve through the guarded resolver.
    st.outbound.check(url).map_err(|e| {
        tracing::warn!(flow = %flow.id, reason = %e.reason(), "security URL refused");
        ApiError::new(
            ErrorCode::SecurityCheckUnavailable,
            "the customer's security check did not answer",
        )
    })?;
    let body = json!({
        "identifier": identifier,
        "project_id": flow.project_id,
        "project_flow_id": flow.id,
        "method": m.as_str(),
    })
    .to_string();
    let msg_id = crate::ids::new_id("chk");
    let ts = now / 1000;
    let sig = crate::webhooks::sign(&security_secret(&st.otp_key, &flow.id), &msg_id, ts, &body)
        .ok_or_else(ApiError::internal)?;
    let resp = st
        .http
        .post(url)
        .timeout(Duration::from_millis(s.timeout_ms.clamp(1, 30_000)))
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|_| unavailable("request"))?;
    if !resp.status().is_success() {
        return Err(unavailable("status"));
    }
    // A customer's answer is a small JSON object; a huge one is a broken (or hostile) URL.
    let body = crate::outbound::bounded_body(resp, 16 * 1024)
        .await
        .ok_or_else(|| unavailable("body"))?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| unavailable("body"))?;
    let allowed = v
        .get("allowed")
        .and_then(|a| a.as_bool())
        .ok_or_else(|| unavailable("answer"))?;
    st.security_answers.put(cache_key, allowed, now, ttl_ms);
    if allowed { Ok(()) } else { Err(refused()) }
}

/// Normalises a flow's whitelist / blacklist entries in place, by the rules the identifiers
/// they are compared with are normalised by (`access_types::ListEntry`), dropping duplicates.
/// An entry that is neither an email, a phone number nor a user id is refused with its code
/// (`INVALID_PHONE`, `INVALID_EMAIL`, `INVALID_REQUEST`) and the entry in `details`.
pub fn normalize_list(entries: &mut Vec<String>) -> ApiResult<()> {
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for (index, raw) in entries.iter().enumerate() {
        let entry = ListEntry::parse(raw).map_err(|e| {
            ApiError::new(
                e.code(),
                format!("security.identifiers[{index}] {raw:?}: {e}"),
            )
            .with_details(json!({
                "field": "security.identifiers",
                "index": index,
                "entry": raw,
                "reason": e.reason(),
            }))
        })?;
        let norm = entry.as_str();
        if !out.iter().any(|o| o.eq_ignore_ascii_case(norm)) {
            out.push(norm.to_string());
        }
    }
    *entries = out;
    Ok(())
}
