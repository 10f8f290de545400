//! What the server keeps of its history, and for how long (`[retention]`). A sweep a minute
//! (the background worker's) deletes what has aged out: at most [`ROWS_PER_RUN`] rows of each
//! table a run, oldest first, each read through an index (tests/it/plans.rs), so a run costs
//! what the last minute added, not what the years kept hold, and never holds the writer long.
//! Rate-limit buckets go only once they no longer count (rate.rs): no live window is cut.

use crate::config::RetentionConfig;
use crate::db::exec;
use crate::error::ApiResult;
use crate::sql::Connection;

/// Rows of one table one run deletes at most (a backlog, after an upgrade or a longer
/// setting made shorter, drains over the following minutes).
pub const ROWS_PER_RUN: i64 = 5_000;

const DAY_MS: i64 = 86_400_000;

/// What one run deleted, per table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub rate_buckets: usize,
    pub validations: usize,
    pub sync_events: usize,
    pub audit_log: usize,
    pub webhook_deliveries: usize,
    pub idempotency: usize,
}

impl Swept {
    pub fn total(&self) -> usize {
        self.rate_buckets
            + self.validations
            + self.sync_events
            + self.audit_log
            + self.webhook_deliveries
            + self.idempotency
    }
}

/// The cut-off of a period of `days` (0: kept for ever).
fn cutoff(now: i64, days: u32) -> Option<i64> {
    (days > 0).then(|| now - i64::from(days) * DAY_MS)
}

/// One run of the sweep at `now` (ms since the epoch), in the caller's transaction.
pub fn sweep(c: &Connection, cfg: &RetentionConfig, now: i64) -> ApiResult<Swept> {
    let mut out = Swept {
        rate_buckets: crate::rate::sweep(c, now)?,
        ..Swept::default()
    };
    // Each statement deletes the oldest rows before ?1, at most ?2 of them.
    let oldest = |sql: &str, before: i64| exec(c, sql, rusqlite::params![before, ROWS_PER_RUN]);
    if let Some(before) = cutoff(now, cfg.validations_days) {
        out.validations = oldest(
            "DELETE FROM validations WHERE id IN (SELECT id FROM validations
               WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            before,
        )?;
    }
    if let Some(before) = cutoff(now, cfg.sync_events_days) {
        out.sync_events = oldest(
            "DELETE FROM sync_events WHERE (kiosk_id, event_id) IN (
               SELECT kiosk_id, event_id FROM sync_events
               WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
            before,
        )?;
    }
    if let Some(before) = cutoff(now, cfg.audit_days) {
        out.audit_log = oldest(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log
               WHERE at < ?1 ORDER BY at LIMIT ?2)",
            before,
        )?;
    }
    if let Some(before) = cutoff(now, cfg.webhook_deliveries_days) {
        // Finished deliveries only (a queued one is still owed), with their attempts first.
        let finished = "SELECT id FROM webhook_deliveries
               WHERE created_at < ?1 AND status IN ('delivered', 'failed')
               ORDER BY created_at, id LIMIT ?2";
        oldest(
            &format!("DELETE FROM webhook_attempts WHERE delivery_id IN ({finished})"),
            before,
        )?;
        out.webhook_deliveries = oldest(
            &format!("DELETE FROM webhook_deliveries WHERE id IN ({finished})"),
            before,
        )?;
    }
    if let Some(before) = cutoff(now, cfg.idempotency_days) {
        out.idempotency = oldest(
            "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency
               WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            before,
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn what_aged_out_goes_in_bounded_runs_and_the_rest_stays() {
        let db = Db::open_in_memory().unwrap();
        let now = 400 * DAY_MS;
        let cfg = RetentionConfig::default();
        db.blocking_tx(|c| {
            // 6,000 validations a year and a day old, 10 from yesterday.
            for i in 0..6_010i64 {
                let at = if i < 6_000 { now - 366 * DAY_MS } else { now - DAY_MS };
                exec(
                    c,
                    "INSERT INTO validations(id, kind, channel, identifier, project_id, flow_id,
                       status, attempts, max_attempts, expires_at, created_at, updated_at)
                     VALUES (?1, 'email', 'email', 'a@example.org', 'prj', 'flw', 'expired',
                       0, 3, ?2, ?2, ?2)",
                    rusqlite::params![format!("val_{i}"), at],
                )?;
            }
            exec(
                c,
                "INSERT INTO audit_log(at, actor, action) VALUES (?1, 'a', 'old'), (?2, 'a', 'new')",
                rusqlite::params![now - 800 * DAY_MS, now],
            )?;
            let first = sweep(c, &cfg, now)?;
            assert_eq!((first.validations, first.audit_log), (5_000, 1));
            let second = sweep(c, &cfg, now)?;
            assert_eq!(second.validations, 1_000);
            assert_eq!(sweep(c, &cfg, now)?.total(), 0);
            let left: i64 =
                crate::db::row(c, "SELECT COUNT(*) FROM validations", [], |r| r.get(0))?;
            assert_eq!(left, 10);
            // 0 keeps for ever.
            let keep = RetentionConfig {
                validations_days: 0,
                ..RetentionConfig::default()
            };
            assert_eq!(sweep(c, &keep, now + 1000 * DAY_MS)?.validations, 0);
            Ok(())
        })
        .unwrap();
    }
}
