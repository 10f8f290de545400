//! Wire types of the Access API (`/v2/access`), shared by `access-server` and the kiosk client
//! so both sides serialise exactly the same JSON.
//!
//! Conventions: snake_case JSON fields; request types reject unknown fields (a typo must not be
//! silently ignored); timestamps are RFC 3339 UTC strings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod error_code;
pub use error_code::ErrorCode;

pub mod access_token;
pub mod face_attempts;
pub mod identifiers;
pub mod kiosk_identity;
pub use identifiers::{Email, IdentifierError, ListEntry, OtpCode, PhoneE164, UserId};

/// Base path every endpoint lives under.
pub const BASE_PATH: &str = "/v2/access";

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

/// `{"success": true, "data": {...}, "message": "..."}`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiSuccess<T> {
    pub success: bool,
    pub data: T,
    #[serde(default)]
    pub message: String,
}

impl<T> ApiSuccess<T> {
    pub fn new(data: T, message: impl Into<String>) -> Self {
        Self {
            success: true,
            data,
            message: message.into(),
        }
    }
}

/// `{"success": false, "error": "human text", "code": "MACHINE_CODE", "details": {...}}`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ApiErrorBody {
    pub success: bool,
    pub error: String,
    pub code: ErrorCode,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Either envelope, for clients: deserialise a response body without knowing its status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ApiResponse<T> {
    Ok(ApiSuccess<T>),
    Err(ApiErrorBody),
}

// ---------------------------------------------------------------------------------------------
// Common enums
// ---------------------------------------------------------------------------------------------

/// `as_str` and `parse` for wire enums, from strum's derive: the spelling is written once, by
/// `serialize_all = "snake_case"` beside serde's `rename_all` (a test checks they agree).
macro_rules! wire_names {
    ($($t:ty),+) => {$(
        impl $t {
            /// The wire spelling, e.g. `"pending"`.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
            /// The value of a wire spelling; None for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    )+};
}

/// A snake_case wire enum: serde, strum and the OpenAPI schema spell it the same, and with the
/// `ts` feature it is the web UI's TypeScript type too (under the name given after `ts`).
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, ts $ts_name:literal { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema,
            strum::IntoStaticStr, strum::EnumString, strum::Display, strum::VariantArray)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = $ts_name))]
        #[strum(serialize_all = "snake_case")]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }
        wire_names!($name);
    };
}

wire_enum!(
    /// Lifecycle of every validation: `pending` → `validated` | `failed` | `expired`.
    ValidationStatus, ts "OtpStatus" { Pending, Validated, Failed, Expired }
);

wire_enum!(
    /// How a one-time code is sent.
    Channel, ts "OtpChannel" { Email, Sms, Whatsapp }
);

wire_enum!(
    /// Why the server refused an offline event.
    EventRefusal, ts "EventRefusal" {
        Unsigned, BadSignature, OtherProject, TooLarge, ImplausibleTime, Malformed
    }
);

wire_enum!(
    /// A language the messages people receive are written in (ISO 639-1).
    Locale, ts "Locale" { En, Es }
);

wire_enum!(
    /// Scope of an API bearer token.
    ApiScope, ts "ApiScope" {
        /// Login endpoints and kiosk sync.
        Kiosk,
        /// Everything a kiosk may do, plus projects, flows, webhooks and users.
        Admin,
        /// `GET /metrics` only (a Prometheus scraper's token): refused everywhere else.
        Metrics,
    }
);

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// Claims of an API bearer token (`token_use = "api"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub scope: ApiScope,
    pub token_use: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The one project a kiosk-scope token may act on (every kiosk token has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The paired kiosk a kiosk-scope token was issued to (from its device key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk_id: Option<String>,
}

/// `POST /tokens` (admin): a recorded admin token for an integration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    /// Who or what holds it, e.g. `payroll-sync`.
    pub subject: String,
    /// Lifetime in seconds; at most the server's `admin_token_max_ttl_s` (default 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// `admin` (the default) or `metrics` (reads `/metrics` only). Kiosk tokens come from
    /// pairing, never from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ApiScope>,
    /// The operator's password, asked again when a console session mints (a session left
    /// open is not enough to make a credential that outlives it); a bearer token sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A recorded admin token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ApiTokenInfo {
    /// The token's `jti`: what revocation names.
    pub id: String,
    pub subject: String,
    pub scope: ApiScope,
    pub created_at: String,
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// A new token: the only time it is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CreatedApiToken {
    pub token: String,
    #[serde(flatten)]
    pub info: ApiTokenInfo,
}

/// Claims of the end-user access token a validated login returns (`token_use = "access"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The identifier that logged in (email, phone or user id).
    pub sub: String,
    /// The project id.
    pub aud: String,
    /// Methods used, e.g. `["otp", "email"]` or `["face", "liveness"]`.
    pub amr: Vec<String>,
    pub token_use: String,
    pub project_flow_id: String,
    pub validation_id: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// One public key of `/.well-known/jwks.json` (Ed25519, RFC 8037).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

// ---------------------------------------------------------------------------------------------
// OTP
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmailOtpRequest {
    pub email: String,
    pub project_id: String,
    /// Optional: which login flow of the project; default is the project's login flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_flow_id: Option<String>,
    /// Optional: the person's language as a BCP 47 tag (`es`, `es-MX`). Its language picks the
    /// message's texts when the server has them (`en`, `es`); otherwise the project's
    /// `messages.default_locale`, else English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPhoneOtpRequest {
    /// International form: `+` (or `00`) and the country code, formatted any usual way
    /// (`+44 (0)20 7946 0958`); normalised to E.164 (`+442079460958`). A number its country's
    /// numbering plan does not have is 400 `INVALID_PHONE`, and nothing is sent.
    pub phone: String,
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_flow_id: Option<String>,
    /// Optional: the person's language, as for email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailOtpRequest {
    pub email: String,
    /// 6 digits; spaces, hyphens and full-width digits are accepted (`123 456`). Anything else
    /// is 400 `INVALID_OTP_FORMAT`, which does not use up an attempt.
    pub otp: String,
    pub validation_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPhoneOtpRequest {
    pub phone: String,
    /// 6 digits; spaces, hyphens and full-width digits are accepted (`123 456`). Anything else
    /// is 400 `INVALID_OTP_FORMAT`, which does not use up an attempt.
    pub otp: String,
    pub validation_id: String,
}

/// Answer to send-otp / send-sms / send-whatsapp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct OtpValidation {
    pub validation_id: String,
    pub status: ValidationStatus,
    pub expires_at: String,
    pub channel: Channel,
    pub project_id: String,
    pub project_flow_id: String,
    /// True when this send replaced the code of a still-pending validation.
    pub resent: bool,
    pub attempts_remaining: u32,
}

/// A validated login: the end-user token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct LoginToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// Answer to verify-otp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct OtpVerification {
    pub validation_id: String,
    pub status: ValidationStatus,
    /// When the validation would have expired (RFC 3339).
    #[serde(default)]
    pub expires_at: String,
    pub project_id: String,
    pub project_flow_id: String,
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

// ---------------------------------------------------------------------------------------------
// Biometric
// ---------------------------------------------------------------------------------------------

/// Where an enrolment sample comes from. A camera's sample must be live when the flow
/// requires liveness; a trusted file (an operator's photo, `kiosk enroll --images`) is not
/// asked for liveness. Recorded with the template and in the `created` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolSource {
    Camera,
    File,
}

impl EnrolSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::File => "file",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFaceRequest {
    pub user_id: String,
    pub project_id: String,
    /// Base64 JPEG or PNG (a `data:` URL prefix is accepted).
    pub face_image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_flow_id: Option<String>,
    /// RFC 3339: when the sample was taken (a kiosk uploading what it enrolled offline). A
    /// sample taken before the person was erased in the project is refused (409
    /// `PERSON_ERASED`): an erasure is not undone by a kiosk that was offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
    /// Absent: a file when an admin token uploads it (an operator's photo), else a camera's
    /// sample as before (not checked for liveness here: the kiosk did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EnrolSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FaceQuality {
    pub passed: bool,
    pub issues: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RegisterFaceResponse {
    pub validation_id: String,
    pub status: ValidationStatus,
    pub expires_at: String,
    pub user_id: String,
    pub project_id: String,
    pub template_id: String,
    pub model_id: String,
    /// Face samples the user now has enrolled in this project.
    pub samples: u32,
    pub face_score: f32,
    pub quality: FaceQuality,
    /// Where the sample came from, as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EnrolSource>,
    /// The liveness score of a camera's sample, when it was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_score: Option<f32>,
}

/// 1:1 when `user_id` is given, 1:N over the project's enrolled users otherwise.
/// Without `validation_id`, `project_id` is required and a new validation is opened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyFaceRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub face_image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct VerifyFaceResponse {
    pub validation_id: String,
    pub status: ValidationStatus,
    #[serde(default)]
    pub expires_at: String,
    pub matched: bool,
    /// Best cosine similarity found (1:1: against the user's samples). Absent on a 1:N miss:
    /// a score against an unnamed gallery would make the endpoint an oracle for probing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_score: Option<f32>,
    pub threshold: f32,
    /// The matched user (1:N) or the requested one (1:1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub attempts_remaining: u32,
    pub liveness_required: bool,
    /// Present once a liveness check ran on this validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_passed: Option<bool>,
    /// When the flow requires liveness and the face matched, the liveness score of this same
    /// image (one upload, one pipeline pass; `liveness-check` is then not needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_score: Option<f32>,
    /// The flow's `liveness_min_score`, beside `liveness_score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_min_score: Option<f32>,
    /// The sign-in passed in this call: matched and, when the flow requires it, live; the
    /// validation is `validated` and `access_token` is here.
    #[serde(default)]
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LivenessCheckRequest {
    pub face_image: String,
    pub validation_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct LivenessCheckResponse {
    pub validation_id: String,
    pub status: ValidationStatus,
    #[serde(default)]
    pub expires_at: String,
    pub liveness_score: f32,
    pub min_score: f32,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Projects, flows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How the codes this project sends read.
    #[serde(default)]
    pub messages: ProjectMessages,
    pub created_at: String,
    pub updated_at: String,
}

/// How a project's one-time-code messages read: its default language and, per language, texts
/// that replace the built-in ones (what is not given stays built in).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectMessages {
    /// The language of a send that names none (or one the server has no texts for); English
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_locale: Option<Locale>,
    /// Texts by language (`en`, `es`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub templates: std::collections::BTreeMap<String, MessageTemplates>,
}

/// One language's texts. `{code}` becomes the code and `{minutes}` its lifetime; every text
/// must hold `{code}`, and is at most 1,000 characters (an SMS of 160 is cheapest).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplates {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_body: Option<String>,
    /// SMS, and WhatsApp inside a 24-hour session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// WhatsApp's approved template (the gateway's content id, e.g. Twilio's `HX…`), sent with
    /// the code as its variable `1`: gateways refuse free text outside a 24-hour session.
    /// Without one, the server's `sms.whatsapp_templates` for the language, else the `sms` text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_template: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub messages: ProjectMessages,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces the project's messages whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<ProjectMessages>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowType {
    Login,
}

wire_enum!(
    /// Whether a login flow is in use.
    FlowStatus, ts "FlowStatus" { Draft, Active, Paused }
);

/// Which login methods a flow offers and how strict face login is. Face decisions are set
/// as error rates (`vision::decision` turns them into thresholds for the project's gallery).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    pub email: bool,
    pub sms: bool,
    pub whatsapp: bool,
    pub face: bool,
    pub liveness_required: bool,
    pub liveness_min_score: f32,
    /// 1:1 false match rate (a fraction; default 1e-4, NIST SP 800-63B-4).
    pub target_fmr: f64,
    /// 1:N false positive identification rate (default 1e-3): a stranger taken for anyone.
    pub target_fpir: f64,
    /// 1:N is off, and a person is asked who they are, when the threshold holding
    /// `target_fpir` would turn away more than this share of enrolled people (default 0.2).
    pub fnir_ceiling: f64,
    /// An expert's raw cosine threshold in place of the targets (null: the targets decide).
    pub match_min_score: Option<f32>,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            email: true,
            sms: false,
            whatsapp: false,
            face: false,
            liveness_required: true,
            // The vision crate's defaults (checked by a test in access-server).
            liveness_min_score: 0.6,
            target_fmr: 1e-4,
            target_fpir: 1e-3,
            fnir_ceiling: 0.2,
            match_min_score: None,
        }
    }
}

/// What a flow's face targets give for its project's gallery today (`GET
/// /project-flows/{id}/face-rates`): the thresholds and the rates they are expected to hold
/// (`vision::decision`). Rates are fractions; null where nothing can be promised (no
/// calibration for the model).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FaceRates {
    pub flow_id: String,
    pub project_id: String,
    /// People enrolled with the server's embedding model (a 1:N probe is compared with each).
    pub people: u64,
    pub target_fmr: f64,
    pub target_fpir: f64,
    pub fnir_ceiling: f64,
    /// The expert threshold, when one replaces the targets.
    pub match_min_score: Option<f32>,
    /// 1:1: the cosine threshold, the expected FMR and FNMR there.
    pub verify_threshold: f32,
    pub verify_fmr: Option<f64>,
    pub verify_fnmr: Option<f64>,
    /// 1:N: the threshold at this gallery size, the expected FPIR and FNIR there.
    pub identify_threshold: f32,
    pub identify_fpir: Option<f64>,
    pub identify_fnir: Option<f64>,
    /// Whether face-only sign-in (1:N) is on; when off, a person is asked who they are.
    pub identify_on: bool,
    /// Why it is off: `fnir_above_ceiling`, `fpir_above_target`, `uncalibrated`.
    pub identify_off_reason: Option<String>,
    /// The most people 1:N can hold the targets for (null: not even one).
    pub identify_capacity: Option<u64>,
    /// Whether the project's own enrolled faces refined the thresholds.
    pub site_refined: bool,
    /// How the model's calibration was made.
    pub calibration: Option<String>,
}

/// PATCH of [`LoginSettings`]: only the given fields change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginSettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_min_score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_fmr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_fpir: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fnir_ceiling: Option<f64>,
    /// Absent: unchanged; `null`: back to the targets; a number: an expert threshold.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_or_null"
    )]
    #[schema(value_type = Option<f32>)]
    pub match_min_score: Option<Option<f32>>,
}

/// A PATCH field that tells "absent" (`None`, by `default`) from `null` (`Some(None)`).
fn present_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    /// Anyone may log in.
    #[default]
    None,
    /// Only the listed identifiers.
    Whitelist,
    /// Everyone except the listed identifiers.
    Blacklist,
    /// The customer's URL is asked (POST `{identifier, project_id, project_flow_id, method}`,
    /// answer `{"allowed": bool}`); no answer within the timeout means refused.
    Url,
}

/// "Database connection" settings: who may log in through a flow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    pub mode: SecurityMode,
    /// Identifiers (emails, phone numbers, user ids) for whitelist / blacklist. Normalised
    /// when the flow is saved, by the rules a login's identifier is normalised by (emails
    /// lower-cased, phones to E.164: see `identifiers::ListEntry`); an entry that is none of
    /// the three is refused with 400 and `details.entry`. User ids compare ASCII-case-
    /// insensitively.
    pub identifiers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub timeout_ms: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            mode: SecurityMode::None,
            identifiers: Vec::new(),
            url: None,
            timeout_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ProjectFlow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub flow_type: FlowType,
    pub status: FlowStatus,
    pub login: LoginSettings,
    pub security: SecuritySettings,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectFlowRequest {
    pub project_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub flow_type: FlowType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FlowStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySettings>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectFlowRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FlowStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginSettingsPatch>,
    /// Replaces the security settings as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySettings>,
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// Every event type the server emits, as webhooks name them (`email_validation.created`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::VariantArray,
)]
pub enum WebhookEventType {
    #[serde(rename = "email_validation.created")]
    #[strum(serialize = "email_validation.created")]
    EmailValidationCreated,
    #[serde(rename = "email_validation.validated")]
    #[strum(serialize = "email_validation.validated")]
    EmailValidationValidated,
    #[serde(rename = "email_validation.failed")]
    #[strum(serialize = "email_validation.failed")]
    EmailValidationFailed,
    #[serde(rename = "email_validation.expired")]
    #[strum(serialize = "email_validation.expired")]
    EmailValidationExpired,
    /// Too many wrong codes in a row for the address: it is locked for a while.
    #[serde(rename = "email_validation.locked")]
    #[strum(serialize = "email_validation.locked")]
    EmailValidationLocked,
    #[serde(rename = "phone_validation.created")]
    #[strum(serialize = "phone_validation.created")]
    PhoneValidationCreated,
    #[serde(rename = "phone_validation.validated")]
    #[strum(serialize = "phone_validation.validated")]
    PhoneValidationValidated,
    #[serde(rename = "phone_validation.failed")]
    #[strum(serialize = "phone_validation.failed")]
    PhoneValidationFailed,
    #[serde(rename = "phone_validation.expired")]
    #[strum(serialize = "phone_validation.expired")]
    PhoneValidationExpired,
    #[serde(rename = "phone_validation.locked")]
    #[strum(serialize = "phone_validation.locked")]
    PhoneValidationLocked,
    #[serde(rename = "biometric_validation.created")]
    #[strum(serialize = "biometric_validation.created")]
    BiometricValidationCreated,
    #[serde(rename = "biometric_validation.validated")]
    #[strum(serialize = "biometric_validation.validated")]
    BiometricValidationValidated,
    #[serde(rename = "biometric_validation.failed")]
    #[strum(serialize = "biometric_validation.failed")]
    BiometricValidationFailed,
    #[serde(rename = "biometric_validation.expired")]
    #[strum(serialize = "biometric_validation.expired")]
    BiometricValidationExpired,
    #[serde(rename = "biometric_validation.match_failed")]
    #[strum(serialize = "biometric_validation.match_failed")]
    BiometricValidationMatchFailed,
    #[serde(rename = "biometric_validation.liveness_passed")]
    #[strum(serialize = "biometric_validation.liveness_passed")]
    BiometricValidationLivenessPassed,
    #[serde(rename = "biometric_validation.liveness_failed")]
    #[strum(serialize = "biometric_validation.liveness_failed")]
    BiometricValidationLivenessFailed,
    /// A paired kiosk let someone in while it could not reach the server (its signed offline
    /// event arrived and verified).
    #[serde(rename = "kiosk.offline_sign_in")]
    #[strum(serialize = "kiosk.offline_sign_in")]
    KioskOfflineSignIn,
    /// A face sample was enrolled for a person (`data`: project, user, template, source, by).
    #[serde(rename = "face.enrolled")]
    #[strum(serialize = "face.enrolled")]
    FaceEnrolled,
    /// A person's face samples were erased (`data`: project, user, how many, by).
    #[serde(rename = "face.erased")]
    #[strum(serialize = "face.erased")]
    FaceErased,
    /// An administrator confirmed a person's face samples: kiosks may no longer erase them,
    /// and a kiosk may enrol them again after a kiosk's erasure.
    #[serde(rename = "face.confirmed")]
    #[strum(serialize = "face.confirmed")]
    FaceConfirmed,
    /// 1:N (face-only sign-in) turned off for the project: it cannot hold its flow's error
    /// rates at the gallery's size (`data`: people, expected FNIR, ceiling).
    #[serde(rename = "face.identification_off")]
    #[strum(serialize = "face.identification_off")]
    FaceIdentificationOff,
    /// 1:N turned back on for the project.
    #[serde(rename = "face.identification_on")]
    #[strum(serialize = "face.identification_on")]
    FaceIdentificationOn,
}
wire_names!(WebhookEventType);

/// Every event type's name, for listing (the enum is the owner).
pub fn webhook_event_types() -> Vec<&'static str> {
    <WebhookEventType as strum::VariantArray>::VARIANTS
        .iter()
        .map(|e| e.as_str())
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_flow_id: Option<String>,
    pub url: String,
    /// Subscribed event types; empty means all.
    pub events: Vec<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Creation answer: the only time the signing secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_<base64>`; shown once.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_flow_id: Option<String>,
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The JSON body POSTed to a webhook endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WebhookDelivery {
    /// Also the `webhook-id` header: stable across retries so receivers can de-duplicate.
    pub id: String,
    pub webhook_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    pub log: Vec<DeliveryAttempt>,
}

// ---------------------------------------------------------------------------------------------
// Users (enrolled faces)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct EnrolledUser {
    pub user_id: String,
    pub project_id: String,
    pub samples: u32,
    pub first_enrolled_at: String,
    /// RFC 3339: the person's latest face sign-in, decided by this server or reported by a
    /// kiosk that decided it offline (a signed `sign_in` event); absent if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DeletedUser {
    pub user_id: String,
    pub project_id: String,
    pub templates_deleted: u32,
}

// ---------------------------------------------------------------------------------------------
// Kiosk sync
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateOp {
    Upsert,
    Delete,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TemplateChange {
    pub template_id: String,
    pub user_id: String,
    pub project_id: String,
    pub model_id: String,
    pub op: TemplateOp,
    /// L2-normalised embedding; absent for deletions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    pub rev: u64,
    pub changed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TemplatePage {
    pub items: Vec<TemplateChange>,
    /// Pass back as `cursor` to get the changes after this page.
    pub next_cursor: String,
    pub has_more: bool,
}

impl TemplatePage {
    /// The feed's entity tag (`ETag` of every `GET /sync/templates` answer): the project's
    /// newest revision, quoted, the same whatever the cursor. A kiosk that has read the feed
    /// to its end holds that revision as its cursor, so it asks "anything new?" with
    /// `If-None-Match: TemplatePage::etag(cursor)`; the server answers 304 without reading a
    /// template when nothing changed.
    pub fn etag(rev: &str) -> String {
        format!("\"{rev}\"")
    }

    /// Whether an `If-None-Match` value names `etag` (a list and weak tags allowed).
    pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|t| t.strip_prefix("W/").unwrap_or(t) == etag)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSyncQuery {
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What a kiosk needs to decide a face on its own while the API cannot be reached, from
/// `GET /sync/policy?project_id=` (an addition to the contract): the state and methods of the
/// flow a login goes through now and its white or black list. Deleted people need no entry:
/// their templates leave the cache through the template feed's tombstones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct KioskPolicy {
    pub project_id: String,
    /// The project's login flow (its active one, else the paused or draft one that explains
    /// why none is active); absent when the project has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<KioskFlowPolicy>,
    /// When the server answered (RFC 3339).
    pub generated_at: String,
    /// The server's signing keys in force, signed by each of them (additive): a kiosk learns
    /// a rotation from it when a key it pinned signed it (`access_token::SignedKeySet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_keys: Option<access_token::SignedKeySet>,
}

/// A login flow as a kiosk sees it: no customer URL, no secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct KioskFlowPolicy {
    pub id: String,
    pub status: FlowStatus,
    pub login: LoginSettings,
    pub security_mode: SecurityMode,
    /// The white or black list's entries (normal form); empty for the other modes.
    #[serde(default)]
    pub identifiers: Vec<String>,
}

impl KioskPolicy {
    /// The code the server would refuse a face login of `user_id` with, judged offline from
    /// this policy (None: allowed). `user_id` None asks about the flow alone. A flow that asks
    /// the customer's URL cannot be judged without the network, so it is refused as the
    /// server refuses a URL it cannot reach (`SECURITY_CHECK_UNAVAILABLE`).
    pub fn offline_face_refusal(&self, user_id: Option<&str>) -> Option<ErrorCode> {
        let Some(flow) = &self.flow else {
            return Some(ErrorCode::NoLoginFlow);
        };
        match flow.status {
            FlowStatus::Active => {}
            FlowStatus::Paused => return Some(ErrorCode::FlowPaused),
            FlowStatus::Draft => return Some(ErrorCode::FlowNotActive),
        }
        if !flow.login.face {
            return Some(ErrorCode::MethodDisabled);
        }
        let user = user_id?;
        let listed = || identifiers::list_contains(&flow.identifiers, user);
        match flow.security_mode {
            SecurityMode::None => None,
            SecurityMode::Whitelist if listed() => None,
            SecurityMode::Blacklist if !listed() => None,
            SecurityMode::Whitelist | SecurityMode::Blacklist => {
                Some(ErrorCode::IdentifierNotAllowed)
            }
            SecurityMode::Url => Some(ErrorCode::SecurityCheckUnavailable),
        }
    }
}

/// Something that happened on a kiosk while offline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineEvent {
    /// Made by the kiosk (e.g. a UUID); the idempotency key.
    pub event_id: String,
    /// e.g. `sign_in`, `enrolment`, `sign_in_failed`.
    pub kind: String,
    pub project_id: String,
    /// RFC 3339.
    pub occurred_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Base64url Ed25519 signature by the kiosk's device key over
    /// [`OfflineEvent::signing_input`]; events without a valid one are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncEventsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk_id: Option<String>,
    pub events: Vec<OfflineEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SyncEventsResponse {
    /// Ids stored by this call.
    pub accepted: Vec<String>,
    /// Ids the server already had (a retried upload); not stored again.
    pub duplicates: Vec<String>,
    /// Events not stored, each with why: sending them again cannot help.
    #[serde(default)]
    pub refused: Vec<RefusedEvent>,
}

/// An offline event the server will never store, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RefusedEvent {
    pub event_id: String,
    pub reason: EventRefusal,
    /// The reason in words.
    pub detail: String,
}

// ---------------------------------------------------------------------------------------------
// Dev outbox, health
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct OutboxMessage {
    pub channel: Channel,
    pub to: String,
    pub body: String,
    pub code: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct OutboxList {
    pub messages: Vec<OutboxMessage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub vision: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_feed_etag_is_the_quoted_revision_and_matches_lists() {
        use super::TemplatePage;
        let e = TemplatePage::etag("42");
        assert_eq!(e, "\"42\"");
        assert!(TemplatePage::etag_matches("\"42\"", &e));
        assert!(TemplatePage::etag_matches("\"7\", W/\"42\"", &e));
        assert!(!TemplatePage::etag_matches("\"4\"", &e));
        assert!(!TemplatePage::etag_matches("42", &e));
    }

    use super::*;

    /// strum's spelling (as_str, parse) and serde's agree for every wire enum.
    fn names_agree<T>()
    where
        T: strum::VariantArray + Copy + Serialize + for<'de> Deserialize<'de> + PartialEq,
        T: std::fmt::Debug + Into<&'static str> + std::str::FromStr,
    {
        for &v in T::VARIANTS {
            let name: &'static str = v.into();
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{name}\""));
            assert_eq!(name.parse::<T>().ok(), Some(v));
        }
    }

    #[test]
    fn wire_enums_spell_themselves_one_way() {
        names_agree::<ValidationStatus>();
        names_agree::<Channel>();
        names_agree::<ApiScope>();
        names_agree::<FlowStatus>();
        names_agree::<WebhookEventType>();
        names_agree::<EventRefusal>();
        assert_eq!(webhook_event_types().len(), 23);
        assert_eq!(Channel::parse("whatsapp"), Some(Channel::Whatsapp));
        assert_eq!(Channel::parse("WhatsApp"), None);
    }

    #[test]
    fn error_code_is_screaming_snake_and_round_trips() {
        let j = serde_json::to_string(&ErrorCode::MaxAttemptsExceeded).unwrap();
        assert_eq!(j, "\"MAX_ATTEMPTS_EXCEEDED\"");
        let back: ErrorCode = serde_json::from_str("\"INVALID_OTP\"").unwrap();
        assert_eq!(back, ErrorCode::InvalidOtp);
        assert_eq!(ErrorCode::InvalidOtp.http_status(), 400);
        assert_eq!(ErrorCode::OtpExpired.http_status(), 410);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        for c in ErrorCode::ALL {
            let s = serde_json::to_value(c).unwrap();
            assert_eq!(s.as_str(), Some(c.as_str()));
        }
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let r: Result<SendEmailOtpRequest, _> =
            serde_json::from_str(r#"{"email":"a@b.c","project_id":"p","bogus":1}"#);
        assert!(r.is_err());
    }

    #[test]
    fn envelope_either_shape_parses() {
        let ok: ApiResponse<Health> = serde_json::from_str(
            r#"{"success":true,"data":{"status":"ok","version":"1","vision":"ready"},"message":""}"#,
        )
        .unwrap();
        assert!(matches!(ok, ApiResponse::Ok(_)));
        let err: ApiResponse<Health> = serde_json::from_str(
            r#"{"success":false,"error":"x","code":"OTP_EXPIRED","details":{}}"#,
        )
        .unwrap();
        match err {
            ApiResponse::Err(e) => assert_eq!(e.code, ErrorCode::OtpExpired),
            ApiResponse::Ok(_) => panic!("parsed an error as success"),
        }
    }

    #[test]
    fn an_offline_face_is_judged_by_the_flow_and_its_lists() {
        let flow = |status, face, mode, ids: &[&str]| KioskPolicy {
            project_id: "p".into(),
            flow: Some(KioskFlowPolicy {
                id: "f".into(),
                status,
                login: LoginSettings {
                    face,
                    ..LoginSettings::default()
                },
                security_mode: mode,
                identifiers: ids.iter().map(|s| s.to_string()).collect(),
            }),
            generated_at: String::new(),
            signing_keys: None,
        };
        use FlowStatus::*;
        use SecurityMode as M;
        let open = flow(Active, true, M::None, &[]);
        assert_eq!(open.offline_face_refusal(Some("ada")), None);
        assert_eq!(open.offline_face_refusal(None), None);
        for (p, code) in [
            (flow(Paused, true, M::None, &[]), ErrorCode::FlowPaused),
            (flow(Draft, true, M::None, &[]), ErrorCode::FlowNotActive),
            (flow(Active, false, M::None, &[]), ErrorCode::MethodDisabled),
        ] {
            assert_eq!(p.offline_face_refusal(Some("ada")), Some(code));
            assert_eq!(p.offline_face_refusal(None), Some(code));
        }
        let none = KioskPolicy {
            flow: None,
            ..open.clone()
        };
        assert_eq!(
            none.offline_face_refusal(None),
            Some(ErrorCode::NoLoginFlow)
        );
        let black = flow(Active, true, M::Blacklist, &["ada"]);
        assert_eq!(
            black.offline_face_refusal(Some("ADA")),
            Some(ErrorCode::IdentifierNotAllowed)
        );
        assert_eq!(black.offline_face_refusal(Some("bob")), None);
        let white = flow(Active, true, M::Whitelist, &["ada"]);
        assert_eq!(white.offline_face_refusal(Some("ada")), None);
        assert_eq!(
            white.offline_face_refusal(Some("bob")),
            Some(ErrorCode::IdentifierNotAllowed)
        );
        assert_eq!(
            flow(Active, true, M::Url, &[]).offline_face_refusal(Some("ada")),
            Some(ErrorCode::SecurityCheckUnavailable)
        );
    }
}
