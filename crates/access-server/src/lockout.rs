//! Code guessing is bounded per person, not per validation: wrong codes are counted per
//! identifier and project across validations (a new send no longer buys fresh guesses); after
//! `code_failures_before_lock` in a row the identifier is locked for `code_lock_base_s`, doubling
//! with each further lock (capped at a day). A success resets it. NIST SP 800-63B §5.2.2 caps
//! consecutive failures at 100; the default here is 10.

use crate::sql::{Connection, OptionalExtension};
use access_types::ErrorCode;
use serde_json::json;

use crate::db::{exec, row};
use crate::error::ApiError;

/// Longest lock, whatever the count.
const MAX_LOCK_MS: i64 = 24 * 3600 * 1000;

/// The lock settings (from the server config).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub failures_before_lock: u32,
    pub base_lock_ms: i64,
}

/// What a wrong code did to the identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Still open; this many wrong codes in a row so far.
    Counted(u32),
    /// This failure locked it until the given time (ms).
    Locked { until: i64 },
}

/// The refusal while `identifier` is locked in `project_id`: 423 `IDENTIFIER_LOCKED`.
pub fn check(
    tx: &Connection,
    project_id: &str,
    identifier: &str,
    now: i64,
) -> Result<(), ApiError> {
    let until: Option<i64> = row(
        tx,
        "SELECT locked_until FROM identifier_locks WHERE project_id = ?1 AND identifier = ?2",
        [project_id, identifier],
        |r| r.get(0),
    )
    .optional()?;
    match until {
        Some(until) if until > now => Err(locked(until, now)),
        _ => Ok(()),
    }
}

/// The 423 answer, with when to try again.
pub fn locked(until: i64, now: i64) -> ApiError {
    let retry_after_s = ((until - now) as u64).div_ceil(1000).max(1);
    let mut e = ApiError::new(
        ErrorCode::IdentifierLocked,
        "too many wrong codes for this identifier; try again later",
    )
    .with_details(json!({ "retry_after_s": retry_after_s }));
    e.retry_after = Some(retry_after_s);
    e
}

/// Counts a wrong code; locks at the limit.
pub fn record_failure(
    tx: &Connection,
    policy: &Policy,
    project_id: &str,
    identifier: &str,
    now: i64,
) -> crate::sql::Result<AfterFailure> {
    let (failures, locks): (u32, u32) = row(
        tx,
        "SELECT failures, locks FROM identifier_locks WHERE project_id = ?1 AND identifier = ?2",
        [project_id, identifier],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .unwrap_or((0, 0));
    let failures = failures + 1;
    let (failures, locks, until) = if failures >= policy.failures_before_lock.max(1) {
        let shift = locks.min(20);
        let until = now + (policy.base_lock_ms << shift).min(MAX_LOCK_MS);
        (0, locks + 1, until)
    } else {
        (failures, locks, 0)
    };
    exec(
        tx,
        "INSERT INTO identifier_locks(project_id, identifier, failures, locks, locked_until)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(project_id, identifier) DO UPDATE SET failures = ?3, locks = ?4,
           locked_until = CASE WHEN ?5 > 0 THEN ?5 ELSE identifier_locks.locked_until END",
        rusqlite::params![project_id, identifier, failures, locks, until],
    )?;
    Ok(if until > 0 {
        AfterFailure::Locked { until }
    } else {
        AfterFailure::Counted(failures)
    })
}

/// A right code: the count and the doubling start again.
pub fn reset(tx: &Connection, project_id: &str, identifier: &str) -> crate::sql::Result<()> {
    exec(
        tx,
        "DELETE FROM identifier_locks WHERE project_id = ?1 AND identifier = ?2",
        [project_id, identifier],
    )?;
    Ok(())
}
