//! Admin tokens operators mint (`access-server token`, `POST /tokens`): recorded so they can
//! be listed and revoked by id, their lifetime capped by `admin_token_max_ttl_s`; an admin
//! token the store does not hold is refused (`revocation::check`). One minted in a console
//! session asks for the operator's password again and is tied to the operator: removed or
//! given a new password, their tokens are revoked with their sessions. Kiosk tokens are not
//! minted here: they come from the device-key exchange (`kiosks.rs`).

use crate::sql::{Connection, OptionalExtension, Row};
use access_types::{ApiScope, ApiTokenInfo, CreateApiTokenRequest, CreatedApiToken, ErrorCode};
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use crate::auth::Keys;
use crate::clock::rfc3339;
use crate::db::exec;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson};
use crate::revocation::Revocations;
use crate::state::AppState;
use crate::{created, ok};

/// Signs and records an operator's token for `subject` with `scope` (`admin`, or `metrics` for
/// a Prometheus scraper), valid `ttl_s` (at most `max_ttl_s`). A kiosk scope is refused: kiosk
/// tokens come from pairing only.
pub fn mint(
    c: &Connection,
    keys: &Keys,
    subject: &str,
    scope: ApiScope,
    ttl_s: u64,
    max_ttl_s: u64,
    now: i64,
) -> ApiResult<CreatedApiToken> {
    if scope == ApiScope::Kiosk {
        return Err(ApiError::bad_request(
            "kiosk tokens come from pairing a kiosk, not from here",
        ));
    }
    if subject.trim().is_empty() || subject.len() > 128 {
        return Err(ApiError::bad_request("subject must be 1 to 128 characters"));
    }
    if ttl_s == 0 || ttl_s > max_ttl_s {
        return Err(ApiError::bad_request(format!(
            "an admin token lives at most {max_ttl_s} s (admin_token_max_ttl_s)"
        ))
        .with_details(json!({ "max_ttl_s": max_ttl_s })));
    }
    let claims = keys.api_claims(subject, scope, ttl_s, now);
    let token = keys
        .sign_api_token(&claims)
        .map_err(|_| ApiError::internal())?;
    exec(
        c,
        "INSERT INTO api_tokens(jti, subject, scope, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            claims.jti,
            subject,
            scope.as_str(),
            now,
            claims.exp.saturating_mul(1000)
        ],
    )?;
    Ok(CreatedApiToken {
        token,
        info: ApiTokenInfo {
            id: claims.jti,
            subject: subject.to_string(),
            scope,
            created_at: rfc3339(now),
            expires_at: rfc3339(claims.exp.saturating_mul(1000)),
            revoked_at: None,
        },
    })
}

/// Mints and records a token outside any request, as `access-server token` does (the test
/// fixtures, `access-loadgen`); `ttl_s` is its own cap.
pub fn issue(
    db: &crate::db::Db,
    keys: &Keys,
    subject: &str,
    scope: ApiScope,
    ttl_s: u64,
    now: i64,
) -> ApiResult<String> {
    db.blocking_tx(|c| mint(c, keys, subject, scope, ttl_s, ttl_s, now))
        .map(|t| t.token)
}

/// Revokes every token minted in the operator's sessions (the operator removed, or given a
/// new password: whoever held their session may have minted them).
pub fn revoke_operators(c: &Connection, operator_id: &str, now: i64) -> crate::sql::Result<usize> {
    c.execute(
        "UPDATE api_tokens SET revoked_at = ?1 WHERE operator_id = ?2 AND revoked_at IS NULL",
        rusqlite::params![now, operator_id],
    )
}

fn info_from_row(r: &Row<'_>) -> crate::sql::Result<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: r.get(0)?,
        subject: r.get(1)?,
        // Only admin and metrics tokens are recorded; an unknown spelling reads as the wider.
        scope: ApiScope::parse(&r.get::<_, String>(2)?).unwrap_or(ApiScope::Admin),
        created_at: rfc3339(r.get(3)?),
        expires_at: rfc3339(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(rfc3339),
    })
}

const COLUMNS: &str = "jti, subject, scope, created_at, expires_at, revoked_at";

/// Recorded tokens not yet expired, newest first.
pub fn list(c: &Connection, now: i64) -> crate::sql::Result<Vec<ApiTokenInfo>> {
    let mut s = c.prepare(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE expires_at > ?1 ORDER BY created_at DESC"
    ))?;
    s.query_map([now], info_from_row)?.collect()
}

/// Revokes a recorded token by id.
pub fn revoke(c: &Connection, id: &str, now: i64) -> ApiResult<ApiTokenInfo> {
    exec(
        c,
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE jti = ?2",
        rusqlite::params![now, id],
    )?;
    c.query_row(
        &format!("SELECT {COLUMNS} FROM api_tokens WHERE jti = ?1"),
        [id],
        info_from_row,
    )
    .optional()?
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "unknown token id"))
}

#[utoipa::path(
    post,
    path = "/tokens",
    tag = "tokens",
    summary = "Mint an admin or metrics token (lifetime capped by admin_token_max_ttl_s)",
    request_body = access_types::CreateApiTokenRequest,
    responses((status = 200, description = "success", body = access_types::CreatedApiToken)),
    security(("bearer" = [])),
)]
pub async fn create_handler(
    State(st): State<AppState>,
    a: AdminAuth,
    peer: Option<axum::Extension<crate::operators::PeerAddr>>,
    ApiJson(mut req): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let max = st.cfg.admin_token_max_ttl_s;
    let ttl = req.ttl_s.unwrap_or(max);
    // A session mints only with the password typed again, and the token is the operator's.
    let operator = match crate::operators::session_operator(&a.0) {
        Some(id) => {
            let password = req.password.take().unwrap_or_default();
            crate::operators::confirm_password(&st, id, &password, peer.map(|p| p.0.0)).await?;
            Some(id.to_string())
        }
        None => None,
    };
    let s = st.clone();
    let t = st
        .db
        .tx(move |tx| {
            let scope = req.scope.unwrap_or(ApiScope::Admin);
            let t = mint(tx, &s.keys, &req.subject, scope, ttl, max, now)?;
            if let Some(op) = &operator {
                exec(
                    tx,
                    "UPDATE api_tokens SET operator_id = ?1 WHERE jti = ?2",
                    rusqlite::params![op, t.info.id],
                )?;
            }
            Ok(t)
        })
        .await?;
    Ok(created(t, "token created; it is shown only now"))
}

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    summary = "Tokens minted by operators ({ tokens: ApiTokenInfo[] })",
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn list_handler(State(st): State<AppState>, _a: AdminAuth) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let tokens = st.db.call(move |c| Ok(list(c, now)?)).await?;
    Ok(ok(json!({ "tokens": tokens }), ""))
}

#[utoipa::path(
    post,
    path = "/tokens/{id}/revoke",
    tag = "tokens",
    summary = "Revoke a token by id",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::ApiTokenInfo)),
    security(("bearer" = [])),
)]
pub async fn revoke_handler(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let i = id.clone();
    let info = st.db.tx(move |tx| revoke(tx, &i, now)).await?;
    st.revocations.set(&Revocations::token(&id), true, now);
    Ok(ok(info, "token revoked"))
}

/// `POST /keys/rotate` (admin): a new signing key at once; the old one verifies until the
/// longest token it could have signed has expired.
#[utoipa::path(
    post,
    path = "/keys/rotate",
    tag = "tokens",
    summary = "Rotate the token signing key; the old key stays in the JWKS until its tokens have expired",
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn rotate_keys_handler(State(st): State<AppState>, _a: AdminAuth) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let keep_ms = st.cfg.longest_token_ttl_s().saturating_mul(1000) as i64;
    let kid =
        Keys::rotate(&st.db, st.keys.db_key(), now, keep_ms).map_err(|_| ApiError::internal())?;
    st.keys
        .reload(&st.db, now)
        .map_err(|_| ApiError::internal())?;
    Ok(ok(json!({ "kid": kid }), "signing key rotated"))
}
