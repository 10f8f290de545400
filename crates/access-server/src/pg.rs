//! The PostgreSQL engine (`--db postgres://…`): what lets several server replicas share one
//! store. Each replica's writer thread owns one connection (as on SQLite); a write transaction
//! takes a transaction-scoped advisory lock, so the read-check-write rules (rate limits,
//! lockouts, one-use codes, idempotency keys) see every replica's writes exactly as they see
//! their own process's on SQLite. Group commit amortises the lock over a batch of requests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};
use rusqlite::types::{Value, ValueRef};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};

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
    let target = PgTarget::parse(url)?;
    let mut config = target.config;
    // The password from the environment (libpq's PGPASSWORD, e.g. the unit's EnvironmentFile)
    // when the URL has none: a URL ends up in configs and error messages, an env var less so.
    if config.get_password().is_none()
        && let Ok(p) = std::env::var("PGPASSWORD")
    {
        config.password(p);
    }
    let local = is_local(&config);
    if !local && target.mode != SslMode::VerifyFull {
        tracing::warn!(
            sslmode = target.mode.as_str(),
            "PostgreSQL is off this machine and its connection is {}: use sslmode=verify-full",
            match target.mode {
                SslMode::Disable => "in clear (anyone on the network reads and changes it)",
                SslMode::Prefer =>
                    "in clear whenever the server or a man in the middle declines TLS",
                _ => "encrypted but the server is not authenticated (a man in the middle reads it)",
            }
        );
    }
    let tls_error = |e: postgres::Error| {
        if target.defaulted && !local {
            StoreError::PgTls(format!(
                "{e} (the URL sets no sslmode, so the server's certificate is checked (verify-full): give its CA as sslrootcert, or set sslmode)"
            ))
        } else {
            sql(e)
        }
    };
    match target.mode {
        SslMode::Disable => {
            config.ssl_mode(postgres::config::SslMode::Disable);
            config.connect(postgres::NoTls).map_err(sql)
        }
        mode => {
            config.ssl_mode(if mode == SslMode::Prefer {
                postgres::config::SslMode::Prefer
            } else {
                postgres::config::SslMode::Require
            });
            let tls = tls_config(mode, target.root_cert.as_deref())?;
            config
                .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                .map_err(tls_error)
        }
    }
}

/// libpq's `sslmode` values (<https://www.postgresql.org/docs/current/libpq-ssl.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, the server not authenticated.
    Prefer,
    /// TLS, the server not authenticated (its chain is, when `sslrootcert` is given, as libpq).
    Require,
    /// TLS, the server's chain checked, not its name.
    VerifyCa,
    /// TLS, the server's chain and name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Result<Self, StoreError> {
        Ok(match v {
            "disable" => Self::Disable,
            // libpq's `allow` tries plain first: as weak as `prefer`, taken as that.
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(StoreError::PgTls(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// A PostgreSQL URL taken apart: what tokio-postgres reads, and the TLS options it does not
/// (`sslmode` beyond `require`, `sslrootcert`), which are taken out of the URL first.
pub struct PgTarget {
    pub config: postgres::Config,
    pub mode: SslMode,
    pub root_cert: Option<std::path::PathBuf>,
    /// No `sslmode` in the URL nor `PGSSLMODE`: the mode is this server's default.
    pub defaulted: bool,
}

impl PgTarget {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = None;
        let mut root_cert = None;
        let mut rest = Vec::new();
        for seg in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = url::form_urlencoded::parse(seg.as_bytes())
                .next()
                .unwrap_or_default();
            match k.as_ref() {
                "sslmode" => mode = Some(v.into_owned()),
                "sslrootcert" => root_cert = Some(v.into_owned()),
                _ => rest.push(seg),
            }
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mode = mode.or_else(|| env("PGSSLMODE"));
        let root_cert = root_cert.or_else(|| env("PGSSLROOTCERT"));
        let rebuilt = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let config: postgres::Config = rebuilt
            .parse()
            .map_err(|e: postgres::Error| StoreError::Sql(e.into()))?;
        let defaulted = mode.is_none();
        let mode = match mode {
            Some(m) => SslMode::parse(&m)?,
            // Secure by default: the store carries every secret the server has (sealed, but
            // also people's templates, phone numbers, audit), and a database across a network
            // can be read or impersonated by whoever sits on it, so a remote host must prove
            // who it is. On loopback or a Unix socket nothing crosses a network, and TLS
            // would only cost: plain unless the URL asks.
            None if is_local(&config) => SslMode::Disable,
            None => SslMode::VerifyFull,
        };
        Ok(Self {
            config,
            mode,
            root_cert: root_cert.map(Into::into),
            defaulted,
        })
    }
}

/// Whether every address the config connects to is on this machine (loopback, a Unix socket).
fn is_local(config: &postgres::Config) -> bool {
    use postgres::config::Host;
    if !config.get_hostaddrs().is_empty() {
        return config.get_hostaddrs().iter().all(|a| a.is_loopback());
    }
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|a| a.is_loopback())
            }
        })
}

/// rustls for `mode`: the server's chain checked against `root_cert` (PEM), else Mozilla's
/// roots; its name checked for verify-full only.
fn tls_config(
    mode: SslMode,
    root_cert: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let tls = |e: String| StoreError::PgTls(e);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| tls(format!("sslrootcert {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(tls(format!(
                    "sslrootcert {}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::VerifyFull => webpki,
        SslMode::VerifyCa => Arc::new(ChainOnly(webpki)),
        // libpq: with a root certificate file, `require` checks the chain as verify-ca does.
        SslMode::Require | SslMode::Prefer if root_cert.is_some() => Arc::new(ChainOnly(webpki)),
        SslMode::Require | SslMode::Prefer | SslMode::Disable => {
            Arc::new(Unauthenticated(provider.clone()))
        }
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// verify-ca: the chain must lead to a root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first, then the name: a name error means the chain passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// require / prefer without a root certificate (libpq's meaning): encrypted, any certificate
/// taken. The handshake's signatures are still checked against the certificate presented.
#[derive(Debug)]
struct Unauthenticated(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unauthenticated {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
    fn sslmode_is_libpqs_and_remote_hosts_default_to_verify_full() {
        let t = |url: &str| PgTarget::parse(url).unwrap();
        // A host off the machine: its certificate and name are checked unless the URL says.
        let remote = t("postgres://access@db.internal:5432/access");
        assert_eq!((remote.mode, remote.defaulted), (SslMode::VerifyFull, true));
        // Loopback or a Unix socket: nothing crosses a network.
        for local in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@localhost/postgres",
            "postgres://postgres@[::1]/postgres",
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres",
            "postgres://postgres@db.test/postgres?hostaddr=127.0.0.1",
        ] {
            assert_eq!(t(local).mode, SslMode::Disable, "{local}");
        }
        // A loopback name with a remote address is remote.
        assert_eq!(
            t("postgres://u@localhost/d?hostaddr=10.0.0.5").mode,
            SslMode::VerifyFull
        );
        for (mode, want) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Prefer),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let p = t(&format!(
                "postgres://u@db.internal/d?sslmode={mode}&connect_timeout=5&sslrootcert=%2Fetc%2Fca%20x.pem"
            ));
            assert_eq!((p.mode, p.defaulted), (want, false), "{mode}");
            assert_eq!(
                p.root_cert.as_deref(),
                Some(std::path::Path::new("/etc/ca x.pem"))
            );
            // The options tokio-postgres also reads are kept.
            assert_eq!(
                p.config.get_connect_timeout(),
                Some(&std::time::Duration::from_secs(5))
            );
        }
        assert!(matches!(
            PgTarget::parse("postgres://u@h/d?sslmode=verify-everything"),
            Err(StoreError::PgTls(_))
        ));
        // A root certificate that is not one is refused before any connection.
        assert!(matches!(
            tls_config(
                SslMode::VerifyFull,
                Some(std::path::Path::new("/nonexistent/ca.pem"))
            ),
            Err(StoreError::PgTls(_))
        ));
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
