//! Server configuration: TOML file, overridden by env vars and flags (see `main.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
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
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
            ort_library: None,
            intra_threads: 1,
        }
    }
}

impl ServerConfig {
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })
    }

    /// Image endpoints take a base64 image (4/3 the bytes) plus a little JSON.
    pub fn max_image_body_bytes(&self) -> usize {
        self.max_image_bytes / 3 * 4 + 64 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn toml_parses_and_debug_hides_secrets() {
        let c: ServerConfig = toml::from_str(
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
        )
        .unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.webhooks.backoff_ms, vec![10, 20]);
        let dbg = format!("{:?}", c);
        assert!(!dbg.contains("hunter2"));
        assert!(toml::from_str::<ServerConfig>("bogus = 1").is_err());
    }
}
