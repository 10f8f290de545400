//! Signing keys (Ed25519, persisted in the store sealed under the database key: `sealed.rs`),
//! API bearer tokens and end-user tokens.

use std::collections::HashMap;

use access_types::access_token::{self, SignedKeySet};
use access_types::{AccessTokenClaims, ApiScope, ApiTokenClaims, ErrorCode, Jwk, JwkSet};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::db::{Db, StoreError};
use crate::error::ApiError;
use crate::ids;
use crate::sealed::{DbKey, SealError, signing_key_aad};

/// `aud` of API bearer tokens.
pub const API_AUDIENCE: &str = "access-api";
const TOKEN_USE_API: &str = "api";
use access_token::TOKEN_USE_ACCESS;
/// How often a server re-reads its signing keys (a rotation by the CLI, a key retiring).
pub const KEY_RELOAD: std::time::Duration = std::time::Duration::from_secs(30);
/// Tolerated clock skew for `nbf` / `iat` of tokens minted elsewhere.
const NBF_LEEWAY_S: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored signing key is unusable")]
    BadKey,
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// The keys in force: the newest signs, every key not yet retired verifies.
struct KeySet {
    kid: String,
    /// Parsed once: `jsonwebtoken::encode` would re-derive the key pair on every token.
    signer: Ed25519KeyPair,
    /// Every key in force, to sign the key set kiosks pin (`signed_key_set`).
    all_signers: Vec<(String, Ed25519KeyPair)>,
    decoding: HashMap<String, DecodingKey>,
    /// When each key stops verifying (ms; none: it signs, or was rotated out by nobody yet).
    /// Checked on every use, so a key retires on time between two re-reads.
    retire_after: HashMap<String, Option<i64>>,
    jwks: JwkSet,
}

impl KeySet {
    /// Whether `kid` verifies at `now_ms`: in the set and not past its retirement.
    fn verifies(&self, kid: &str, now_ms: i64) -> bool {
        matches!(self.retire_after.get(kid), Some(r) if r.is_none_or(|at| at > now_ms))
    }

    /// What a change of keys is seen by: each key and its retirement.
    fn fingerprint(&self) -> Vec<(String, Option<i64>)> {
        let mut f: Vec<_> = self
            .retire_after
            .iter()
            .map(|(k, r)| (k.clone(), *r))
            .collect();
        f.sort();
        f
    }
}

/// The server's signing key plus every public key it accepts. After a rotation
/// ([`Keys::rotate`]) the new key signs; the old one stays in the JWKS, and keeps verifying,
/// until `retire_after` (the end of the longest token it could have signed).
pub struct Keys {
    set: std::sync::RwLock<std::sync::Arc<KeySet>>,
    /// Verified API tokens, with the key that signed each. Kiosks present the same token on
    /// every call, and an Ed25519 verification dominated the CPU profile; `exp`/`nbf` and the
    /// signing key's standing are still checked on every use, revocation by the extractor.
    /// Cleared whenever the keys change (a rotation here or by another process, a key retiring).
    verified: std::sync::Mutex<HashMap<String, (String, ApiTokenClaims)>>,
    issuer: String,
    /// Opens the private keys the store keeps sealed (every reload reads them again).
    db_key: DbKey,
}

type KeyRow = (String, Vec<u8>, Vec<u8>, Option<i64>);

fn new_key_row(
    c: &crate::sql::Connection,
    db_key: &DbKey,
    now_ms: i64,
) -> Result<String, StoreError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| StoreError::Sql(rusqlite::Error::InvalidQuery.into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| StoreError::Sql(rusqlite::Error::InvalidQuery.into()))?;
    let kid = ids::new_id("key");
    c.execute(
        "INSERT INTO signing_keys(kid, alg, private_pkcs8, public_key, created_at)
         VALUES (?1, 'EdDSA', ?2, ?3, ?4)",
        rusqlite::params![
            kid,
            db_key.seal(pkcs8.as_ref(), &signing_key_aad(&kid)),
            pair.public_key().as_ref(),
            now_ms
        ],
    )?;
    Ok(kid)
}

/// The keys not yet retired at `now_ms`, newest first (the first signs), still sealed.
fn live_keys(c: &crate::sql::Connection, now_ms: i64) -> Result<Vec<KeyRow>, StoreError> {
    let mut st = c.prepare(
        "SELECT kid, private_pkcs8, public_key, retire_after FROM signing_keys
         WHERE retire_after IS NULL OR retire_after > ?1 ORDER BY created_at DESC, kid DESC",
    )?;
    let rows = st
        .query_map([now_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn key_set(rows: &[KeyRow], db_key: &DbKey) -> Result<KeySet, KeyError> {
    let (kid, sealed, _, _) = rows.first().ok_or(KeyError::BadKey)?;
    let (pkcs8, _) = db_key.open(sealed, &signing_key_aad(kid), "signing key")?;
    let signer = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::BadKey)?;
    let mut decoding = HashMap::new();
    let mut retire_after = HashMap::new();
    let mut keys = Vec::new();
    // Every key in force signs the key set a kiosk pins (`signed_key_set`): each is opened.
    let mut all_signers = Vec::new();
    for (kid, sealed, public, retire) in rows {
        let (pkcs8, _) = db_key.open(sealed, &signing_key_aad(kid), "signing key")?;
        all_signers.push((
            kid.clone(),
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::BadKey)?,
        ));
        decoding.insert(kid.clone(), DecodingKey::from_ed_der(public));
        retire_after.insert(kid.clone(), *retire);
        keys.push(Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public),
            kid: kid.clone(),
            use_: "sig".into(),
            alg: "EdDSA".into(),
        });
    }
    Ok(KeySet {
        kid: kid.clone(),
        signer,
        all_signers,
        decoding,
        retire_after,
        jwks: JwkSet { keys },
    })
}

impl Keys {
    /// Load the signing keys from the store, creating one on first start (in one transaction,
    /// so two processes starting together agree on the key). Keys stored in clear by an older
    /// server are sealed under `db_key` first.
    pub fn load_or_create(
        db: &Db,
        db_key: &DbKey,
        issuer: &str,
        now_ms: i64,
    ) -> Result<Self, KeyError> {
        let k = db_key.clone();
        let rows = db.transaction(move |tx| {
            crate::sealed::seal_clear_signing_keys(tx, &k)?;
            if live_keys(tx, now_ms)?.is_empty() {
                new_key_row(tx, &k, now_ms)?;
            }
            let rows = live_keys(tx, now_ms)?;
            Ok(rows)
        })?;
        Ok(Self {
            set: std::sync::RwLock::new(std::sync::Arc::new(key_set(&rows, db_key)?)),
            verified: std::sync::Mutex::new(HashMap::new()),
            issuer: issuer.to_string(),
            db_key: db_key.clone(),
        })
    }

    /// The key the store's secrets are sealed with.
    pub fn db_key(&self) -> &DbKey {
        &self.db_key
    }

    /// Re-reads the keys (another process rotated them, or an old one retired). Any change
    /// empties the verified-token cache: nothing a retired key signed is taken from it.
    pub fn reload(&self, db: &Db, now_ms: i64) -> Result<(), KeyError> {
        let rows = db.blocking(move |c| live_keys(c, now_ms))?;
        let set = key_set(&rows, &self.db_key)?;
        let changed = {
            let mut current = self.set.write().unwrap_or_else(|p| p.into_inner());
            let changed = current.fingerprint() != set.fingerprint();
            *current = std::sync::Arc::new(set);
            changed
        };
        if changed {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
        Ok(())
    }

    /// Makes a new signing key. Every older key stops signing and retires `keep_ms` from now
    /// (give it the longest lifetime of any token it signed: until then those stay valid).
    /// Returns the new key id. Works on a database a running server uses (it re-reads its
    /// keys every [`KEY_RELOAD`]), or through `POST /keys/rotate`, which reloads at once.
    pub fn rotate(db: &Db, db_key: &DbKey, now_ms: i64, keep_ms: i64) -> Result<String, KeyError> {
        let db_key = db_key.clone();
        Ok(db.transaction(move |tx| {
            tx.execute(
                "UPDATE signing_keys SET retire_after = ?1 WHERE retire_after IS NULL",
                [now_ms.saturating_add(keep_ms)],
            )?;
            let kid = new_key_row(tx, &db_key, now_ms + 1)?;
            Ok(kid)
        })?)
    }

    fn current(&self) -> std::sync::Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The public keys tokens may be verified with (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> JwkSet {
        self.current().jwks.clone()
    }

    /// The keys in force, dated and signed by each of them: what a kiosk pins at pairing and
    /// learns a rotation from (`access_types::access_token::SignedKeySet`).
    pub fn signed_key_set(&self, now_ms: i64) -> SignedKeySet {
        let set = self.current();
        SignedKeySet::sign(set.jwks.keys.clone(), now_ms / 1000, |kid, msg| {
            set.all_signers
                .iter()
                .find(|(k, _)| k == kid)
                .map(|(_, pair)| pair.sign(msg).as_ref().to_vec())
        })
    }

    /// The id of the key that signs new tokens.
    pub fn signing_kid(&self) -> String {
        self.current().kid.clone()
    }

    /// Compact JWS with EdDSA over the pre-parsed key.
    fn sign<C: serde::Serialize>(&self, claims: &C) -> Result<String, KeyError> {
        let set = self.current();
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(set.kid.clone());
        let header = serde_json::to_vec(&h).map_err(|_| KeyError::BadKey)?;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::BadKey)?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = set.signer.sign(signing_input.as_bytes());
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    /// A signed API token, not recorded: an admin or metrics token from here is refused
    /// ([`crate::revocation::check`] accepts only those [`crate::tokens::mint`] recorded, so
    /// every one can be listed and revoked). Tests of the signature checks use it.
    pub fn issue_api_token(
        &self,
        subject: &str,
        scope: ApiScope,
        ttl_s: u64,
        now_ms: i64,
    ) -> Result<String, KeyError> {
        self.sign(&self.api_claims(subject, scope, ttl_s, now_ms))
    }

    /// The claims of a new API token; `jti` is fresh.
    pub fn api_claims(
        &self,
        subject: &str,
        scope: ApiScope,
        ttl_s: u64,
        now_ms: i64,
    ) -> ApiTokenClaims {
        let now = now_ms / 1000;
        ApiTokenClaims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: API_AUDIENCE.into(),
            scope,
            token_use: TOKEN_USE_API.into(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(ttl_s).unwrap_or(i64::MAX)),
            jti: ids::new_id("jti"),
            project_id: None,
            kiosk_id: None,
        }
    }

    /// Signs API token claims made by [`Keys::api_claims`].
    pub fn sign_api_token(&self, claims: &ApiTokenClaims) -> Result<String, KeyError> {
        self.sign(claims)
    }

    /// A kiosk-scope token bound to one paired kiosk and its project.
    pub fn issue_kiosk_token(
        &self,
        kiosk_id: &str,
        project_id: &str,
        ttl_s: u64,
        now_ms: i64,
    ) -> Result<String, KeyError> {
        let mut c = self.api_claims(kiosk_id, ApiScope::Kiosk, ttl_s, now_ms);
        c.project_id = Some(project_id.to_string());
        c.kiosk_id = Some(kiosk_id.to_string());
        self.sign(&c)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn issue_access_token(
        &self,
        subject: &str,
        project_id: &str,
        project_flow_id: &str,
        validation_id: &str,
        amr: &[&str],
        ttl_s: u64,
        now_ms: i64,
    ) -> Result<String, KeyError> {
        let now = now_ms / 1000;
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: project_id.to_string(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            token_use: TOKEN_USE_ACCESS.into(),
            project_flow_id: project_flow_id.to_string(),
            validation_id: validation_id.to_string(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(ttl_s).unwrap_or(i64::MAX)),
            jti: ids::new_id("jti"),
        };
        self.sign(&claims)
    }

    /// Verify an API bearer token. Only EdDSA with one of our key ids is accepted; `exp`/`nbf`
    /// are checked against the injected clock.
    pub fn verify_api_token(&self, token: &str, now_ms: i64) -> Result<ApiTokenClaims, ApiError> {
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        if let Some((kid, c)) = cached {
            if !self.current().verifies(&kid, now_ms) {
                return Err(unauthorized("unknown signing key"));
            }
            check_times(&c, now_ms)?;
            return Ok(c);
        }
        let (kid, claims): (String, ApiTokenClaims) = self.verify(token, API_AUDIENCE, now_ms)?;
        if claims.token_use != TOKEN_USE_API {
            return Err(unauthorized("not an API token"));
        }
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        // Crude bound; real deployments have a handful of kiosk tokens.
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(token.to_string(), (kid, claims.clone()));
        Ok(claims)
    }

    /// Verify an end-user access token for `project_id` (used by tests and relying parties).
    pub fn verify_access_token(
        &self,
        token: &str,
        project_id: &str,
        now_ms: i64,
    ) -> Result<AccessTokenClaims, ApiError> {
        // The rule kiosks verify by too (one owner: `access_types::access_token::verify`),
        // over the keys not retired now (a key retires on time between two re-reads).
        let set = self.current();
        let keys: Vec<_> = set
            .jwks
            .keys
            .iter()
            .filter(|k| {
                set.retire_after
                    .get(&k.kid)
                    .copied()
                    .flatten()
                    .is_none_or(|r| r > now_ms)
            })
            .cloned()
            .collect();
        let claims =
            access_token::verify(token, &keys, project_id, None, now_ms / 1000, NBF_LEEWAY_S)
                .map_err(|e| unauthorized(&e.to_string()))?;
        if claims.iss != self.issuer {
            return Err(unauthorized("token issuer not accepted"));
        }
        Ok(claims)
    }

    /// The claims and the id of the key that verified them.
    fn verify<C>(&self, token: &str, audience: &str, now_ms: i64) -> Result<(String, C), ApiError>
    where
        C: serde::de::DeserializeOwned + TimeClaims,
    {
        // Header alg must be EdDSA before any key is chosen: defeats alg=none and HS/RS
        // confusion (a symmetric alg would treat the public key as an HMAC secret).
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthorized("malformed token"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(unauthorized("token algorithm not allowed"));
        }
        let set = self.current();
        let kid = header
            .kid
            .filter(|k| set.verifies(k, now_ms))
            .ok_or_else(|| unauthorized("unknown signing key"))?;
        let key = set
            .decoding
            .get(&kid)
            .ok_or_else(|| unauthorized("unknown signing key"))?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[audience]);
        v.set_issuer(&[self.issuer.as_str()]);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        let data = jsonwebtoken::decode::<C>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidAudience => unauthorized("token audience not accepted"),
                ErrorKind::InvalidIssuer => unauthorized("token issuer not accepted"),
                ErrorKind::InvalidSignature => unauthorized("token signature invalid"),
                _ => unauthorized("invalid token"),
            }
        })?;
        check_times(&data.claims, now_ms)?;
        Ok((kid, data.claims))
    }
}

fn check_times<C: TimeClaims>(c: &C, now_ms: i64) -> Result<(), ApiError> {
    let now = now_ms / 1000;
    if now >= c.exp() {
        return Err(unauthorized("token expired"));
    }
    if c.nbf() > now + NBF_LEEWAY_S {
        return Err(unauthorized("token not yet valid"));
    }
    Ok(())
}

trait TimeClaims {
    fn exp(&self) -> i64;
    fn nbf(&self) -> i64;
}
impl TimeClaims for ApiTokenClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
    fn nbf(&self) -> i64 {
        self.nbf
    }
}
impl TimeClaims for AccessTokenClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
    fn nbf(&self) -> i64 {
        self.nbf
    }
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, msg)
}

/// Parse a TTL like `30d`, `12h`, `15m`, `90s` or plain seconds.
pub fn parse_ttl(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'd' => (&s[..s.len() - 1], 86_400),
        'h' => (&s[..s.len() - 1], 3_600),
        'm' => (&s[..s.len() - 1], 60),
        's' => (&s[..s.len() - 1], 1),
        c if c.is_ascii_digit() => (s, 1),
        _ => return None,
    };
    num.parse::<u64>()
        .ok()?
        .checked_mul(mult)
        .filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("30d"), Some(30 * 86_400));
        assert_eq!(parse_ttl("15m"), Some(900));
        assert_eq!(parse_ttl("42"), Some(42));
        assert_eq!(parse_ttl("0s"), None);
        assert_eq!(parse_ttl("x"), None);
        assert_eq!(parse_ttl(""), None);
    }

    #[test]
    fn round_trip_and_expiry() {
        let db = Db::open_in_memory().unwrap();
        let k = DbKey::from_bytes([3; 32]);
        let keys = Keys::load_or_create(&db, &k, "iss", 1_000_000_000_000).unwrap();
        let now = 1_000_000_000_000;
        let t = keys
            .issue_api_token("me", ApiScope::Kiosk, 60, now)
            .unwrap();
        let c = keys.verify_api_token(&t, now).unwrap();
        assert_eq!(c.scope, ApiScope::Kiosk);
        assert!(keys.verify_api_token(&t, now + 61_000).is_err());
        // An access token is not an API token (audience differs).
        let a = keys
            .issue_access_token("u", "prj", "flw", "val", &["otp"], 60, now)
            .unwrap();
        assert!(keys.verify_api_token(&a, now).is_err());
        assert!(keys.verify_access_token(&a, "prj", now).is_ok());
        assert!(keys.verify_access_token(&a, "other", now).is_err());
        // Same key on reload.
        let again = Keys::load_or_create(&db, &k, "iss", now).unwrap();
        assert!(again.verify_api_token(&t, now).is_ok());
        // Another database key opens nothing: refused, not replaced by a new signing key.
        let other = DbKey::from_bytes([4; 32]);
        assert!(matches!(
            Keys::load_or_create(&db, &other, "iss", now),
            Err(KeyError::Seal(SealError::WrongKey { .. }))
        ));
    }

    #[test]
    fn a_clear_key_from_before_sealing_is_sealed_in_place() {
        let db = Db::open_in_memory().unwrap();
        let now = 1_000_000_000_000;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        let stored = pkcs8.clone();
        db.blocking(move |c| {
            c.execute(
                "INSERT INTO signing_keys(kid, alg, private_pkcs8, public_key, created_at)
                 VALUES ('key_old', 'EdDSA', ?1, ?2, 1)",
                rusqlite::params![stored, public],
            )?;
            Ok(())
        })
        .unwrap();
        let k = DbKey::from_bytes([5; 32]);
        let keys = Keys::load_or_create(&db, &k, "iss", now).unwrap();
        assert_eq!(keys.signing_kid(), "key_old");
        let stored: Vec<u8> = db
            .blocking(|c| {
                Ok(c.query_row(
                    "SELECT private_pkcs8 FROM signing_keys WHERE kid = 'key_old'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_ne!(stored, pkcs8);
        assert!(
            !stored
                .windows(32)
                .any(|w| pkcs8.windows(32).any(|p| p == w))
        );
        assert_eq!(
            k.open(&stored, &signing_key_aad("key_old"), "t").unwrap(),
            (pkcs8, false)
        );
    }
}
