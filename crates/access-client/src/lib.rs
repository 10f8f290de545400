//! Client for the Access API (`/v2/access`), using the server's own wire types.
//!
//! Accepts both the seed's envelope (`{success, data, message}` / `{success: false, code, …}`)
//! and Verifik's plain `{data: {…}}`. Retries with exponential backoff and jitter only where a
//! retry cannot do something twice: a request that never reached the server (connect failure),
//! or a call that is safe to repeat (reads, the idempotent event batch). Honours `Retry-After`.
//! The bearer token is never logged.

use std::time::Duration;

use access_types::kiosk_identity::{
    self, KioskStatusReport, KioskToken, KioskTokenRequest, PairKioskRequest, PairedKiosk,
};
use access_types::*;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached (no network, refused, timed out).
    #[error("the Access API at {url} is unreachable: {reason}")]
    Offline { url: String, reason: String },
    /// The server answered with an error envelope.
    #[error("{message} ({code})")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        details: Value,
        retry_after: Option<Duration>,
    },
    /// The server answered something that is not the API (garbage, an HTML error page, a
    /// code this client does not know).
    #[error("the Access API answered HTTP {status} with an unexpected body: {snippet}")]
    Protocol { status: u16, snippet: String },
    #[error("invalid API URL {0:?}")]
    BadUrl(String),
}

impl ClientError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Offline { .. } => "OFFLINE",
            Self::Api { code, .. } => code.as_str(),
            Self::Protocol { .. } => "API_PROTOCOL",
            Self::BadUrl(_) => "API_URL_INVALID",
        }
    }

    /// True when the network (not the request) is the problem: worth queueing and retrying.
    pub fn is_offline(&self) -> bool {
        match self {
            Self::Offline { .. } => true,
            Self::Api { status, .. } | Self::Protocol { status, .. } => {
                *status >= 500 && *status != 501
            }
            Self::BadUrl(_) => false,
        }
    }

    /// True only when no answer of the API came back: the network failed, or a gateway in
    /// front of it (502, 503, 504) answered instead, without the API's envelope. Anything the
    /// API itself answered, in its envelope, is its decision (a refusal stands, however it is
    /// worded): a kiosk may decide from its cache only when this is true.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Offline { .. } => true,
            Self::Protocol { status, .. } => matches!(status, 502..=504),
            Self::Api { .. } | Self::BadUrl(_) => false,
        }
    }

    pub fn api_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// Full jitter: uniform in [0, min(max, base * 2^n)].
    fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let ms = rand::rng().random_range(0..=cap.as_millis() as u64);
        Duration::from_millis(ms)
    }
}

/// Whether repeating the request could do something twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Reads and idempotent writes: retry on anything transient.
    Repeatable,
    /// Sends a code, consumes an attempt, stores a sample: retry only if it never arrived.
    Once,
}

/// A paired kiosk's device key, as the client needs it: its Ed25519 signature. The kiosk's
/// engine holds the key; the client only asks it to sign.
pub trait DeviceSigner: Send + Sync {
    /// Ed25519 signature of `msg`, 64 bytes.
    fn sign(&self, msg: &[u8]) -> Vec<u8>;
    /// Raw Ed25519 public key, 32 bytes.
    fn public_key(&self) -> Vec<u8>;
}

/// How the client proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// A bearer token used as given (an administrator's tools, tests).
    Bearer(String),
    /// A paired kiosk: the client trades a fresh signed assertion for a short-lived kiosk
    /// token (`POST /kiosks/token`) when it has none or it is about to expire, and once again
    /// when the server says it is no longer valid. Nobody has to renew anything by hand.
    Device {
        kiosk_id: String,
        signer: std::sync::Arc<dyn DeviceSigner>,
        /// Reported to administrators with each token request.
        version: Option<String>,
    },
}

/// Renew a device token this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AccessClient {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    /// The device token in use and when to renew it (Device credentials only).
    device_token: std::sync::Arc<tokio::sync::Mutex<Option<(String, std::time::Instant)>>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for AccessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessClient")
            .field("base", &self.base)
            .field("credentials", &"<redacted>")
            .finish()
    }
}

impl AccessClient {
    /// `base` is the API root, e.g. `http://127.0.0.1:8080/v2/access` (the `/v2/access` suffix
    /// is added when missing).
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<Self> {
        Self::with_credentials(base, Credentials::Bearer(token.to_string()), timeout)
    }

    /// A client that authenticates with `credentials` (a paired kiosk's device key).
    pub fn with_credentials(
        base: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self> {
        let mut base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        if !base.ends_with(BASE_PATH) {
            base.push_str(BASE_PATH);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| ClientError::BadUrl(e.to_string()))?;
        Ok(Self {
            http,
            base,
            credentials,
            device_token: Default::default(),
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        safety: Safety,
        extra_header: Option<(&str, &str)>,
    ) -> Result<T> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let token = self.bearer().await?;
            let mut req = self.http.request(method.clone(), &url).bearer_auth(&token);
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some((k, v)) = extra_header {
                req = req.header(k, v);
            }
            let result = match req.send().await {
                Ok(resp) => parse(resp).await,
                Err(e) => Err((
                    ClientError::Offline {
                        url: url.clone(),
                        reason: describe(&e),
                    },
                    // Nothing reached the server when the connection was never made.
                    e.is_connect(),
                )),
            };
            let (err, never_arrived) = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // A device token the server no longer takes (it restarted with rotated keys, the
            // clock jumped): get a new one and try once more; a refused request was not done.
            if err.api_code() == Some(ErrorCode::Unauthorized)
                && matches!(self.credentials, Credentials::Device { .. })
                && !renewed
            {
                renewed = true;
                *self.device_token.lock().await = None;
                continue;
            }
            attempt += 1;
            let transient = err.is_offline() || err.api_code() == Some(ErrorCode::RateLimited);
            let may_retry = transient && (safety == Safety::Repeatable || never_arrived);
            if !may_retry || attempt >= self.retry.attempts {
                return Err(err);
            }
            let wait = match &err {
                ClientError::Api {
                    retry_after: Some(d),
                    ..
                } => (*d).min(self.retry.max_delay),
                _ => self.retry.delay(attempt),
            };
            tracing::debug!(path, attempt, ?wait, code = err.code(), "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        safety: Safety,
    ) -> Result<T> {
        self.call(Method::POST, path, Some(body), safety, None)
            .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call::<(), T>(Method::GET, path, None, Safety::Repeatable, None)
            .await
    }

    /// The bearer token for the next request: the given one, or a device token (renewed
    /// when it is about to expire).
    async fn bearer(&self) -> Result<String> {
        let (kiosk_id, signer, version) = match &self.credentials {
            Credentials::Bearer(t) => return Ok(t.clone()),
            Credentials::Device {
                kiosk_id,
                signer,
                version,
            } => (kiosk_id, signer, version),
        };
        let mut cached = self.device_token.lock().await;
        if let Some((t, renew_at)) = cached.as_ref()
            && std::time::Instant::now() < *renew_at
        {
            return Ok(t.clone());
        }
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let jti = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let assertion =
            kiosk_identity::client_assertion(kiosk_id, now_s, 120, &jti, |m| signer.sign(m));
        let body = KioskTokenRequest {
            client_assertion: assertion,
            version: version.clone(),
            pending_events: None,
        };
        let t: KioskToken = self
            .unauthenticated(Method::POST, "/kiosks/token", &body)
            .await?;
        let life = Duration::from_secs(t.expires_in).saturating_sub(RENEW_BEFORE);
        *cached = Some((t.access_token.clone(), std::time::Instant::now() + life));
        Ok(t.access_token)
    }

    /// A call without a bearer token (pairing, the token exchange), never retried: each
    /// carries a one-time code or a one-time assertion.
    async fn unauthenticated<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let url = format!("{}{}", self.base, path);
        match self.http.request(method, &url).json(body).send().await {
            Ok(resp) => parse(resp).await.map_err(|(e, _)| e),
            Err(e) => Err(ClientError::Offline {
                url,
                reason: describe(&e),
            }),
        }
    }

    /// Pairs a kiosk's device key with a one-time `code` an administrator made
    /// (`POST /kiosks/pair`): its kiosk id and project.
    pub async fn pair(
        base: &str,
        code: &str,
        signer: &dyn DeviceSigner,
        version: Option<String>,
        timeout: Duration,
    ) -> Result<PairedKiosk> {
        let client = Self::new(base, "", timeout)?;
        // One string signed and sent: the code as both sides read it.
        let code = kiosk_identity::normalize_pairing_code(code);
        let pk = kiosk_identity::b64(&signer.public_key());
        let proof = kiosk_identity::b64(
            &signer.sign(kiosk_identity::pairing_proof_text(&code, &pk).as_bytes()),
        );
        let body = PairKioskRequest {
            code,
            public_key: pk,
            proof,
            version,
        };
        client
            .unauthenticated(Method::POST, "/kiosks/pair", &body)
            .await
    }

    /// Tells the server this kiosk's version and outbox size (`POST /kiosks/status`).
    pub async fn report_status(&self, report: &KioskStatusReport) -> Result<Value> {
        self.post("/kiosks/status", report, Safety::Repeatable)
            .await
    }

    // ---- OTP ---------------------------------------------------------------------------

    /// `locale`: the language the person reads (BCP 47; the server falls back to the
    /// project's default).
    pub async fn send_email_otp(
        &self,
        email: &str,
        project_id: &str,
        locale: Option<&str>,
    ) -> Result<OtpValidation> {
        let body = SendEmailOtpRequest {
            email: email.into(),
            project_id: project_id.into(),
            project_flow_id: None,
            locale: locale.map(String::from),
        };
        self.post("/email/send-otp", &body, Safety::Once).await
    }

    pub async fn send_phone_otp(
        &self,
        phone: &str,
        project_id: &str,
        whatsapp: bool,
        locale: Option<&str>,
    ) -> Result<OtpValidation> {
        let body = SendPhoneOtpRequest {
            phone: phone.into(),
            project_id: project_id.into(),
            project_flow_id: None,
            locale: locale.map(String::from),
        };
        let path = if whatsapp {
            "/phone/send-whatsapp"
        } else {
            "/phone/send-sms"
        };
        self.post(path, &body, Safety::Once).await
    }

    pub async fn verify_email_otp(
        &self,
        email: &str,
        otp: &str,
        validation_id: &str,
    ) -> Result<OtpVerification> {
        let body = VerifyEmailOtpRequest {
            email: email.into(),
            otp: otp.into(),
            validation_id: validation_id.into(),
        };
        self.post("/email/verify-otp", &body, Safety::Once).await
    }

    pub async fn verify_phone_otp(
        &self,
        phone: &str,
        otp: &str,
        validation_id: &str,
    ) -> Result<OtpVerification> {
        let body = VerifyPhoneOtpRequest {
            phone: phone.into(),
            otp: otp.into(),
            validation_id: validation_id.into(),
        };
        self.post("/phone/verify-otp", &body, Safety::Once).await
    }

    // ---- biometric ---------------------------------------------------------------------

    /// Enrols one sample. `idempotency_key` lets a retried upload (after a crash) be
    /// recognised by servers that support it.
    pub async fn register_face(
        &self,
        req: &RegisterFaceRequest,
        idempotency_key: Option<&str>,
    ) -> Result<RegisterFaceResponse> {
        let header = idempotency_key.map(|k| ("idempotency-key", k));
        self.call(
            Method::POST,
            "/biometric/register-face",
            Some(req),
            Safety::Once,
            header,
        )
        .await
    }

    pub async fn verify_face(&self, req: &VerifyFaceRequest) -> Result<VerifyFaceResponse> {
        self.post("/biometric/verify-face", req, Safety::Once).await
    }

    pub async fn liveness_check(
        &self,
        req: &LivenessCheckRequest,
    ) -> Result<LivenessCheckResponse> {
        self.post("/biometric/liveness-check", req, Safety::Once)
            .await
    }

    // ---- sync --------------------------------------------------------------------------

    /// One page of the template feed after `cursor` (`limit` changes at most; the server's
    /// default when `None`), asked conditionally: the cursor goes as `If-None-Match`
    /// (`TemplatePage::etag`), so when it is the feed's head the server answers 304 without
    /// reading a template, and this answers `None`: nothing new.
    pub async fn sync_templates(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Option<TemplatePage>> {
        let mut path = format!("/sync/templates?project_id={}", encode(project_id));
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={}", encode(c)));
        }
        if let Some(l) = limit {
            path.push_str(&format!("&limit={l}"));
        }
        let etag = cursor.map(TemplatePage::etag);
        let header = etag.as_deref().map(|e| ("if-none-match", e));
        self.call::<(), Option<TemplatePage>>(Method::GET, &path, None, Safety::Repeatable, header)
            .await
    }

    /// What the kiosk needs to decide faces offline (`GET /sync/policy`, an addition to the
    /// contract: a server without it answers `NOT_FOUND`).
    pub async fn sync_policy(&self, project_id: &str) -> Result<KioskPolicy> {
        self.get(&format!("/sync/policy?project_id={}", encode(project_id)))
            .await
    }

    /// Erases a person's face samples in a project (`DELETE /biometric/users/{user_id}`).
    /// Idempotent (erasing nobody erases nothing), so it is retried like a read.
    pub async fn erase_user(&self, project_id: &str, user_id: &str) -> Result<DeletedUser> {
        let path = format!(
            "/biometric/users/{}?project_id={}",
            encode(user_id),
            encode(project_id)
        );
        self.call::<(), DeletedUser>(Method::DELETE, &path, None, Safety::Repeatable, None)
            .await
    }

    /// Idempotent by event id, so it is retried like a read.
    pub async fn sync_events(&self, req: &SyncEventsRequest) -> Result<SyncEventsResponse> {
        self.post("/sync/events", req, Safety::Repeatable).await
    }

    // ---- misc --------------------------------------------------------------------------

    pub async fn jwks(&self) -> Result<JwkSet> {
        let url = format!("{}/.well-known/jwks.json", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Offline {
                url: url.clone(),
                reason: describe(&e),
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        serde_json::from_str::<JwkSet>(&text)
            .or_else(|_| unwrap_data(serde_json::from_str(&text).unwrap_or(Value::Null)))
            .map_err(|_| ClientError::Protocol {
                status: status.as_u16(),
                snippet: snippet(&text),
            })
    }

    /// The API's health check (`GET /healthz`): no token, no retry, and at most `timeout`, so
    /// it is cheap enough to ask every second or two. A server that answers but is unwell (a
    /// wedged database: 5xx) is as offline as one that does not answer.
    pub async fn health(&self, timeout: Duration) -> Result<Health> {
        let url = format!("{}/healthz", self.base);
        let resp = self
            .http
            .get(&url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ClientError::Offline {
                url: url.clone(),
                reason: describe(&e),
            })?;
        parse(resp).await.map_err(|(e, _)| e)
    }

    /// Dev outbox (servers started with `--dev-outbox`): messages sent to an address.
    pub async fn dev_outbox(&self, to: &str) -> Result<OutboxList> {
        self.get(&format!("/dev/outbox?to={}", encode(to))).await
    }
}

fn unwrap_data<T: DeserializeOwned>(v: Value) -> std::result::Result<T, serde_json::Error> {
    let data = match v {
        Value::Object(mut m) if m.contains_key("data") => m.remove("data").unwrap_or(Value::Null),
        other => other,
    };
    serde_json::from_value(data)
}

/// Turns a response into data or a typed error; the bool says whether the request surely
/// never arrived (always false once there is a response).
async fn parse<T: DeserializeOwned>(
    resp: reqwest::Response,
) -> std::result::Result<T, (ClientError, bool)> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.text().await.map_err(|e| {
        (
            ClientError::Protocol {
                status: status.as_u16(),
                snippet: e.to_string(),
            },
            false,
        )
    })?;
    let protocol = || {
        (
            ClientError::Protocol {
                status: status.as_u16(),
                snippet: snippet(&text),
            },
            false,
        )
    };
    // A conditional GET's 304 has no body: "nothing new", which a caller asking for an
    // `Option` gets as `None` (any other caller did not ask conditionally).
    if status == StatusCode::NOT_MODIFIED {
        return serde_json::from_value(Value::Null).map_err(|_| protocol());
    }
    let json: Value = serde_json::from_str(&text).map_err(|_| protocol())?;
    if status.is_success() && json.get("success") != Some(&Value::Bool(false)) {
        return unwrap_data(json).map_err(|_| protocol());
    }
    let err: ApiErrorBody = serde_json::from_value(json).map_err(|_| protocol())?;
    let retry_after = retry_after.or_else(|| {
        err.details
            .get("retry_after_s")
            .and_then(Value::as_u64)
            .map(Duration::from_secs)
    });
    Err((
        ClientError::Api {
            status: if status == StatusCode::OK {
                400
            } else {
                status.as_u16()
            },
            code: err.code,
            message: err.error,
            details: err.details,
            retry_after,
        },
        false,
    ))
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(120).collect();
    if t.is_empty() { "<empty>".into() } else { t }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or no route".into()
    } else {
        // reqwest's Display includes the URL but never headers, so the token cannot leak.
        e.to_string()
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("a b+c@d"), "a%20b%2Bc%40d");
    }

    #[test]
    fn plain_data_shape_and_seed_envelope_both_unwrap() {
        let v: Health =
            unwrap_data(serde_json::json!({"data": {"status":"ok","version":"1","vision":"x"}}))
                .unwrap();
        assert_eq!(v.status, "ok");
        let v: Health = unwrap_data(serde_json::json!({"success": true, "message": "", "data": {"status":"ok","version":"1","vision":"x"}})).unwrap();
        assert_eq!(v.version, "1");
    }

    #[test]
    fn only_no_answer_from_the_api_is_unreachable() {
        let api = |status, code| ClientError::Api {
            status,
            code,
            message: String::new(),
            details: Value::Null,
            retry_after: None,
        };
        let protocol = |status| ClientError::Protocol {
            status,
            snippet: String::new(),
        };
        let offline = ClientError::Offline {
            url: String::new(),
            reason: String::new(),
        };
        assert!(offline.is_unreachable());
        for s in [502, 503, 504] {
            assert!(protocol(s).is_unreachable(), "{s}");
        }
        // The API answered: its word stands, even a 503 of its own.
        for e in [
            api(503, ErrorCode::SecurityCheckUnavailable),
            api(404, ErrorCode::NotEnrolled),
            api(409, ErrorCode::FlowPaused),
            api(500, ErrorCode::InternalError),
            protocol(200),
            protocol(500),
        ] {
            assert!(!e.is_unreachable(), "{e:?}");
        }
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy::default();
        for n in 0..30 {
            assert!(p.delay(n) <= p.max_delay);
        }
    }

    #[test]
    fn urls_are_checked_and_completed() {
        let c = AccessClient::new("http://127.0.0.1:1/", "t", Duration::from_secs(1)).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:1/v2/access");
        assert_eq!(
            AccessClient::new("ftp://x", "t", Duration::from_secs(1))
                .unwrap_err()
                .code(),
            "API_URL_INVALID"
        );
        assert!(!format!("{c:?}").contains("\"t\""));
    }
}
