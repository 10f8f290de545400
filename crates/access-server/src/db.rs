//! SQLite store: one connection owned by a dedicated thread that runs jobs sent over a
//! channel.
//!
//! One writer is all SQLite allows anyway; a single owner thread avoids a pool of blocking
//! threads queueing on a lock (measurably worse tail latency under load). WAL keeps readers of
//! other processes (backups, `access-server token`) unblocked.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(rusqlite::Error),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot start the database thread: {0}")]
    Thread(std::io::Error),
    #[error("database schema version {0} is newer than this binary supports")]
    TooNew(i64),
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    jobs: std::sync::mpsc::Sender<Job>,
    /// The checkpointer thread runs while any clone of this lives.
    _alive: Arc<()>,
}

/// Ordered migrations; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_pkcs8 BLOB NOT NULL,
    public_key BLOB NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE flows (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL, flow_type TEXT NOT NULL, status TEXT NOT NULL,
    login_json TEXT NOT NULL, security_json TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX flows_project ON flows(project_id);
CREATE TABLE validations (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, channel TEXT, identifier TEXT NOT NULL,
    project_id TEXT NOT NULL, flow_id TEXT NOT NULL, status TEXT NOT NULL,
    code_hash BLOB, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    validated_at INTEGER, match_ok INTEGER, match_score REAL, matched_user TEXT,
    liveness_score REAL, liveness_passed INTEGER);
CREATE INDEX validations_lookup ON validations(project_id, kind, identifier, status);
CREATE TABLE rate_hits (key TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX rate_hits_key ON rate_hits(key, at);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, channel TEXT NOT NULL, recipient TEXT NOT NULL,
    body TEXT NOT NULL, code TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX outbox_recipient ON outbox(recipient, id);
CREATE TABLE templates (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, user_id TEXT NOT NULL,
    model_id TEXT NOT NULL, embedding BLOB NOT NULL, created_at INTEGER NOT NULL,
    deleted_at INTEGER, rev INTEGER NOT NULL);
CREATE INDEX templates_rev ON templates(project_id, rev);
CREATE INDEX templates_user ON templates(project_id, user_id);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, flow_id TEXT, url TEXT NOT NULL,
    secret TEXT NOT NULL, events_json TEXT NOT NULL, enabled INTEGER NOT NULL,
    disabled_reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX webhooks_project ON webhooks(project_id);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, event_type TEXT NOT NULL,
    payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_attempt_at INTEGER, created_at INTEGER NOT NULL, delivered_at INTEGER);
CREATE INDEX deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX deliveries_webhook ON webhook_deliveries(webhook_id, created_at);
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
    status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL);
CREATE INDEX attempts_delivery ON webhook_attempts(delivery_id, attempt);
CREATE TABLE sync_events (
    event_id TEXT PRIMARY KEY, kiosk_id TEXT, kind TEXT NOT NULL, project_id TEXT NOT NULL,
    user_id TEXT, occurred_at TEXT NOT NULL, payload TEXT NOT NULL, received_at INTEGER NOT NULL);
"#];

impl Db {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode is durable against process crashes; only an OS crash can lose
        // the last transactions.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(256);
        migrate(&mut conn)?;
        let conn = Arc::new(Mutex::new(conn));
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let owner = conn.clone();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                // Ends when the last `Db` clone is dropped.
                while let Ok(job) = rx.recv() {
                    // A poisoned lock only means an earlier job panicked; the connection is
                    // still sound (SQLite rolls back the open transaction on drop).
                    let mut guard = owner.lock().unwrap_or_else(|p| p.into_inner());
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut guard)));
                    if r.is_err() {
                        tracing::error!("a database job panicked");
                    }
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Self {
            conn,
            jobs,
            _alive: Arc::new(()),
        })
    }

    /// Run `f` with the connection on the database thread.
    pub async fn call<R, F>(&self, f: F) -> ApiResult<R>
    where
        F: FnOnce(&mut Connection) -> ApiResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |c| {
            let _ = tx.send(f(c));
        });
        let gone = || {
            tracing::error!("database thread is gone");
            ApiError::internal()
        };
        self.jobs.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Run `f` inside one transaction, committed only if it returns Ok.
    pub async fn tx<R, F>(&self, f: F) -> ApiResult<R>
    where
        F: FnOnce(&Transaction<'_>) -> ApiResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }

    /// Synchronous access for startup and CLI code (not for async contexts).
    pub fn blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let target = MIGRATIONS.len() as i64;
    if version > target {
        return Err(StoreError::TooNew(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(StoreError::Migrate)?;
        tx.execute_batch(sql).map_err(StoreError::Migrate)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(StoreError::Migrate)?;
        tx.commit().map_err(StoreError::Migrate)?;
    }
    Ok(())
}

/// `execute` through the statement cache: hot paths skip SQL parsing (it showed in profiles).
pub fn exec<P: rusqlite::Params>(c: &Connection, sql: &str, p: P) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// `query_row` through the statement cache.
pub fn row<T, P, F>(c: &Connection, sql: &str, p: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(p, f)
}

/// Next value of a named counter (template revisions), inside the caller's transaction.
pub fn next_counter(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO counters(name, value) VALUES (?1, 1)
         ON CONFLICT(name) DO UPDATE SET value = value + 1",
        [name],
    )?;
    tx.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
        r.get(0)
    })
}

/// Sliding-window rate limit inside the caller's transaction: refuses with `RATE_LIMITED`
/// once `limit` hits fall within `window_ms`, else records this hit.
pub fn rate_limit(
    tx: &Transaction<'_>,
    key: &str,
    limit: u32,
    window_ms: i64,
    now: i64,
) -> ApiResult<()> {
    exec(
        tx,
        "DELETE FROM rate_hits WHERE key = ?1 AND at <= ?2",
        rusqlite::params![key, now - window_ms],
    )?;
    let (count, oldest): (i64, Option<i64>) = row(
        tx,
        "SELECT COUNT(*), MIN(at) FROM rate_hits WHERE key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if count >= i64::from(limit) {
        let wait_ms = oldest
            .map(|o| o + window_ms - now)
            .unwrap_or(window_ms)
            .max(1);
        return Err(ApiError::rate_limited(((wait_ms + 999) / 1000) as u64));
    }
    exec(
        tx,
        "INSERT INTO rate_hits(key, at) VALUES (?1, ?2)",
        rusqlite::params![key, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent_and_versioned() {
        let dir = std::env::temp_dir().join(format!("access-db-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("m.db");
        let _ = std::fs::remove_file(&path);
        drop(Db::open(&path).unwrap());
        let db = Db::open(&path).unwrap();
        let v: i64 = db
            .blocking(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rate_limit_window() {
        let db = Db::open_in_memory().unwrap();
        db.blocking(|c| {
            let tx = c.transaction()?;
            for _ in 0..3 {
                assert!(rate_limit(&tx, "k", 3, 60_000, 1_000).is_ok());
            }
            let e = rate_limit(&tx, "k", 3, 60_000, 2_000).unwrap_err();
            assert_eq!(e.retry_after, Some(59));
            // The window slides: at 61 s the first hits are gone.
            assert!(rate_limit(&tx, "k", 3, 60_000, 61_001).is_ok());
            Ok(())
        })
        .unwrap();
    }
}
