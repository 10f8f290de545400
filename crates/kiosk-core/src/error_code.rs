//! Every code a kiosk error can carry to a screen, a log line or a script, in one enum (as the
//! API's `error_codes!` lists the server's): the engine's own, and those of the crates below it
//! (vision, camera, store, files, the API client and the API itself), which keep their own
//! `code()`. A test checks that every code those crates can produce is listed here.

use serde::{Deserialize, Serialize};

macro_rules! kiosk_codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal ),+ $(,)?) => {
        /// A stable error code, serialised as its SCREAMING_SNAKE spelling (the UI's message
        /// key is `err.<CODE>`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum KioskCode {
            $( $(#[$doc])* #[serde(rename = $text)] $variant, )+
        }

        impl KioskCode {
            pub const ALL: &'static [KioskCode] = &[ $( KioskCode::$variant, )+ ];

            /// The wire spelling, e.g. `"LOCKED_OUT"`.
            pub fn as_str(self) -> &'static str {
                match self { $( KioskCode::$variant => $text, )+ }
            }

            /// The code of a spelling; None for one nobody defined.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $text => Some(KioskCode::$variant), )+ _ => None }
            }
        }
    };
}

kiosk_codes! {
    // ---- the engine's own
    /// Codes need the Access API, which cannot be reached.
    UnavailableOffline = "UNAVAILABLE_OFFLINE",
    /// No API URL, token or project is configured.
    NotConfigured = "NOT_CONFIGURED",
    /// Too many failed face attempts; `details.retry_after_s`.
    LockedOut = "LOCKED_OUT",
    AdminRefused = "ADMIN_REFUSED",
    AdminRequired = "ADMIN_REQUIRED",
    AdminPinNotSet = "ADMIN_PIN_NOT_SET",
    AdminPinInvalid = "ADMIN_PIN_INVALID",
    /// Too many wrong PINs in a row; `details.retry_after_s` until a PIN is checked again.
    AdminPinLocked = "ADMIN_PIN_LOCKED",
    /// Offline longer than `offline_max_hours` since the last good sync: the cache no longer
    /// decides faces (`details.max_hours`, `details.last_sync`); codes and staff still work
    /// once the API is back.
    OfflineTooLong = "OFFLINE_TOO_LONG",
    EnrolSampleCount = "ENROL_SAMPLE_COUNT",
    FaceQuality = "FACE_QUALITY",
    LivenessFailed = "LIVENESS_FAILED",
    EnrolInconsistent = "ENROL_INCONSISTENT",
    AlreadyEnrolled = "ALREADY_ENROLLED",
    SampleMismatch = "SAMPLE_MISMATCH",
    InvalidUserId = "INVALID_USER_ID",
    NoFrames = "NO_FRAMES",
    EngineStopped = "ENGINE_STOPPED",
    DeviceKey = "DEVICE_KEY",
    SettingsInvalid = "SETTINGS_INVALID",
    SettingsRead = "SETTINGS_READ",
    SettingsWrite = "SETTINGS_WRITE",
    IoError = "IO_ERROR",
    ConfigInvalid = "CONFIG_INVALID",
    /// The API URL is plain HTTP to a host other than loopback (`allow_insecure_http` is off).
    ApiUrlInsecure = "API_URL_INSECURE",
    /// The saved offline policy cannot be read: faces are not decided from the cache.
    OfflinePolicyUnreadable = "OFFLINE_POLICY_UNREADABLE",
    /// The API's answer to a face claimed a sign-in without an access token this kiosk could
    /// verify (signature by a pinned key, its project, the person named, fresh): refused.
    AnswerUnverified = "ANSWER_UNVERIFIED",
    // ---- vision
    NoFace = "NO_FACE",
    MultipleFaces = "MULTIPLE_FACES",
    ImageEmpty = "IMAGE_EMPTY",
    ImageCorrupt = "IMAGE_CORRUPT",
    ImageUnsupported = "IMAGE_UNSUPPORTED",
    ImageTooLarge = "IMAGE_TOO_LARGE",
    FrameSize = "FRAME_SIZE",
    ModelMissing = "MODEL_MISSING",
    ModelRead = "MODEL_READ",
    ModelHashMismatch = "MODEL_HASH_MISMATCH",
    RuntimeMissing = "RUNTIME_MISSING",
    RuntimeLoad = "RUNTIME_LOAD",
    InferenceFailed = "INFERENCE_FAILED",
    DimensionMismatch = "DIMENSION_MISMATCH",
    EmbeddingCorrupt = "EMBEDDING_CORRUPT",
    // ---- camera
    NoCamera = "NO_CAMERA",
    CameraBusy = "CAMERA_BUSY",
    CameraPermission = "CAMERA_PERMISSION",
    CameraFormatUnsupported = "CAMERA_FORMAT_UNSUPPORTED",
    CameraDisconnected = "CAMERA_DISCONNECTED",
    CameraError = "CAMERA_ERROR",
    BackendUnavailable = "BACKEND_UNAVAILABLE",
    DecodeFailed = "DECODE_FAILED",
    ReplayEmpty = "REPLAY_EMPTY",
    ReplayEnded = "REPLAY_ENDED",
    ReplayIo = "REPLAY_IO",
    ReplayFormat = "REPLAY_FORMAT",
    SpecInvalid = "SPEC_INVALID",
    FrameTimeout = "FRAME_TIMEOUT",
    CaptureStopped = "CAPTURE_STOPPED",
    // ---- the store and secret files
    StoreOpenFailed = "STORE_OPEN_FAILED",
    StoreSchemaTooNew = "STORE_SCHEMA_TOO_NEW",
    StoreFailed = "STORE_FAILED",
    StoreDecryptFailed = "STORE_DECRYPT_FAILED",
    StoreCorrupt = "STORE_CORRUPT",
    KeyFileUnreadable = "KEY_FILE_UNREADABLE",
    KeyFileInvalid = "KEY_FILE_INVALID",
    KeyFilePermissions = "KEY_FILE_PERMISSIONS",
    FileExposed = "FILE_EXPOSED",
    FileIo = "FILE_IO",
    // ---- the API client
    Offline = "OFFLINE",
    ApiProtocol = "API_PROTOCOL",
    ApiUrlInvalid = "API_URL_INVALID",
    // ---- the Access API's own (access_types::ErrorCode), passed through
    MalformedJson = "MALFORMED_JSON",
    InvalidRequest = "INVALID_REQUEST",
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    InvalidOtp = "INVALID_OTP",
    InvalidOtpFormat = "INVALID_OTP_FORMAT",
    InvalidEmail = "INVALID_EMAIL",
    InvalidPhone = "INVALID_PHONE",
    MaxAttemptsExceeded = "MAX_ATTEMPTS_EXCEEDED",
    OtpExpired = "OTP_EXPIRED",
    ValidationExpired = "VALIDATION_EXPIRED",
    OtpAlreadyUsed = "OTP_ALREADY_USED",
    ValidationNotPending = "VALIDATION_NOT_PENDING",
    ValidationNotFound = "VALIDATION_NOT_FOUND",
    RateLimited = "RATE_LIMITED",
    Unauthorized = "UNAUTHORIZED",
    Forbidden = "FORBIDDEN",
    NotFound = "NOT_FOUND",
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    RequestTimeout = "REQUEST_TIMEOUT",
    ProjectNotFound = "PROJECT_NOT_FOUND",
    /// This kiosk's token is for another project (re-pair it for this one).
    ProjectForbidden = "PROJECT_FORBIDDEN",
    /// This kiosk was revoked by an administrator: pair it again.
    KioskRevoked = "KIOSK_REVOKED",
    PairingCodeInvalid = "PAIRING_CODE_INVALID",
    AssertionInvalid = "ASSERTION_INVALID",
    DuplicateFace = "DUPLICATE_FACE",
    PersonErased = "PERSON_ERASED",
    ErasureNeedsAdmin = "ERASURE_NEEDS_ADMIN",
    ReenrolmentNeedsApproval = "REENROLMENT_NEEDS_APPROVAL",
    TooManySamples = "TOO_MANY_SAMPLES",
    FileSourceNeedsAdmin = "FILE_SOURCE_NEEDS_ADMIN",
    FlowNotFound = "FLOW_NOT_FOUND",
    WebhookNotFound = "WEBHOOK_NOT_FOUND",
    UserNotFound = "USER_NOT_FOUND",
    NoLoginFlow = "NO_LOGIN_FLOW",
    FlowPaused = "FLOW_PAUSED",
    FlowNotActive = "FLOW_NOT_ACTIVE",
    MethodDisabled = "METHOD_DISABLED",
    IdentifierNotAllowed = "IDENTIFIER_NOT_ALLOWED",
    IdentifierLocked = "IDENTIFIER_LOCKED",
    SecurityCheckUnavailable = "SECURITY_CHECK_UNAVAILABLE",
    DeliveryFailed = "DELIVERY_FAILED",
    ChannelNotConfigured = "CHANNEL_NOT_CONFIGURED",
    Conflict = "CONFLICT",
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
    UrlNotAllowed = "URL_NOT_ALLOWED",
    NotEnrolled = "NOT_ENROLLED",
    IdentificationUnavailable = "IDENTIFICATION_UNAVAILABLE",
    AmbiguousMatch = "AMBIGUOUS_MATCH",
    FaceAttemptsLocked = "FACE_ATTEMPTS_LOCKED",
    VisionUnavailable = "VISION_UNAVAILABLE",
    NotReady = "NOT_READY",
    InternalError = "INTERNAL_ERROR",
}

impl std::fmt::Display for KioskCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string codes a crate's `code()` functions return: every `=> "CODE"` arm.
    fn codes_in(source: &str) -> Vec<&str> {
        source
            .split("=> \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'))
            .collect()
    }

    #[test]
    fn every_code_below_the_engine_is_listed() {
        let sources = [
            include_str!("error.rs"),
            include_str!("../../vision/src/error.rs"),
            include_str!("../../camera/src/error.rs"),
            include_str!("../../kiosk-store/src/error.rs"),
            include_str!("../../private-file/src/lib.rs"),
            include_str!("../../access-client/src/lib.rs"),
        ];
        let mut missing: Vec<&str> = sources
            .iter()
            .flat_map(|s| codes_in(s))
            .filter(|c| KioskCode::parse(c).is_none())
            .collect();
        missing.extend(
            access_types::ErrorCode::ALL
                .iter()
                .map(|c| c.as_str())
                .filter(|c| KioskCode::parse(c).is_none()),
        );
        assert!(missing.is_empty(), "codes not in KioskCode: {missing:?}");
        for c in KioskCode::ALL {
            assert_eq!(KioskCode::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{c}\""));
        }
    }
}
