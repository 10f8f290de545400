//! The end-user access token a sign-in earns, and the server's signing keys as a kiosk pins
//! them: one rule to verify a token (the server's own check and the kiosk's), and one signed
//! format for the key set a kiosk learns rotations from.
//!
//! - **Verifying a token** ([`verify`]): a compact JWS with `alg` EdDSA (fixed before anything
//!   else is read), a `kid` among the keys given, the Ed25519 signature, `token_use` `access`,
//!   the audience (the project), the subject when the caller knows whom it expects, and the
//!   times with a skew allowance. A kiosk accepts an online face only with a token that passes
//!   this against the keys it pinned: an answer that merely says `matched` proves nothing.
//! - **A signed key set** ([`SignedKeySet`]): the server's public keys in force and when it
//!   listed them, signed by every one of those keys. A kiosk pins the set its pairing answer
//!   carries, then takes a newer set only when a key it already pins signed it, so a relay on
//!   the path can neither slip in a key of its own nor take the kiosk back to an older set.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kiosk_identity::canonical_json;
use crate::{AccessTokenClaims, Jwk};

/// `token_use` of an end-user access token.
pub const TOKEN_USE_ACCESS: &str = "access";

/// Why a token or a key set was not accepted. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("the token's algorithm is not EdDSA")]
    Algorithm,
    #[error("the token was signed by a key that is not pinned")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("not an access token")]
    WrongUse,
    #[error("the token is for another project")]
    WrongAudience,
    #[error("the token names another person")]
    WrongSubject,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

impl TokenError {
    /// A short stable name of the reason (for logs, audit details and tests).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Algorithm => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::WrongUse => "wrong_use",
            Self::WrongAudience => "wrong_audience",
            Self::WrongSubject => "wrong_subject",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
        }
    }
}

fn part<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Result<Vec<u8>, TokenError> {
    let p = parts
        .next()
        .ok_or(TokenError::Malformed("not a compact JWS"))?;
    URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| TokenError::Malformed("not base64url"))
}

/// The Ed25519 public key of `kid` among `keys` (OKP / Ed25519 only).
fn key_of<'a>(keys: &'a [Jwk], kid: &str) -> Option<Vec<u8>> {
    let jwk: &'a Jwk = keys
        .iter()
        .find(|k| k.kid == kid && k.kty == "OKP" && k.crv == "Ed25519")?;
    URL_SAFE_NO_PAD
        .decode(jwk.x.trim())
        .ok()
        .filter(|x| x.len() == crate::kiosk_identity::PUBLIC_KEY_LEN)
}

/// Verifies an end-user access token against `keys` at `now_s`: EdDSA only, a `kid` among
/// `keys`, the signature, `token_use` `access`, `aud == audience`, `sub == subject` when one is
/// expected, and not expired or issued in the future beyond `skew_s` seconds (`exp`, `iat`,
/// `nbf`). The issuer is the caller's to check when it knows it.
pub fn verify(
    token: &str,
    keys: &[Jwk],
    audience: &str,
    subject: Option<&str>,
    now_s: i64,
    skew_s: i64,
) -> Result<AccessTokenClaims, TokenError> {
    let token = token.trim();
    let (input, sig_b64) = token
        .rsplit_once('.')
        .ok_or(TokenError::Malformed("not a compact JWS"))?;
    let mut parts = input.split('.');
    let header: serde_json::Value =
        serde_json::from_slice(&part(&mut parts)?).map_err(|_| TokenError::Malformed("header"))?;
    let payload = part(&mut parts)?;
    if parts.next().is_some() {
        return Err(TokenError::Malformed("not a compact JWS"));
    }
    // The algorithm is fixed before any key is chosen: no `none`, no HMAC confusion.
    if header.get("alg").and_then(|a| a.as_str()) != Some("EdDSA") {
        return Err(TokenError::Algorithm);
    }
    let kid = header
        .get("kid")
        .and_then(|k| k.as_str())
        .ok_or(TokenError::UnknownKey)?;
    let key = key_of(keys, kid).ok_or(TokenError::UnknownKey)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
    UnparsedPublicKey::new(&ED25519, &key)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: AccessTokenClaims =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed("claims"))?;
    if claims.token_use != TOKEN_USE_ACCESS {
        return Err(TokenError::WrongUse);
    }
    if claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    if subject.is_some_and(|s| s != claims.sub) {
        return Err(TokenError::WrongSubject);
    }
    if now_s >= claims.exp.saturating_add(skew_s) {
        return Err(TokenError::Expired);
    }
    if claims.iat.max(claims.nbf) > now_s.saturating_add(skew_s) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// One key's signature of a [`SignedKeySet`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct KeySetSignature {
    pub kid: String,
    /// Base64url Ed25519 signature of [`SignedKeySet::signing_input`].
    pub sig: String,
}

/// The server's public signing keys in force (its JWKS), dated and signed by each of them:
/// what a kiosk pins at pairing and learns rotations from (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SignedKeySet {
    pub keys: Vec<Jwk>,
    /// Unix seconds when the server listed them: a kiosk never goes back to an older set.
    pub issued_at: i64,
    pub signatures: Vec<KeySetSignature>,
}

impl SignedKeySet {
    /// The exact bytes each signature covers: a domain tag, the date, the keys (canonical
    /// JSON).
    pub fn signing_input(keys: &[Jwk], issued_at: i64) -> Vec<u8> {
        let keys = serde_json::to_value(keys).unwrap_or_default();
        format!("access-key-set/v1\n{issued_at}\n{}", canonical_json(&keys)).into_bytes()
    }

    /// A set signed by `sign` (the server's: each key in force signs, by its kid).
    pub fn sign(
        keys: Vec<Jwk>,
        issued_at: i64,
        sign: impl Fn(&str, &[u8]) -> Option<Vec<u8>>,
    ) -> Self {
        let input = Self::signing_input(&keys, issued_at);
        let signatures = keys
            .iter()
            .filter_map(|k| {
                sign(&k.kid, &input).map(|s| KeySetSignature {
                    kid: k.kid.clone(),
                    sig: URL_SAFE_NO_PAD.encode(s),
                })
            })
            .collect();
        Self {
            keys,
            issued_at,
            signatures,
        }
    }

    /// Whether one of `pinned` signed this set (a set is checked against its own keys at
    /// pairing: the answer is then at least whole and signed by what it says). Empty sets are
    /// refused: a kiosk must always have a key to verify with.
    pub fn signed_by(&self, pinned: &[Jwk]) -> Result<(), TokenError> {
        if self.keys.is_empty() {
            return Err(TokenError::Malformed("an empty key set"));
        }
        let input = Self::signing_input(&self.keys, self.issued_at);
        let mut known = false;
        for s in &self.signatures {
            let Some(key) = key_of(pinned, &s.kid) else {
                continue;
            };
            known = true;
            let Ok(sig) = URL_SAFE_NO_PAD.decode(s.sig.trim()) else {
                continue;
            };
            if UnparsedPublicKey::new(&ED25519, &key)
                .verify(&input, &sig)
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(if known {
            TokenError::BadSignature
        } else {
            TokenError::UnknownKey
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kiosk_identity::b64;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key() -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn jwk(kid: &str, k: &Ed25519KeyPair) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64(k.public_key().as_ref()),
            kid: kid.into(),
            use_: "sig".into(),
            alg: "EdDSA".into(),
        }
    }

    fn claims(sub: &str, aud: &str, iat: i64, ttl: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "iss".into(),
            sub: sub.into(),
            aud: aud.into(),
            amr: vec!["face".into()],
            token_use: TOKEN_USE_ACCESS.into(),
            project_flow_id: "flw".into(),
            validation_id: "val".into(),
            iat,
            nbf: iat,
            exp: iat + ttl,
            jti: "j".into(),
        }
    }

    fn token(header: &str, c: &AccessTokenClaims, k: &Ed25519KeyPair) -> String {
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(&serde_json::to_vec(c).unwrap())
        );
        format!("{input}.{}", b64(k.sign(input.as_bytes()).as_ref()))
    }

    const NOW: i64 = 1_800_000_000;
    const SKEW: i64 = 60;
    const H1: &str = r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#;

    #[test]
    fn a_token_verifies_only_as_issued() {
        let (k1, k2) = (key(), key());
        let pinned = vec![jwk("k1", &k1)];
        let good = token(H1, &claims("ada", "prj", NOW, 900), &k1);
        let c = verify(&good, &pinned, "prj", Some("ada"), NOW + 5, SKEW).unwrap();
        assert_eq!((c.sub.as_str(), c.aud.as_str()), ("ada", "prj"));
        // No subject expected: any person of the project.
        assert!(verify(&good, &pinned, "prj", None, NOW, SKEW).is_ok());

        let check = |t: &str, aud: &str, sub: &str, now: i64| {
            verify(t, &pinned, aud, Some(sub), now, SKEW).unwrap_err()
        };
        // Another key under a pinned kid: the signature fails.
        let forged = token(H1, &claims("ada", "prj", NOW, 900), &k2);
        assert_eq!(check(&forged, "prj", "ada", NOW), TokenError::BadSignature);
        // A key nobody pinned.
        let other = token(
            r#"{"alg":"EdDSA","kid":"k9"}"#,
            &claims("ada", "prj", NOW, 900),
            &k2,
        );
        assert_eq!(check(&other, "prj", "ada", NOW), TokenError::UnknownKey);
        let no_kid = token(r#"{"alg":"EdDSA"}"#, &claims("ada", "prj", NOW, 900), &k1);
        assert_eq!(check(&no_kid, "prj", "ada", NOW), TokenError::UnknownKey);
        // Another project, another person.
        assert_eq!(check(&good, "other", "ada", NOW), TokenError::WrongAudience);
        assert_eq!(check(&good, "prj", "obama", NOW), TokenError::WrongSubject);
        // Expired (beyond the skew), and from the future (beyond the skew).
        assert!(
            verify(
                &good,
                &pinned,
                "prj",
                Some("ada"),
                NOW + 900 + SKEW - 1,
                SKEW
            )
            .is_ok()
        );
        assert_eq!(
            check(&good, "prj", "ada", NOW + 900 + SKEW),
            TokenError::Expired
        );
        assert_eq!(
            check(&good, "prj", "ada", NOW - SKEW - 1),
            TokenError::NotYetValid
        );
        // A tampered payload under the good signature.
        let (head, rest) = good.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let evil = b64(&serde_json::to_vec(&claims("obama", "prj", NOW, 900)).unwrap());
        assert_eq!(
            check(&format!("{head}.{evil}.{sig}"), "prj", "obama", NOW),
            TokenError::BadSignature
        );
        // alg none and HMAC are refused before any key is looked at.
        for alg in [
            r#"{"alg":"none","kid":"k1"}"#,
            r#"{"alg":"HS256","kid":"k1"}"#,
        ] {
            let t = format!("{}.{evil}.", b64(alg.as_bytes()));
            assert_eq!(check(&t, "prj", "obama", NOW), TokenError::Algorithm);
        }
        // Not an access token (an API token's use), garbage.
        let mut api = claims("ada", "prj", NOW, 900);
        api.token_use = "api".into();
        assert_eq!(
            check(&token(H1, &api, &k1), "prj", "ada", NOW),
            TokenError::WrongUse
        );
        for junk in ["", "a.b", "a.b.c.d", "matched"] {
            assert!(matches!(
                check(junk, "prj", "ada", NOW),
                TokenError::Malformed(_)
            ));
        }
    }

    #[test]
    fn a_key_set_is_taken_only_when_a_pinned_key_signed_it() {
        let (k1, k2, evil) = (key(), key(), key());
        let pairs = [("k1", &k1), ("k2", &k2)];
        let signer = |kid: &str, m: &[u8]| {
            pairs
                .iter()
                .find(|(id, _)| *id == kid)
                .map(|(_, k)| k.sign(m).as_ref().to_vec())
        };
        let pinned = vec![jwk("k1", &k1)];
        // A rotation: k2 added, signed by both while k1 is in force.
        let rotated = SignedKeySet::sign(vec![jwk("k2", &k2), jwk("k1", &k1)], NOW, signer);
        assert_eq!(rotated.signatures.len(), 2);
        assert!(rotated.signed_by(&pinned).is_ok());
        // After k1 retired, only k2 signs: fine for a kiosk that pinned k2, not for one that
        // pinned only k1.
        let later = SignedKeySet::sign(vec![jwk("k2", &k2)], NOW + 10, signer);
        assert!(later.signed_by(&rotated.keys).is_ok());
        assert_eq!(later.signed_by(&pinned), Err(TokenError::UnknownKey));
        // A relay's key set, signed by its own key under a pinned kid or its own.
        let relay = |kid: &'static str| {
            SignedKeySet::sign(vec![jwk(kid, &evil)], NOW, |_, m| {
                Some(evil.sign(m).as_ref().to_vec())
            })
        };
        assert_eq!(
            relay("k1").signed_by(&pinned),
            Err(TokenError::BadSignature)
        );
        assert_eq!(relay("kx").signed_by(&pinned), Err(TokenError::UnknownKey));
        // Keys changed after signing.
        let mut swapped = rotated.clone();
        swapped.keys[0] = jwk("k2", &evil);
        assert_eq!(swapped.signed_by(&pinned), Err(TokenError::BadSignature));
        let mut redated = rotated.clone();
        redated.issued_at += 1;
        assert_eq!(redated.signed_by(&pinned), Err(TokenError::BadSignature));
        let empty = SignedKeySet::sign(vec![], NOW, signer);
        assert!(matches!(
            empty.signed_by(&pinned),
            Err(TokenError::Malformed(_))
        ));
    }
}
