//! The validation lifecycle, one owner for codes and faces: `pending` → `validated` | `failed`
//! | `expired`, the attempt count, the webhook event of each step and the access token at the
//! end. The OTP and biometric handlers load a [`Validation`], decide (a code compared, a face
//! matched), and call the step here inside their transaction.

use crate::sql::{Connection, OptionalExtension};
use access_types::{ErrorCode, ValidationStatus, WebhookEventType};
use serde_json::{Value, json};

use crate::db::{exec, row};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webhooks;

/// What is being validated; the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    Email,
    Phone,
    Biometric,
}

/// A step of a validation that webhooks hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Created,
    Validated,
    Failed,
    Expired,
    MatchFailed,
    LivenessPassed,
    LivenessFailed,
    /// The identifier was locked after too many wrong codes.
    Locked,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The webhook event of `step` for this kind; None for a step the kind has not (a code
    /// is never matched against a face).
    pub fn event(self, step: Step) -> Option<WebhookEventType> {
        use Kind::*;
        use Step::*;
        use WebhookEventType as E;
        Some(match (self, step) {
            (Email, Created) => E::EmailValidationCreated,
            (Email, Validated) => E::EmailValidationValidated,
            (Email, Failed) => E::EmailValidationFailed,
            (Email, Expired) => E::EmailValidationExpired,
            (Email, Locked) => E::EmailValidationLocked,
            (Phone, Created) => E::PhoneValidationCreated,
            (Phone, Validated) => E::PhoneValidationValidated,
            (Phone, Failed) => E::PhoneValidationFailed,
            (Phone, Expired) => E::PhoneValidationExpired,
            (Phone, Locked) => E::PhoneValidationLocked,
            (Biometric, Created) => E::BiometricValidationCreated,
            (Biometric, Validated) => E::BiometricValidationValidated,
            (Biometric, Failed) => E::BiometricValidationFailed,
            (Biometric, Expired) => E::BiometricValidationExpired,
            (Biometric, MatchFailed) => E::BiometricValidationMatchFailed,
            (Biometric, LivenessPassed) => E::BiometricValidationLivenessPassed,
            (Biometric, LivenessFailed) => E::BiometricValidationLivenessFailed,
            (Email | Phone, MatchFailed | LivenessPassed | LivenessFailed)
            | (Biometric, Locked) => return None,
        })
    }
}

/// One row of `validations`.
#[derive(Debug, Clone)]
pub struct Validation {
    pub id: String,
    pub kind: Kind,
    /// The email or phone a code went to; for a face, the user (empty until a 1:N match
    /// names them).
    pub identifier: String,
    pub project_id: String,
    pub flow_id: String,
    pub status: ValidationStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub expires_at: i64,
    /// The channel a code went by (`email`, `sms`, `whatsapp`); None for a face.
    pub channel: Option<String>,
    /// HMAC of the pending code; None once it cannot be used any more.
    pub code_hash: Option<Vec<u8>>,
    pub match_ok: bool,
    pub liveness_passed: Option<bool>,
}

/// What a failed try left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Remaining(u32),
    /// That was the last one: the validation is `failed`.
    Failed,
}

impl Validation {
    /// A new pending validation (not yet stored).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: Kind,
        identifier: String,
        project_id: String,
        flow_id: String,
        max_attempts: u32,
        expires_at: i64,
        channel: Option<String>,
    ) -> Self {
        Self {
            id: crate::ids::new_id("val"),
            kind,
            identifier,
            project_id,
            flow_id,
            status: ValidationStatus::Pending,
            attempts: 0,
            max_attempts,
            expires_at,
            channel,
            code_hash: None,
            match_ok: false,
            liveness_passed: None,
        }
    }

    /// Stores it; `created` is announced by the caller when the kind has such an event.
    pub fn insert(&self, tx: &Connection, now: i64) -> crate::sql::Result<()> {
        exec(
            tx,
            "INSERT INTO validations(id, kind, channel, identifier, project_id, flow_id, status,
               code_hash, attempts, max_attempts, expires_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            rusqlite::params![
                self.id,
                self.kind.as_str(),
                self.channel,
                self.identifier,
                self.project_id,
                self.flow_id,
                self.status.as_str(),
                self.code_hash,
                self.attempts,
                self.max_attempts,
                self.expires_at,
                now
            ],
        )?;
        Ok(())
    }

    /// The validation `id` of `kind`; `VALIDATION_NOT_FOUND` when there is none.
    pub fn load(c: &Connection, id: &str, kind: Kind) -> ApiResult<Self> {
        row(
            c,
            "SELECT id, identifier, project_id, flow_id, status, attempts, max_attempts,
                    expires_at, channel, code_hash, COALESCE(match_ok, 0), liveness_passed
             FROM validations WHERE id = ?1 AND kind = ?2",
            rusqlite::params![id, kind.as_str()],
            |r| {
                let status: String = r.get(4)?;
                Ok(Self {
                    id: r.get(0)?,
                    kind,
                    identifier: r.get(1)?,
                    project_id: r.get(2)?,
                    flow_id: r.get(3)?,
                    // An unknown status can only be refused.
                    status: ValidationStatus::parse(&status).unwrap_or(ValidationStatus::Expired),
                    attempts: r.get(5)?,
                    max_attempts: r.get(6)?,
                    expires_at: r.get(7)?,
                    channel: r.get(8)?,
                    code_hash: r.get(9)?,
                    match_ok: r.get::<_, i64>(10)? != 0,
                    liveness_passed: r.get::<_, Option<i64>>(11)?.map(|v| v != 0),
                })
            },
        )
        .optional()?
        .ok_or_else(not_found)
    }

    /// Queues the webhook event of `step`, with the validation's own fields and `extra`.
    pub fn announce(
        &self,
        tx: &Connection,
        step: Step,
        extra: Value,
        now: i64,
    ) -> crate::sql::Result<()> {
        let Some(event) = self.kind.event(step) else {
            return Ok(());
        };
        let mut data = match self.kind {
            Kind::Email | Kind::Phone => json!({
                "validation_id": self.id, "channel": self.channel.as_deref().unwrap_or(""),
                "identifier": self.identifier, "project_id": self.project_id,
                "project_flow_id": self.flow_id, "status": self.status.as_str(),
                "attempts": self.attempts,
            }),
            Kind::Biometric => json!({
                "validation_id": self.id, "user_id": self.identifier,
                "project_id": self.project_id, "project_flow_id": self.flow_id,
                "status": self.status.as_str(),
            }),
        };
        if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        webhooks::enqueue(tx, &self.project_id, &self.flow_id, event, data, now)?;
        Ok(())
    }

    /// Pending and in time, or the refusal. A pending validation found past its time is
    /// recorded as `expired` (with its event) first: the caller commits that and returns the
    /// refusal (`Ok(Err(..))` out of its transaction).
    pub fn require_pending(
        &mut self,
        tx: &Connection,
        now: i64,
    ) -> ApiResult<Result<(), ApiError>> {
        if self.status == ValidationStatus::Pending && now >= self.expires_at {
            self.set_status(tx, ValidationStatus::Expired, now)?;
            self.announce(tx, Step::Expired, json!({}), now)?;
        }
        Ok(match self.status {
            ValidationStatus::Pending => Ok(()),
            s => Err(not_pending(self.kind, s)),
        })
    }

    /// Succeeds: `validated`, the code (if any) made unusable, the event queued.
    pub fn validate(&mut self, tx: &Connection, now: i64) -> crate::sql::Result<()> {
        exec(
            tx,
            "UPDATE validations SET status = 'validated', validated_at = ?1, updated_at = ?1,
             code_hash = NULL WHERE id = ?2",
            rusqlite::params![now, self.id],
        )?;
        self.status = ValidationStatus::Validated;
        self.code_hash = None;
        if self.kind == Kind::Biometric && !self.identifier.is_empty() {
            crate::activity::record_sign_in(tx, &self.project_id, &self.identifier, now)?;
        }
        self.announce(tx, Step::Validated, json!({}), now)
    }

    /// Records a liveness verdict (score and pass, its event); a pass then validates when the
    /// match holds too (`complete`), a fail counts as a failed try. Both face routes
    /// (`verify-face` in one pass, `liveness-check`) take this one step.
    pub fn record_liveness(
        &mut self,
        tx: &Connection,
        score: f32,
        min_score: f32,
        passed: bool,
        liveness_required: bool,
        now: i64,
    ) -> crate::sql::Result<()> {
        self.liveness_passed = Some(passed);
        exec(
            tx,
            "UPDATE validations SET liveness_score = ?1, liveness_passed = ?2, updated_at = ?3
             WHERE id = ?4",
            rusqlite::params![score, passed, now, self.id],
        )?;
        let step = if passed {
            Step::LivenessPassed
        } else {
            Step::LivenessFailed
        };
        self.announce(
            tx,
            step,
            json!({ "liveness_score": score, "min_score": min_score }),
            now,
        )?;
        if passed {
            self.complete(tx, liveness_required, now)?;
        } else {
            self.fail_attempt(tx, now)?;
        }
        Ok(())
    }

    /// Validated once the match holds and liveness, when required, passed.
    pub fn complete(
        &mut self,
        tx: &Connection,
        liveness_required: bool,
        now: i64,
    ) -> crate::sql::Result<bool> {
        let live_ok = !liveness_required || self.liveness_passed == Some(true);
        if self.match_ok && live_ok && self.status == ValidationStatus::Pending {
            self.validate(tx, now)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Counts a failed try; at the limit the validation is `failed` (its code unusable) and
    /// the event queued.
    pub fn fail_attempt(&mut self, tx: &Connection, now: i64) -> crate::sql::Result<Attempt> {
        self.attempts += 1;
        if self.attempts < self.max_attempts {
            exec(
                tx,
                "UPDATE validations SET attempts = ?1, updated_at = ?2 WHERE id = ?3",
                rusqlite::params![self.attempts, now, self.id],
            )?;
            return Ok(Attempt::Remaining(self.max_attempts - self.attempts));
        }
        exec(
            tx,
            "UPDATE validations SET attempts = ?1, status = 'failed', updated_at = ?2,
             code_hash = NULL WHERE id = ?3",
            rusqlite::params![self.attempts, now, self.id],
        )?;
        self.status = ValidationStatus::Failed;
        self.code_hash = None;
        self.announce(tx, Step::Failed, json!({}), now)?;
        Ok(Attempt::Failed)
    }

    fn set_status(
        &mut self,
        tx: &Connection,
        s: ValidationStatus,
        now: i64,
    ) -> crate::sql::Result<()> {
        exec(
            tx,
            "UPDATE validations SET status = ?1, updated_at = ?2 WHERE id = ?3",
            rusqlite::params![s.as_str(), now, self.id],
        )?;
        self.status = s;
        Ok(())
    }

    /// The access token a validated validation earns (`amr`: how the person proved who they
    /// are), and its lifetime in seconds.
    pub fn issue_token(&self, st: &AppState, amr: &[&str], now: i64) -> ApiResult<(String, u64)> {
        debug_assert_eq!(self.status, ValidationStatus::Validated);
        let ttl = st.cfg.access_token_ttl_s;
        let token = st
            .keys
            .issue_access_token(
                &self.identifier,
                &self.project_id,
                &self.flow_id,
                &self.id,
                amr,
                ttl,
                now,
            )
            .map_err(|e| {
                tracing::error!(error = %e, "token signing failed");
                ApiError::internal()
            })?;
        Ok((token, ttl))
    }
}

/// Unknown, or someone else's: the same answer, so ids cannot be probed.
pub fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ValidationNotFound, "unknown validation_id")
}

/// The refusal for a validation that is no longer pending. A code speaks of the code (a
/// person re-typing it understands "expired" or "already used"); a face of the validation.
pub fn not_pending(kind: Kind, s: ValidationStatus) -> ApiError {
    let e = match (kind, s) {
        (_, ValidationStatus::Failed) => ApiError::new(
            ErrorCode::MaxAttemptsExceeded,
            match kind {
                Kind::Biometric => "the validation failed; start a new one",
                Kind::Email | Kind::Phone => "too many wrong codes; request a new one",
            },
        )
        .with_details(json!({ "attempts_remaining": 0, "status": "failed" })),
        (Kind::Email | Kind::Phone, ValidationStatus::Validated) => {
            ApiError::new(ErrorCode::OtpAlreadyUsed, "this code was already used")
        }
        (Kind::Email | Kind::Phone, _) => ApiError::new(
            ErrorCode::OtpExpired,
            "the code has expired; request a new one",
        ),
        (Kind::Biometric, ValidationStatus::Expired) => {
            ApiError::new(ErrorCode::ValidationExpired, "the validation has expired")
        }
        (Kind::Biometric, _) => ApiError::new(
            ErrorCode::ValidationNotPending,
            "the validation is already complete",
        ),
    };
    if s == ValidationStatus::Failed {
        return e;
    }
    // An unknown stored status reads as expired.
    let shown = match s {
        ValidationStatus::Pending => ValidationStatus::Expired,
        s => s,
    };
    e.with_details(json!({ "status": shown.as_str() }))
}

/// Adds `n` past email validations to `project_id`, numbered from `first` (validated, the
/// i-th one i minutes before `now`, distinct addresses): a site's history in seconds, for
/// benchmarks (`access-loadgen --seed-validations`). One statement text on both engines: a
/// recursive counter feeding `INSERT … SELECT`.
pub fn seed_history(
    tx: &Connection,
    project_id: &str,
    flow_id: &str,
    first: i64,
    n: i64,
    now: i64,
) -> crate::sql::Result<usize> {
    exec(
        tx,
        "WITH RECURSIVE seq(i) AS (SELECT CAST(?1 AS BIGINT) UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)
         INSERT INTO validations(id, kind, channel, identifier, project_id, flow_id, status,
           attempts, max_attempts, expires_at, created_at, updated_at, validated_at)
         SELECT 'val_seed_' || i, 'email', 'email', 'seed' || i || '@seed.test', ?3, ?4,
           'validated', 0, 3, ?5 - i * 60000 + 600000, ?5 - i * 60000, ?5 - i * 60000,
           ?5 - i * 60000
         FROM seq",
        rusqlite::params![first, first + n - 1, project_id, flow_id, now],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_of_every_kind_names_its_event() {
        use strum::VariantArray;
        let mut named = Vec::new();
        for kind in [Kind::Email, Kind::Phone, Kind::Biometric] {
            for step in [
                Step::Created,
                Step::Validated,
                Step::Failed,
                Step::Expired,
                Step::MatchFailed,
                Step::LivenessPassed,
                Step::LivenessFailed,
                Step::Locked,
            ] {
                if let Some(e) = kind.event(step) {
                    assert!(
                        e.as_str()
                            .starts_with(&format!("{}_validation.", kind.as_str()))
                    );
                    named.push(e);
                }
            }
        }
        // Every validation event the API lists is emitted by some step, once (the kiosk's
        // offline sign-in comes from the offline event feed, sync.rs; `face.*` from the people
        // rules, people.rs).
        let validation_events = WebhookEventType::VARIANTS
            .iter()
            .filter(|e| e.as_str().contains("_validation."))
            .count();
        assert_eq!(named.len(), validation_events);
    }
}
