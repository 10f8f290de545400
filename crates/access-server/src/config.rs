//! Server configuration, one loader ([`ServerConfig::load`]) for `serve`: `main.rs` extracts
//! the flags, loads, runs. Layers, lowest first (each key takes the highest layer's value):
//!
//! 1. **defaults** ([`ServerConfig::default`]);
//! 2. **the TOML file**: `--config`, else `$ACCESS_CONFIG`, else none; unknown keys refused;
//! 3. **the environment** ([`ENV_VARS`]): `ACCESS_ADDR`, `ACCESS_DB`, `ACCESS_DEV_OUTBOX`,
//!    `ACCESS_FACE_WORKERS`, `ACCESS_ISSUER`, `ACCESS_NO_VISION`, `ACCESS_OUTBOUND_ALLOW` (comma-separated; adds to
//!    the file's list), `ACCESS_SMTP_PASSWORD` and `ACCESS_SMS_AUTH_TOKEN` (the secrets of a
//!    gateway the file configures), `ACCESS_TLS_CERT` and `ACCESS_TLS_KEY` (HTTPS),
//!    `ACCESS_LOG_JSON`; empty counts as unset; booleans are `1`/`true`/`yes`/`on`
//!    or `0`/`false`/`no`/`off` (`ACCESS_DEV_OUTBOX=0` turns the outbox off, even when the
//!    file turns it on);
//! 4. **flags** (`--addr`, `--db`, `--dev-outbox`, `--no-vision`).

use std::net::SocketAddr;
use std::path::PathBuf;

use config_layers::figment::Figment;
use config_layers::figment::value::Value;
use config_layers::{FileError, Layer, parse_bool};
use serde::Deserialize;

pub use config_layers::Environment;

/// The environment variables and the keys they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("ACCESS_ADDR", "addr"),
    ("ACCESS_DB", "db"),
    ("ACCESS_DEV_OUTBOX", "dev_outbox"),
    ("ACCESS_FACE_WORKERS", "vision.face_workers"),
    ("ACCESS_ISSUER", "issuer"),
    // Inverted: `ACCESS_NO_VISION=1` is `vision.enabled = false`.
    ("ACCESS_NO_VISION", "vision.enabled"),
    ("ACCESS_OUTBOUND_ALLOW", "outbound_allow"),
    ("ACCESS_SMTP_PASSWORD", "smtp.password"),
    ("ACCESS_SMS_AUTH_TOKEN", "sms.auth_token"),
    ("ACCESS_TLS_CERT", "tls.cert"),
    ("ACCESS_TLS_KEY", "tls.key"),
    ("ACCESS_LOG_JSON", "log_json"),
];

/// `serve`'s flags (each also from the environment, read by the loader, and the file).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeFlags {
    /// TOML config file [env: ACCESS_CONFIG]; the environment and flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// [env: ACCESS_ADDR]
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// [env: ACCESS_DB]
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Keep OTP messages and serve GET /v2/access/dev/outbox. Development only
    /// [env: ACCESS_DEV_OUTBOX].
    #[arg(long)]
    pub dev_outbox: bool,
    /// Do not load the face models [env: ACCESS_NO_VISION].
    #[arg(long)]
    pub no_vision: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config_layers::Error),
}

impl From<config_layers::figment::Error> for ConfigError {
    fn from(e: config_layers::figment::Error) -> Self {
        Self::Invalid(Box::new(e))
    }
}

/// The process environment's values of the variables the loader reads.
pub fn environment() -> Environment {
    let names: Vec<&str> = ENV_VARS
        .iter()
        .map(|(name, _)| *name)
        .chain(["ACCESS_CONFIG"])
        .collect();
    Environment::process(&names)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub db: PathBuf,
    /// Keep every OTP message in the database and serve `GET /dev/outbox`. Never in production.
    pub dev_outbox: bool,
    /// `iss` of every token this server signs.
    pub issuer: String,
    pub access_token_ttl_s: u64,
    pub otp_ttl_s: u64,
    pub otp_max_attempts: u32,
    /// Wrong codes in a row, across validations, before an identifier is locked.
    pub code_failures_before_lock: u32,
    /// The first lock; each further one doubles (capped at a day).
    pub code_lock_base_s: u64,
    pub email_sends_per_min: u32,
    pub phone_sends_per_min: u32,
    pub biometric_per_min: u32,
    /// 1:N face verifications (no `user_id`) per minute, per calling token (a kiosk), and per
    /// project: a 1:N call searches everyone, so unbounded it is a way to probe the gallery.
    pub one_to_n_per_min_caller: u32,
    pub one_to_n_per_min_project: u32,
    /// Body limit of non-image endpoints.
    pub max_body_bytes: usize,
    /// Largest decoded face image.
    pub max_image_bytes: usize,
    pub smtp: Option<SmtpConfig>,
    pub sms: Option<SmsGatewayConfig>,
    pub webhooks: WebhookConfig,
    pub vision: VisionConfig,
    /// A client must send its request headers within this time, or the connection is closed
    /// (slow-loris clients would otherwise be held open forever).
    pub header_timeout_ms: u64,
    /// A whole request, body included, must be read and answered within this time (408).
    pub request_timeout_ms: u64,
    /// Most connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Hosts (names or IP literals) that webhook and security URLs may reach although they
    /// are internal (loopback, private, link-local): a receiver on the server's own LAN.
    /// Env: `ACCESS_OUTBOUND_ALLOW` (comma-separated) adds to it.
    pub outbound_allow: Vec<String>,
    /// Longest life of an admin token (`access-server token --ttl`, `POST /tokens`).
    pub admin_token_max_ttl_s: u64,
    /// Life of a kiosk's access token (at most an hour; the kiosk renews it by itself).
    pub kiosk_token_ttl_s: u64,
    /// Codes one caller (a kiosk, or an admin token's subject) may send, per hour and per
    /// day: one stolen kiosk cannot pump SMS or bomb inboxes.
    pub sends_per_hour_caller: u32,
    pub sends_per_day_caller: u32,
    /// Codes one project may send per hour and per day, all callers together.
    pub sends_per_hour_project: u32,
    pub sends_per_day_project: u32,
    /// Paid messages (SMS and WhatsApp) the whole server may send per day.
    pub paid_messages_per_day: u32,
    /// How long a customer security URL's answer for one identifier is reused, seconds.
    pub security_answer_cache_s: u64,
    /// Offline events accepted no older than this (hours); kiosks sync far more often.
    pub offline_event_max_age_h: u64,
    /// Serve HTTPS on `addr` (sites without a reverse proxy doing TLS).
    pub tls: Option<TlsConfig>,
    /// Log one JSON object a line (for a log collector) instead of text.
    pub log_json: bool,
    /// `[console]`: operator sessions of the web console.
    pub console: ConsoleConfig,
}

/// `[console]`: how long an operator's session lives and how logins are throttled.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A session unused this long ends (seconds).
    pub idle_timeout_s: u64,
    /// A session ends this long after sign-in whatever its use (seconds).
    pub session_max_s: u64,
    /// Mark the cookie `Secure` even without `[tls]`: a reverse proxy terminates HTTPS.
    pub secure_cookie: bool,
    /// Wrong passwords for one account before each further try waits (1 s, doubling).
    pub free_failures_per_account: u32,
    /// Wrong passwords from one address (any account) before each further try waits.
    pub free_failures_per_address: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            idle_timeout_s: 30 * 60,
            session_max_s: 12 * 3600,
            secure_cookie: false,
            free_failures_per_account: 3,
            free_failures_per_address: 20,
        }
    }
}

/// `[tls]`: PEM files, re-read when the process gets SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first [env: ACCESS_TLS_CERT].
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1) [env: ACCESS_TLS_KEY].
    pub key: PathBuf,
    /// `Strict-Transport-Security: max-age=…` on every answer; 0 sends none. Default one
    /// year (what browsers' preload lists ask for).
    #[serde(default = "default_hsts_max_age_s")]
    pub hsts_max_age_s: u64,
}

fn default_hsts_max_age_s() -> u64 {
    365 * 86_400
}

impl ServerConfig {
    /// The longest any token this server signs may live: how long a rotated-out key must keep
    /// verifying.
    pub fn longest_token_ttl_s(&self) -> u64 {
        self.admin_token_max_ttl_s
            .max(self.kiosk_token_ttl_s)
            .max(self.access_token_ttl_s)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            db: PathBuf::from("access.db"),
            dev_outbox: false,
            issuer: "access-server".into(),
            access_token_ttl_s: 900,
            otp_ttl_s: 600,
            otp_max_attempts: 3,
            code_failures_before_lock: 10,
            code_lock_base_s: 15 * 60,
            email_sends_per_min: 5,
            phone_sends_per_min: 3,
            biometric_per_min: 10,
            one_to_n_per_min_caller: 12,
            one_to_n_per_min_project: 120,
            max_body_bytes: 1024 * 1024,
            max_image_bytes: 10 * 1024 * 1024,
            smtp: None,
            sms: None,
            webhooks: WebhookConfig::default(),
            vision: VisionConfig::default(),
            outbound_allow: Vec::new(),
            header_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections: 1024,
            admin_token_max_ttl_s: 30 * 86_400,
            kiosk_token_ttl_s: 3600,
            sends_per_hour_caller: 120,
            sends_per_day_caller: 1000,
            sends_per_hour_project: 2000,
            sends_per_day_project: 20_000,
            paid_messages_per_day: 5000,
            security_answer_cache_s: 30,
            offline_event_max_age_h: 30 * 24,
            tls: None,
            log_json: false,
            console: ConsoleConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP (local relays, tests).
    None,
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    /// Prefer the `ACCESS_SMTP_PASSWORD` env var over writing it here.
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

// Hand-written so the password never reaches a log line via `{:?}`.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

fn default_smtp_port() -> u16 {
    587
}
fn default_timeout_ms() -> u64 {
    10_000
}

/// An HTTP SMS/WhatsApp gateway speaking the Twilio Messages API:
/// `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, form `To`, `From`, `Body`,
/// HTTP basic auth `account_sid:auth_token`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGatewayConfig {
    #[serde(default = "default_twilio_base")]
    pub base_url: String,
    pub account_sid: String,
    /// Prefer the `ACCESS_SMS_AUTH_TOKEN` env var.
    #[serde(default)]
    pub auth_token: String,
    /// Sender number for SMS; SMS is off without it.
    #[serde(default)]
    pub sms_from: Option<String>,
    /// Sender number for WhatsApp (without the `whatsapp:` prefix); WhatsApp is off without it.
    #[serde(default)]
    pub whatsapp_from: Option<String>,
    /// Approved WhatsApp templates by language (`en = "HX…"`): sent with the code as variable
    /// `1` (Twilio `ContentSid` / `ContentVariables`), as WhatsApp requires outside a 24-hour
    /// session. A project's own template wins; without either the text is sent as is.
    #[serde(default)]
    pub whatsapp_templates: std::collections::HashMap<String, String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl std::fmt::Debug for SmsGatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGatewayConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("sms_from", &self.sms_from)
            .field("whatsapp_from", &self.whatsapp_from)
            .finish_non_exhaustive()
    }
}

fn default_twilio_base() -> String {
    "https://api.twilio.com".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Delay before retry n (the last value repeats).
    pub backoff_ms: Vec<u64>,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    /// How often the queue is polled when nothing wakes it.
    pub poll_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            backoff_ms: vec![5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000],
            max_attempts: 8,
            timeout_ms: 10_000,
            poll_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    pub enabled: bool,
    pub models_dir: Option<PathBuf>,
    pub ort_library: Option<PathBuf>,
    pub intra_threads: usize,
    /// Face pipelines working at once, each with its own ORT sessions (and its own copy of
    /// the models in memory); unset: one per available core.
    pub face_workers: Option<usize>,
}

impl VisionConfig {
    /// `face_workers`, else the available cores (at least one).
    pub fn workers(&self) -> usize {
        self.face_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
            ort_library: None,
            intra_threads: 1,
            face_workers: None,
        }
    }
}

impl ServerConfig {
    /// Defaults < file < environment < flags (see the module doc).
    pub fn load(flags: &ServeFlags, env: &Environment) -> Result<Self, ConfigError> {
        let file = match flags
            .config
            .clone()
            .or_else(|| env.get("ACCESS_CONFIG").map(PathBuf::from))
        {
            Some(path) => Some(Layer::toml_file(&path)?),
            None => None,
        };
        let configures = |table: &str| file.as_ref().is_some_and(|f| f.contains(table));

        let mut from_env = Layer::env_named(ENV_VARS);
        for (name, key) in ENV_VARS {
            let Some(v) = env.get(name) else { continue };
            let value = match *name {
                "ACCESS_NO_VISION" => Value::from(!parse_bool(name, v)?),
                "ACCESS_OUTBOUND_ALLOW" => Value::from(
                    v.split(',')
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>(),
                ),
                // A secret alone configures no gateway.
                "ACCESS_SMTP_PASSWORD" if !configures("smtp") => continue,
                "ACCESS_SMS_AUTH_TOKEN" if !configures("sms") => continue,
                _ => Value::from(v.to_string()),
            };
            from_env.set(key, value);
        }

        let mut from_flags = Layer::named("command-line flag");
        if let Some(addr) = flags.addr {
            from_flags.set("addr", Value::from(addr.to_string()));
        }
        if let Some(db) = &flags.db {
            from_flags.set("db", Value::serialize(db)?);
        }
        if flags.dev_outbox {
            from_flags.set("dev_outbox", Value::from(true));
        }
        if flags.no_vision {
            from_flags.set("vision.enabled", Value::from(false));
        }

        let mut fig = Figment::new();
        if let Some(file) = file {
            fig = fig.merge(file);
        }
        // `admerge`: the environment's list of allowed hosts adds to the file's; its other
        // values replace the file's, as `merge` would.
        Ok(fig.admerge(from_env).merge(from_flags).extract_lossy()?)
    }

    /// Image endpoints take a base64 image (4/3 the bytes) plus a little JSON.
    pub fn max_image_body_bytes(&self) -> usize {
        self.max_image_bytes / 3 * 4 + 64 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("access-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f
    }

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn with_file(f: &std::path::Path) -> ServeFlags {
        ServeFlags {
            config: Some(f.to_path_buf()),
            ..Default::default()
        }
    }

    #[test]
    fn toml_parses_and_debug_hides_secrets() {
        let f = temp_file(
            "parses.toml",
            r#"
            addr = "127.0.0.1:9000"
            db = "/tmp/x.db"
            dev_outbox = true
            [smtp]
            host = "smtp.example.com"
            password = "hunter2"
            from = "kiosk@example.com"
            [webhooks]
            backoff_ms = [10, 20]
            "#,
        );
        let c = ServerConfig::load(&with_file(&f), &env(&[])).unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.webhooks.backoff_ms, vec![10, 20]);
        assert_eq!(c.webhooks.max_attempts, 8, "defaults fill the rest");
        let dbg = format!("{:?}", c);
        assert!(!dbg.contains("hunter2"));
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let c = ServerConfig::load(&ServeFlags::default(), &env(&[])).unwrap();
        let d = ServerConfig::default();
        assert_eq!((c.addr, c.db, c.dev_outbox), (d.addr, d.db, d.dev_outbox));
        assert!(c.vision.enabled);

        let f = temp_file(
            "precedence.toml",
            "addr = \"127.0.0.1:9001\"\ndb = \"/file.db\"\nissuer = \"file\"\n\
             outbound_allow = [\"hooks.lan\"]\n[vision]\nintra_threads = 2\n",
        );
        let c = ServerConfig::load(&with_file(&f), &env(&[])).unwrap();
        assert!(c.vision.face_workers.is_none() && c.vision.workers() >= 1);
        let c = ServerConfig::load(&with_file(&f), &env(&[("ACCESS_FACE_WORKERS", "3")])).unwrap();
        assert_eq!(c.vision.workers(), 3);
        let c = ServerConfig::load(&with_file(&f), &env(&[])).unwrap();
        assert_eq!(c.addr.port(), 9001);
        assert_eq!(c.db, PathBuf::from("/file.db"));
        assert_eq!(c.issuer, "file");
        assert_eq!((c.vision.enabled, c.vision.intra_threads), (true, 2));

        let e = [
            ("ACCESS_ADDR", "127.0.0.1:9002"),
            ("ACCESS_DB", "/env.db"),
            ("ACCESS_ISSUER", "env"),
            ("ACCESS_NO_VISION", "yes"),
            ("ACCESS_DEV_OUTBOX", "true"),
            ("ACCESS_OUTBOUND_ALLOW", " 10.0.0.5, ,hooks.internal"),
        ];
        let c = ServerConfig::load(&with_file(&f), &env(&e)).unwrap();
        assert_eq!(c.addr.port(), 9002);
        assert_eq!(c.db, PathBuf::from("/env.db"));
        assert_eq!(c.issuer, "env");
        assert!(c.dev_outbox);
        assert_eq!((c.vision.enabled, c.vision.intra_threads), (false, 2));
        assert_eq!(
            c.outbound_allow,
            ["hooks.lan", "10.0.0.5", "hooks.internal"],
            "the environment's hosts add to the file's"
        );

        let flags = ServeFlags {
            addr: Some("127.0.0.1:9003".parse().unwrap()),
            db: Some("/flag.db".into()),
            ..with_file(&f)
        };
        let c = ServerConfig::load(&flags, &env(&e)).unwrap();
        assert_eq!(c.addr.port(), 9003);
        assert_eq!(c.db, PathBuf::from("/flag.db"));
        assert_eq!(c.issuer, "env");

        // ACCESS_CONFIG names the file; --config wins over it.
        let other = temp_file("other.toml", "issuer = \"other\"\n");
        let by_env = [("ACCESS_CONFIG", other.to_str().unwrap())];
        let c = ServerConfig::load(&ServeFlags::default(), &env(&by_env)).unwrap();
        assert_eq!(c.issuer, "other");
        let c = ServerConfig::load(&with_file(&f), &env(&by_env)).unwrap();
        assert_eq!(c.issuer, "file");
    }

    #[test]
    fn dev_outbox_takes_every_boolean_form_and_zero_is_off() {
        let on = temp_file("outbox-on.toml", "dev_outbox = true\n");
        for v in ["0", "false", "FALSE", "no", "off", "Off"] {
            let c = ServerConfig::load(&with_file(&on), &env(&[("ACCESS_DEV_OUTBOX", v)])).unwrap();
            assert!(!c.dev_outbox, "ACCESS_DEV_OUTBOX={v} must be off");
            let c = ServerConfig::load(&ServeFlags::default(), &env(&[("ACCESS_DEV_OUTBOX", v)]))
                .unwrap();
            assert!(!c.dev_outbox, "ACCESS_DEV_OUTBOX={v} must be off");
        }
        for v in ["1", "true", "True", "yes", "on"] {
            let c = ServerConfig::load(&ServeFlags::default(), &env(&[("ACCESS_DEV_OUTBOX", v)]))
                .unwrap();
            assert!(c.dev_outbox, "ACCESS_DEV_OUTBOX={v} must be on");
        }
        // Empty is unset: the file decides.
        let c = ServerConfig::load(&with_file(&on), &env(&[("ACCESS_DEV_OUTBOX", "")])).unwrap();
        assert!(c.dev_outbox);
        // The flag over the environment.
        let flags = ServeFlags {
            dev_outbox: true,
            ..Default::default()
        };
        let c = ServerConfig::load(&flags, &env(&[("ACCESS_DEV_OUTBOX", "0")])).unwrap();
        assert!(c.dev_outbox);
        let e = ServerConfig::load(
            &ServeFlags::default(),
            &env(&[("ACCESS_DEV_OUTBOX", "maybe")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ACCESS_DEV_OUTBOX"), "{e}");
        let e = ServerConfig::load(
            &ServeFlags::default(),
            &env(&[("ACCESS_NO_VISION", "maybe")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ACCESS_NO_VISION"), "{e}");
        let c =
            ServerConfig::load(&ServeFlags::default(), &env(&[("ACCESS_NO_VISION", "0")])).unwrap();
        assert!(c.vision.enabled);
    }

    #[test]
    fn gateway_secrets_come_from_the_environment_for_a_configured_gateway() {
        let e = [
            ("ACCESS_SMTP_PASSWORD", "pw-env"),
            ("ACCESS_SMS_AUTH_TOKEN", "tok-env"),
        ];
        let c = ServerConfig::load(&ServeFlags::default(), &env(&e)).unwrap();
        assert!(c.smtp.is_none() && c.sms.is_none());
        let f = temp_file(
            "gateways.toml",
            "[smtp]\nhost = \"smtp.example.com\"\npassword = \"pw-file\"\nfrom = \"k@example.com\"\n\
             [sms]\naccount_sid = \"AC1\"\n",
        );
        let c = ServerConfig::load(&with_file(&f), &env(&e)).unwrap();
        assert_eq!(c.smtp.unwrap().password.as_deref(), Some("pw-env"));
        assert_eq!(c.sms.unwrap().auth_token, "tok-env");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named_with_the_file() {
        for (name, text, key) in [
            ("unknown.toml", "bogus = 1\n", "bogus"),
            ("nested.toml", "[webhooks]\nretries = 3\n", "retries"),
            ("type.toml", "otp_ttl_s = \"soon\"\n", "otp_ttl_s"),
        ] {
            let f = temp_file(name, text);
            let e = ServerConfig::load(&with_file(&f), &env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains(name), "{e}");
        }
        let f = temp_file("broken.toml", "addr = [");
        let e = ServerConfig::load(&with_file(&f), &env(&[])).unwrap_err();
        assert!(
            matches!(e, ConfigError::File(FileError::Parse { .. })),
            "{e}"
        );
        let e = ServerConfig::load(&ServeFlags::default(), &env(&[("ACCESS_ADDR", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ACCESS_ADDR"), "{e}");
    }
}
