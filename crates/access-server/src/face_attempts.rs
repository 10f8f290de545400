//! Failed face attempts per person and project, counted across every kiosk and replica (and
//! from kiosks' offline events at sync), by the rule of `access_types::face_attempts` (NIST SP
//! 800-63B-4: 5 or 10 free, then 30 s doubling, disabled at 50 or 100). A face sign-in that
//! passes, a code sign-in of the same identifier, or an operator's reset starts the count again.

use access_types::ErrorCode;
use access_types::face_attempts::{FaceAttemptState, state};
use serde_json::json;

use crate::db::{exec, row};
use crate::error::ApiError;
use crate::sql::{Connection, OptionalExtension};

/// The refusal while `user_id`'s face sign-in waits or is disabled: 423
/// `FACE_ATTEMPTS_LOCKED` with `details.retry_after_s` or `details.disabled`.
pub fn check(
    c: &Connection,
    project_id: &str,
    user_id: &str,
    liveness_required: bool,
    now: i64,
) -> Result<(), ApiError> {
    let (failures, last): (u32, i64) = row(
        c,
        "SELECT failures, last_failed_at FROM face_attempts WHERE project_id = ?1 AND user_id = ?2",
        [project_id, user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .unwrap_or((0, 0));
    match state(failures, last, liveness_required, now) {
        FaceAttemptState::Open => Ok(()),
        FaceAttemptState::Delayed { until } => {
            let retry_after_s = ((until - now) as u64).div_ceil(1000).max(1);
            let mut e = ApiError::new(
                ErrorCode::FaceAttemptsLocked,
                "too many failed face attempts for this person; try again later or sign in with a code",
            )
            .with_details(json!({ "retry_after_s": retry_after_s, "disabled": false }));
            e.retry_after = Some(retry_after_s);
            Err(e)
        }
        FaceAttemptState::Disabled => Err(ApiError::new(
            ErrorCode::FaceAttemptsLocked,
            "face sign-in is disabled for this person after too many failed attempts: sign in with a code, or ask an operator to reset it",
        )
        .with_details(json!({ "disabled": true }))),
    }
}

/// One more failed face attempt of `user_id`, at `at` (ms).
pub fn record_failure(
    c: &Connection,
    project_id: &str,
    user_id: &str,
    at: i64,
) -> crate::sql::Result<()> {
    exec(
        c,
        "INSERT INTO face_attempts(project_id, user_id, failures, last_failed_at)
         VALUES (?1, ?2, 1, ?3)
         ON CONFLICT(project_id, user_id) DO UPDATE SET failures = face_attempts.failures + 1,
           last_failed_at = CASE WHEN ?3 > face_attempts.last_failed_at THEN ?3
                                 ELSE face_attempts.last_failed_at END",
        rusqlite::params![project_id, user_id, at],
    )?;
    Ok(())
}

/// A success (face or another factor) or an operator's reset: the count starts again.
pub fn reset(c: &Connection, project_id: &str, user_id: &str) -> crate::sql::Result<()> {
    exec(
        c,
        "DELETE FROM face_attempts WHERE project_id = ?1 AND user_id = ?2",
        [project_id, user_id],
    )?;
    Ok(())
}
