//! The kiosk's local store (SQLite, WAL): enrolled users and their face templates (encrypted),
//! the outbox of calls and events waiting for the network (payloads encrypted), the audit log,
//! settings, sync cursors and face-attempt lockouts. Every multi-step change is one transaction,
//! so a crash at any point leaves either the old or the new state.

mod crypto;
mod error;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

pub use crypto::{KEY_LEN, StoreKey};
pub use error::{Result, StoreError};

use crypto::Sealer;

/// Migrations in order; `PRAGMA user_version` is how many have run.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE users (
    user_id     TEXT PRIMARY KEY,
    name        TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE templates (
    id           INTEGER PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    model_id     TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    server_id    TEXT UNIQUE,
    created_at   TEXT NOT NULL
);
CREATE INDEX templates_user ON templates(user_id);
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id    TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TEXT
);
CREATE INDEX outbox_pending ON outbox(sent_at, seq);
CREATE TABLE audit (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT,
    user_id      TEXT,
    method       TEXT NOT NULL,
    decision     TEXT NOT NULL,
    score        REAL,
    liveness     REAL,
    mode         TEXT NOT NULL,
    detail       TEXT
);
CREATE TABLE settings (
    key          TEXT PRIMARY KEY,
    value        TEXT NOT NULL
);
CREATE TABLE lockouts (
    subject      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);
"#];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A decrypted template, ready for the matcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: i64,
    pub user_id: String,
    pub model_id: String,
    pub embedding: Vec<f32>,
    pub server_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserSummary {
    pub user_id: String,
    pub name: Option<String>,
    pub templates: u32,
    pub created_at: String,
}

/// A template change from the server's delta feed.
#[derive(Debug, Clone)]
pub enum ServerChange {
    Upsert {
        server_id: String,
        user_id: String,
        model_id: String,
        embedding: Vec<f32>,
    },
    Delete {
        server_id: String,
    },
}

/// A call or event waiting for the network. `client_id` is the idempotency key the server
/// sees, made once when the item is queued, so a retry after a crash is never a duplicate.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub seq: i64,
    pub client_id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: String,
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    /// Who acted: the admin for enrolment, the kiosk for sign-ins.
    pub actor: Option<String>,
    pub user_id: Option<String>,
    pub method: AuditMethod,
    pub decision: AuditDecision,
    pub score: Option<f32>,
    pub liveness: Option<f32>,
    pub mode: AuditMode,
    pub detail: Option<String>,
}

/// The audit table's text columns, spelled once: serde and the stored text agree (snake_case).
macro_rules! audit_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize,
            strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

audit_enum!(
    /// What was used, or acted on.
    AuditMethod { Face, Email, Sms, Whatsapp, AdminPin, Enrolment, Admin }
);
audit_enum!(
    /// What came of it.
    AuditDecision {
        Accepted,
        Rejected,
        LockedOut,
        Refused,
        Changed,
        CodeSent,
        Enrolled,
        RefusedDuplicate,
        UploadRefused,
        SettingsChanged,
        UserDeleted,
        NoSuchUser,
        // Paired: with the Access API (the kiosk id in the detail). EventRefused: a queued
        // offline event the server refused for good (its reason in the detail).
        Paired,
        EventRefused,
    }
);
audit_enum!(
    /// Decided with the Access API, or from this kiosk alone.
    AuditMode { Online, Offline }
);

/// Failed attempts against one subject (a user, or the kiosk itself for 1:N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub failures: u32,
    /// Unix seconds; 0 when not locked.
    pub locked_until: i64,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub struct Store {
    conn: Connection,
    sealer: Sealer,
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    /// Opens (creating, mode 0600) the database at `path`. The kiosk owns its data directory,
    /// so a database or WAL that others can read is set back to 0600.
    pub fn open(path: &Path, key: &StoreKey) -> Result<Self> {
        private_file::prepare_database(path, private_file::Exposure::Tighten)?;
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::init(conn, key)
    }

    fn init(mut conn: Connection, key: &StoreKey) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(Self {
            conn,
            sealer: Sealer::new(key),
        })
    }

    // ---- users and templates ------------------------------------------------------------

    fn ensure_user(tx: &Transaction, user_id: &str, name: Option<&str>) -> Result<()> {
        let now = now_rfc3339();
        tx.execute(
            "INSERT INTO users(user_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(user_id) DO UPDATE SET name = COALESCE(?2, name), updated_at = ?3",
            params![user_id, name, now],
        )?;
        Ok(())
    }

    fn seal_template(&self, user_id: &str, model_id: &str, embedding: &[f32]) -> Vec<u8> {
        let bytes = vision::Embedding::values_to_le_bytes(embedding);
        self.sealer
            .seal(&bytes, format!("template|{user_id}|{model_id}").as_bytes())
    }

    /// Stores a user's samples made at this kiosk, all or none.
    pub fn enroll(
        &mut self,
        user_id: &str,
        name: Option<&str>,
        model_id: &str,
        embeddings: &[Vec<f32>],
    ) -> Result<Vec<i64>> {
        let sealed: Vec<Vec<u8>> = embeddings
            .iter()
            .map(|e| self.seal_template(user_id, model_id, e))
            .collect();
        let tx = self.conn.transaction()?;
        Self::ensure_user(&tx, user_id, name)?;
        let now = now_rfc3339();
        let mut ids = Vec::new();
        for s in sealed {
            tx.execute(
                "INSERT INTO templates(user_id, model_id, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user_id, model_id, s, now],
            )?;
            ids.push(tx.last_insert_rowid());
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Applies one page of the server's delta feed and records the cursor, in one transaction.
    pub fn apply_server_changes(
        &mut self,
        changes: &[ServerChange],
        cursor_key: &str,
        cursor: &str,
    ) -> Result<()> {
        let prepared: Vec<(&ServerChange, Option<Vec<u8>>)> = changes
            .iter()
            .map(|c| match c {
                ServerChange::Upsert {
                    user_id,
                    model_id,
                    embedding,
                    ..
                } => (c, Some(self.seal_template(user_id, model_id, embedding))),
                ServerChange::Delete { .. } => (c, None),
            })
            .collect();
        let tx = self.conn.transaction()?;
        let now = now_rfc3339();
        for (change, sealed) in prepared {
            match change {
                ServerChange::Upsert {
                    server_id,
                    user_id,
                    model_id,
                    ..
                } => {
                    Self::ensure_user(&tx, user_id, None)?;
                    tx.execute(
                        "INSERT INTO templates(user_id, model_id, sealed, server_id, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(server_id) DO UPDATE SET user_id = ?1, model_id = ?2, sealed = ?3",
                        params![user_id, model_id, sealed, server_id, now],
                    )?;
                }
                ServerChange::Delete { server_id } => {
                    tx.execute(
                        "DELETE FROM templates WHERE server_id = ?1",
                        params![server_id],
                    )?;
                }
            }
        }
        // Users whose last template went away are gone from the cache too.
        tx.execute(
            "DELETE FROM users WHERE user_id NOT IN (SELECT DISTINCT user_id FROM templates)",
            [],
        )?;
        Self::set_setting_tx(&tx, cursor_key, cursor)?;
        tx.commit()?;
        Ok(())
    }

    /// Links a locally made template to the id the server gave it (after a queued enrolment
    /// reached the server), so the delta feed does not add it a second time.
    pub fn link_server_id(&mut self, template_id: i64, server_id: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        // The feed may have delivered it first: keep one row.
        tx.execute(
            "DELETE FROM templates WHERE server_id = ?1 AND id != ?2",
            params![server_id, template_id],
        )?;
        tx.execute(
            "UPDATE templates SET server_id = ?1 WHERE id = ?2",
            params![server_id, template_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every template, decrypted. A record that fails to decrypt is an error, not skipped:
    /// it means a wrong key or tampering.
    pub fn templates(&self) -> Result<Vec<Template>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, user_id, model_id, sealed, server_id FROM templates ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, user_id, model_id, sealed, server_id) = row?;
            let plain = self.sealer.open(
                &sealed,
                format!("template|{user_id}|{model_id}").as_bytes(),
                &format!("template {id}"),
            )?;
            let embedding = vision::Embedding::from_le_bytes(&plain)
                .map_err(|_| StoreError::Corrupt(format!("template {id} length")))?
                .into_vec();
            out.push(Template {
                id,
                user_id,
                model_id,
                embedding,
                server_id,
            });
        }
        Ok(out)
    }

    pub fn users(&self) -> Result<Vec<UserSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT u.user_id, u.name, COUNT(t.id), u.created_at FROM users u
             LEFT JOIN templates t ON t.user_id = u.user_id GROUP BY u.user_id ORDER BY u.user_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(UserSummary {
                user_id: r.get(0)?,
                name: r.get(1)?,
                templates: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn user_name(&self, user_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name FROM users WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Drops one local template (a sample the server refused for good); false when absent.
    pub fn delete_template(&mut self, id: i64) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM templates WHERE id = ?1", [id])?
            > 0)
    }

    /// Deletes the user and their templates; false when there was no such user.
    pub fn delete_user(&mut self, user_id: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM templates WHERE user_id = ?1", [user_id])?;
        let n = tx.execute("DELETE FROM users WHERE user_id = ?1", [user_id])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Erases a person from this kiosk in one transaction: their templates and user row, the
    /// unsent outbox items `discard` names (their queued uploads), and, when given, queues
    /// `(kind, payload)` (the erasure for the server). A crash leaves all of it or none.
    /// False when the person had no user row here.
    pub fn erase_user(
        &mut self,
        user_id: &str,
        discard: &[String],
        queue: Option<(&str, &serde_json::Value)>,
    ) -> Result<bool> {
        let queued = match queue {
            Some((kind, payload)) => {
                let client_id = uuid::Uuid::new_v4().to_string();
                let json =
                    serde_json::to_vec(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let sealed = self
                    .sealer
                    .seal(&json, format!("outbox|{client_id}").as_bytes());
                Some((client_id, kind, sealed))
            }
            None => None,
        };
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM templates WHERE user_id = ?1", [user_id])?;
        let n = tx.execute("DELETE FROM users WHERE user_id = ?1", [user_id])?;
        for id in discard {
            tx.execute(
                "DELETE FROM outbox WHERE client_id = ?1 AND sent_at IS NULL",
                [id],
            )?;
        }
        if let Some((client_id, kind, sealed)) = queued {
            tx.execute(
                "INSERT INTO outbox(client_id, kind, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![client_id, kind, sealed, now_rfc3339()],
            )?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    pub fn template_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM templates", [], |r| r.get(0))?)
    }

    // ---- outbox ------------------------------------------------------------------------

    /// Queues a call or event. Its client id is made here, once.
    pub fn enqueue(&mut self, kind: &str, payload: &serde_json::Value) -> Result<OutboxItem> {
        let client_id = uuid::Uuid::new_v4().to_string();
        self.enqueue_with_id(&client_id, kind, payload)
    }

    /// Queues under a given client id (idempotent: the same id twice is one item).
    pub fn enqueue_with_id(
        &mut self,
        client_id: &str,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<OutboxItem> {
        let json = serde_json::to_vec(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self
            .sealer
            .seal(&json, format!("outbox|{client_id}").as_bytes());
        let now = now_rfc3339();
        self.conn.execute(
            "INSERT INTO outbox(client_id, kind, sealed, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(client_id) DO NOTHING",
            params![client_id, kind, sealed, now],
        )?;
        let seq = self.conn.query_row(
            "SELECT seq FROM outbox WHERE client_id = ?1",
            [client_id],
            |r| r.get(0),
        )?;
        Ok(OutboxItem {
            seq,
            client_id: client_id.to_string(),
            kind: kind.to_string(),
            payload: payload.clone(),
            created_at: now,
            attempts: 0,
        })
    }

    /// Unsent items in the order they were queued.
    pub fn pending(&self, limit: usize) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, client_id, kind, sealed, created_at, attempts FROM outbox
             WHERE sent_at IS NULL ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, client_id, kind, sealed, created_at, attempts) = row?;
            let plain = self.sealer.open(
                &sealed,
                format!("outbox|{client_id}").as_bytes(),
                &format!("outbox item {seq}"),
            )?;
            let payload =
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push(OutboxItem {
                seq,
                client_id,
                kind,
                payload,
                created_at,
                attempts,
            });
        }
        Ok(out)
    }

    pub fn pending_count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Marks items delivered (the server acknowledged them, as new or as already known).
    pub fn mark_sent(&mut self, client_ids: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        let now = now_rfc3339();
        for id in client_ids {
            tx.execute(
                "UPDATE outbox SET sent_at = ?1, sealed = X'' WHERE client_id = ?2 AND sent_at IS NULL",
                params![now, id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn mark_attempt_failed(&mut self, client_id: &str, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?1 WHERE client_id = ?2",
            params![error, client_id],
        )?;
        Ok(())
    }

    // ---- audit -------------------------------------------------------------------------

    pub fn audit(&mut self, e: &AuditEntry) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit(at, actor, user_id, method, decision, score, liveness, mode, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                e.at, e.actor, e.user_id, e.method, e.decision, e.score, e.liveness, e.mode,
                e.detail
            ],
        )?;
        Ok(())
    }

    /// Newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, actor, user_id, method, decision, score, liveness, mode, detail
             FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                actor: r.get(1)?,
                user_id: r.get(2)?,
                method: r.get(3)?,
                decision: r.get(4)?,
                score: r.get(5)?,
                liveness: r.get(6)?,
                mode: r.get(7)?,
                detail: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- settings ----------------------------------------------------------------------

    fn set_setting_tx(tx: &Transaction, key: &str, value: &str) -> Result<()> {
        tx.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::set_setting_tx(&tx, key, value)?;
        tx.commit()?;
        Ok(())
    }

    // ---- lockouts ----------------------------------------------------------------------

    pub fn lockout(&self, subject: &str) -> Result<Lockout> {
        Ok(self
            .conn
            .query_row(
                "SELECT failures, locked_until FROM lockouts WHERE subject = ?1",
                [subject],
                |r| {
                    Ok(Lockout {
                        failures: r.get(0)?,
                        locked_until: r.get(1)?,
                    })
                },
            )
            .optional()?
            .unwrap_or(Lockout {
                failures: 0,
                locked_until: 0,
            }))
    }

    /// Counts a failure; `lock_for(failures)` says how long to lock (0 for not yet).
    pub fn record_failure(
        &mut self,
        subject: &str,
        now_unix: i64,
        lock_for: impl Fn(u32) -> i64,
    ) -> Result<Lockout> {
        let tx = self.conn.transaction()?;
        let failures: u32 = tx
            .query_row(
                "SELECT failures FROM lockouts WHERE subject = ?1",
                [subject],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0)
            + 1;
        let secs = lock_for(failures);
        let locked_until = if secs > 0 { now_unix + secs } else { 0 };
        tx.execute(
            "INSERT INTO lockouts(subject, failures, locked_until) VALUES (?1, ?2, ?3)
             ON CONFLICT(subject) DO UPDATE SET failures = ?2, locked_until = ?3",
            params![subject, failures, locked_until],
        )?;
        tx.commit()?;
        Ok(Lockout {
            failures,
            locked_until,
        })
    }

    pub fn clear_failures(&mut self, subject: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM lockouts WHERE subject = ?1", [subject])?;
        Ok(())
    }
}
