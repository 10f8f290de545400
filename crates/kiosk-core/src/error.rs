use vision::{QualityIssue, VisionError};

use crate::error_code::KioskCode;

/// What a sign-in, enrolment or sync can fail with; `code()` is what the UI shows.
#[derive(Debug, thiserror::Error)]
pub enum KioskError {
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error(transparent)]
    Store(#[from] kiosk_store::StoreError),
    #[error(transparent)]
    Api(#[from] access_client::ClientError),
    /// An email, phone number or code refused before the API is called, by the rules (and
    /// with the codes: `INVALID_EMAIL`, `INVALID_PHONE`, `INVALID_OTP_FORMAT`) the server
    /// applies.
    #[error(transparent)]
    Identifier(#[from] access_types::IdentifierError),
    #[error("{0} is unavailable offline: the Access API cannot be reached")]
    UnavailableOffline(&'static str),
    #[error("no Access API is configured (set api_url, token and project)")]
    NotConfigured,
    #[error("too many failed attempts: try again in {retry_after_s} s, or use a code instead")]
    LockedOut { retry_after_s: u64 },
    #[error("administrator authentication failed")]
    AdminRefused,
    #[error("an administrator must sign in first")]
    AdminRequired,
    #[error("no administrator PIN is set: run `kiosk admin set-pin` first")]
    AdminPinNotSet,
    #[error("the PIN must be 6 to 12 digits")]
    AdminPinInvalid,
    /// Too many wrong PINs in a row: no PIN is checked until the delay has passed.
    #[error("too many wrong PINs: try again in {retry_after_s} s")]
    AdminPinLocked { retry_after_s: u64 },
    /// Face sign-in from the cache only: the last good sync is older than the kiosk allows.
    #[error(
        "face sign-in is unavailable: this kiosk has been offline for more than {max_hours} h (last sync {last_sync})"
    )]
    OfflineTooLong { max_hours: f64, last_sync: String },
    #[error("enrolment needs {min} to {max} samples, got {got}")]
    EnrolSampleCount { min: usize, max: usize, got: usize },
    #[error("sample {sample}: {source}")]
    EnrolSample { sample: usize, source: VisionError },
    #[error("sample {sample} is not good enough: {}", issues.iter().map(|i| i.hint()).collect::<Vec<_>>().join(", "))]
    EnrolQuality {
        sample: usize,
        issues: Vec<QualityIssue>,
    },
    /// A capture for the enrolment draft that would not make a good sample.
    #[error("this sample is not good enough (quality {quality:.2})")]
    SampleRefused { quality: f32, guidance: Vec<String> },
    #[error("sample {sample} did not pass the liveness check (score {score:.2})")]
    EnrolLiveness { sample: usize, score: f32 },
    #[error("the samples do not look like one person (lowest similarity {min_score:.2})")]
    EnrolInconsistent { min_score: f32 },
    #[error("this face is already enrolled as {other_user} (similarity {score:.2})")]
    AlreadyEnrolled { other_user: String, score: f32 },
    /// More samples for an enrolled person must be that person's face (the server refuses
    /// the same with `SAMPLE_MISMATCH`).
    #[error("this face does not match the person's enrolled samples (similarity {score:.2})")]
    SampleMismatch { score: f32 },
    /// The project's flow requires liveness (the policy last synced says so) and a file is
    /// not judged live: the server takes a file there only from an administrator.
    #[error(
        "this project requires liveness: enrol from the camera, or ask an administrator to enrol the photos"
    )]
    FileSourceNeedsAdmin,
    #[error("invalid user id {0:?}: use 1 to 128 bytes of printable characters")]
    InvalidUserId(String),
    #[error("no frames to analyse")]
    NoFrames,
    #[error("the face engine stopped")]
    EngineStopped,
    #[error(transparent)]
    Camera(camera::CameraError),
    #[error("invalid settings: {0}")]
    InvalidSettings(&'static str),
    /// Plain HTTP to a host other than loopback: anyone on the path could forge the API's
    /// answers (`allow_insecure_http = true` allows it for development).
    #[error(
        "the API URL {0} is plain HTTP to a host other than loopback: use https:// (or allow_insecure_http = true for development)"
    )]
    InsecureApiUrl(String),
    /// The server said this kiosk was revoked: nothing is decided here until it is paired
    /// again.
    #[error("this kiosk was revoked by an administrator (at {at}): pair it again")]
    Revoked { at: String },
    /// The API's answer claimed a sign-in without an access token this kiosk could verify.
    #[error("the answer could not be verified ({0}): refused")]
    AnswerUnverified(String),
    /// The offline policy the last sync saved cannot be read: faces are not decided from the
    /// cache (fail closed) until a sync brings a readable one.
    #[error(
        "the saved offline policy cannot be read ({0}): face sign-in needs the API until the next sync"
    )]
    OfflinePolicyUnreadable(String),
    #[error("the saved settings {path} cannot be read: {reason}")]
    SettingsRead {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("could not save the settings to {path}: {source}")]
    SettingsWrite {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("device key {path}: {reason}")]
    DeviceKey { path: String, reason: String },
    #[error("could not write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl KioskError {
    /// The stable code, as text (`code_enum` is the same as a [`KioskCode`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Vision(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Api(e) => e.code(),
            Self::Identifier(e) => e.code().as_str(),
            Self::EnrolSample { source, .. } => source.code(),
            Self::Camera(e) => e.code(),
            own => own.own_code().as_str(),
        }
    }

    /// The stable code. A code the crates below define that is missing from [`KioskCode`]
    /// would read as `INTERNAL_ERROR`; a test keeps the list complete.
    pub fn code_enum(&self) -> KioskCode {
        KioskCode::parse(self.code()).unwrap_or(KioskCode::InternalError)
    }

    fn own_code(&self) -> KioskCode {
        use KioskCode as C;
        match self {
            Self::UnavailableOffline(_) => C::UnavailableOffline,
            Self::NotConfigured => C::NotConfigured,
            Self::LockedOut { .. } => C::LockedOut,
            Self::AdminRefused => C::AdminRefused,
            Self::AdminRequired => C::AdminRequired,
            Self::AdminPinNotSet => C::AdminPinNotSet,
            Self::AdminPinInvalid => C::AdminPinInvalid,
            Self::AdminPinLocked { .. } => C::AdminPinLocked,
            Self::OfflineTooLong { .. } => C::OfflineTooLong,
            Self::EnrolSampleCount { .. } => C::EnrolSampleCount,
            Self::EnrolQuality { .. } | Self::SampleRefused { .. } => C::FaceQuality,
            Self::EnrolLiveness { .. } => C::LivenessFailed,
            Self::EnrolInconsistent { .. } => C::EnrolInconsistent,
            Self::AlreadyEnrolled { .. } => C::AlreadyEnrolled,
            Self::SampleMismatch { .. } => C::SampleMismatch,
            Self::InvalidUserId(_) => C::InvalidUserId,
            Self::FileSourceNeedsAdmin => C::FileSourceNeedsAdmin,
            Self::NoFrames => C::NoFrames,
            Self::EngineStopped => C::EngineStopped,
            Self::DeviceKey { .. } => C::DeviceKey,
            Self::InvalidSettings(_) => C::SettingsInvalid,
            Self::InsecureApiUrl(_) => C::ApiUrlInsecure,
            Self::Revoked { .. } => C::KioskRevoked,
            Self::AnswerUnverified(_) => C::AnswerUnverified,
            Self::OfflinePolicyUnreadable(_) => C::OfflinePolicyUnreadable,
            Self::SettingsRead { .. } => C::SettingsRead,
            Self::SettingsWrite { .. } => C::SettingsWrite,
            Self::Io { .. } => C::IoError,
            // Wrappers answer with their source's code (see `code`).
            Self::Vision(_)
            | Self::Store(_)
            | Self::Api(_)
            | Self::Identifier(_)
            | Self::EnrolSample { .. }
            | Self::Camera(_) => C::InternalError,
        }
    }

    /// What a screen needs beyond the code and message: the API's own details, the seconds
    /// to wait, a refused sample's quality and guidance.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            Self::Api(access_client::ClientError::Api { details, .. }) if !details.is_null() => {
                Some(details.clone())
            }
            Self::LockedOut { retry_after_s } | Self::AdminPinLocked { retry_after_s } => {
                Some(serde_json::json!({ "retry_after_s": retry_after_s }))
            }
            Self::OfflineTooLong {
                max_hours,
                last_sync,
            } => Some(serde_json::json!({ "max_hours": max_hours, "last_sync": last_sync })),
            Self::Revoked { at } => Some(serde_json::json!({ "revoked_at": at })),
            Self::SampleRefused { quality, guidance } => {
                Some(serde_json::json!({ "quality": quality, "guidance": guidance }))
            }
            _ => None,
        }
    }
}

/// The vision thread did not answer (it stopped, failed to load, or panicked on the input).
impl From<vision::WorkerError> for KioskError {
    fn from(_: vision::WorkerError) -> Self {
        Self::EngineStopped
    }
}

pub type Result<T, E = KioskError> = std::result::Result<T, E>;
