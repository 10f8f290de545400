use vision::{QualityIssue, VisionError};

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
    #[error("the PIN must be 4 to 12 digits")]
    AdminPinInvalid,
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
    pub fn code(&self) -> &'static str {
        match self {
            Self::Vision(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Api(e) => e.code(),
            Self::Identifier(e) => e.code().as_str(),
            Self::UnavailableOffline(_) => "UNAVAILABLE_OFFLINE",
            Self::NotConfigured => "NOT_CONFIGURED",
            Self::LockedOut { .. } => "LOCKED_OUT",
            Self::AdminRefused => "ADMIN_REFUSED",
            Self::AdminRequired => "ADMIN_REQUIRED",
            Self::AdminPinNotSet => "ADMIN_PIN_NOT_SET",
            Self::AdminPinInvalid => "ADMIN_PIN_INVALID",
            Self::EnrolSampleCount { .. } => "ENROL_SAMPLE_COUNT",
            Self::EnrolSample { source, .. } => source.code(),
            Self::EnrolQuality { .. } => "FACE_QUALITY",
            Self::SampleRefused { .. } => "FACE_QUALITY",
            Self::EnrolLiveness { .. } => "LIVENESS_FAILED",
            Self::EnrolInconsistent { .. } => "ENROL_INCONSISTENT",
            Self::AlreadyEnrolled { .. } => "ALREADY_ENROLLED",
            Self::InvalidUserId(_) => "INVALID_USER_ID",
            Self::NoFrames => "NO_FRAMES",
            Self::EngineStopped => "ENGINE_STOPPED",
            Self::DeviceKey { .. } => "DEVICE_KEY",
            Self::InvalidSettings(_) => "SETTINGS_INVALID",
            Self::SettingsRead { .. } => "SETTINGS_READ",
            Self::SettingsWrite { .. } => "SETTINGS_WRITE",
            Self::Camera(e) => e.code(),
            Self::Io { .. } => "IO_ERROR",
        }
    }

    /// What a screen needs beyond the code and message: the API's own details, the seconds
    /// to wait, a refused sample's quality and guidance.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            Self::Api(access_client::ClientError::Api { details, .. }) if !details.is_null() => {
                Some(details.clone())
            }
            Self::LockedOut { retry_after_s } => {
                Some(serde_json::json!({ "retry_after_s": retry_after_s }))
            }
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
