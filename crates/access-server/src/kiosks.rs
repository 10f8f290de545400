//! Kiosk identity: one-time pairing codes, the device-key token exchange, what kiosks report,
//! and revocation. The store functions take a connection so the CLI (`access-server kiosks`)
//! and the admin API share them; the handlers are extract → one call → respond.
//!
//! A kiosk never holds a long-lived secret the server issued: it holds its own Ed25519 device
//! key (registered at pairing) and trades a fresh signed assertion for a token of at most an
//! hour, bound to its kiosk id and project. Revoking the kiosk refuses its next request.

use crate::sql::{Connection, OptionalExtension, Row};
use access_types::ErrorCode;
use access_types::kiosk_identity::{
    self as ki, CreatePairingRequest, KioskInfo, KioskStatusReport, KioskToken, KioskTokenRequest,
    PairKioskRequest, PairedKiosk, Pairing,
};
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::clock::rfc3339;
use crate::db::exec;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson, ApiQuery, Auth};
use crate::flows::project_exists;
use crate::rate::{rate_record, rate_room};
use crate::revocation::Revocations;
use crate::state::AppState;
use crate::{created, ids, ok};

/// A pairing code's life (issue 11: 10 minutes, single use).
pub const PAIRING_TTL_MS: i64 = 10 * 60 * 1000;
/// Longest kiosk token; the configured `kiosk_token_ttl_s` is capped to it.
pub const MAX_KIOSK_TOKEN_TTL_S: u64 = 3600;
/// Refused pairing attempts per minute from one address (an IPv6 /64): a 60-bit code cannot
/// be guessed in 10 minutes anyway, this keeps a guesser from costing the store anything.
/// Per address, so junk from elsewhere blocks no one else's pairing; successes are not
/// counted, so a site pairing many kiosks from one address is never held back.
const PAIR_FAILURES_PER_MIN: u32 = 10;

/// Crockford's base32 alphabet (no I, L, O, U): read aloud and typed without ambiguity.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn new_pairing_code() -> String {
    let bits = u64::from_le_bytes(ids::random_bytes::<8>());
    let chars: String = (0..12)
        .map(|i| CROCKFORD[((bits >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
}

/// Codes are stored hashed: a copy of the database pairs nothing.
fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(ki::normalize_pairing_code(code).as_bytes()).to_vec()
}

fn check_kiosk_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    Ok(())
}

/// Makes a pairing code for `project_id` (admin API and `access-server kiosks pair`).
pub fn create_pairing(c: &Connection, req: &CreatePairingRequest, now: i64) -> ApiResult<Pairing> {
    if let Some(n) = &req.name {
        check_kiosk_name(n)?;
    }
    if !project_exists(c, &req.project_id)? {
        return Err(ApiError::new(
            ErrorCode::ProjectNotFound,
            "unknown project_id",
        ));
    }
    let code = new_pairing_code();
    let expires_at = now + PAIRING_TTL_MS;
    exec(
        c,
        "DELETE FROM kiosk_pairings WHERE expires_at <= ?1",
        [now],
    )?;
    exec(
        c,
        "INSERT INTO kiosk_pairings(code_hash, project_id, name, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![code_hash(&code), req.project_id, req.name, expires_at, now],
    )?;
    Ok(Pairing {
        code,
        project_id: req.project_id.clone(),
        name: req.name.clone(),
        expires_at: rfc3339(expires_at),
    })
}

/// Registers a kiosk's device key with a pairing code (used up by this call). The same key
/// paired again (a kiosk moved to another project) keeps its kiosk id and is live again: an
/// administrator made the code. The key a code paired may present it again until it expires
/// and gets the same answer (a retry after a lost response); any other key is refused.
pub fn pair(c: &Connection, req: &PairKioskRequest, now: i64) -> ApiResult<PairedKiosk> {
    let invalid = || {
        ApiError::new(
            ErrorCode::PairingCodeInvalid,
            "this pairing code is unknown, used or expired",
        )
    };
    let public_key = ki::decode_public_key(&req.public_key)
        .map_err(|e| ApiError::bad_request(format!("public_key: {e}")))?;
    let (project_id, name, used_by): (String, Option<String>, Option<String>) = c
        .query_row(
            "SELECT project_id, name, CASE WHEN used_at IS NULL THEN NULL ELSE kiosk_id END
             FROM kiosk_pairings WHERE code_hash = ?1 AND expires_at > ?2",
            rusqlite::params![code_hash(&req.code), now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(invalid)?;
    // Possession of the key: a code overheard on its way to the kiosk cannot pair another key
    // without the code, and this key cannot be paired without its private half.
    ki::verify_signature(
        &public_key,
        ki::pairing_proof_text(&req.code, &req.public_key).as_bytes(),
        &req.proof,
    )
    .map_err(|e| ApiError::new(ErrorCode::AssertionInvalid, format!("pairing proof: {e}")))?;
    let name = name.unwrap_or_else(|| "Kiosk".to_string());
    if let Some(kiosk_id) = used_by {
        // A used code answers again only to the key it paired, while that kiosk stands in the
        // code's project: a kiosk cut off after the server paired it (power, network) must be
        // able to retry with the same code, and a revoked kiosk is not revived by a replay.
        let same = kiosk_key(c, &kiosk_id)?.is_some_and(|k| {
            !k.revoked && k.project_id == project_id && k.public_key == public_key[..]
        });
        return if same {
            Ok(PairedKiosk {
                kiosk_id,
                project_id,
                name,
                signing_keys: None,
            })
        } else {
            Err(invalid())
        };
    }
    let existing: Option<(String, Option<i64>)> = c
        .query_row(
            "SELECT id, revoked_at FROM kiosks WHERE public_key = ?1",
            [&public_key[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // A revoked kiosk id stays revoked: a fresh code pairs its device key again as a new kiosk
    // (an administrator's new decision, listed as such), never brings back the old id, its
    // name or its history. The old row keeps a fingerprint of the key in place of the key,
    // which must stay unique.
    let existing = match existing {
        Some((old_id, Some(_))) => {
            use sha2::{Digest, Sha256};
            // The id in it too: one key revoked twice leaves two distinct fingerprints.
            let fingerprint = Sha256::digest([old_id.as_bytes(), b"\0", &public_key[..]].concat());
            exec(
                c,
                "UPDATE kiosks SET public_key = ?1 WHERE id = ?2",
                rusqlite::params![&fingerprint[..], old_id],
            )?;
            None
        }
        Some((id, None)) => Some(id),
        None => None,
    };
    let kiosk_id = match existing {
        Some(id) => {
            exec(
                c,
                "UPDATE kiosks SET project_id = ?1, name = ?2,
                 version = COALESCE(?3, version), last_seen_at = ?4 WHERE id = ?5",
                rusqlite::params![project_id, name, req.version, now, id],
            )?;
            id
        }
        None => {
            let id = ids::new_id("ksk");
            exec(
                c,
                "INSERT INTO kiosks(id, project_id, name, public_key, created_at, version,
                   last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
                rusqlite::params![id, project_id, name, &public_key[..], now, req.version],
            )?;
            id
        }
    };
    exec(
        c,
        "UPDATE kiosk_pairings SET used_at = ?1, kiosk_id = ?2 WHERE code_hash = ?3",
        rusqlite::params![now, kiosk_id, code_hash(&req.code)],
    )?;
    Ok(PairedKiosk {
        kiosk_id,
        project_id,
        name,
        signing_keys: None,
    })
}

/// A registered kiosk's key and binding.
pub struct KioskKey {
    pub project_id: String,
    pub public_key: Vec<u8>,
    pub revoked: bool,
}

pub fn kiosk_key(c: &Connection, kiosk_id: &str) -> crate::sql::Result<Option<KioskKey>> {
    c.prepare_cached("SELECT project_id, public_key, revoked_at FROM kiosks WHERE id = ?1")?
        .query_row([kiosk_id], |r| {
            Ok(KioskKey {
                project_id: r.get(0)?,
                public_key: r.get(1)?,
                revoked: r.get::<_, Option<i64>>(2)?.is_some(),
            })
        })
        .optional()
}

/// Checks a kiosk's client assertion and uses up its `jti`: the kiosk id and project a token
/// may be issued for.
pub fn exchange(c: &Connection, req: &KioskTokenRequest, now: i64) -> ApiResult<(String, String)> {
    let refused = |why: String| ApiError::new(ErrorCode::AssertionInvalid, why);
    let claimed = ki::peek_assertion(&req.client_assertion)
        .map_err(|e| refused(format!("client assertion: {e}")))?;
    let kiosk_id = claimed.sub;
    let Some(key) = kiosk_key(c, &kiosk_id)? else {
        return Err(refused("client assertion: unknown kiosk".into()));
    };
    let claims = ki::verify_client_assertion(&req.client_assertion, &key.public_key, now / 1000)
        .map_err(|e| refused(format!("client assertion: {e}")))?;
    if key.revoked {
        return Err(ApiError::new(
            ErrorCode::KioskRevoked,
            "this kiosk was revoked; pair it again",
        ));
    }
    exec(
        c,
        "DELETE FROM assertion_jtis WHERE kiosk_id = ?1 AND expires_at <= ?2",
        rusqlite::params![kiosk_id, now],
    )?;
    let fresh = exec(
        c,
        "INSERT INTO assertion_jtis(kiosk_id, jti, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        rusqlite::params![kiosk_id, claims.jti, (claims.exp + ki::CLOCK_SKEW_S) * 1000],
    )?;
    if fresh == 0 {
        return Err(refused("client assertion: already used".into()));
    }
    exec(
        c,
        "UPDATE kiosks SET last_seen_at = ?1, version = COALESCE(?2, version),
           pending_events = COALESCE(?3, pending_events) WHERE id = ?4",
        rusqlite::params![
            now,
            req.version,
            req.pending_events.map(|p| p.min(i64::MAX as u64) as i64),
            kiosk_id
        ],
    )?;
    Ok((kiosk_id, key.project_id))
}

fn info_from_row(r: &Row<'_>) -> crate::sql::Result<KioskInfo> {
    Ok(KioskInfo {
        kiosk_id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        created_at: rfc3339(r.get(3)?),
        last_seen_at: r.get::<_, Option<i64>>(4)?.map(rfc3339),
        version: r.get(5)?,
        pending_events: r.get::<_, Option<i64>>(6)?.map(|p| p.max(0) as u64),
        last_sync_at: r.get::<_, Option<i64>>(7)?.map(rfc3339),
        revoked_at: r.get::<_, Option<i64>>(8)?.map(rfc3339),
    })
}

const INFO_COLUMNS: &str = "id, project_id, name, created_at, last_seen_at, version,
    pending_events, last_sync_at, revoked_at";

/// Every kiosk (of one project), newest first.
pub fn list(c: &Connection, project_id: Option<&str>) -> crate::sql::Result<Vec<KioskInfo>> {
    let mut s = c.prepare(&format!(
        "SELECT {INFO_COLUMNS} FROM kiosks WHERE CAST(?1 AS TEXT) IS NULL OR project_id = ?1
         ORDER BY created_at DESC"
    ))?;
    s.query_map([project_id], info_from_row)?.collect()
}

/// Revokes a kiosk: its tokens and events are refused from its next request.
pub fn revoke(c: &Connection, kiosk_id: &str, now: i64) -> ApiResult<KioskInfo> {
    exec(
        c,
        "UPDATE kiosks SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
        rusqlite::params![now, kiosk_id],
    )?;
    c.query_row(
        &format!("SELECT {INFO_COLUMNS} FROM kiosks WHERE id = ?1"),
        [kiosk_id],
        info_from_row,
    )
    .optional()?
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "unknown kiosk"))
}

// ---- handlers ---------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/kiosks/pairings",
    tag = "kiosks",
    summary = "A one-time pairing code for a new kiosk (10 minutes, single use)",
    request_body = access_types::kiosk_identity::CreatePairingRequest,
    responses((status = 200, description = "success", body = access_types::kiosk_identity::Pairing)),
    security(("bearer" = [])),
)]
pub async fn create_pairing_handler(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiJson(req): ApiJson<CreatePairingRequest>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let p = st.db.tx(move |tx| create_pairing(tx, &req, now)).await?;
    Ok(created(
        p,
        "pairing code created; it works once, for 10 minutes",
    ))
}

#[utoipa::path(
    post,
    path = "/kiosks/pair",
    tag = "kiosks",
    summary = "A kiosk registers its device key with a pairing code (no token: the code is the credential)",
    request_body = access_types::kiosk_identity::PairKioskRequest,
    responses((status = 200, description = "success", body = access_types::kiosk_identity::PairedKiosk)),
)]
pub async fn pair_handler(
    State(st): State<AppState>,
    peer: Option<axum::Extension<crate::operators::PeerAddr>>,
    ApiJson(req): ApiJson<PairKioskRequest>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let key = match peer {
        Some(p) => format!("kiosk-pair:{}", crate::operators::PeerAddr::bucket(p.0.0)),
        None => "kiosk-pair:-".to_string(),
    };
    let k = key.clone();
    st.db
        .call(move |c| rate_room(c, &k, PAIR_FAILURES_PER_MIN, 60_000, now))
        .await?;
    match st.db.tx(move |tx| pair(tx, &req, now)).await {
        Ok(mut paired) => {
            // What the kiosk pins: it will accept only access tokens these keys signed.
            paired.signing_keys = Some(st.keys.signed_key_set(now));
            Ok(created(paired, "kiosk paired"))
        }
        Err(refused) => {
            // Counted in its own transaction: the refused one rolled back.
            st.db
                .tx(move |tx| rate_record(tx, &key, 60_000, now))
                .await?;
            Err(refused)
        }
    }
}

#[utoipa::path(
    post,
    path = "/kiosks/token",
    tag = "kiosks",
    summary = "A kiosk trades a signed client assertion (RFC 7523 style) for a kiosk token",
    request_body = access_types::kiosk_identity::KioskTokenRequest,
    responses((status = 200, description = "success", body = access_types::kiosk_identity::KioskToken)),
)]
pub async fn token_handler(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<KioskTokenRequest>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let (kiosk_id, project_id) = st.db.tx(move |tx| exchange(tx, &req, now)).await?;
    let ttl = st.cfg.kiosk_token_ttl_s.clamp(60, MAX_KIOSK_TOKEN_TTL_S);
    let access_token = st
        .keys
        .issue_kiosk_token(&kiosk_id, &project_id, ttl, now)
        .map_err(|_| ApiError::internal())?;
    st.revocations.forget(&Revocations::kiosk(&kiosk_id));
    Ok(ok(
        KioskToken {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            kiosk_id,
            project_id,
        },
        "",
    ))
}

#[utoipa::path(
    post,
    path = "/kiosks/status",
    tag = "kiosks",
    summary = "A kiosk reports its version and pending events after a sync round",
    request_body = access_types::kiosk_identity::KioskStatusReport,
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn status_handler(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<KioskStatusReport>,
) -> ApiResult<Response> {
    let Some(kiosk_id) = auth.0.kiosk_id.clone() else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only a paired kiosk reports its status",
        ));
    };
    let now = st.clock.now_ms();
    st.db
        .call(move |c| {
            exec(
                c,
                "UPDATE kiosks SET last_seen_at = ?1, last_sync_at = ?1,
                   version = COALESCE(?2, version), pending_events = ?3 WHERE id = ?4",
                rusqlite::params![
                    now,
                    req.version,
                    req.pending_events.min(i64::MAX as u64) as i64,
                    kiosk_id
                ],
            )?;
            Ok(())
        })
        .await?;
    Ok(ok(json!({}), ""))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub project_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/kiosks",
    tag = "kiosks",
    summary = "Paired kiosks: last seen, version, pending events, last sync ({ kiosks: KioskInfo[] })",
    params(("project_id" = Option<String>, Query)),
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn list_handler(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let kiosks = st
        .db
        .call(move |c| Ok(list(c, q.project_id.as_deref())?))
        .await?;
    Ok(ok(json!({ "kiosks": kiosks }), ""))
}

#[utoipa::path(
    post,
    path = "/kiosks/{id}/revoke",
    tag = "kiosks",
    summary = "Revoke a kiosk: its next request, token and events are refused",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::kiosk_identity::KioskInfo)),
    security(("bearer" = [])),
)]
pub async fn revoke_handler(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let k = id.clone();
    let info = st.db.tx(move |tx| revoke(tx, &k, now)).await?;
    st.revocations.set(&Revocations::kiosk(&id), true, now);
    tracing::info!(kiosk = %id, "kiosk revoked");
    Ok(ok(info, "kiosk revoked"))
}
