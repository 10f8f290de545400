//! Each person's last sign-in, one row per person (`person_activity`), kept as sign-ins
//! happen: a face validated here, or an offline sign-in a kiosk reported. The People list reads
//! one row per person instead of a project's every sign-in, so it costs the same after a
//! year of history as on the first day (issue 25); the retention of validations and events
//! does not make anyone's last sign-in disappear.

use std::collections::HashMap;

use crate::db::exec;
use crate::sql::Connection;

/// Records a sign-in of `user_id` at `at` (ms since the epoch); an earlier one than the
/// recorded (an offline event uploaded late) changes nothing.
pub fn record_sign_in(
    tx: &Connection,
    project_id: &str,
    user_id: &str,
    at: i64,
) -> crate::sql::Result<()> {
    // `CASE` rather than MAX/GREATEST: one statement text on both engines.
    exec(
        tx,
        "INSERT INTO person_activity(project_id, user_id, last_sign_in_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(project_id, user_id) DO UPDATE SET last_sign_in_at =
           CASE WHEN excluded.last_sign_in_at > person_activity.last_sign_in_at
                THEN excluded.last_sign_in_at ELSE person_activity.last_sign_in_at END",
        rusqlite::params![project_id, user_id, at],
    )?;
    Ok(())
}

/// Each person's last sign-in in `project_id` (ms since the epoch).
pub fn last_sign_ins(c: &Connection, project_id: &str) -> crate::sql::Result<HashMap<String, i64>> {
    Ok(c.query_all(
        "SELECT user_id, last_sign_in_at FROM person_activity WHERE project_id = ?1",
        [project_id],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    )?
    .into_iter()
    .collect())
}

/// Forgets a person's activity (their erasure).
pub fn forget(tx: &Connection, project_id: &str, user_id: &str) -> crate::sql::Result<()> {
    exec(
        tx,
        "DELETE FROM person_activity WHERE project_id = ?1 AND user_id = ?2",
        [project_id, user_id],
    )?;
    Ok(())
}
