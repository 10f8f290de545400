//! SQLite store: one connection owned by a dedicated thread that runs jobs sent over a
//! channel.
//!
//! One writer is all SQLite allows anyway; a single owner thread avoids a pool of blocking
//! threads queueing on a lock (measurably worse tail latency under load). WAL keeps readers of
//! other processes (backups, `access-server token`) unblocked.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::sql::{Connection, Engine, Params, SqlError};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[source] SqlError),
    #[error("database error: {0}")]
    Sql(#[from] SqlError),
    /// A PostgreSQL URL's TLS options, or its TLS set-up (a root certificate file).
    #[error("PostgreSQL TLS: {0}")]
    PgTls(String),
    #[error("cannot start the database thread: {0}")]
    Thread(std::io::Error),
    #[error("database schema version {0} is newer than this binary supports")]
    TooNew(i64),
    /// refinery refused or failed a migration (a history from a newer server, a changed one).
    #[error("database migration: {0}")]
    Migration(#[source] refinery_core::Error),
    #[error("the database's migration history (refinery_schema_history) is damaged")]
    HistoryDamaged,
    /// The database holds the signing and OTP keys: it must be private to the server's user.
    #[error(transparent)]
    Private(#[from] private_file::PrivateFileError),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e.into())
    }
}

/// What a job hands back: called after the batch's COMMIT with whether it committed.
type Reply = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// Most jobs one transaction may group.
const MAX_BATCH: usize = 128;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Box<dyn Engine + Send>>>,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Every distinct statement text run while [`Db::record_statements`] is on.
    statements: Arc<StatementLog>,
    /// The checkpointer thread runs while any clone of this lives.
    alive: Arc<()>,
    engine: &'static str,
}

/// Ordered migrations, written for SQLite; PostgreSQL runs the same list with its column types
/// (pg.rs `pg_dialect`). `PRAGMA user_version` (SQLite) or `schema_version` (PostgreSQL)
/// records how many ran.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "initial",
        r#"
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
"#,
    ),
    (
        "idempotency",
        r#"
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY, response TEXT NOT NULL, created_at INTEGER NOT NULL);
"#,
    ),
    // The request a stored answer belongs to: a key reused with another body is refused.
    (
        "idempotency_request_hash",
        r#"
ALTER TABLE idempotency ADD COLUMN request_hash TEXT;
"#,
    ),
    // Wrong codes per identifier across validations (lockout.rs).
    (
        "identifier_locks",
        r#"
CREATE TABLE identifier_locks (
    project_id TEXT NOT NULL, identifier TEXT NOT NULL, failures INTEGER NOT NULL,
    locks INTEGER NOT NULL, locked_until INTEGER NOT NULL,
    PRIMARY KEY (project_id, identifier));
"#,
    ),
    // Kiosk identity (kiosks.rs), admin token records and key rotation (auth.rs); offline
    // event ids unique per kiosk, not across kiosks.
    (
        "kiosks_tokens_keys",
        r#"
CREATE TABLE kiosks (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    public_key BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER,
    last_seen_at INTEGER, version TEXT, pending_events INTEGER, last_sync_at INTEGER);
CREATE INDEX kiosks_project ON kiosks(project_id);
CREATE TABLE kiosk_pairings (
    code_hash BLOB PRIMARY KEY, project_id TEXT NOT NULL, name TEXT,
    expires_at INTEGER NOT NULL, used_at INTEGER, kiosk_id TEXT, created_at INTEGER NOT NULL);
CREATE TABLE assertion_jtis (
    kiosk_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (kiosk_id, jti));
CREATE TABLE api_tokens (
    jti TEXT PRIMARY KEY, subject TEXT NOT NULL, scope TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
ALTER TABLE signing_keys ADD COLUMN retire_after INTEGER;
CREATE TABLE sync_events_v2 (
    kiosk_id TEXT NOT NULL, event_id TEXT NOT NULL, kind TEXT NOT NULL,
    project_id TEXT NOT NULL, user_id TEXT, occurred_at TEXT NOT NULL, payload TEXT NOT NULL,
    received_at INTEGER NOT NULL, PRIMARY KEY (kiosk_id, event_id));
INSERT INTO sync_events_v2 SELECT COALESCE(kiosk_id, ''), event_id, kind, project_id, user_id,
    occurred_at, payload, received_at FROM sync_events;
DROP TABLE sync_events;
ALTER TABLE sync_events_v2 RENAME TO sync_events;
"#,
    ),
    // Who erased whose face samples, and when (erasure.rs).
    (
        "erasures",
        r#"
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, user_id TEXT NOT NULL,
    templates_deleted INTEGER NOT NULL, actor TEXT NOT NULL, scope TEXT NOT NULL,
    erased_at INTEGER NOT NULL);
CREATE INDEX erasures_project ON erasures(project_id, erased_at);
"#,
    ),
    // Webhook deliveries are claimed with a lease (webhooks.rs), so several workers, in one
    // process or in several on this file, deliver each once; an expired lease is retried.
    (
        "delivery_leases",
        r#"
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN lease_until INTEGER;
CREATE INDEX deliveries_leased ON webhook_deliveries(webhook_id, lease_until)
    WHERE status = 'pending';
"#,
    ),
    // How a project's code messages read (messages.rs): `ProjectMessages` as JSON.
    (
        "project_messages",
        r#"
ALTER TABLE projects ADD COLUMN messages TEXT NOT NULL DEFAULT '{}';
"#,
    ),
    // Where each enrolment sample came from: `camera` or `file` (NULL: before this was kept).
    (
        "template_source",
        r#"
ALTER TABLE templates ADD COLUMN source TEXT;
"#,
    ),
    // The console's operators (operators.rs): Argon2id password hashes (PHC strings), an
    // optional TOTP secret (never returned by any endpoint), sessions stored only as a hash of
    // the cookie's token, login throttling per account and per address, and the audit log of
    // every administrative change (by a session or a bearer token).
    (
        "operators",
        r#"
CREATE TABLE operators (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    totp_secret BLOB, totp_pending BLOB, totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, disabled_at INTEGER);
CREATE TABLE operator_sessions (
    id_hash BLOB PRIMARY KEY, operator_id TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator_id);
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, blocked_until INTEGER NOT NULL,
    updated_at INTEGER NOT NULL);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, status INTEGER, addr TEXT);
CREATE INDEX audit_log_at ON audit_log(at);
"#,
    ),
    // A person's last sign-in (admin::last_sign_ins) without reading a project's every
    // validation.
    (
        "validations_matched_user",
        r#"
CREATE INDEX validations_matched_user ON validations(project_id, matched_user)
    WHERE matched_user IS NOT NULL;
"#,
    ),
    // Face decisions as error rates (vision::decision): a flow's `match_min_score` becomes an
    // expert override. The old default, 0.36, written into every flow, is not an expert's
    // choice: it goes back to the targets. Any other value was set by someone and stays.
    (
        "face_targets",
        r#"
UPDATE flows SET login_json = REPLACE(login_json, '"match_min_score":0.36', '"match_min_score":null');
"#,
    ),
    // Failed face attempts in a row per person (face_attempts.rs, NIST SP 800-63B-4): one row
    // a person with failures, deleted at their next success.
    (
        "face_attempts",
        r#"
CREATE TABLE face_attempts (
    project_id TEXT NOT NULL, user_id TEXT NOT NULL, failures INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL, PRIMARY KEY (project_id, user_id));
"#,
    ),
    // A token minted in a console session is the operator's (tokens.rs): revoked when the
    // operator is removed or gets a new password.
    (
        "api_tokens_operator",
        r#"
ALTER TABLE api_tokens ADD COLUMN operator_id TEXT;
"#,
    ),
    // Who may change a person's face samples (people.rs): which caller enrolled each sample
    // (`kiosk:<id>` or an admin's subject; NULL before this was kept, treated as an admin's),
    // an administrator's confirmation of a person (kiosks may no longer erase them; a kiosk's
    // erasure before it is re-enrolment's approval), and the audit log read by target (the
    // last 1:N on/off decision of a project).
    (
        "people_trust",
        r#"
ALTER TABLE templates ADD COLUMN enrolled_by TEXT;
CREATE TABLE person_confirmations (
    project_id TEXT NOT NULL, user_id TEXT NOT NULL, confirmed_at INTEGER NOT NULL,
    actor TEXT NOT NULL, PRIMARY KEY (project_id, user_id));
CREATE INDEX erasures_user ON erasures(project_id, user_id, erased_at);
CREATE INDEX audit_log_target ON audit_log(target, id);
"#,
    ),
    // Costs flat as history grows (issue 25). Rate limits in O(1) per request (rate.rs): a
    // window's sub-window counters instead of a row per hit; hits counted before the upgrade
    // are not carried over (each limit starts afresh once). A send's look-up of the pending
    // code ends in `created_at`, so the newest is found without reading the project's history
    // (with a time index beside it, the planner would walk that instead). The console's newest validations,
    // per project and in all, read from an index in time order; the retention sweep
    // (retention.rs) reaches each table's oldest rows by index. Each person's last sign-in in
    // a row of its own (activity.rs), filled from what is there (an offline sign-in counted at
    // its upload: its own time is RFC 3339 text the migration does not parse).
    (
        "flat_costs",
        r#"
DROP INDEX validations_lookup;
CREATE INDEX validations_lookup ON validations(project_id, kind, identifier, status, created_at);
CREATE INDEX validations_project_time ON validations(project_id, created_at);
CREATE INDEX validations_time ON validations(created_at);
CREATE INDEX sync_events_received ON sync_events(received_at);
CREATE INDEX deliveries_created ON webhook_deliveries(created_at);
CREATE INDEX idempotency_created ON idempotency(created_at);
CREATE TABLE person_activity (
    project_id TEXT NOT NULL, user_id TEXT NOT NULL, last_sign_in_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id));
INSERT INTO person_activity(project_id, user_id, last_sign_in_at)
    SELECT project_id, user_id, MAX(at) FROM (
        SELECT project_id, matched_user AS user_id, validated_at AS at FROM validations
        WHERE status = 'validated' AND matched_user IS NOT NULL AND validated_at IS NOT NULL
        UNION ALL
        SELECT project_id, user_id, received_at AS at FROM sync_events
        WHERE kind = 'sign_in' AND user_id IS NOT NULL) AS signed_in
    GROUP BY project_id, user_id;
DROP INDEX validations_matched_user;
CREATE TABLE rate_buckets (
    key TEXT NOT NULL, expires_at INTEGER NOT NULL, hits INTEGER NOT NULL,
    PRIMARY KEY (key, expires_at));
CREATE INDEX rate_buckets_expiry ON rate_buckets(expires_at);
DROP TABLE rate_hits;
"#,
    ),
];

/// The tables that grow with traffic or with time (codes sent, sign-ins, events, deliveries,
/// logs), as opposed to configuration (projects, flows, kiosks, keys, operators). A hot
/// statement must reach their rows through an index: tests/it/plans.rs checks every
/// statement the hot paths run against this list.
pub const GROWING_TABLES: &[&str] = &[
    "validations",
    "audit_log",
    "assertion_jtis",
    "idempotency",
    "identifier_locks",
    "face_attempts",
    "rate_buckets",
    "outbox",
    "sync_events",
    "webhook_deliveries",
    "webhook_attempts",
    "templates",
    "erasures",
    "person_confirmations",
    "person_activity",
    "login_throttle",
    "operator_sessions",
    "kiosk_pairings",
];

/// Which engine a `--db` value names: `postgres://…` / `postgresql://…` is PostgreSQL,
/// `sqlite:PATH` or a bare path is an SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl DbTarget {
    pub fn parse(value: &Path) -> Self {
        let s = value.to_string_lossy();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Self::Postgres(s.into_owned())
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            Self::Sqlite(path.trim_start_matches("//").into())
        } else {
            Self::Sqlite(value.to_path_buf())
        }
    }
}

/// The `--db` value for messages and logs: a URL's password is never shown.
pub fn redact_db(value: &Path) -> String {
    let s = value.display().to_string();
    match DbTarget::parse(value) {
        DbTarget::Postgres(_) => match url::Url::parse(&s) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "postgres://(unparsable URL)".into(),
        },
        DbTarget::Sqlite(_) => s,
    }
}

impl Db {
    /// Opens the database `--db` names: an SQLite file ([`Db::open`]) or a PostgreSQL URL
    /// ([`Db::open_postgres`]).
    pub fn connect(target: &Path) -> Result<Self, StoreError> {
        match DbTarget::parse(target) {
            DbTarget::Sqlite(path) => Self::open(&path),
            DbTarget::Postgres(url) => Self::open_postgres(&url),
        }
    }

    /// Connects to PostgreSQL at `url` (libpq's URL form), runs the migrations under an
    /// advisory lock (replicas starting together migrate once) and starts the writer thread.
    pub fn open_postgres(url: &str) -> Result<Self, StoreError> {
        // On a thread of its own: the synchronous client starts a runtime, which must not
        // happen inside an async task (the server opens its store from one).
        let pg = std::thread::scope(|s| {
            s.spawn(|| {
                let pg = crate::pg::PgConn::connect(url)?;
                pg.migrate()?;
                Ok::<_, StoreError>(pg)
            })
            .join()
        })
        .map_err(|_| StoreError::Thread(std::io::Error::other("connecting panicked")))??;
        Ok(Self::start(Box::new(pg), "postgres"))
    }

    /// Opens (creating, mode 0600) the database at `path`. It holds the token signing key, the
    /// OTP key and webhook secrets, so a database, WAL or SHM that others can read refuses to
    /// open (`FILE_EXPOSED`) rather than serve with keys that may have leaked.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        private_file::prepare_database(path, private_file::Exposure::Refuse)?;
        let open = || {
            rusqlite::Connection::open(path).map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })
        };
        let conn = open()?;
        // WAL checkpoints from a second connection: an automatic checkpoint would run inside
        // some commit on the writer thread and stall everything queued behind it. PASSIVE
        // never blocks the writer.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(SqlError::from)?;
        let db = Self::init(conn)?;
        let cp = open()?;
        cp.busy_timeout(std::time::Duration::from_millis(100))
            .map_err(SqlError::from)?;
        let alive = Arc::downgrade(&db.alive);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while alive.upgrade().is_some() {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    if let Err(e) = cp.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(db)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(rusqlite::Connection::open_in_memory().map_err(SqlError::from)?)
    }

    fn init(mut conn: rusqlite::Connection) -> Result<Self, StoreError> {
        let setup = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // NORMAL in WAL mode is durable against process crashes; only an OS crash can lose
            // the last transactions.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.set_prepared_statement_cache_capacity(256);
            Ok(())
        };
        setup(&mut conn).map_err(SqlError::from)?;
        migrate(&mut conn)?;
        Ok(Self::start(Box::new(conn), "sqlite"))
    }

    fn start(conn: Box<dyn Engine + Send>, engine: &'static str) -> Self {
        let statements = Arc::new(StatementLog::default());
        let conn: Box<dyn Engine + Send> = Box::new(Recorded {
            inner: conn,
            log: statements.clone(),
        });
        let conn = Arc::new(Mutex::new(conn));
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let owner = conn.clone();
        // A thread that cannot start leaves every call answering "database thread is gone".
        let _ = std::thread::Builder::new()
            .name(format!("{engine}-writer"))
            .spawn(move || writer_loop(&owner, &rx));
        Self {
            conn,
            jobs,
            statements,
            alive: Arc::new(()),
            engine,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    /// Starts (`true`) or stops recording the text of every statement this store runs, and
    /// returns what was recorded so far, sorted and distinct. For the query-plan check
    /// (tests/it/plans.rs): the statements the hot paths really run, not a list kept by hand.
    pub fn record_statements(&self, on: bool) -> Vec<String> {
        self.statements
            .on
            .store(on, std::sync::atomic::Ordering::SeqCst);
        let seen = self
            .statements
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        seen.iter().cloned().collect()
    }

    /// Run `f` atomically on the database thread: it sees its own savepoint, rolled back if
    /// it returns Err, and the answer comes only once its batch committed.
    pub async fn call<R, F>(&self, f: F) -> ApiResult<R>
    where
        F: FnOnce(&Connection) -> ApiResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |c: &Connection| -> Reply {
            let result = run_in_savepoint(c, f);
            Box::new(move |committed: bool| {
                let _ = tx.send(if committed {
                    result
                } else {
                    Err(ApiError::internal())
                });
            })
        });
        let gone = || {
            tracing::error!("database thread is gone");
            ApiError::internal()
        };
        self.jobs.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// One atomic unit of work (every `call` is one; the name says what the caller relies on).
    pub async fn tx<R, F>(&self, f: F) -> ApiResult<R>
    where
        F: FnOnce(&Connection) -> ApiResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.call(f).await
    }

    /// Synchronous access for startup, CLI and blocking-thread code, outside the writer's
    /// transaction (a WAL checkpoint needs that). On PostgreSQL `f` runs on a scoped thread of
    /// its own: the synchronous client drives its own runtime, which must not start inside an
    /// async task of ours.
    pub fn blocking<R: Send>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send,
    ) -> Result<R, StoreError> {
        let run = || {
            let guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&**guard)
        };
        if self.engine == "postgres" {
            return std::thread::scope(|s| s.spawn(run).join()).unwrap_or_else(|_| {
                Err(StoreError::Thread(std::io::Error::other(
                    "a database call panicked",
                )))
            });
        }
        run()
    }

    /// [`Db::blocking`] in a transaction: all of `f` or nothing.
    pub fn transaction<R: Send>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send,
    ) -> Result<R, StoreError> {
        self.blocking(move |c| run_in_transaction(c, f))
    }

    /// One of the API's store functions in a transaction, on the calling thread: the CLI's
    /// offline commands (`token`, `kiosks`, `tokens`) run the handlers' own code this way.
    pub fn blocking_tx<R: Send>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<R> + Send,
    ) -> ApiResult<R> {
        match self.blocking(move |c| Ok(run_in_transaction(c, f))) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "database error");
                Err(ApiError::internal())
            }
        }
    }
}

/// `f` in its own savepoint: rolled back when it returns an error.
fn run_in_savepoint<R, E: From<SqlError>>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, E>,
) -> Result<R, E> {
    c.execute_batch("SAVEPOINT job")?;
    match f(c) {
        Ok(r) => {
            c.execute_batch("RELEASE SAVEPOINT job")?;
            Ok(r)
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
            Err(e)
        }
    }
}

/// `f` in a transaction of its own, taking its turn with the writers (`begin_write`): the
/// CLI's calls and startup work outside the writer thread.
fn run_in_transaction<R, E: From<SqlError>>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, E>,
) -> Result<R, E> {
    c.begin_write()?;
    match f(c) {
        Ok(r) => {
            c.execute_batch("COMMIT")?;
            Ok(r)
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The writer thread: takes every job waiting, runs each in its own savepoint inside one
/// transaction, commits once, then answers. Group commit: one WAL append per batch instead
/// of one per request. Ends when the last `Db` clone is dropped.
fn writer_loop(owner: &Mutex<Box<dyn Engine + Send>>, rx: &std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        // A poisoned lock only means a job panicked earlier; the connection is still sound.
        let (replies, committed) = {
            let guard = owner.lock().unwrap_or_else(|p| p.into_inner());
            writer_batch(&**guard, batch)
        };
        // Answered after the lock is released.
        for r in replies {
            r(committed);
        }
    }
}

/// One batch of the writer: its transaction and each job's savepoint; the answers and
/// whether the batch committed.
fn writer_batch(conn: &Connection, batch: Vec<Job>) -> (Vec<Reply>, bool) {
    {
        // If BEGIN fails each savepoint is its own transaction, which is still correct.
        let began = match conn.begin_write() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot begin a write transaction");
                false
            }
        };
        let mut replies = Vec::with_capacity(batch.len());
        for job in batch {
            match std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))) {
                Ok(reply) => replies.push(reply),
                Err(_) => {
                    tracing::error!("a database job panicked");
                    let _ = conn.execute_batch("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
                }
            }
        }
        let committed = if began {
            match conn.execute_batch("COMMIT") {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, "database commit failed");
                    let _ = conn.execute_batch("ROLLBACK");
                    false
                }
            }
        } else {
            true
        };
        (replies, committed)
    }
}

/// The statement texts a [`Db`] ran while recording was on.
#[derive(Default)]
struct StatementLog {
    on: std::sync::atomic::AtomicBool,
    seen: Mutex<std::collections::BTreeSet<String>>,
}

impl StatementLog {
    fn note(&self, sql: &str) {
        if !self.on.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.contains(sql) {
            seen.insert(sql.to_string());
        }
    }
}

/// The store's engine, noting each statement's text while recording is on (one atomic load
/// a statement otherwise).
struct Recorded {
    inner: Box<dyn Engine + Send>,
    log: Arc<StatementLog>,
}

impl Engine for Recorded {
    fn run(&self, sql: &str, params: &[&dyn crate::sql::ToSql]) -> crate::sql::Result<usize> {
        self.log.note(sql);
        self.inner.run(sql, params)
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[&dyn crate::sql::ToSql],
        each: &mut dyn FnMut(&crate::sql::Row<'_>) -> crate::sql::Result<()>,
    ) -> crate::sql::Result<()> {
        self.log.note(sql);
        self.inner.each_row(sql, params, each)
    }

    fn batch(&self, sql: &str) -> crate::sql::Result<()> {
        self.inner.batch(sql)
    }

    fn engine_name(&self) -> &'static str {
        self.inner.engine_name()
    }

    fn begin_write(&self) -> crate::sql::Result<()> {
        self.inner.begin_write()
    }
}

/// The migrations as refinery runs them: `V{n}__{name}`, in SQLite's or PostgreSQL's words.
/// A name or text must never change once released (refinery keeps a checksum of each).
pub fn migrations(postgres: bool) -> Result<Vec<refinery_core::Migration>, StoreError> {
    MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, (name, sql))| {
            let sql = if postgres {
                crate::pg::pg_dialect(sql)
            } else {
                (*sql).to_string()
            };
            refinery_core::Migration::unapplied(&format!("V{}__{name}", i + 1), &sql)
                .map_err(StoreError::Migration)
        })
        .collect()
}

/// The history table refinery keeps (its default name).
const HISTORY: &str = "refinery_schema_history";

/// Brings an SQLite database up to date. A database the earlier built-in runner migrated
/// (`PRAGMA user_version` = N, no history table) is recorded as having run the first N, so
/// refinery takes over where it stopped. `user_version` keeps counting too: an older binary
/// still refuses a database newer than itself.
fn migrate(conn: &mut rusqlite::Connection) -> Result<(), StoreError> {
    let list = migrations(false)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(SqlError::from)?;
    if version > list.len() as i64 {
        return Err(StoreError::TooNew(version));
    }
    let has_history: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [HISTORY],
            |r| r.get(0),
        )
        .map_err(SqlError::from)?;
    if !has_history && version > 0 {
        let mut baseline = || -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(&format!(
                "CREATE TABLE {HISTORY} (version INT4 PRIMARY KEY, name VARCHAR(255),
                   applied_on VARCHAR(255), checksum VARCHAR(255))"
            ))?;
            let now = crate::clock::rfc3339(crate::clock::system_ms());
            for m in list.iter().take(version as usize) {
                tx.execute(
                    &format!(
                        "INSERT INTO {HISTORY}(version, name, applied_on, checksum)
                         VALUES (?1, ?2, ?3, ?4)"
                    ),
                    rusqlite::params![m.version(), m.name(), now, m.checksum().to_string()],
                )?;
            }
            tx.commit()
        };
        baseline().map_err(|e| StoreError::Migrate(e.into()))?;
    }
    run_migrations(conn, &list)?;
    conn.pragma_update(None, "user_version", list.len() as i64)
        .map_err(|e| StoreError::Migrate(e.into()))?;
    Ok(())
}

/// Runs what `list` has beyond the database's history. A history that names a migration this
/// binary does not know (a newer server migrated it), or whose text differs, is refused.
pub(crate) fn run_migrations<C: refinery_core::Migrate>(
    conn: &mut C,
    list: &[refinery_core::Migration],
) -> Result<(), StoreError> {
    // refinery unwraps what it reads back from its history table: a damaged row is an
    // error at start-up here, not a panic.
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        refinery_core::Runner::new(list)
            .set_abort_divergent(true)
            .set_abort_missing(true)
            .run(conn)
    }))
    .map_err(|_| StoreError::HistoryDamaged)?
    .map(|_| ())
    .map_err(StoreError::Migration)
}

/// `execute` through the statement cache: hot paths skip SQL parsing (it showed in profiles).
pub fn exec<P: Params>(c: &Connection, sql: &str, p: P) -> crate::sql::Result<usize> {
    c.execute(sql, p)
}

/// `query_row` through the statement cache.
pub fn row<T, P, F>(c: &Connection, sql: &str, p: P, f: F) -> crate::sql::Result<T>
where
    P: Params,
    F: FnOnce(&crate::sql::Row<'_>) -> crate::sql::Result<T>,
{
    c.query_row(sql, p, f)
}

/// Next value of a named counter (template revisions), inside the caller's transaction.
pub fn next_counter(tx: &Connection, name: &str) -> crate::sql::Result<i64> {
    tx.execute(
        "INSERT INTO counters(name, value) VALUES (?1, 1)
         ON CONFLICT(name) DO UPDATE SET value = counters.value + 1",
        [name],
    )?;
    tx.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
        r.get(0)
    })
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
        let history: i64 = db
            .blocking(|c| {
                Ok(c.query_row(&format!("SELECT COUNT(*) FROM {HISTORY}"), [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(history, MIGRATIONS.len() as i64);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database the earlier built-in runner left at `user_version` 5 (no history table)
    /// is taken over: the first five are recorded, the rest run, the data stays.
    #[test]
    fn a_database_from_the_built_in_runner_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("access-db-old-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("old.db");
        let _ = std::fs::remove_file(&path);
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            for (_, sql) in &MIGRATIONS[..5] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 5).unwrap();
            c.execute(
                "INSERT INTO projects(id, name, description, created_at, updated_at)
                 VALUES ('prj_old', 'Old', '', 1, 1)",
                [],
            )
            .unwrap();
        }
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let db = Db::open(&path).unwrap();
        let (history, kept, source_col): (i64, i64, i64) = db
            .blocking(|c| {
                Ok((
                    c.query_row(&format!("SELECT COUNT(*) FROM {HISTORY}"), [], |r| r.get(0))?,
                    c.query_row(
                        "SELECT COUNT(*) FROM projects WHERE id = 'prj_old'",
                        [],
                        |r| r.get(0),
                    )?,
                    c.query_row(
                        "SELECT COUNT(*) FROM pragma_table_info('templates') WHERE name = 'source'",
                        [],
                        |r| r.get(0),
                    )?,
                ))
            })
            .unwrap();
        assert_eq!((history, kept, source_col), (MIGRATIONS.len() as i64, 1, 1));
        drop(db);
        // A history naming a migration this binary does not know (a newer server's) is refused.
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute(
                &format!("INSERT INTO {HISTORY} VALUES (99, 'from_the_future', '2030-01-01T00:00:00Z', '1')"),
                [],
            )
            .unwrap();
        }
        assert!(matches!(Db::open(&path), Err(StoreError::Migration(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Group commit keeps each call atomic: failed or panicking calls in a batch leave no
    /// trace, their neighbours commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_calls_stay_independent() {
        let db = Db::open_in_memory().unwrap();
        db.call(|c| Ok(c.execute_batch("CREATE TABLE t (n INTEGER)")?))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for n in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.tx(move |c| {
                    exec(c, "INSERT INTO t(n) VALUES (?1)", [n])?;
                    exec(c, "INSERT INTO t(n) VALUES (?1)", [n + 1000])?;
                    match n % 3 {
                        0 => Ok(n),
                        1 => Err(ApiError::bad_request("nope")),
                        _ if n == 5 => panic!("job panics"),
                        _ => Ok(n),
                    }
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if let Ok(Ok(_)) = t.await {
                ok += 1;
            }
        }
        let rows: Vec<i64> = db
            .call(|c| {
                let mut s = c.prepare("SELECT n FROM t WHERE n < 1000 ORDER BY n")?;
                Ok(s.query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), ok);
        assert!(rows.iter().all(|n| n % 3 != 1 && *n != 5));
        let pairs: i64 = db
            .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM t WHERE n >= 1000", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(pairs as usize, ok, "both inserts of a call or neither");
    }

    #[test]
    fn db_values_name_their_engine_and_hide_passwords() {
        let p = |s: &str| DbTarget::parse(Path::new(s));
        assert_eq!(p("access.db"), DbTarget::Sqlite("access.db".into()));
        assert_eq!(p("sqlite:/var/a.db"), DbTarget::Sqlite("/var/a.db".into()));
        assert_eq!(
            p("postgresql://u@h/d"),
            DbTarget::Postgres("postgresql://u@h/d".into())
        );
        let shown = redact_db(Path::new(
            "postgres://access:hunter2@db.internal:5432/access",
        ));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }
}
