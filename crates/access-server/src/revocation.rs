//! Whether a kiosk or an admin token was revoked, checked on every request through a short
//! cache: a revocation by this process takes effect at once, one by another process (the CLI
//! on the same database, another replica) within [`RECHECK_MS`].

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sql::OptionalExtension;
use access_types::{ApiScope, ApiTokenClaims, ErrorCode};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a looked-up answer is trusted.
pub const RECHECK_MS: i64 = 2_000;
/// Entries kept before the cache is cleared (a crude bound: a site has a few hundred kiosks).
const MAX_ENTRIES: usize = 16_384;

#[derive(Default)]
pub struct Revocations {
    /// key → (revoked, when it was looked up, ms).
    seen: Mutex<HashMap<String, (bool, i64)>>,
}

impl Revocations {
    pub fn kiosk(id: &str) -> String {
        format!("kiosk:{id}")
    }

    pub fn token(jti: &str) -> String {
        format!("jti:{jti}")
    }

    fn cached(&self, key: &str, now: i64) -> Option<bool> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key)
            .filter(|(_, at)| now - at < RECHECK_MS)
            .map(|(r, _)| *r)
    }

    pub fn set(&self, key: &str, revoked: bool, now: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(key.to_string(), (revoked, now));
    }

    pub fn forget(&self, key: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Refuses a token whose kiosk (kiosk scope) or whose id (admin scope) was revoked. A kiosk
/// token must name its kiosk and project: only the token exchange issues those. An admin or
/// metrics token must be recorded (`tokens::mint`): one the store never saw (signed before
/// tokens were recorded, with no cap on their life) could be neither listed nor revoked.
pub async fn check(st: &AppState, claims: &ApiTokenClaims) -> ApiResult<()> {
    let now = st.clock.now_ms();
    let (key, id) = match claims.scope {
        ApiScope::Kiosk => match (&claims.kiosk_id, &claims.project_id) {
            (Some(k), Some(_)) => (Revocations::kiosk(k), k.clone()),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "a kiosk token must come from a paired kiosk",
                ));
            }
        },
        ApiScope::Admin | ApiScope::Metrics => {
            (Revocations::token(&claims.jti), claims.jti.clone())
        }
    };
    let revoked = match st.revocations.cached(&key, now) {
        Some(r) => r,
        None => {
            let scope = claims.scope;
            let r = st
                .db
                .call(move |c| {
                    Ok(match scope {
                        // An unknown kiosk is as good as revoked.
                        ApiScope::Kiosk => c
                            .prepare_cached(
                                "SELECT revoked_at IS NOT NULL FROM kiosks WHERE id = ?1",
                            )?
                            .query_row([id], |r| r.get::<_, bool>(0))
                            .optional()?
                            .unwrap_or(true),
                        // An unrecorded one too.
                        ApiScope::Admin | ApiScope::Metrics => c
                            .prepare_cached(
                                "SELECT revoked_at IS NOT NULL FROM api_tokens WHERE jti = ?1",
                            )?
                            .query_row([id], |r| r.get::<_, bool>(0))
                            .optional()?
                            .unwrap_or(true),
                    })
                })
                .await?;
            st.revocations.set(&key, r, now);
            r
        }
    };
    if !revoked {
        return Ok(());
    }
    Err(match claims.scope {
        ApiScope::Kiosk => ApiError::new(
            ErrorCode::KioskRevoked,
            "this kiosk was revoked; pair it again",
        ),
        ApiScope::Admin | ApiScope::Metrics => ApiError::new(
            ErrorCode::Unauthorized,
            "this token was revoked or never recorded",
        ),
    })
}
