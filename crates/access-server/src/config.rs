//! Server configuration, one loader ([`ServerConfig::load`]) for `serve`: `main.rs` extracts
//! the flags, loads, runs. Layers, lowest first (each key takes the highest layer's value):
//!
//! 1. **defaults** ([`ServerConfig::default`]);
//! 2. **the TOML file**: `--config`, else `$ACCESS_CONFIG`, else none; unknown keys refused;
//! 3. **the environment** ([`ENV_VARS`]): `ACCESS_ADDR`, `ACCESS_DB`, `ACCESS_DB_KEY_FILE`,
//!    `ACCESS_DEV_OUTBOX`,
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
use serde::{Deserialize, Serialize};

pub use config_layers::Environment;

/// The environment variables and the keys they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("ACCESS_ADDR", "addr"),
    ("ACCESS_DB", "db"),
    ("ACCESS_DB_KEY_FILE", "db_key_file"),
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
    /// Address and port to listen on, e.g. 127.0.0.1:8787 [env: ACCESS_ADDR].
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// The database: a SQLite file (created when missing) or a PostgreSQL URL [env: ACCESS_DB].
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

/// The server's settings: the file's keys (`[table]`s for the nested structs). Each field's doc
/// comment is the settings reference (docs/settings/server.md), the shipped example file and
/// `access-server config show` ([`ServerConfig::reference`]).
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Loopback by default: put a reverse proxy doing TLS in
    /// front, or set `[tls]` and listen on the LAN (`"0.0.0.0:8443"`).
    pub addr: SocketAddr,
    /// The database: a SQLite file (created mode 0600; it holds the sealed signing keys) or a
    /// PostgreSQL URL (`postgres://user@host/db`, for replicas). Back it up, with
    /// `db_key_file`. PostgreSQL speaks TLS as libpq's `sslmode` in the URL says (`disable`,
    /// `prefer`, `require`, `verify-ca`, `verify-full`; also `PGSSLMODE`), checking the
    /// server's certificate against `sslrootcert` (a PEM file; also `PGSSLROOTCERT`), else
    /// the public web's roots (Mozilla's). Without `sslmode`: `verify-full`, except for a
    /// host on loopback or a Unix socket, where nothing crosses a network (`disable`). The
    /// password may come from `PGPASSWORD` instead of the URL.
    pub db: PathBuf,
    /// The 32-byte key that seals the signing and OTP keys in the database (mode 0600,
    /// created when missing). Unset: `<db>.key` beside an SQLite database; PostgreSQL needs
    /// it set, and every replica of one database needs the same file: create it once
    /// (`(umask 077; head -c 32 /dev/urandom > db.key)`, or let the first replica make it)
    /// and copy it to each replica (a systemd credential or a secret mount does).
    /// Lose it and the signing keys are lost: every token must be issued again.
    pub db_key_file: Option<PathBuf>,
    /// Keep every OTP message in the database and serve `GET /dev/outbox`. Never in production.
    pub dev_outbox: bool,
    /// `iss` of every token this server signs.
    pub issuer: String,
    /// Life of the access token a completed validation earns (seconds).
    pub access_token_ttl_s: u64,
    /// Life of a one-time code (seconds).
    pub otp_ttl_s: u64,
    /// Wrong tries one code allows before its validation fails.
    pub otp_max_attempts: u32,
    /// Wrong codes in a row, across validations, before an identifier is locked.
    pub code_failures_before_lock: u32,
    /// The first lock; each further one doubles (capped at a day).
    pub code_lock_base_s: u64,
    /// Codes sent to one email address per minute.
    pub email_sends_per_min: u32,
    /// Codes sent to one phone number (SMS or WhatsApp) per minute.
    pub phone_sends_per_min: u32,
    /// Face calls (enrol, verify, liveness) per person per minute.
    pub biometric_per_min: u32,
    /// Face samples kiosks may add to one person (live samples enrolled with kiosk tokens);
    /// more need an admin token. Each sample moves the person's fused template, so this bounds
    /// how far kiosks can move it; a kiosk's enrolment takes 3 to 5 (kiosk-core `MAX_ENROL_SAMPLES`).
    pub kiosk_max_samples_per_person: u32,
    /// 1:N face verifications (no `user_id`) per minute per calling token (a kiosk): a 1:N
    /// call searches everyone, so unbounded it is a way to probe the gallery.
    pub one_to_n_per_min_caller: u32,
    /// 1:N face verifications per minute per project, all callers together.
    pub one_to_n_per_min_project: u32,
    /// 1:1 face verifications (with a `user_id`) per minute per calling token (a kiosk, an
    /// admin token's subject), whoever is named: one caller cannot try a face against many
    /// people in turn.
    pub one_to_one_per_min_caller: u32,
    /// Body limit of non-image endpoints.
    pub max_body_bytes: usize,
    /// Largest decoded face image.
    pub max_image_bytes: usize,
    /// `[smtp]`: the relay that sends email codes; email codes are off without it.
    pub smtp: Option<SmtpConfig>,
    /// `[sms]`: the gateway that sends SMS and WhatsApp codes; both are off without it.
    pub sms: Option<SmsGatewayConfig>,
    /// `[webhooks]`: how deliveries to customer webhooks are retried.
    pub webhooks: WebhookConfig,
    /// `[retention]`: how long the history is kept (validations, kiosk events, audit,
    /// webhook deliveries, idempotency keys).
    pub retention: RetentionConfig,
    /// `[vision]`: the face models and the ONNX Runtime.
    pub vision: VisionConfig,
    /// A client must send its request headers within this time, or the connection is closed
    /// (slow-loris clients would otherwise be held open forever).
    pub header_timeout_ms: u64,
    /// A whole request, body included, must be read and answered within this time (408).
    pub request_timeout_ms: u64,
    /// Most connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Most connections one client address (an IPv6 /64) holds at once, so one client cannot
    /// take every slot; more are closed on accept. Behind a reverse proxy every connection
    /// comes from the proxy: set it to `max_connections` there.
    pub max_connections_per_address: usize,
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
    /// Codes one caller may send per day (see `sends_per_hour_caller`).
    pub sends_per_day_caller: u32,
    /// Codes one project may send per hour, all callers together.
    pub sends_per_hour_project: u32,
    /// Codes one project may send per day, all callers together.
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
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
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
            db_key_file: None,
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
            kiosk_max_samples_per_person: 10,
            one_to_n_per_min_caller: 12,
            one_to_n_per_min_project: 120,
            one_to_one_per_min_caller: 60,
            max_body_bytes: 1024 * 1024,
            max_image_bytes: 10 * 1024 * 1024,
            smtp: None,
            sms: None,
            webhooks: WebhookConfig::default(),
            retention: RetentionConfig::default(),
            vision: VisionConfig::default(),
            outbound_allow: Vec::new(),
            header_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections: 1024,
            max_connections_per_address: 64,
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

/// How the SMTP connection is protected.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP (local relays, tests).
    None,
    /// STARTTLS on the submission port (587), required.
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

/// `[smtp]`: the relay that sends email codes.
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name (required).
    pub host: String,
    /// The relay's port.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (a local relay only).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// The login, if the relay asks for one.
    #[serde(default)]
    pub username: Option<String>,
    /// The login's password. Better in `ACCESS_SMTP_PASSWORD` from a root-only (0600)
    /// `EnvironmentFile` than in this file.
    #[serde(default)]
    #[schemars(extend("x-secret" = true))]
    pub password: Option<String>,
    /// The sender, e.g. `"Access <kiosk@example.com>"` (required).
    pub from: String,
    /// How long one send may take (milliseconds).
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
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsGatewayConfig {
    /// The gateway's base URL (the Twilio Messages API or one speaking it).
    #[serde(default = "default_twilio_base")]
    pub base_url: String,
    /// The account (HTTP basic auth user; required).
    pub account_sid: String,
    /// The account's auth token. Better in `ACCESS_SMS_AUTH_TOKEN` from a root-only (0600)
    /// `EnvironmentFile` than in this file.
    #[serde(default)]
    #[schemars(extend("x-secret" = true))]
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
    /// How long one send may take (milliseconds).
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

/// `[webhooks]`: retries of deliveries to customer webhooks.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Delay before retry n, milliseconds (the last value repeats).
    pub backoff_ms: Vec<u64>,
    /// Tries of one delivery before it is marked failed.
    pub max_attempts: u32,
    /// How long the receiver has to answer one try (milliseconds).
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

/// `[retention]`: how long the server keeps its history, in days after a row was written; 0
/// keeps it for ever. A sweep a minute deletes what aged out, a bounded number of rows at a
/// time (retention.rs).
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Sign-in attempts (codes and faces), shown in the console's recent validations.
    pub validations_days: u32,
    /// Events kiosks reported (offline sign-ins and refusals).
    pub sync_events_days: u32,
    /// The audit log (operators' actions, enrolments, erasures).
    pub audit_days: u32,
    /// Finished webhook deliveries and their attempts (queued ones are always kept).
    pub webhook_deliveries_days: u32,
    /// Stored answers to `Idempotency-Key` requests: a retry later than this is a new request.
    pub idempotency_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            validations_days: 365,
            sync_events_days: 365,
            audit_days: 730,
            webhook_deliveries_days: 30,
            idempotency_days: 30,
        }
    }
}

/// `[vision]`: face detection, embedding and liveness on this server.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    /// Load the face models; off, the face endpoints answer `VISION_UNAVAILABLE`
    /// (`ACCESS_NO_VISION=1` turns it off).
    pub enabled: bool,
    /// The folder with the model files (each checked against its sha256 when loaded); unset:
    /// `$MODELS_DIR`, then the source tree's `models/`.
    pub models_dir: Option<PathBuf>,
    /// The ONNX Runtime shared library; unset: `$ORT_DYLIB_PATH`, then `.local/onnxruntime/`.
    pub ort_library: Option<PathBuf>,
    /// Threads each model's inference uses.
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

/// The ONNX Runtime the packages carry (scripts/setup.sh's `ORT_VERSION`): the example file's
/// `vision.ort_library`.
const PACKAGED_ORT: &str = "libonnxruntime.so.1.32.0";

impl ServerConfig {
    /// Defaults < file < environment < flags (see the module doc).
    pub fn load(flags: &ServeFlags, env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self::figment(flags, env)?.extract_lossy()?)
    }

    /// Every setting, from this struct's doc comments: the settings page, the example file
    /// and `config show` are made from it.
    pub fn reference() -> config_layers::docs::Reference {
        let defaults = serde_json::to_value(Self::default()).expect("the defaults serialise");
        config_layers::docs::Reference::new(
            &schemars::schema_for!(ServerConfig),
            &defaults,
            ENV_VARS,
        )
    }

    /// The effective configuration for `flags` and `env`, each value with where it came
    /// from, secrets hidden (`access-server config show`).
    pub fn show(flags: &ServeFlags, env: &Environment) -> Result<String, ConfigError> {
        let fig = Self::figment(flags, env)?;
        let cfg: Self = fig.extract_lossy()?;
        let mut effective = serde_json::to_value(&cfg).map_err(|e| {
            ConfigError::Invalid(Box::new(config_layers::figment::Error::from(e.to_string())))
        })?;
        // A PostgreSQL URL may carry its password: shown as the logs show it.
        effective["db"] = serde_json::Value::from(crate::db::redact_db(&cfg.db));
        let file = flags
            .config
            .clone()
            .or_else(|| env.get("ACCESS_CONFIG").map(PathBuf::from));
        let head = match file {
            Some(f) => format!("# config file: {}\n", f.display()),
            None => "# config file: none (--config or ACCESS_CONFIG names one)\n".to_string(),
        };
        Ok(head + &Self::reference().show(&effective, &fig))
    }

    /// The commented `/etc/access-server/server.toml` the package ships.
    pub fn example_toml() -> String {
        let ort = format!("\"/usr/lib/access-server/lib/{PACKAGED_ORT}\"");
        Self::reference().example_toml(
            "/etc/access-server/server.toml: the Access API server's settings (access-server serve).\n\
             Generated from the server's config struct (docs/settings/server.md has the same text).\n\
             Every key has a default: the commented-out lines show it. The environment (ACCESS_*)\n\
             and flags override this file; `access-server config show` prints what is in force\n\
             and where each value came from. An unknown key is an error.\n\
             `systemctl reload access-server` re-reads the TLS files; other keys need a restart.",
            &[
                ("db", "\"/var/lib/access-server/access.db\""),
                ("vision.models_dir", "\"/usr/lib/access-server/models\""),
                ("vision.ort_library", &ort),
            ],
        )
    }

    /// The settings reference page (docs/settings/server.md).
    pub fn settings_markdown() -> String {
        Self::reference().markdown(
            "Server settings",
            "Every setting of `access-server serve`, generated from its config struct \
             (`crates/access-server/src/config.rs`); the shipped `/etc/access-server/server.toml` \
             carries the same text. Layers, lowest first: these defaults, the TOML file \
             (`--config`, else `$ACCESS_CONFIG`), the environment variables listed, then flags \
             (`--addr`, `--db`, `--dev-outbox`, `--no-vision`). An empty variable counts as \
             unset; `ACCESS_NO_VISION=1` turns `vision.enabled` off; `ACCESS_OUTBOUND_ALLOW` \
             (comma-separated) adds to the file's list. An unknown key is an error. \
             `access-server config show` prints the configuration in force and where each value \
             came from, secrets hidden.",
        )
    }

    /// The layers, before extraction: `load` extracts them, `show` also asks each key's source.
    pub fn figment(flags: &ServeFlags, env: &Environment) -> Result<Figment, ConfigError> {
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
        Ok(fig.admerge(from_env).merge(from_flags))
    }

    /// Image endpoints take a base64 image (4/3 the bytes) plus a little JSON.
    pub fn max_image_body_bytes(&self) -> usize {
        self.max_image_bytes / 3 * 4 + 64 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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

    /// The shipped example and the settings page are what the struct's doc comments make
    /// (`ACCESS_REGENERATE=1 cargo test -p access-server --lib config` rewrites them).
    #[test]
    fn the_example_file_and_the_settings_page_come_from_the_struct() {
        let r = ServerConfig::reference();
        assert!(
            r.undocumented().is_empty(),
            "no doc comment: {:?}",
            r.undocumented()
        );
        assert!(r.settings().count() > 60, "every setting is listed");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let stale = config_layers::docs::stale_generated_files(
            &root,
            &[
                (
                    "packaging/access-server/server.toml",
                    ServerConfig::example_toml(),
                ),
                ("docs/settings/server.md", ServerConfig::settings_markdown()),
            ],
            "ACCESS_REGENERATE",
        );
        assert!(
            stale.is_empty(),
            "{stale:?}: not what the config struct makes: run ACCESS_REGENERATE=1 cargo test -p access-server --lib config"
        );
        // The example is a valid file that sets what the package needs.
        let f = temp_file("example.toml", &ServerConfig::example_toml());
        let c = ServerConfig::load(&with_file(&f), &env(&[])).unwrap();
        assert_eq!(c.db, PathBuf::from("/var/lib/access-server/access.db"));
        assert!(c.smtp.is_none() && c.tls.is_none());
    }

    #[test]
    fn show_names_sources_and_hides_secrets() {
        let f = temp_file(
            "show.toml",
            "issuer = \"site\"\n[smtp]\nhost = \"relay\"\nfrom = \"a@b.c\"\n",
        );
        let out = ServerConfig::show(
            &ServeFlags {
                db: Some("/flag.db".into()),
                ..with_file(&f)
            },
            &env(&[
                ("ACCESS_SMTP_PASSWORD", "hunter2"),
                ("ACCESS_ADDR", "127.0.0.1:9"),
            ]),
        )
        .unwrap();
        assert!(!out.contains("hunter2"), "{out}");
        let line = |k: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("{k} =")))
                .unwrap_or_else(|| panic!("{k} in {out}"))
                .to_string()
        };
        assert!(
            line("issuer").ends_with(&format!("# config file {}", f.display())),
            "{out}"
        );
        assert!(line("db").contains("/flag.db") && line("db").ends_with("# command-line flag"));
        assert!(
            line("addr").ends_with("# environment variable ACCESS_ADDR"),
            "{out}"
        );
        assert!(line("smtp.password").contains("(set, hidden)"), "{out}");
        assert!(line("smtp.port").contains("587") && line("smtp.port").ends_with("# default"));
        assert!(line("otp_ttl_s").ends_with("# default"), "{out}");
        let out = ServerConfig::show(
            &ServeFlags {
                db: Some("postgres://ops:pg-secret@db.lan/access".into()),
                ..Default::default()
            },
            &env(&[]),
        )
        .unwrap();
        assert!(
            !out.contains("pg-secret") && out.contains("ops:***@db.lan"),
            "{out}"
        );
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
