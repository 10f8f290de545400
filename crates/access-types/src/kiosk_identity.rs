//! Kiosk identity on the wire: pairing, the device key's signed token request, and signed
//! offline events. Each signed format has one owner here: the kiosk calls the `sign`/build
//! side, the server the `verify` side, so the two can never disagree on the bytes covered.
//!
//! - **Pairing**: an administrator makes a one-time code for a project; the kiosk sends it with
//!   the public half of its Ed25519 device key and a proof of possession (a signature over
//!   [`pairing_proof_text`]) and gets its `kiosk_id`.
//! - **Token request**: the kiosk proves possession of its device key with a *client
//!   assertion*, a compact JWS (EdDSA) in the style of RFC 7523 `private_key_jwt`: `iss` = `sub`
//!   = the kiosk id, `aud` = [`ASSERTION_AUDIENCE`], `iat`/`exp` at most
//!   [`ASSERTION_MAX_LIFETIME_S`] apart, and a `jti` the server accepts once.
//! - **Offline events**: signed over [`OfflineEvent::signing_input`], which binds the event id,
//!   the kiosk and every field the server stores.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::OfflineEvent;

/// `aud` of a kiosk's client assertion.
pub const ASSERTION_AUDIENCE: &str = "access-api/kiosk-token";
/// Longest `exp - iat` of a client assertion, seconds: a captured one is useless soon after.
pub const ASSERTION_MAX_LIFETIME_S: i64 = 300;
/// Clock difference tolerated between a kiosk and the server, seconds.
pub const CLOCK_SKEW_S: i64 = 60;
/// Raw Ed25519 public key length (RFC 8032).
pub const PUBLIC_KEY_LEN: usize = 32;

/// `POST /kiosks/pairings` (admin): a one-time pairing code for a project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePairingRequest {
    pub project_id: String,
    /// What staff call the kiosk, e.g. "Front door".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A pairing code: shown once, valid 10 minutes, single use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Pairing {
    /// `XXXX-XXXX-XXXX` (Crockford base32, 60 bits); hyphens and case are ignored on entry.
    pub code: String,
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RFC 3339.
    pub expires_at: String,
}

/// `POST /kiosks/pair` (no bearer token: the pairing code is the credential).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairKioskRequest {
    pub code: String,
    /// Base64url (no padding) raw Ed25519 public key, 32 bytes.
    pub public_key: String,
    /// Base64url Ed25519 signature of [`pairing_proof_text`]`(code, public_key)`.
    pub proof: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The kiosk's identity after pairing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PairedKiosk {
    pub kiosk_id: String,
    pub project_id: String,
    pub name: String,
    /// The server's signing keys, which the kiosk pins: from then on it accepts a face only
    /// with an access token one of them signed, and a new key set only when one of them
    /// signed it (additive; a kiosk without pinned keys pins the first set its sync brings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_keys: Option<crate::access_token::SignedKeySet>,
}

/// `POST /kiosks/token`: a short-lived kiosk-scope access token for a signed request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskTokenRequest {
    /// See the module documentation.
    pub client_assertion: String,
    /// The kiosk software's version, shown to administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Events waiting in the kiosk's outbox, shown to administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_events: Option<u64>,
}

/// The answer to a token request (OAuth 2.0 token response fields).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct KioskToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the token is valid for (at most an hour).
    pub expires_in: u64,
    pub kiosk_id: String,
    pub project_id: String,
}

/// `POST /kiosks/status`: what a kiosk reports after a sync round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskStatusReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub pending_events: u64,
}

/// A kiosk as administrators see it (`GET /kiosks`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct KioskInfo {
    pub kiosk_id: String,
    pub project_id: String,
    pub name: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_events: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// Claims of a kiosk's client assertion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a signed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature does not verify with the registered key")]
    BadSignature,
    #[error("expired or issued too far in the past")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
    #[error("lifetime longer than {ASSERTION_MAX_LIFETIME_S} s")]
    TooLong,
    #[error("audience not accepted")]
    WrongAudience,
    #[error("the event carries no signature")]
    Unsigned,
}

/// The text a pairing proof signs: binds the key to this code.
pub fn pairing_proof_text(code: &str, public_key_b64: &str) -> String {
    format!(
        "access-kiosk-pair/v1\n{}\n{public_key_b64}",
        normalize_pairing_code(code)
    )
}

/// A pairing code as stored, and as both sides sign it: compatibility-normalised (NFKC: a
/// full-width `ＡＢ１２` is `AB12`), every character that is not a letter or digit dropped
/// (any dash, space, line break, dot or quote a person's tools put in), upper case, and
/// Crockford's look-alikes (`O`→`0`, `I`/`L`→`1`) folded. The alphabet of codes is
/// Crockford's base32, so nothing dropped can be part of one.
pub fn normalize_pairing_code(code: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    code.nfkc()
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// Base64url (no padding) of bytes: the one encoding of keys and signatures here.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A raw Ed25519 public key from its base64url text.
pub fn decode_public_key(b64_text: &str) -> Result<[u8; PUBLIC_KEY_LEN], ProofError> {
    URL_SAFE_NO_PAD
        .decode(b64_text.trim())
        .ok()
        .and_then(|v| <[u8; PUBLIC_KEY_LEN]>::try_from(v).ok())
        .ok_or(ProofError::Malformed(
            "public key is not 32 base64url bytes",
        ))
}

/// Verifies a base64url Ed25519 signature of `msg` by `public_key`.
pub fn verify_signature(public_key: &[u8], msg: &[u8], sig_b64: &str) -> Result<(), ProofError> {
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64.trim())
        .map_err(|_| ProofError::Malformed("signature is not base64url"))?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg, &sig)
        .map_err(|_| ProofError::BadSignature)
}

/// Builds a client assertion for `kiosk_id`, valid from `now_s` for `lifetime_s` (capped at
/// [`ASSERTION_MAX_LIFETIME_S`]); `sign` is the device key's Ed25519 signature.
pub fn client_assertion(
    kiosk_id: &str,
    now_s: i64,
    lifetime_s: i64,
    jti: &str,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let header = br#"{"alg":"EdDSA","typ":"JWT"}"#;
    let claims = AssertionClaims {
        iss: kiosk_id.to_string(),
        sub: kiosk_id.to_string(),
        aud: ASSERTION_AUDIENCE.to_string(),
        iat: now_s,
        exp: now_s + lifetime_s.clamp(1, ASSERTION_MAX_LIFETIME_S),
        jti: jti.to_string(),
    };
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let input = format!("{}.{}", b64(header), b64(&payload));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// The unverified claims of an assertion: who it says it is, to find the key to verify it
/// with. Nothing in them may be trusted before [`verify_client_assertion`].
pub fn peek_assertion(jwt: &str) -> Result<AssertionClaims, ProofError> {
    let mut parts = jwt.trim().split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed("not a compact JWS"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| ProofError::Malformed("payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed("claims"))
}

/// Verifies a client assertion against the kiosk's registered key at `now_s`: EdDSA only,
/// the audience, `iss == sub`, the time window (with [`CLOCK_SKEW_S`]) and the lifetime cap.
/// The caller still checks that `sub` is the kiosk whose key this is and that `jti` is new.
pub fn verify_client_assertion(
    jwt: &str,
    public_key: &[u8],
    now_s: i64,
) -> Result<AssertionClaims, ProofError> {
    let jwt = jwt.trim();
    let (input, sig) = jwt
        .rsplit_once('.')
        .ok_or(ProofError::Malformed("not a compact JWS"))?;
    let header_b64 = input
        .split('.')
        .next()
        .ok_or(ProofError::Malformed("not a compact JWS"))?;
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(ProofError::Malformed("header"))?;
    // The algorithm is fixed before anything is verified: no `none`, no HMAC confusion.
    if header.get("alg").and_then(|a| a.as_str()) != Some("EdDSA") {
        return Err(ProofError::Malformed("alg must be EdDSA"));
    }
    verify_signature(public_key, input.as_bytes(), sig)?;
    let claims = peek_assertion(jwt)?;
    if claims.aud != ASSERTION_AUDIENCE {
        return Err(ProofError::WrongAudience);
    }
    if claims.iss != claims.sub || claims.jti.is_empty() || claims.jti.len() > 128 {
        return Err(ProofError::Malformed("iss, sub or jti"));
    }
    if claims.exp - claims.iat > ASSERTION_MAX_LIFETIME_S || claims.exp <= claims.iat {
        return Err(ProofError::TooLong);
    }
    if claims.iat > now_s + CLOCK_SKEW_S {
        return Err(ProofError::NotYetValid);
    }
    if claims.exp + CLOCK_SKEW_S <= now_s {
        return Err(ProofError::Expired);
    }
    Ok(claims)
}

/// Compact JSON with every object's keys sorted, recursively: the same text whichever map
/// type a build of serde_json uses (`preserve_order` keeps insertion order, and is on in some
/// binaries and not others). Scalars as serde_json writes them. The idea of RFC 8785 (JCS),
/// without its number rules: both sides format numbers with the same serde_json.
pub fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

impl OfflineEvent {
    /// The exact bytes an offline event's signature covers: a domain tag, the kiosk that
    /// made it, then every stored field (the payload as compact JSON). A signed event cannot
    /// be replayed under another id, kiosk, project, person or time.
    pub fn signing_input(&self, kiosk_id: &str) -> Vec<u8> {
        format!(
            "access-offline-event/v1\n{kiosk_id}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.event_id,
            self.kind,
            self.project_id,
            self.occurred_at,
            self.user_id.as_deref().unwrap_or(""),
            canonical_json(&self.payload)
        )
        .into_bytes()
    }

    /// Signs the event as `kiosk_id` (sets `signature`).
    pub fn sign(&mut self, kiosk_id: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) {
        self.signature = Some(b64(&sign(&self.signing_input(kiosk_id))));
    }

    /// Checks the event's signature with the registered key of `kiosk_id`.
    pub fn verify(&self, kiosk_id: &str, public_key: &[u8]) -> Result<(), ProofError> {
        let sig = self.signature.as_deref().ok_or(ProofError::Unsigned)?;
        verify_signature(public_key, &self.signing_input(kiosk_id), sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key() -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn signer(k: &Ed25519KeyPair) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
        move |m| k.sign(m).as_ref().to_vec()
    }

    #[test]
    fn assertion_round_trip_and_refusals() {
        let k = key();
        let other = key();
        let pk = k.public_key().as_ref().to_vec();
        let now = 1_800_000_000;
        let a = client_assertion("ksk_1", now, 120, "j1", signer(&k));
        let c = verify_client_assertion(&a, &pk, now + 10).unwrap();
        assert_eq!((c.sub.as_str(), c.jti.as_str()), ("ksk_1", "j1"));
        assert_eq!(peek_assertion(&a).unwrap().sub, "ksk_1");
        // Another key's signature, a stale or future one, a tampered payload.
        let forged = client_assertion("ksk_1", now, 120, "j2", signer(&other));
        assert_eq!(
            verify_client_assertion(&forged, &pk, now),
            Err(ProofError::BadSignature)
        );
        assert_eq!(
            verify_client_assertion(&a, &pk, now + 120 + CLOCK_SKEW_S),
            Err(ProofError::Expired)
        );
        assert_eq!(
            verify_client_assertion(&a, &pk, now - CLOCK_SKEW_S - 1),
            Err(ProofError::NotYetValid)
        );
        let (h, rest) = a.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let evil = b64(br#"{"iss":"ksk_2","sub":"ksk_2","aud":"access-api/kiosk-token","iat":1800000000,"exp":1800000100,"jti":"x"}"#);
        assert_eq!(
            verify_client_assertion(&format!("{h}.{evil}.{sig}"), &pk, now),
            Err(ProofError::BadSignature)
        );
        // alg=none is refused before any signature is looked at.
        let none = format!("{}.{evil}.", b64(br#"{"alg":"none"}"#));
        assert!(matches!(
            verify_client_assertion(&none, &pk, now),
            Err(ProofError::Malformed(_))
        ));
    }

    #[test]
    fn events_are_bound_to_every_field() {
        let k = key();
        let pk = k.public_key().as_ref().to_vec();
        let mut e = OfflineEvent {
            event_id: "evt_1".into(),
            kind: "sign_in".into(),
            project_id: "prj_1".into(),
            occurred_at: "2026-11-30T10:00:00Z".into(),
            user_id: Some("ada".into()),
            payload: serde_json::json!({"score": 0.8, "decision": "accepted"}),
            signature: None,
        };
        assert_eq!(e.verify("ksk_1", &pk), Err(ProofError::Unsigned));
        e.sign("ksk_1", signer(&k));
        e.verify("ksk_1", &pk).unwrap();
        // Through JSON and back, as the server receives it.
        let wire: OfflineEvent = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        wire.verify("ksk_1", &pk).unwrap();
        assert_eq!(e.verify("ksk_2", &pk), Err(ProofError::BadSignature));
        for change in [
            |e: &mut OfflineEvent| e.event_id = "evt_2".into(),
            |e: &mut OfflineEvent| e.user_id = Some("bob".into()),
            |e: &mut OfflineEvent| e.project_id = "prj_2".into(),
            |e: &mut OfflineEvent| e.occurred_at = "2026-11-30T11:00:00Z".into(),
            |e: &mut OfflineEvent| e.payload["decision"] = "rejected".into(),
        ] {
            let mut t = e.clone();
            change(&mut t);
            assert_eq!(t.verify("ksk_1", &pk), Err(ProofError::BadSignature));
        }
    }

    #[test]
    fn canonical_json_ignores_key_order_and_keeps_floats() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":[1,{"y":2,"x":0.09540386497974396}],"a":null}"#).unwrap();
        let b = serde_json::json!({"a": null, "b": [1, {"x": 0.095403865_f32, "y": 2}]});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":null,"b":[1,{"x":0.09540386497974396,"y":2}]}"#
        );
    }

    #[test]
    fn pairing_codes_normalise() {
        assert_eq!(normalize_pairing_code("abcd-efgh oil0"), "ABCDEFGH0110");
        // As people's tools write it: other dashes, spaces and widths, a line break pasted.
        for typed in [
            "AB12\u{2013}CD34\u{2014}EF56\n",
            " ab12\u{2212}cd34\u{2010}ef56\r\n",
            "AB12\u{00A0}CD34\u{202F}EF56\t",
            "\u{FF21}\u{FF22}\u{FF11}\u{FF12}\u{3000}CD34\u{FF0D}EF56",
            "\"AB12.CD34_EF56\"",
            "ab12 / cd34 / ef56",
        ] {
            assert_eq!(normalize_pairing_code(typed), "AB12CD34EF56", "{typed:?}");
        }
        // A look-alike from another script is not folded into a code character.
        assert_ne!(
            normalize_pairing_code("\u{0410}B12CD34EF56"),
            "AB12CD34EF56"
        );
        assert_eq!(
            pairing_proof_text("ab-cd", "PK"),
            "access-kiosk-pair/v1\nABCD\nPK"
        );
    }
}
