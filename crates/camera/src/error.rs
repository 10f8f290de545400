use std::path::PathBuf;
use std::time::Duration;

/// Everything a frame source can report. Each variant has a stable machine code (`code()`)
/// that the kiosk forwards to its UI and logs unchanged.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("no camera found at {device}: connect a camera or use a replay source")]
    NoCamera { device: String },
    #[error("camera {device} is in use by another program")]
    CameraBusy { device: String },
    #[error("no permission to open camera {device} (is the user in the `video` group?)")]
    PermissionDenied { device: String },
    #[error(
        "camera {device} offers none of the formats we decode (MJPEG, YUYV, GREY, Y16); it has: {available}"
    )]
    FormatUnsupported { device: String, available: String },
    #[error("camera {device} stopped delivering frames: {reason}")]
    Disconnected { device: String, reason: String },
    #[error("camera {device} failed: {reason}")]
    Backend { device: String, reason: String },
    #[error("the {backend} backend is not built into this program (cargo feature `{feature}`)")]
    BackendUnavailable {
        backend: &'static str,
        feature: &'static str,
    },
    #[error("could not decode a {what} frame: {source}")]
    DecodeFailed {
        what: &'static str,
        #[source]
        source: vision::VisionError,
    },
    #[error("{what} frame of {width}x{height} needs {expected} bytes, got {actual}")]
    BadFrameLength {
        what: &'static str,
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
    #[error("no JPEG or PNG frames to replay in {path}")]
    ReplayEmpty { path: PathBuf },
    #[error("the replay of {path} reached its end (looping is off)")]
    ReplayEnded { path: PathBuf },
    #[error("could not read replay source {path}: {source}")]
    ReplayIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a replayable video: {reason}")]
    ReplayFormat { path: PathBuf, reason: &'static str },
    #[error("invalid source spec {spec:?}: {reason}")]
    SpecInvalid { spec: String, reason: &'static str },
    #[error("no frame within {waited:?}")]
    Timeout { waited: Duration },
    #[error("the capture was stopped")]
    Stopped,
}

impl CameraError {
    /// Stable code for programs and UIs; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoCamera { .. } => "NO_CAMERA",
            Self::CameraBusy { .. } => "CAMERA_BUSY",
            Self::PermissionDenied { .. } => "CAMERA_PERMISSION",
            Self::FormatUnsupported { .. } => "CAMERA_FORMAT_UNSUPPORTED",
            Self::Disconnected { .. } => "CAMERA_DISCONNECTED",
            Self::Backend { .. } => "CAMERA_ERROR",
            Self::BackendUnavailable { .. } => "BACKEND_UNAVAILABLE",
            Self::DecodeFailed { .. } | Self::BadFrameLength { .. } => "DECODE_FAILED",
            Self::ReplayEmpty { .. } => "REPLAY_EMPTY",
            Self::ReplayEnded { .. } => "REPLAY_ENDED",
            Self::ReplayIo { .. } => "REPLAY_IO",
            Self::ReplayFormat { .. } => "REPLAY_FORMAT",
            Self::SpecInvalid { .. } => "SPEC_INVALID",
            Self::Timeout { .. } => "FRAME_TIMEOUT",
            Self::Stopped => "CAPTURE_STOPPED",
        }
    }

    /// True when the source may still deliver later frames (one bad frame, a slow frame):
    /// a capture loop counts these and carries on. Anything else ends the source.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::DecodeFailed { .. } | Self::BadFrameLength { .. } | Self::Timeout { .. }
        )
    }
}
