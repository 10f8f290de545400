//! What this kiosk believes of the API's answers.
//!
//! - **Pinned keys.** Pairing pins the server's signing keys (the pairing answer's
//!   [`SignedKeySet`]); a sync's policy answer brings the keys in force, taken only when a key
//!   already pinned signed them and they are no older than the pinned set. So a rotation
//!   reaches the kiosk in the feed while the old key still signs (the server keeps it until its
//!   longest token has expired), and a relay on the path can neither add a key of its own nor
//!   roll the kiosk back. A kiosk with no pinned keys (paired by an older server, or given a
//!   bearer token) pins the first self-signed set a sync brings: trust on first use, as
//!   pairing itself is.
//! - **Online faces need a verified token** (`access_types::access_token::verify`, the rule
//!   the server checks its own tokens by): an answer saying `matched` without one, or with one
//!   that fails, is a refusal (`ANSWER_UNVERIFIED`), never "unreachable": a forged answer must
//!   not push the kiosk into deciding from its cache either.
//! - **Revocation is kept.** The server's `KIOSK_REVOKED` (token exchange, sync, any call) is
//!   written to the store at once; from then on faces and codes are refused here with that code,
//!   online or not, and the status says so, until the kiosk is paired again.

use access_client::{AccessClient, ClientError};
use access_types::ErrorCode;
use access_types::access_token::{self, SignedKeySet, TokenError};
use kiosk_store::{AuditDecision, AuditMethod};

use crate::error::{KioskError, Result};
use crate::{Kiosk, Mode, now_unix};

/// The store setting holding the pinned [`SignedKeySet`] (JSON; empty: none).
pub(crate) const PINNED_KEYS_KEY: &str = "pinned_signing_keys";
/// The store setting holding when the server said this kiosk was revoked (empty: it is not).
pub(crate) const REVOKED_KEY: &str = "revoked_at";
/// Clock difference allowed between the kiosk and the server on a token's times.
pub(crate) const TOKEN_SKEW_S: i64 = access_types::kiosk_identity::CLOCK_SKEW_S;

impl Kiosk {
    /// The keys pinned now. A stored set that does not parse is logged and pins nothing
    /// that verifies, and takes no new set either (an empty set dated at the end of time):
    /// closed until the kiosk is paired again.
    pub(crate) fn pinned_keys(&self) -> Result<Option<SignedKeySet>> {
        let Some(json) = self
            .store()
            .setting(PINNED_KEYS_KEY)?
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::error!("the pinned signing keys cannot be read: {e}");
            SignedKeySet {
                keys: Vec::new(),
                issued_at: i64::MAX,
                signatures: Vec::new(),
            }
        })))
    }

    /// Pins the set a pairing answer carried (replacing whatever was pinned: a new pairing is
    /// a new trust), when it is whole and signed by its own keys; none when it carried none.
    pub(crate) fn pin_keys(&self, set: Option<&SignedKeySet>) -> Result<()> {
        let json = match set {
            Some(s) if s.signed_by(&s.keys).is_ok() => serde_json::to_string(s).unwrap_or_default(),
            Some(_) => {
                tracing::warn!(
                    "the pairing answer's key set is not signed by its keys: not pinned"
                );
                String::new()
            }
            None => String::new(),
        };
        self.store().set_setting(PINNED_KEYS_KEY, &json)?;
        Ok(())
    }

    /// Takes a key set the sync brought when a pinned key signed it and it is no older than
    /// the pinned one (with none pinned yet, when it is signed by its own keys). Answers
    /// whether the pinned set changed; a set refused is logged and changes nothing.
    pub(crate) fn learn_keys(&self, set: &SignedKeySet) -> Result<bool> {
        let pinned = self.pinned_keys()?;
        let verdict = match &pinned {
            // Replicas' clocks may differ a little; a set from well before the pinned one is a
            // replay.
            Some(p) if set.issued_at.saturating_add(TOKEN_SKEW_S) < p.issued_at => {
                Err("older than the pinned set".to_string())
            }
            // The same keys: nothing to write (the feed dates each answer anew).
            Some(p) if set.keys == p.keys => return Ok(false),
            Some(p) => set.signed_by(&p.keys).map_err(|e| e.to_string()),
            None => set.signed_by(&set.keys).map_err(|e| e.to_string()),
        };
        if let Err(why) = verdict {
            tracing::warn!("a signing key set from the sync was not taken: {why}");
            return Ok(false);
        }
        let json = serde_json::to_string(set).unwrap_or_default();
        self.store().set_setting(PINNED_KEYS_KEY, &json)?;
        Ok(true)
    }

    /// Checks an online face's access token: signed by a pinned key, for `project`, naming
    /// `subject`, fresh. With nothing pinned nothing verifies.
    pub(crate) fn check_access_token(
        &self,
        token: &str,
        project: &str,
        subject: &str,
    ) -> std::result::Result<(), TokenError> {
        let keys = self
            .pinned_keys()
            .ok()
            .flatten()
            .map(|s| s.keys)
            .unwrap_or_default();
        access_token::verify(
            token,
            &keys,
            project,
            Some(subject),
            now_unix(),
            TOKEN_SKEW_S,
        )
        .map(|_| ())
    }

    /// [`Kiosk::check_access_token`]; a token of a key not pinned yet (the server rotated
    /// since the last sync) makes the kiosk ask the policy feed for the signed key set once,
    /// then check again.
    pub(crate) async fn verify_token_refreshing(
        &self,
        client: &AccessClient,
        token: &str,
        project: &str,
        subject: &str,
    ) -> std::result::Result<(), String> {
        match self.check_access_token(token, project, subject) {
            Err(access_types::access_token::TokenError::UnknownKey) => {}
            other => return other.map_err(|e| e.to_string()),
        }
        if let Ok(Some(keys)) = client.sync_policy(project).await.map(|p| p.signing_keys) {
            let _ = self.learn_keys(&keys);
        }
        self.check_access_token(token, project, subject)
            .map_err(|e| e.to_string())
    }

    /// When the server said this kiosk was revoked, if it did (and it was not paired since).
    pub fn revoked_at(&self) -> Option<String> {
        self.store()
            .setting(REVOKED_KEY)
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
    }

    /// Records what an API error says of this kiosk: a revocation (401/403 `KIOSK_REVOKED`)
    /// is written to the store at once, audited, and published.
    pub(crate) fn note_api_error(&self, e: &ClientError) {
        let ClientError::Api { status, code, .. } = e else {
            return;
        };
        if *code != ErrorCode::KioskRevoked || !matches!(status, 401 | 403) {
            return;
        }
        if self.revoked_at().is_some() {
            return;
        }
        let at = kiosk_store::now_rfc3339();
        if let Err(e) = self.store().set_setting(REVOKED_KEY, &at) {
            tracing::error!(code = e.code(), "the revocation could not be recorded: {e}");
            return;
        }
        tracing::warn!(
            "the server says this kiosk was revoked: it decides nothing until paired again"
        );
        let mut a = self.entry(AuditMethod::Admin, AuditDecision::Refused, Mode::Online);
        a.detail = Some(ErrorCode::KioskRevoked.as_str().into());
        self.audit(a);
        self.status.send_if_modified(|s| {
            let changed = s.revoked_at.as_deref() != Some(at.as_str());
            s.revoked_at = Some(at.clone());
            changed
        });
    }

    /// Refuses a sign-in on a revoked kiosk (`KIOSK_REVOKED`), audited.
    pub(crate) fn refuse_if_revoked(&self, method: AuditMethod) -> Result<()> {
        let Some(at) = self.revoked_at() else {
            return Ok(());
        };
        let mut a = self.entry(method, AuditDecision::Rejected, Mode::Offline);
        a.detail = Some(ErrorCode::KioskRevoked.as_str().into());
        self.audit(a);
        Err(KioskError::Revoked { at })
    }
}
