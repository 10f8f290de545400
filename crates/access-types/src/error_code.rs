//! Machine-readable error codes and the HTTP status each maps to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal => $status:literal ),+ $(,)?) => {
        /// Every `code` the API can answer with. Serialised SCREAMING_SNAKE.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )+ ];

            /// The HTTP status this code is answered with.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )+ }
            }

            /// The wire spelling, e.g. `"INVALID_OTP"`.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $text, )+ }
            }
        }
    };
}

error_codes! {
    /// Body is not valid JSON.
    MalformedJson = "MALFORMED_JSON" => 400,
    /// JSON has wrong types, missing or unknown fields, or a field value is invalid.
    InvalidRequest = "INVALID_REQUEST" => 400,
    /// Not an email address (`access_types::identifiers::Email`); `details.reason`.
    InvalidEmail = "INVALID_EMAIL" => 400,
    /// Not a phone number in international form that its country's numbering plan has
    /// (`access_types::identifiers::PhoneE164`); `details.reason`. Nothing was sent.
    InvalidPhone = "INVALID_PHONE" => 400,
    /// A code must be 6 digits (spaces, hyphens and full-width digits are fine); the attempt
    /// was not counted.
    InvalidOtpFormat = "INVALID_OTP_FORMAT" => 400,
    /// Content-Type is not application/json.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE" => 415,
    /// Wrong code; `details.attempts_remaining`.
    InvalidOtp = "INVALID_OTP" => 400,
    /// Too many wrong codes (or failed face matches); the validation is `failed`.
    MaxAttemptsExceeded = "MAX_ATTEMPTS_EXCEEDED" => 410,
    OtpExpired = "OTP_EXPIRED" => 410,
    /// A biometric validation ran out of time.
    ValidationExpired = "VALIDATION_EXPIRED" => 410,
    /// The validation already succeeded; a code works once.
    OtpAlreadyUsed = "OTP_ALREADY_USED" => 410,
    /// The validation is not in a state this call can act on.
    ValidationNotPending = "VALIDATION_NOT_PENDING" => 409,
    ValidationNotFound = "VALIDATION_NOT_FOUND" => 404,
    /// `Retry-After` and `details.retry_after_s` say when to retry.
    RateLimited = "RATE_LIMITED" => 429,
    Unauthorized = "UNAUTHORIZED" => 401,
    /// The token's scope does not allow this call.
    Forbidden = "FORBIDDEN" => 403,
    /// The token is bound to another project than the one the call names.
    ProjectForbidden = "PROJECT_FORBIDDEN" => 403,
    /// The kiosk was revoked by an administrator: its tokens and events are refused.
    KioskRevoked = "KIOSK_REVOKED" => 401,
    /// The pairing code is unknown, used or expired (10 minutes, single use).
    PairingCodeInvalid = "PAIRING_CODE_INVALID" => 401,
    /// The kiosk's signed token request (client assertion) is malformed, wrongly signed,
    /// outside its time window, or replayed.
    AssertionInvalid = "ASSERTION_INVALID" => 401,
    /// A new sample for an existing person does not match that person's enrolled samples
    /// (only an admin token may add a different-looking sample).
    SampleMismatch = "SAMPLE_MISMATCH" => 409,
    /// The face of a new person already matches someone enrolled in the project (who is not
    /// said).
    DuplicateFace = "DUPLICATE_FACE" => 409,
    /// The sample was taken before the person was erased in this project: the erasure stands.
    PersonErased = "PERSON_ERASED" => 409,
    /// A kiosk may erase only people it enrolled itself that no administrator confirmed;
    /// anyone else's erasure needs an admin token or the console. Nothing was erased.
    ErasureNeedsAdmin = "ERASURE_NEEDS_ADMIN" => 403,
    /// A kiosk erased this person: a kiosk may enrol them again only after an administrator
    /// confirms it (`POST /biometric/users/{user_id}/confirm`). Nothing was stored.
    ReenrolmentNeedsApproval = "REENROLMENT_NEEDS_APPROVAL" => 409,
    /// A kiosk added as many samples to this person as it may
    /// (`details.max_samples`); more need an admin token. Nothing was stored.
    TooManySamples = "TOO_MANY_SAMPLES" => 409,
    /// The flow requires liveness and a file is not judged live: only an admin token may
    /// enrol a sample from a file there (a kiosk's camera sample is judged). Nothing stored.
    FileSourceNeedsAdmin = "FILE_SOURCE_NEEDS_ADMIN" => 403,
    NotFound = "NOT_FOUND" => 404,
    MethodNotAllowed = "METHOD_NOT_ALLOWED" => 405,
    PayloadTooLarge = "PAYLOAD_TOO_LARGE" => 413,
    /// The request (headers and body) did not arrive, or was not answered, in time.
    RequestTimeout = "REQUEST_TIMEOUT" => 408,
    ProjectNotFound = "PROJECT_NOT_FOUND" => 404,
    FlowNotFound = "FLOW_NOT_FOUND" => 404,
    WebhookNotFound = "WEBHOOK_NOT_FOUND" => 404,
    UserNotFound = "USER_NOT_FOUND" => 404,
    /// The project has no login flow.
    NoLoginFlow = "NO_LOGIN_FLOW" => 409,
    /// The login flow is paused.
    FlowPaused = "FLOW_PAUSED" => 409,
    /// The login flow is still a draft.
    FlowNotActive = "FLOW_NOT_ACTIVE" => 409,
    /// The login flow does not offer this method.
    MethodDisabled = "METHOD_DISABLED" => 409,
    /// Too many wrong codes for this identifier in a row; `details.retry_after_s`.
    IdentifierLocked = "IDENTIFIER_LOCKED" => 423,
    /// Security settings refuse this identifier.
    IdentifierNotAllowed = "IDENTIFIER_NOT_ALLOWED" => 403,
    /// The customer's security URL did not answer in time or answered garbage.
    SecurityCheckUnavailable = "SECURITY_CHECK_UNAVAILABLE" => 503,
    /// The OTP could not be handed to the email/SMS/WhatsApp provider.
    DeliveryFailed = "DELIVERY_FAILED" => 502,
    /// No provider configured for this channel.
    ChannelNotConfigured = "CHANNEL_NOT_CONFIGURED" => 503,
    /// A webhook or security URL that is not http(s), carries a user name or password, or
    /// points at an internal address (loopback, private, link-local, ...); `details.reason`.
    UrlNotAllowed = "URL_NOT_ALLOWED" => 400,
    /// An `Idempotency-Key` sent again with a different request body.
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED" => 422,
    /// The resource still has dependents (e.g. a project with flows).
    Conflict = "CONFLICT" => 409,
    NoFace = "NO_FACE" => 422,
    MultipleFaces = "MULTIPLE_FACES" => 422,
    /// Face found but too small, blurred, dark, turned...; `details.issues`.
    FaceQuality = "FACE_QUALITY" => 422,
    /// A camera's enrolment sample judged not live (the flow requires liveness);
    /// `details.liveness_score`, `details.min_score`.
    LivenessFailed = "LIVENESS_FAILED" => 422,
    /// Not a decodable JPEG/PNG (or not base64).
    ImageCorrupt = "IMAGE_CORRUPT" => 422,
    ImageUnsupported = "IMAGE_UNSUPPORTED" => 415,
    ImageTooLarge = "IMAGE_TOO_LARGE" => 413,
    ImageEmpty = "IMAGE_EMPTY" => 400,
    /// The user has no enrolled face in this project (1:1) or the project has none (1:N).
    NotEnrolled = "NOT_ENROLLED" => 404,
    /// 1:N cannot hold the flow's `target_fpir` with its FNIR under `fnir_ceiling` at this
    /// gallery's size (`vision::decision`): ask who the person is and verify 1:1;
    /// `details.people`, `details.expected_fnir`. No attempt was counted.
    IdentificationUnavailable = "IDENTIFICATION_UNAVAILABLE" => 409,
    /// 1:N found two people too close to the face to tell apart: ask who the person is and
    /// verify 1:1. No attempt was counted.
    AmbiguousMatch = "AMBIGUOUS_MATCH" => 409,
    /// Too many failed face attempts for this person in a row (NIST SP 800-63B-4): face
    /// sign-in waits `details.retry_after_s`, or is disabled until a code sign-in or an
    /// operator resets it (`details.disabled`). A code sign-in is always offered instead.
    FaceAttemptsLocked = "FACE_ATTEMPTS_LOCKED" => 423,
    /// Face models not loaded on this server.
    VisionUnavailable = "VISION_UNAVAILABLE" => 503,
    /// The process is up but cannot serve yet (`/readyz`): `details.database` and
    /// `details.vision` say which part is not ready.
    NotReady = "NOT_READY" => 503,
    InternalError = "INTERNAL_ERROR" => 500,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
