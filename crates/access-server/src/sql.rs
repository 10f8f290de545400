//! The storage engine boundary: every store function takes `&Connection` (a `dyn Engine`) and
//! runs its one SQL text on whichever engine the server was started on, SQLite (the embedded
//! default, one box) or PostgreSQL (several replicas).
//!
//! Why one SQL text per statement and not one hand-written implementation per engine: the
//! statements are plain SQL that both engines speak (`?N` placeholders are rewritten to `$N`
//! for PostgreSQL, the only syntax difference left), so two copies of every query would only be
//! two places for the rules to drift apart. What differs per engine (connections, transactions,
//! locking, column types) lives in the engine's implementation.
//!
//! Values cross the boundary as SQLite's value model (`rusqlite::types::Value`: NULL, 64-bit
//! integer, double, text, blob), which is what the schema stores on both engines (BIGINT,
//! DOUBLE PRECISION, TEXT, BYTEA on PostgreSQL).

use rusqlite::types::{FromSql, FromSqlError, ToSqlOutput, Value, ValueRef};

pub use rusqlite::ToSql;

/// A store function's connection: one transaction on one engine.
pub type Connection = dyn Engine;

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// A column's value is not of the Rust type asked for.
    #[error("column {index}: {source}")]
    Column {
        index: usize,
        #[source]
        source: FromSqlError,
    },
    /// A parameter could not be turned into a value (`ToSql` failed).
    #[error("parameter {index}: {source}")]
    Param {
        index: usize,
        #[source]
        source: rusqlite::Error,
    },
    /// `query_row` found no row (`.optional()` turns this into `None`).
    #[error("query returned no rows")]
    NoRows,
    /// A PostgreSQL column type this layer does not map (the schema uses none).
    #[error("column {index}: unsupported PostgreSQL type {ty}")]
    UnsupportedType { index: usize, ty: String },
}

impl SqlError {
    /// PostgreSQL's SQLSTATE (serialization failure, unique violation...), when it is one.
    pub fn pg_code(&self) -> Option<&postgres::error::SqlState> {
        match self {
            Self::Postgres(e) => e.code(),
            _ => None,
        }
    }
}

/// One engine's way to run a statement. Implemented once per engine: SQLite ([`rusqlite`])
/// and PostgreSQL ([`crate::pg::PgConn`]).
pub trait Engine {
    /// Runs a statement; the number of rows it changed.
    fn run(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize>;
    /// Runs a query, handing each row to `each` in order; stops at its first error.
    fn each_row(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()>;
    /// Runs several statements without parameters (DDL, savepoints).
    fn batch(&self, sql: &str) -> Result<()>;
    /// `"sqlite"` or `"postgres"`: for the few places that must say which (metrics, readyz).
    fn engine_name(&self) -> &'static str;
    /// Starts the writer's transaction, holding what makes writers take turns: SQLite's write
    /// lock; on PostgreSQL a transaction-scoped advisory lock, so the read-check-write rules
    /// (rate limits, lockouts, one-use codes) hold across replicas as they do in one process.
    fn begin_write(&self) -> Result<()>;
}

/// A row's columns, by index.
pub trait Columns {
    fn value(&self, index: usize) -> Result<ValueRef<'_>>;
}

/// A result row: `get(i)` reads column `i` as any `FromSql` type (`Option<T>` for NULLs).
pub struct Row<'a>(&'a dyn Columns);

impl<'a> Row<'a> {
    pub fn new(columns: &'a dyn Columns) -> Self {
        Self(columns)
    }

    pub fn get<I: ColumnIndex, T: FromSql>(&self, index: I) -> Result<T> {
        let index = index.index();
        T::column_result(self.0.value(index)?).map_err(|source| SqlError::Column { index, source })
    }
}

/// Column positions (by number only: the store's queries name no columns when reading).
pub trait ColumnIndex {
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// Statement parameters, in the shapes the store passes them: `rusqlite::params![..]`,
/// `[a, b]` arrays of one type, `[]` and `()`.
pub trait Params {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R;
}

impl Params for &[&dyn ToSql] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(self)
    }
}

impl Params for () {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(&[])
    }
}

impl Params for [&(dyn ToSql + Send + Sync); 0] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(&[])
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
                let refs: [&dyn ToSql; $n] = std::array::from_fn(|i| &self[i] as &dyn ToSql);
                f(&refs)
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12);

/// The store's calls, as rusqlite spells them, on any engine.
impl dyn Engine {
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        params.with(|p| self.run(sql, p))
    }

    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.batch(sql)
    }

    /// The first row mapped by `f`; [`SqlError::NoRows`] when there is none.
    pub fn query_row<T, P: Params, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut f = Some(f);
        let mut out = None;
        params.with(|p| {
            self.each_row(sql, p, &mut |r| {
                if let Some(f) = f.take() {
                    out = Some(f(r)?);
                }
                Ok(())
            })
        })?;
        out.ok_or(SqlError::NoRows)
    }

    /// Every row mapped by `f`.
    pub fn query_all<T, P: Params, F>(&self, sql: &str, params: P, mut f: F) -> Result<Vec<T>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let mut out = Vec::new();
        params.with(|p| {
            self.each_row(sql, p, &mut |r| {
                out.push(f(r)?);
                Ok(())
            })
        })?;
        Ok(out)
    }

    /// A statement to run several times (the engines cache prepared statements themselves).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_string(),
        })
    }

    /// Same as [`Self::prepare`]: every statement goes through the engine's cache.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare(sql)
    }
}

/// A statement bound to its connection (rusqlite's `Statement` calls).
pub struct Statement<'s> {
    conn: &'s Connection,
    sql: String,
}

impl Statement<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    pub fn query_row<T, P: Params, F>(&mut self, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.query_row(&self.sql, params, f)
    }

    /// Every row mapped by `f`, read in full before the iterator is returned.
    pub fn query_map<T, P: Params, F>(
        &mut self,
        params: P,
        f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(self
            .conn
            .query_all(&self.sql, params, f)?
            .into_iter()
            .map(Ok)
            .collect::<Vec<_>>()
            .into_iter())
    }
}

/// `query_row(..).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(SqlError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A parameter as an owned value (what PostgreSQL's binder needs).
pub(crate) fn owned_value(index: usize, p: &dyn ToSql) -> Result<Value> {
    let out = p
        .to_sql()
        .map_err(|source| SqlError::Param { index, source })?;
    Ok(match out {
        ToSqlOutput::Borrowed(v) => v.into(),
        ToSqlOutput::Owned(v) => v,
        // The store binds no zero-blobs or arrays (features off); keep it an error, not a guess.
        _ => {
            return Err(SqlError::Param {
                index,
                source: rusqlite::Error::ToSqlConversionFailure("unsupported parameter".into()),
            });
        }
    })
}

// ---- SQLite ---------------------------------------------------------------------------------

struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl Columns for SqliteRow<'_, '_> {
    fn value(&self, index: usize) -> Result<ValueRef<'_>> {
        Ok(self.0.get_ref(index)?)
    }
}

/// SQLite: every statement through the connection's prepared-statement cache (hot paths skip
/// SQL parsing; it showed in profiles).
impl Engine for rusqlite::Connection {
    fn run(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        Ok(self.prepare_cached(sql)?.execute(params)?)
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut s = self.prepare_cached(sql)?;
        let mut rows = s.query(params)?;
        while let Some(r) = rows.next()? {
            each(&Row::new(&SqliteRow(r)))?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.execute_batch(sql)?)
    }

    fn engine_name(&self) -> &'static str {
        "sqlite"
    }

    fn begin_write(&self) -> Result<()> {
        Ok(self.execute_batch("BEGIN IMMEDIATE")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rusqlite_spelling_runs_through_the_engine() {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        let c: &Connection = &raw;
        c.execute_batch("CREATE TABLE t (n INTEGER, s TEXT, b BLOB, r REAL)")
            .unwrap();
        c.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![1i64, "one", vec![1u8, 2], 0.5f64],
        )
        .unwrap();
        c.execute("INSERT INTO t(n) VALUES (?1)", [2i64]).unwrap();
        let (s, b, r): (String, Vec<u8>, f64) = c
            .query_row("SELECT s, b, r FROM t WHERE n = ?1", [1i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((s.as_str(), b, r), ("one", vec![1, 2], 0.5));
        let none: Option<String> = c
            .query_row("SELECT s FROM t WHERE n = 2", [], |r| r.get(0))
            .unwrap();
        assert_eq!(none, None);
        assert!(matches!(
            c.query_row("SELECT n FROM t WHERE n = 9", (), |r| r.get::<_, i64>(0))
                .optional(),
            Ok(None)
        ));
        let all: Vec<i64> = c
            .prepare("SELECT n FROM t ORDER BY n")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(all, vec![1, 2]);
        // A wrong type is an error naming the column, not a panic.
        let e = c
            .query_row("SELECT s FROM t WHERE n = 1", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(matches!(e, SqlError::Column { index: 0, .. }), "{e}");
    }
}
