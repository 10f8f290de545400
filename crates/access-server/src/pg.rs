//! The PostgreSQL engine (`--db postgres://…`): what lets several server replicas share one
//! store. Each replica's writer thread owns one connection (as on SQLite); a write transaction
//! takes a transaction-scoped advisory lock, so the read-check-write rules (rate limits,
//! lockouts, one-use codes, idempotency keys) see every replica's writes exactly as they see
//! their own process's on SQLite. Group commit amortises the lock over a batch of requests.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};
use rusqlite::types::{Value, ValueRef};

use crate::db::StoreError;
use crate::sql::{Columns, Engine, Result, Row, SqlError, owned_value};

/// The advisory lock every write transaction holds (any fixed key; "AKSW" in ASCII).
const WRITE_LOCK: i64 = 0x414B_5357;
/// The session lock migrations hold: replicas starting together migrate once.
const MIGRATE_LOCK: i64 = 0x414B_534D;

pub struct PgConn {
    url: String,
    client: RefCell<postgres::Client>,
    /// Prepared statements by their SQLite text (prepare is a round trip; the store's
    /// statements are a fixed set).
    cache: RefCell<HashMap<String, postgres::Statement>>,
}

impl PgConn {
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let client = open(url)?;
        Ok(Self {
            url: url.to_string(),
            client: RefCell::new(client),
            cache: RefCell::default(),
        })
    }

    /// Runs the migrations ([`crate::db::migrations`]) under a session advisory lock:
    /// replicas starting together migrate once, the others find it done.
    pub fn migrate(&self) -> Result<(), StoreError> {
        let list = crate::db::migrations(true)?;
        let mut c = self.client.borrow_mut();
        let m = |e: postgres::Error| StoreError::Migrate(e.into());
        c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
            .map_err(m)?;
        let result = crate::db::run_migrations(&mut *c, &list);
        let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]);
        result
    }

    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.borrow_mut().prepare(&placeholders(sql))?;
        self.cache.borrow_mut().insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// A connection the server closed (a restart, a failover) is replaced before the next
    /// transaction; its prepared statements went with it.
    fn reconnect_if_closed(&self) -> Result<()> {
        if self.client.borrow().is_closed() {
            tracing::warn!("PostgreSQL connection lost; reconnecting");
            let fresh = open(&self.url).map_err(|e| match e {
                StoreError::Sql(e) => e,
                other => SqlError::Param {
                    index: 0,
                    source: rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
                },
            })?;
            *self.client.borrow_mut() = fresh;
            self.cache.borrow_mut().clear();
        }
        Ok(())
    }
}

fn open(url: &str) -> Result<postgres::Client, StoreError> {
    let sql = |e: postgres::Error| StoreError::Sql(e.into());
    let mut config: postgres::Config = url.parse().map_err(sql)?;
    // The password from the environment (libpq's PGPASSWORD, e.g. the unit's EnvironmentFile)
    // when the URL has none: a URL ends up in configs and error messages, an env var less so.
    if config.get_password().is_none()
        && let Ok(p) = std::env::var("PGPASSWORD")
    {
        config.password(p);
    }
    // Plain TCP: the database sits on loopback or the cluster's private network; a site that
    // crosses an untrusted network puts TLS in front (pgbouncer/stunnel) until this speaks it.
    config.connect(postgres::NoTls).map_err(sql)
}

fn bind(params: &[&dyn crate::sql::ToSql]) -> Result<Vec<PgValue>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| owned_value(i, *p).map(PgValue))
        .collect()
}

impl Engine for PgConn {
    fn run(&self, sql: &str, params: &[&dyn crate::sql::ToSql]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let values = bind(params)?;
        let refs: Vec<&(dyn PgToSql + Sync)> = values.iter().map(|v| v as _).collect();
        Ok(self.client.borrow_mut().execute(&stmt, &refs)? as usize)
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[&dyn crate::sql::ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let stmt = self.statement(sql)?;
        let values = bind(params)?;
        let refs: Vec<&(dyn PgToSql + Sync)> = values.iter().map(|v| v as _).collect();
        // Read in full first: a row handler may run another statement on this connection.
        let rows = self.client.borrow_mut().query(&stmt, &refs)?;
        for r in &rows {
            each(&Row::new(&PgRow(r)))?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    fn engine_name(&self) -> &'static str {
        "postgres"
    }

    fn begin_write(&self) -> Result<()> {
        self.reconnect_if_closed()?;
        let mut c = self.client.borrow_mut();
        c.batch_execute("BEGIN")?;
        c.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        Ok(())
    }
}

struct PgRow<'a>(&'a postgres::Row);

impl Columns for PgRow<'_> {
    fn value(&self, index: usize) -> Result<ValueRef<'_>> {
        let r = self.0;
        let ty = r
            .columns()
            .get(index)
            .map(|c| c.type_().clone())
            .ok_or(SqlError::Column {
                index,
                source: rusqlite::types::FromSqlError::OutOfRange(index as i64),
            })?;
        let int = |v: Option<i64>| v.map_or(ValueRef::Null, ValueRef::Integer);
        Ok(match ty {
            Type::INT8 => int(r.try_get(index)?),
            Type::INT4 => int(r.try_get::<_, Option<i32>>(index)?.map(i64::from)),
            Type::INT2 => int(r.try_get::<_, Option<i16>>(index)?.map(i64::from)),
            Type::BOOL => int(r.try_get::<_, Option<bool>>(index)?.map(i64::from)),
            Type::FLOAT8 => r
                .try_get::<_, Option<f64>>(index)?
                .map_or(ValueRef::Null, ValueRef::Real),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(index)?
                .map_or(ValueRef::Null, |f| ValueRef::Real(f64::from(f))),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => r
                .try_get::<_, Option<&str>>(index)?
                .map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes())),
            Type::BYTEA => r
                .try_get::<_, Option<&[u8]>>(index)?
                .map_or(ValueRef::Null, ValueRef::Blob),
            other => {
                return Err(SqlError::UnsupportedType {
                    index,
                    ty: other.to_string(),
                });
            }
        })
    }
}

/// A parameter in SQLite's value model, written as whatever type PostgreSQL inferred for its
/// placeholder (an integer flag into a BIGINT, a count into a DOUBLE PRECISION...).
#[derive(Debug)]
struct PgValue(Value);

impl PgToSql for PgValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (&self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Integer(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Value::Integer(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Integer(i), &Type::TEXT | &Type::VARCHAR) => i.to_string().to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Value::Text(s), _) if <&str as PgToSql>::accepts(ty) => s.as_str().to_sql(ty, out),
            (Value::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (v, ty) => Err(format!("cannot bind {v:?} as PostgreSQL {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `?N` placeholders (SQLite) as `$N` (PostgreSQL); a bare `?` takes the next number. Quoted
/// text is left alone.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut next = 1;
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '?' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    digits = next.to_string();
                    next += 1;
                }
                out.push('$');
                out.push_str(&digits);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// A migration written for SQLite in PostgreSQL's column types: 64-bit integers (SQLite's
/// INTEGER is 64-bit), bytea for blobs, double precision for reals, and an identity column
/// where SQLite's `INTEGER PRIMARY KEY` is the rowid.
pub fn pg_dialect(sql: &str) -> String {
    let sql = sql.replace(
        "INTEGER PRIMARY KEY",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    );
    let mut out = String::with_capacity(sql.len() + 64);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "INTEGER" => "BIGINT",
            "BLOB" => "BYTEA",
            "REAL" => "DOUBLE PRECISION",
            w => w,
        });
        word.clear();
    };
    for ch in sql.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12 OR e = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12 OR e = $1"
        );
    }

    #[test]
    fn migrations_get_postgres_types() {
        assert_eq!(
            pg_dialect(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, b BLOB, r REAL, rev_integer TEXT)"
            ),
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, b BYTEA, r DOUBLE PRECISION, rev_integer TEXT)"
        );
    }
}
