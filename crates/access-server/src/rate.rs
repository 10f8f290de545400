//! Rate limits and caps (`RATE_LIMITED`), kept in the database so every replica and every
//! restart sees the same counts, at a cost that does not grow with traffic.
//!
//! The algorithm is a sliding window of sub-window counters: a key's window of `window_ms` is
//! cut into [`BUCKETS`] buckets, each one row `(key, expires_at, hits)`. A hit lands in the
//! bucket of its instant; a bucket counts until its *last* possible hit is a full window old
//! (`expires_at`). So a request reads at most `BUCKETS + 1` rows whatever the day's traffic,
//! and a hit counts for at least its whole window and at most one bucket longer (a second for
//! a minute's window, a minute for an hour's, 24 minutes for a day's). Never more than `limit`
//! hits pass in any span of `window_ms`, and `Retry-After` is exactly when the oldest buckets
//! have expired enough for one more.
//!
//! Written here rather than taken from `governor` (GCRA): a GCRA with a burst of `limit`
//! refills while the burst is spent and lets up to twice the limit through in one window,
//! which a daily budget of paid messages must not, and governor's state lives in one
//! process's memory, not in the database replicas share.
//!
//! A key names one window: its prefix (`send-h:`, `send-d:`, `otp-e:`) says which.

use crate::db::exec;
use crate::error::{ApiError, ApiResult};
use crate::sql::Connection;

/// Buckets per window: the granularity of a window's end (1/60 of it).
pub const BUCKETS: i64 = 60;

/// Refuses with `RATE_LIMITED` (and the exact wait) when `limit` hits on `key` fall within
/// `window_ms` of `now` (ms since the epoch), else records this hit, inside the caller's
/// transaction.
pub fn rate_limit(
    tx: &Connection,
    key: &str,
    limit: u32,
    window_ms: i64,
    now: i64,
) -> ApiResult<()> {
    rate_room(tx, key, limit, window_ms, now)?;
    rate_record(tx, key, window_ms, now)
}

/// Refuses as [`rate_limit`] does; records nothing (with [`rate_record`]: a limit that counts
/// only some outcomes, such as failed pairings). Reads only.
pub fn rate_room(
    tx: &Connection,
    key: &str,
    limit: u32,
    window_ms: i64,
    now: i64,
) -> ApiResult<()> {
    let mut s = tx.prepare_cached(
        "SELECT expires_at, hits FROM rate_buckets WHERE key = ?1 AND expires_at > ?2
         ORDER BY expires_at",
    )?;
    let live = s
        .query_map(rusqlite::params![key, now], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(i64, i64)>, _>>()?;
    match wait_ms(&live, limit, window_ms, now) {
        None => Ok(()),
        Some(ms) => Err(ApiError::rate_limited(((ms + 999) / 1000).max(1) as u64)),
    }
}

/// Records one hit on `key` and drops its expired buckets.
pub fn rate_record(tx: &Connection, key: &str, window_ms: i64, now: i64) -> ApiResult<()> {
    exec(
        tx,
        "DELETE FROM rate_buckets WHERE key = ?1 AND expires_at <= ?2",
        rusqlite::params![key, now],
    )?;
    exec(
        tx,
        "INSERT INTO rate_buckets(key, expires_at, hits) VALUES (?1, ?2, 1)
         ON CONFLICT(key, expires_at) DO UPDATE SET hits = rate_buckets.hits + 1",
        rusqlite::params![key, expires_at(window_ms, now)],
    )?;
    Ok(())
}

/// Drops every bucket that no longer counts (keys that never came back). A bucket is dropped
/// only after its `expires_at`, so no live window is ever cut short. Returns the rows dropped.
pub fn sweep(c: &Connection, now: i64) -> ApiResult<usize> {
    Ok(exec(
        c,
        "DELETE FROM rate_buckets WHERE expires_at <= ?1",
        [now],
    )?)
}

fn bucket_ms(window_ms: i64) -> i64 {
    (window_ms / BUCKETS).max(1)
}

/// When the bucket of a hit at `now` stops counting: its end plus a whole window.
fn expires_at(window_ms: i64, now: i64) -> i64 {
    let width = bucket_ms(window_ms);
    (now.div_euclid(width) + 1) * width + window_ms
}

/// `None` when one more hit fits under `limit` beside the `live` buckets (`(expires_at,
/// hits)`, oldest first); else the ms until enough of them have expired.
fn wait_ms(live: &[(i64, i64)], limit: u32, window_ms: i64, now: i64) -> Option<i64> {
    let limit = i64::from(limit);
    let mut held: i64 = live.iter().map(|(_, h)| h).sum();
    if held < limit {
        return None;
    }
    if limit == 0 {
        return Some(window_ms.max(1));
    }
    for (expires, hits) in live {
        held -= hits;
        if held < limit {
            return Some((expires - now).max(1));
        }
    }
    // Unreachable for a consistent list (every bucket expires); the whole window is safe.
    Some(window_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, row};

    const MIN: i64 = 60_000;

    /// How many hits `key` holds at `now`.
    fn hits(c: &Connection, key: &str, now: i64) -> ApiResult<i64> {
        Ok(row(
            c,
            "SELECT COALESCE(SUM(hits), 0) FROM rate_buckets WHERE key = ?1 AND expires_at > ?2",
            rusqlite::params![key, now],
            |r| r.get(0),
        )?)
    }
    const DAY: i64 = 86_400_000;

    #[test]
    fn a_window_holds_its_full_length_and_retry_after_is_when_it_frees() {
        let db = Db::open_in_memory().unwrap();
        db.blocking_tx(|tx| {
            for _ in 0..3 {
                assert!(rate_limit(tx, "k", 3, MIN, 1_000).is_ok());
            }
            let e = rate_limit(tx, "k", 3, MIN, 2_000).unwrap_err();
            // The hits of second 1 count until second 62 (the bucket's end plus a minute).
            assert_eq!(e.retry_after, Some(60));
            assert!(rate_limit(tx, "k", 3, MIN, 61_999).is_err());
            assert!(rate_limit(tx, "k", 3, MIN, 62_000).is_ok());
            // Refusals are not hits: one hit now, three may follow.
            assert_eq!(hits(tx, "k", 62_000)?, 1);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn never_more_than_the_limit_in_any_window_and_rows_stay_bounded() {
        let db = Db::open_in_memory().unwrap();
        db.blocking_tx(|tx| {
            // A hit every 7 s for three days against 100 a day: in every trailing day at most
            // 100 passed, and the key never holds more than BUCKETS + 1 rows.
            let mut passed: Vec<i64> = Vec::new();
            for i in 0..(3 * DAY / 7_000) {
                let now = i * 7_000;
                if rate_limit(tx, "d", 100, DAY, now).is_ok() {
                    passed.push(now);
                }
                let in_window = passed.iter().filter(|t| **t > now - DAY).count();
                assert!(in_window <= 100, "{in_window} in the day before {now}");
                let rows: i64 = row(tx, "SELECT COUNT(*) FROM rate_buckets", [], |r| r.get(0))?;
                assert!(rows <= BUCKETS + 1, "{rows} rows");
            }
            // And the budget was used, not starved: about 100 a day.
            assert!(passed.len() >= 290, "{}", passed.len());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn the_sweep_drops_only_what_no_longer_counts() {
        let db = Db::open_in_memory().unwrap();
        db.blocking_tx(|tx| {
            rate_limit(tx, "old", 5, MIN, 0)?;
            rate_limit(tx, "day", 1, DAY, 0)?;
            assert_eq!(sweep(tx, 11 * MIN)?, 1);
            assert_eq!(hits(tx, "old", 11 * MIN)?, 0);
            assert!(rate_limit(tx, "day", 1, DAY, 11 * MIN).is_err());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_zero_limit_refuses_for_a_whole_window() {
        assert_eq!(wait_ms(&[], 0, MIN, 5), Some(MIN));
        assert_eq!(wait_ms(&[], 1, MIN, 5), None);
        // Three held against two: once the oldest bucket (2 hits) expires, one more fits.
        assert_eq!(
            wait_ms(&[(70_000, 2), (80_000, 1)], 2, MIN, 5_000),
            Some(65_000)
        );
    }
}
