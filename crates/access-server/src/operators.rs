//! The console's operators: people who sign in to `/console` with a password (Argon2id), an
//! optional TOTP second factor (RFC 6238) and a session cookie.
//!
//! Rules (ARCHITECTURE.md, "Console sessions"):
//! - The cookie carries a random token; the store keeps only its SHA-256, so a copy of the
//!   database opens no session. The cookie is `HttpOnly; SameSite=Strict; Path=/`, `Secure`
//!   (and `__Host-` named) under TLS or `[console] secure_cookie`.
//! - A session is an admin credential, no more: the REST routes accept it wherever they accept
//!   an admin token. Every request other than GET/HEAD made with it must carry the session's
//!   CSRF token in `X-CSRF-Token` (compared in constant time), else 403 `FORBIDDEN`
//!   (`details.reason = "csrf"`). A request with a bearer token never looks at the cookie.
//! - Sessions end after `idle_timeout_s` unused and `session_max_s` after sign-in, on logout,
//!   and when the operator is removed, disabled or gets a new password.
//! - A session alone does not make lasting credentials: turning TOTP on and minting an API
//!   token ask for the password again. Tokens minted in a session are the operator's: revoked
//!   when the operator is removed or gets a new password.
//! - Sign-in failures count per address (any account) and per account name from that address
//!   (existing or not), both checked before the password; past the free tries each further try
//!   waits 1 s, doubling up to 15 minutes (429 `RATE_LIMITED` with `Retry-After`). Nobody can
//!   lock an operator out from another address: the right password from an address that has
//!   not failed still signs in. An IPv6 address counts by its /64. The answer to a wrong name
//!   and to a wrong password is the same, and an unknown name still costs one Argon2
//!   verification.
//! - Passwords, session tokens and TOTP secrets are never logged nor returned (the TOTP secret
//!   once, at enrolment, to be put in an authenticator app).

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::sql::{Connection, OptionalExtension, Row};
use access_types::{ApiScope, ApiTokenClaims, ErrorCode};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::{ids, ok};

/// The cookie's name without TLS; under TLS it is `__Host-` + this (the prefix makes browsers
/// refuse it unless Secure, Path=/ and host-only).
pub const COOKIE_NAME: &str = "access_console";
/// The header a session's unsafe requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Longest wait a throttled sign-in is told to respect.
const MAX_DELAY_S: i64 = 15 * 60;
/// Failures older than this are forgotten.
const THROTTLE_MEMORY_MS: i64 = 15 * 60 * 1000;
/// `last_seen_at` is written at most this often (idle timeouts are in minutes).
const TOUCH_EVERY_MS: i64 = 30_000;
/// An issuer label for authenticator apps.
const TOTP_ISSUER: &str = "Access Kiosk";

/// The TCP peer of a request, set by the accept loop (app.rs): limits per address.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

impl PeerAddr {
    /// The address as per-address limits count it: IPv4 as it is, IPv6 by its /64 (one host
    /// commonly holds a whole /64, so counting its addresses one by one would count nothing).
    pub fn bucket(ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
            v4 => v4,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Passwords
// ------------------------------------------------------------------------------------------

/// Argon2id with the crate's defaults (the parameters RFC 9106 / OWASP recommend: 19 MiB,
/// 2 passes, 1 lane), as a PHC string that records them, so a later change of parameters
/// still verifies old hashes.
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::encode_b64(&rand::rng().random::<[u8; 16]>())
        .map_err(|_| ApiError::internal())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::internal())
}

/// Whether `password` matches the PHC string `hash` (constant time inside argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password matches, verified against when the account does not exist, so an
/// unknown name costs what a known one does.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        let random: [u8; 24] = rand::rng().random();
        hash_password(&URL_SAFE_NO_PAD.encode(random)).unwrap_or_default()
    })
}

/// A new random password (22 characters, 128 bits), for `admins add` without `--password-stdin`.
pub fn generate_password() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 16]>())
}

fn check_password_policy(p: &str) -> ApiResult<()> {
    if p.chars().count() < 12 || p.len() > 1024 {
        return Err(ApiError::bad_request(
            "a password must be 12 to 1024 characters",
        ));
    }
    Ok(())
}

/// Account names are compared case-insensitively: stored lowercased.
fn normalize_email(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    if e.is_empty() || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_request(
            "an operator's name is 1 to 254 characters without spaces (an email address)",
        ));
    }
    Ok(e)
}

// ------------------------------------------------------------------------------------------
// Accounts (CLI `access-server admins …` and the console)
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    pub id: String,
    pub email: String,
    pub created_at: String,
    pub disabled: bool,
    pub totp_enabled: bool,
}

const OPERATOR_COLUMNS: &str =
    "id, email, created_at, disabled_at IS NOT NULL, totp_secret IS NOT NULL";

fn operator_from_row(r: &Row<'_>) -> crate::sql::Result<Operator> {
    Ok(Operator {
        id: r.get(0)?,
        email: r.get(1)?,
        created_at: rfc3339(r.get(2)?),
        disabled: r.get(3)?,
        totp_enabled: r.get(4)?,
    })
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no operator with that name")
}

/// Adds an operator; `password_hash` from [`hash_password`] (hashing is slow: callers do it
/// outside the database thread).
pub fn add(c: &Connection, email: &str, password_hash: &str, now: i64) -> ApiResult<Operator> {
    let email = normalize_email(email)?;
    let exists: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM operators WHERE email = ?1)",
        [&email],
        |r| r.get(0),
    )?;
    if exists {
        return Err(ApiError::bad_request("an operator with that name exists"));
    }
    let id = ids::new_id("op");
    c.execute(
        "INSERT INTO operators(id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![id, email, password_hash, now],
    )?;
    get(c, &email)
}

/// One operator by name.
pub fn get(c: &Connection, email: &str) -> ApiResult<Operator> {
    let email = normalize_email(email)?;
    c.query_row(
        &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = ?1"),
        [email],
        operator_from_row,
    )
    .optional()?
    .ok_or_else(not_found)
}

pub fn list(c: &Connection) -> crate::sql::Result<Vec<Operator>> {
    let mut s = c.prepare(&format!(
        "SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY created_at, email"
    ))?;
    s.query_map([], operator_from_row)?.collect()
}

/// Removes an operator, ends their sessions and revokes the tokens they minted in one.
pub fn remove(c: &Connection, email: &str, now: i64) -> ApiResult<Operator> {
    let op = get(c, email)?;
    c.execute(
        "DELETE FROM operator_sessions WHERE operator_id = ?1",
        [&op.id],
    )?;
    crate::tokens::revoke_operators(c, &op.id, now)?;
    c.execute("DELETE FROM operators WHERE id = ?1", [&op.id])?;
    Ok(op)
}

/// A new password; every session of the operator ends and the tokens minted in one are
/// revoked (whoever knew the old one, or held a session, is out).
pub fn set_password(
    c: &Connection,
    email: &str,
    password_hash: &str,
    now: i64,
) -> ApiResult<Operator> {
    let op = get(c, email)?;
    c.execute(
        "UPDATE operators SET password_hash = ?1 WHERE id = ?2",
        rusqlite::params![password_hash, op.id],
    )?;
    c.execute(
        "DELETE FROM operator_sessions WHERE operator_id = ?1",
        [&op.id],
    )?;
    crate::tokens::revoke_operators(c, &op.id, now)?;
    Ok(op)
}

/// Turns the second factor off (a lost phone); sessions end.
pub fn clear_totp(c: &Connection, email: &str) -> ApiResult<Operator> {
    let op = get(c, email)?;
    c.execute(
        "UPDATE operators SET totp_secret = NULL, totp_pending = NULL WHERE id = ?1",
        [&op.id],
    )?;
    c.execute(
        "DELETE FROM operator_sessions WHERE operator_id = ?1",
        [&op.id],
    )?;
    get(c, email)
}

/// Any operator at all (`scripts/run.sh` creates the first one only once).
pub fn any(c: &Connection) -> crate::sql::Result<bool> {
    c.query_row("SELECT EXISTS(SELECT 1 FROM operators)", [], |r| r.get(0))
}

/// Checks a password as the CLI's `admins add --password-stdin` and the console would.
pub fn check_new_password(p: &str) -> ApiResult<()> {
    check_password_policy(p)
}

// ------------------------------------------------------------------------------------------
// TOTP
// ------------------------------------------------------------------------------------------

fn totp(secret: &[u8]) -> ApiResult<totp_rs::Totp> {
    // SHA-1, 6 digits, 30 s, one step of skew either way: what every authenticator app does.
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .map_err(|_| ApiError::internal())
}

/// The step a code matches at `now_ms`, if it does.
fn totp_step(secret: &[u8], code: &str, now_ms: i64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    totp(secret)
        .ok()?
        .check(&code, (now_ms / 1000).max(0) as u64)
}

/// The current code for a secret given in base32 (tests, and nothing else).
pub fn totp_code(secret_base32: &str, now_ms: i64) -> Option<String> {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).ok()?;
    Some(
        totp(secret.as_bytes())
            .ok()?
            .generate((now_ms / 1000).max(0) as u64)
            .to_string(),
    )
}

fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

// ------------------------------------------------------------------------------------------
// Throttling
// ------------------------------------------------------------------------------------------

/// An account's failures from one address: another address's failures never hold back the
/// operator's own sign-in.
fn account_key(email: &str, addr: Option<IpAddr>) -> String {
    let email = email.trim().to_lowercase();
    match addr {
        Some(a) => format!("acct:{email}|{}", PeerAddr::bucket(a)),
        None => format!("acct:{email}"),
    }
}

fn address_key(addr: Option<IpAddr>) -> Option<String> {
    addr.map(|a| format!("addr:{}", PeerAddr::bucket(a)))
}

/// Seconds until the first of `keys` lets a try through, if any is blocked.
fn throttled(c: &Connection, keys: &[String], now: i64) -> crate::sql::Result<Option<u64>> {
    let mut wait = 0i64;
    for k in keys {
        let until: Option<i64> = c
            .query_row(
                "SELECT blocked_until FROM login_throttle WHERE key = ?1",
                [k],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(u) = until {
            wait = wait.max(u - now);
        }
    }
    Ok((wait > 0).then(|| ((wait + 999) / 1000) as u64))
}

/// Counts a failure on `key`; once `free` failures are used up each next try waits 1 s,
/// doubling with each further failure (up to [`MAX_DELAY_S`]).
fn fail(c: &Connection, key: &str, free: u32, now: i64) -> crate::sql::Result<()> {
    let prev: Option<(i64, i64)> = c
        .query_row(
            "SELECT failures, updated_at FROM login_throttle WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let failures = match prev {
        Some((n, at)) if now - at < THROTTLE_MEMORY_MS => n + 1,
        _ => 1,
    };
    // The failure that uses up the free tries already makes the next one wait.
    let over = failures - i64::from(free) + 1;
    let blocked_until = if over > 0 {
        let delay_s = 1i64
            .checked_shl((over - 1).min(30) as u32)
            .unwrap_or(MAX_DELAY_S)
            .min(MAX_DELAY_S);
        now + delay_s * 1000
    } else {
        0
    };
    c.execute(
        "INSERT INTO login_throttle(key, failures, blocked_until, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO UPDATE SET failures = ?2, blocked_until = ?3, updated_at = ?4",
        rusqlite::params![key, failures, blocked_until, now],
    )?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Sessions
// ------------------------------------------------------------------------------------------

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
}

/// A signed-in operator, from a valid session cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub operator_id: String,
    pub email: String,
    pub csrf: String,
    pub totp_enabled: bool,
    pub expires_at: i64,
    /// Where the idle timeout would end it, as of this request.
    pub idle_until: i64,
}

impl Session {
    /// The claims a session stands for: an admin credential named after the operator (the
    /// audit log and erasure records say who did it).
    pub fn claims(&self, st: &AppState) -> ApiTokenClaims {
        let now = st.clock.now_ms() / 1000;
        ApiTokenClaims {
            iss: st.cfg.issuer.clone(),
            sub: format!("operator:{}", self.email),
            aud: "console".into(),
            scope: ApiScope::Admin,
            token_use: "console".into(),
            iat: now,
            nbf: now,
            exp: self.expires_at / 1000,
            jti: format!("session:{}", self.operator_id),
            project_id: None,
            kiosk_id: None,
        }
    }
}

/// The session token a request's cookie carries, under either name.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME || k.strip_prefix("__Host-") == Some(COOKIE_NAME))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether this request carries a session cookie (the extractors then try it when no bearer
/// token is given).
pub fn has_cookie(headers: &HeaderMap) -> bool {
    cookie_token(headers).is_some()
}

fn secure(st: &AppState) -> bool {
    st.cfg.tls.is_some() || st.cfg.console.secure_cookie
}

fn set_cookie(st: &AppState, value: &str, max_age_s: i64) -> HeaderValue {
    let (name, secure) = if secure(st) {
        (format!("__Host-{COOKIE_NAME}"), "; Secure")
    } else {
        (COOKIE_NAME.to_string(), "")
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn session_expired() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "not signed in, or the session ended",
    )
    .with_details(json!({ "reason": "session" }))
}

/// Looks a session up by token: unknown, idle too long, past its lifetime or of a disabled
/// operator is none. Bumps `last_seen_at` (at most every [`TOUCH_EVERY_MS`]).
fn lookup(c: &Connection, token: &str, now: i64, idle_ms: i64) -> ApiResult<Option<Session>> {
    let hash = token_hash(token);
    let row: Option<(String, String, String, bool, i64, i64, bool)> = c
        .query_row(
            "SELECT s.operator_id, o.email, s.csrf, o.totp_secret IS NOT NULL, s.expires_at,
                    s.last_seen_at, o.disabled_at IS NOT NULL
             FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
             WHERE s.id_hash = ?1",
            [&hash],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((operator_id, email, csrf, totp_enabled, expires_at, last_seen, disabled)) = row
    else {
        return Ok(None);
    };
    if disabled || now >= expires_at || now - last_seen >= idle_ms {
        c.execute("DELETE FROM operator_sessions WHERE id_hash = ?1", [&hash])?;
        return Ok(None);
    }
    let last_seen = if now - last_seen >= TOUCH_EVERY_MS {
        c.execute(
            "UPDATE operator_sessions SET last_seen_at = ?1 WHERE id_hash = ?2",
            rusqlite::params![now, hash],
        )?;
        now
    } else {
        last_seen
    };
    Ok(Some(Session {
        operator_id,
        email,
        csrf,
        totp_enabled,
        expires_at,
        idle_until: (last_seen + idle_ms).min(expires_at),
    }))
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session of a request, with the CSRF rule applied: the extractors (extract.rs) call this
/// when a request has no bearer token.
pub async fn from_parts(parts: &Parts, st: &AppState) -> ApiResult<Session> {
    let Some(token) = cookie_token(&parts.headers) else {
        return Err(session_expired());
    };
    let now = st.clock.now_ms();
    let idle_ms = (st.cfg.console.idle_timeout_s as i64).saturating_mul(1000);
    let session = st
        .db
        .call(move |c| lookup(c, &token, now, idle_ms))
        .await?
        .ok_or_else(session_expired)?;
    if !is_safe(&parts.method) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(session.csrf.as_bytes())) || sent.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this request needs the session's X-CSRF-Token header",
            )
            .with_details(json!({ "reason": "csrf" })));
        }
    }
    Ok(session)
}

/// A signed-in operator (cookie + CSRF): the console's own endpoints.
pub struct OperatorSession(pub Session);

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let s = from_parts(parts, st).await?;
        crate::audit::note_actor(parts, &format!("operator:{}", s.email));
        Ok(OperatorSession(s))
    }
}

// ------------------------------------------------------------------------------------------
// Handlers: /console/api/…
// ------------------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The authenticator's 6 digits, when the operator turned TOTP on.
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// What `login` and `me` answer: who is signed in, the CSRF token for unsafe requests, and
/// when the session ends.
#[derive(Serialize)]
pub struct SessionInfo {
    pub operator: SessionOperator,
    pub csrf_token: String,
    pub idle_timeout_s: u64,
    pub expires_at: String,
}

#[derive(Serialize)]
pub struct SessionOperator {
    pub id: String,
    pub email: String,
    pub totp_enabled: bool,
}

fn info(st: &AppState, s: &Session) -> SessionInfo {
    SessionInfo {
        operator: SessionOperator {
            id: s.operator_id.clone(),
            email: s.email.clone(),
            totp_enabled: s.totp_enabled,
        },
        csrf_token: s.csrf.clone(),
        idle_timeout_s: st.cfg.console.idle_timeout_s,
        expires_at: rfc3339(s.expires_at),
    }
}

fn bad_credentials() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "wrong name or password")
        .with_details(json!({ "reason": "credentials" }))
}

/// The operator row a sign-in checks.
struct LoginRow {
    id: String,
    hash: String,
    totp: Option<Vec<u8>>,
    last_step: i64,
    disabled: bool,
}

/// `POST /console/api/login`.
#[utoipa::path(
    post,
    path = "/login",
    tag = "console",
    summary = "An operator signs in (email, password, TOTP code when enrolled); sets the session cookie",
    request_body = crate::operators::LoginRequest,
    responses((status = 200, description = "success")),
)]
pub async fn login(
    State(st): State<AppState>,
    peer: Option<axum::Extension<PeerAddr>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let addr = peer.map(|p| p.0.0);
    let acct = account_key(&req.email, addr);
    let addr_key = address_key(addr);
    // The address first: a guesser's own address is what holds it back.
    let keys: Vec<String> = addr_key
        .clone()
        .into_iter()
        .chain(std::iter::once(acct.clone()))
        .collect();
    let k = keys.clone();
    if let Some(wait) = st.db.call(move |c| Ok(throttled(c, &k, now)?)).await? {
        return Err(ApiError::rate_limited(wait));
    }
    let email = req.email.trim().to_lowercase();
    let e = email.clone();
    let row: Option<LoginRow> = st
        .db
        .call(move |c| {
            Ok(c.query_row(
                "SELECT id, password_hash, totp_secret, totp_last_step, disabled_at IS NOT NULL
                 FROM operators WHERE email = ?1",
                [e],
                |r| {
                    Ok(LoginRow {
                        id: r.get(0)?,
                        hash: r.get(1)?,
                        totp: r.get(2)?,
                        last_step: r.get(3)?,
                        disabled: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
        .await?;
    // Argon2 runs whether or not the account exists (the same time for both answers).
    let hash = row
        .as_ref()
        .map(|r| r.hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let password = req.password;
    let password_ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let cfg = st.cfg.console.clone();
    let (free_acct, free_addr) = (cfg.free_failures_per_account, cfg.free_failures_per_address);
    let known = row.is_some();
    let record_failure = |reason: &'static str| {
        let (st, acct, addr_key, email) =
            (st.clone(), acct.clone(), addr_key.clone(), email.clone());
        async move {
            let r = st
                .db
                .call(move |c| {
                    fail(c, &acct, free_acct, now)?;
                    if let Some(a) = &addr_key {
                        fail(c, a, free_addr, now)?;
                    }
                    // An unknown name is not written down: it may be a password typed
                    // into the wrong field.
                    let actor = if known { email.as_str() } else { "unknown" };
                    crate::audit::record(
                        c,
                        now,
                        actor,
                        "console.login_failed",
                        Some(reason),
                        None,
                        addr,
                    )?;
                    Ok(())
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "a failed sign-in was not counted");
            }
        }
    };
    let Some(row) = row.filter(|r| password_ok && !r.disabled) else {
        record_failure("credentials").await;
        return Err(bad_credentials());
    };
    let mut used_step = None;
    if let Some(secret) = &row.totp {
        let Some(code) = req.totp_code.as_deref().filter(|c| !c.trim().is_empty()) else {
            // The password was right; the client asks for the second factor and tries again
            // (not a failure: nothing was guessed).
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "enter the code from your authenticator app",
            )
            .with_details(json!({ "reason": "totp_required" })));
        };
        match totp_step(secret, code, now) {
            // A code works once (RFC 6238 §5.2): a step at or before the last used is refused.
            Some(step) if step as i64 > row.last_step => used_step = Some(step as i64),
            _ => {
                record_failure("totp").await;
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "wrong or already used authenticator code",
                )
                .with_details(json!({ "reason": "totp_invalid" })));
            }
        }
    }
    let token = random_token();
    let csrf = random_token();
    let max_ms = (cfg.session_max_s as i64).saturating_mul(1000);
    let idle_ms = (cfg.idle_timeout_s as i64).saturating_mul(1000);
    let hash = token_hash(&token);
    let op_id = row.id.clone();
    let em = email.clone();
    let session = st
        .db
        .call(move |c| {
            c.execute("DELETE FROM login_throttle WHERE key = ?1", [&acct])?;
            if let Some(s) = used_step {
                c.execute(
                    "UPDATE operators SET totp_last_step = ?1 WHERE id = ?2",
                    rusqlite::params![s, op_id],
                )?;
            }
            // Housekeeping: this operator's ended sessions.
            c.execute(
                "DELETE FROM operator_sessions WHERE operator_id = ?1
                   AND (expires_at <= ?2 OR last_seen_at <= ?3)",
                rusqlite::params![op_id, now, now - idle_ms],
            )?;
            c.execute(
                "INSERT INTO operator_sessions(id_hash, operator_id, csrf, created_at, last_seen_at,
                   expires_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                rusqlite::params![hash, op_id, csrf, now, now + max_ms],
            )?;
            crate::audit::record(c, now, &em, "console.login", None, None, addr)?;
            lookup(c, &token, now, idle_ms).map(|s| (s, token))
        })
        .await?;
    let (Some(session), token) = session else {
        return Err(ApiError::internal());
    };
    let mut resp = ok(info(&st, &session), "signed in");
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(&st, &token, cfg.session_max_s as i64),
    );
    Ok(resp)
}

/// The operator a console session's claims stand for ([`Session::claims`]); none for a
/// bearer token.
pub fn session_operator(claims: &ApiTokenClaims) -> Option<&str> {
    (claims.token_use == "console")
        .then(|| claims.jti.strip_prefix("session:"))
        .flatten()
}

/// Asks a signed-in operator for the password again before a lasting change (TOTP on, an
/// API token): a session left open, or stolen, is not enough. Throttled and audited as a
/// sign-in is; a wrong password answers 403 `FORBIDDEN` (`details.reason = "password"`, the
/// session stays).
pub async fn confirm_password(
    st: &AppState,
    operator_id: &str,
    password: &str,
    addr: Option<IpAddr>,
) -> ApiResult<()> {
    let now = st.clock.now_ms();
    let id = operator_id.to_string();
    let row: Option<(String, String)> = st
        .db
        .call(move |c| {
            Ok(c.query_row(
                "SELECT email, password_hash FROM operators WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await?;
    let Some((email, hash)) = row else {
        return Err(session_expired());
    };
    let (acct, addr_key) = (account_key(&email, addr), address_key(addr));
    let keys: Vec<String> = addr_key.clone().into_iter().chain([acct.clone()]).collect();
    if let Some(wait) = st.db.call(move |c| Ok(throttled(c, &keys, now)?)).await? {
        return Err(ApiError::rate_limited(wait));
    }
    let password = password.to_string();
    let right = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    if right {
        return Ok(());
    }
    let cfg = st.cfg.console.clone();
    st.db
        .call(move |c| {
            fail(c, &acct, cfg.free_failures_per_account, now)?;
            if let Some(a) = &addr_key {
                fail(c, a, cfg.free_failures_per_address, now)?;
            }
            crate::audit::record(c, now, &email, "console.password_refused", None, None, addr)?;
            Ok(())
        })
        .await?;
    Err(
        ApiError::new(ErrorCode::Forbidden, "enter your password to confirm")
            .with_details(json!({ "reason": "password" })),
    )
}

/// `POST /console/api/logout`: the session ends here and in the store.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "console",
    summary = "Ends the session",
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn logout(
    State(st): State<AppState>,
    OperatorSession(s): OperatorSession,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = cookie_token(&headers).unwrap_or_default();
    let now = st.clock.now_ms();
    st.db
        .call(move |c| {
            c.execute(
                "DELETE FROM operator_sessions WHERE id_hash = ?1",
                [token_hash(&token)],
            )?;
            crate::audit::record(c, now, &s.email, "console.logout", None, None, None)?;
            Ok(())
        })
        .await?;
    let mut resp = ok(json!({}), "signed out");
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(&st, "", 0));
    Ok(resp)
}

/// `GET /console/api/me`: who is signed in, and the CSRF token (the page reads it after a
/// reload: the cookie is HttpOnly).
#[utoipa::path(
    get,
    path = "/me",
    tag = "console",
    summary = "The signed-in operator and the session's CSRF token",
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn me(
    State(st): State<AppState>,
    OperatorSession(s): OperatorSession,
) -> ApiResult<Response> {
    Ok(ok(info(&st, &s), ""))
}

/// The password typed again (TOTP enrolment).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    pub password: String,
}

/// `POST /console/api/totp/enrol`: a new secret, pending until a code from it is confirmed.
/// The secret is shown this once. Asks for the password again.
#[utoipa::path(
    post,
    path = "/totp/enrol",
    tag = "console",
    summary = "Starts TOTP enrolment (the password again): a new secret and its otpauth URI",
    request_body = crate::operators::PasswordConfirm,
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn totp_enrol(
    State(st): State<AppState>,
    OperatorSession(s): OperatorSession,
    peer: Option<axum::Extension<PeerAddr>>,
    ApiJson(req): ApiJson<PasswordConfirm>,
) -> ApiResult<Response> {
    confirm_password(&st, &s.operator_id, &req.password, peer.map(|p| p.0.0)).await?;
    // 160 bits, as RFC 4226 recommends.
    let secret: [u8; 20] = rand::rng().random();
    let id = s.operator_id.clone();
    st.db
        .call(move |c| {
            c.execute(
                "UPDATE operators SET totp_pending = ?1 WHERE id = ?2",
                rusqlite::params![secret.as_slice(), id],
            )?;
            Ok(())
        })
        .await?;
    let b32 = base32(&secret);
    let label = format!("{TOTP_ISSUER}:{}", s.email);
    let url = format!(
        "otpauth://totp/{}?secret={b32}&issuer={}&algorithm=SHA1&digits=6&period=30",
        url::form_urlencoded::byte_serialize(label.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(TOTP_ISSUER.as_bytes()).collect::<String>(),
    );
    Ok(ok(
        json!({ "secret": b32, "otpauth_url": url }),
        "scan it, then confirm with a code",
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// `POST /console/api/totp/confirm`: a code from the pending secret turns the factor on.
#[utoipa::path(
    post,
    path = "/totp/confirm",
    tag = "console",
    summary = "Confirms TOTP enrolment with a first code",
    request_body = crate::operators::TotpCode,
    responses((status = 200, description = "success")),
    security(("session" = [])),
)]
pub async fn totp_confirm(
    State(st): State<AppState>,
    OperatorSession(s): OperatorSession,
    ApiJson(req): ApiJson<TotpCode>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let id = s.operator_id.clone();
    let email = s.email.clone();
    st.db
        .call(move |c| {
            let pending: Option<Vec<u8>> = c
                .query_row(
                    "SELECT totp_pending FROM operators WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let Some(secret) = pending else {
                return Err(ApiError::bad_request(
                    "start with POST /console/api/totp/enrol",
                ));
            };
            let Some(step) = totp_step(&secret, &req.code, now) else {
                return Err(
                    ApiError::new(ErrorCode::InvalidOtp, "wrong authenticator code")
                        .with_details(json!({ "reason": "totp_invalid" })),
                );
            };
            c.execute(
                "UPDATE operators SET totp_secret = totp_pending, totp_pending = NULL,
                   totp_last_step = ?1 WHERE id = ?2",
                rusqlite::params![step as i64, id],
            )?;
            crate::audit::record(c, now, &email, "console.totp_enabled", None, None, None)?;
            Ok(())
        })
        .await?;
    Ok(ok(
        json!({ "totp_enabled": true }),
        "two-step sign-in is on",
    ))
}
