//! The real camera: V4L2 through nokhwa (cargo feature `v4l`, Linux). nokhwa's camera is not
//! `Send`, so each [`V4lSource`] runs it on a capture thread of its own that keeps only the
//! latest raw frame; frames are decoded (MJPEG or YUYV to RGB) when the consumer takes them,
//! so frames nobody looks at cost no decoding.

use crate::{CameraError, DEFAULT_HEIGHT, DEFAULT_WIDTH};
use std::fmt;
use std::path::{Path, PathBuf};

/// Which camera: an index (`/dev/videoN`) or a device path (symlinks such as
/// `/dev/v4l/by-id/...` are followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V4lDevice {
    Index(u32),
    Path(PathBuf),
}

impl fmt::Display for V4lDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "{i}"),
            Self::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The pixel formats we decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FourCc {
    Mjpeg,
    Yuyv,
}

impl FourCc {
    pub fn name(self) -> &'static str {
        match self {
            Self::Mjpeg => "MJPEG",
            Self::Yuyv => "YUYV",
        }
    }

    /// Parses "mjpeg"/"mjpg" or "yuyv"/"yuy2", any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mjpeg" | "mjpg" => Some(Self::Mjpeg),
            "yuyv" | "yuy2" => Some(Self::Yuyv),
            _ => None,
        }
    }
}

/// A capture mode: size, rate and pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct V4lMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: FourCc,
}

impl fmt::Display for V4lMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}@{} {}",
            self.width,
            self.height,
            self.fps,
            self.format.name()
        )
    }
}

/// What to open. The mode is a wish: the closest mode the camera has is used
/// ([`choose_mode`]), and [`SourceInfo`] tells which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4lConfig {
    pub device: V4lDevice,
    pub mode: V4lMode,
}

impl V4lConfig {
    /// Device `device` at 640x480, 30 fps, MJPEG (less USB bandwidth than YUYV).
    pub fn new(device: V4lDevice) -> Self {
        Self {
            device,
            mode: V4lMode {
                width: DEFAULT_WIDTH,
                height: DEFAULT_HEIGHT,
                fps: 30,
                format: FourCc::Mjpeg,
            },
        }
    }
}

/// Picks the mode closest to `wanted`: nearest size first (a face pipeline cares most about
/// pixels), then nearest rate, then the wanted pixel format; ties go to the larger size.
/// None only when `available` is empty.
pub fn choose_mode(available: &[V4lMode], wanted: &V4lMode) -> Option<V4lMode> {
    available.iter().copied().min_by_key(|m| {
        let dw = m.width as i64 - wanted.width as i64;
        let dh = m.height as i64 - wanted.height as i64;
        (
            dw * dw + dh * dh,
            (m.fps as i64 - wanted.fps as i64).abs(),
            m.format != wanted.format,
            std::cmp::Reverse(m.width as u64 * m.height as u64),
        )
    })
}

/// A camera found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub index: u32,
    pub path: PathBuf,
    pub name: String,
    pub description: String,
}

/// Resolves a device to its `/dev/videoN` index, checking that it exists: a missing device
/// is `NO_CAMERA` before any driver call.
pub(crate) fn resolve_index(device: &V4lDevice) -> Result<u32, CameraError> {
    resolve_index_in(device, Path::new("/dev"))
}

fn resolve_index_in(device: &V4lDevice, dev_dir: &Path) -> Result<u32, CameraError> {
    let no_camera = || CameraError::NoCamera {
        device: device_label(device),
    };
    let index = match device {
        V4lDevice::Index(i) => {
            if !dev_dir.join(format!("video{i}")).exists() {
                return Err(no_camera());
            }
            *i
        }
        V4lDevice::Path(p) => {
            let real = std::fs::canonicalize(p).map_err(|_| no_camera())?;
            real.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("video"))
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| CameraError::SpecInvalid {
                    spec: p.display().to_string(),
                    reason: "a V4L2 device path must be /dev/videoN or a link to one",
                })?
        }
    };
    Ok(index)
}

fn device_label(device: &V4lDevice) -> String {
    match device {
        V4lDevice::Index(i) => format!("/dev/video{i}"),
        V4lDevice::Path(p) => p.display().to_string(),
    }
}

/// Turns a driver error message into an error with a code. nokhwa flattens the OS error
/// into text, so the errno's text is all there is to go on.
// Used by the nokhwa backend (and the tests) only.
#[cfg_attr(not(all(feature = "v4l", target_os = "linux")), allow(dead_code))]
pub(crate) fn classify(device: &str, message: &str) -> CameraError {
    let m = message.to_ascii_lowercase();
    let device = device.to_owned();
    if m.contains("os error 2)") || m.contains("no such file") || m.contains("os error 19)") {
        CameraError::NoCamera { device }
    } else if m.contains("os error 16)") || m.contains("busy") {
        CameraError::CameraBusy { device }
    } else if m.contains("os error 13)") || m.contains("permission denied") {
        CameraError::PermissionDenied { device }
    } else {
        CameraError::Backend {
            device,
            reason: message.to_owned(),
        }
    }
}

/// Decodes one raw frame of `mode` into RGB.
// Used by the nokhwa backend (and the tests) only.
#[cfg_attr(not(all(feature = "v4l", target_os = "linux")), allow(dead_code))]
pub(crate) fn decode_raw(mode: &V4lMode, data: &[u8]) -> Result<vision::Frame, CameraError> {
    match mode.format {
        FourCc::Mjpeg => vision::decode_image(
            &crate::mjpeg::with_default_huffman(data),
            &vision::DecodeLimits::default(),
        )
        .map_err(|source| CameraError::DecodeFailed {
            what: "MJPEG",
            source,
        }),
        FourCc::Yuyv => {
            let rgb = crate::yuyv_to_rgb(mode.width, mode.height, data)?;
            vision::Frame::from_raw(mode.width, mode.height, vision::PixelFormat::Rgb8, &rgb)
                .map_err(|source| CameraError::DecodeFailed {
                    what: "YUYV",
                    source,
                })
        }
    }
}

#[cfg(all(feature = "v4l", target_os = "linux"))]
mod backend;
#[cfg(all(feature = "v4l", target_os = "linux"))]
pub use backend::{V4lSource, list_devices};

/// Without the `v4l` feature: the same API, reporting that the backend is missing.
#[cfg(not(all(feature = "v4l", target_os = "linux")))]
mod disabled {
    use super::*;
    use crate::{CapturedFrame, FrameSource, SourceInfo};
    use std::time::Duration;

    /// Cameras on this machine: none can be opened without the `v4l` feature.
    pub fn list_devices() -> Result<Vec<DeviceInfo>, CameraError> {
        Ok(Vec::new())
    }

    pub struct V4lSource(std::convert::Infallible);

    impl V4lSource {
        /// A missing device is still `NO_CAMERA`; a present one is `BACKEND_UNAVAILABLE`.
        pub fn open(config: V4lConfig) -> Result<Self, CameraError> {
            resolve_index(&config.device)?;
            Err(CameraError::BackendUnavailable {
                backend: "V4L2",
                feature: "v4l",
            })
        }

        pub fn mode(&self) -> V4lMode {
            match self.0 {}
        }
    }

    impl FrameSource for V4lSource {
        fn next_frame(&mut self) -> Result<CapturedFrame, CameraError> {
            match self.0 {}
        }
        fn next_frame_timeout(&mut self, _: Duration) -> Result<CapturedFrame, CameraError> {
            match self.0 {}
        }
        fn info(&self) -> SourceInfo {
            match self.0 {}
        }
    }
}
#[cfg(not(all(feature = "v4l", target_os = "linux")))]
pub use disabled::{V4lSource, list_devices};

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fps: u32, format: FourCc) -> V4lMode {
        V4lMode {
            width,
            height,
            fps,
            format,
        }
    }

    #[test]
    fn exact_mode_wins() {
        let want = m(640, 480, 30, FourCc::Mjpeg);
        let avail = [
            m(640, 480, 30, FourCc::Yuyv),
            m(640, 480, 30, FourCc::Mjpeg),
            m(1280, 720, 30, FourCc::Mjpeg),
        ];
        assert_eq!(choose_mode(&avail, &want), Some(want));
    }

    #[test]
    fn falls_back_to_nearest_size_then_rate_then_format() {
        let want = m(640, 480, 30, FourCc::Mjpeg);
        // Size beats format: YUYV at the right size over MJPEG at 1080p.
        let avail = [
            m(1920, 1080, 30, FourCc::Mjpeg),
            m(640, 480, 30, FourCc::Yuyv),
        ];
        assert_eq!(choose_mode(&avail, &want), Some(avail[1]));
        // Rate beats format at the same size.
        let avail = [m(640, 480, 5, FourCc::Mjpeg), m(640, 480, 25, FourCc::Yuyv)];
        assert_eq!(choose_mode(&avail, &want), Some(avail[1]));
        // Nearest size.
        let avail = [m(320, 240, 30, FourCc::Yuyv), m(800, 600, 30, FourCc::Yuyv)];
        assert_eq!(choose_mode(&avail, &want), Some(avail[1]));
        assert_eq!(choose_mode(&[], &want), None);
    }

    #[test]
    fn missing_devices_are_no_camera() {
        let dir = Path::new("/nonexistent-dev-dir");
        let e = resolve_index_in(&V4lDevice::Index(7), dir).unwrap_err();
        assert_eq!(e.code(), "NO_CAMERA");
        let e = resolve_index(&V4lDevice::Path("/dev/video-nope-99".into())).unwrap_err();
        assert_eq!(e.code(), "NO_CAMERA");
        // An existing path that is not a video device is a spec error, not a crash.
        let e = resolve_index(&V4lDevice::Path("/dev/null".into())).unwrap_err();
        assert_eq!(e.code(), "SPEC_INVALID");
    }

    #[test]
    fn driver_messages_map_to_codes() {
        let c = |msg| classify("/dev/video0", msg).code();
        assert_eq!(
            c("Could not open device 0: V4L2 Error: No such file or directory (os error 2)"),
            "NO_CAMERA"
        );
        assert_eq!(c("Device or resource busy (os error 16)"), "CAMERA_BUSY");
        assert_eq!(c("Permission denied (os error 13)"), "CAMERA_PERMISSION");
        assert_eq!(c("something else"), "CAMERA_ERROR");
    }

    #[test]
    fn raw_frames_decode_or_fail_with_codes() {
        let yuyv = m(2, 1, 30, FourCc::Yuyv);
        let f = decode_raw(&yuyv, &[235, 128, 235, 128]).unwrap();
        assert_eq!((f.width(), f.height(), f.rgb()), (2, 1, &[255u8; 6][..]));
        assert_eq!(decode_raw(&yuyv, &[1]).unwrap_err().code(), "DECODE_FAILED");
        let mjpeg = m(2, 1, 30, FourCc::Mjpeg);
        assert_eq!(
            decode_raw(&mjpeg, b"not a jpeg").unwrap_err().code(),
            "DECODE_FAILED"
        );
        let jpeg = vision::Frame::from_raw(16, 8, vision::PixelFormat::Rgb8, &[90; 16 * 8 * 3])
            .unwrap()
            .to_jpeg(90)
            .unwrap();
        let f = decode_raw(&mjpeg, &jpeg).unwrap();
        assert_eq!((f.width(), f.height()), (16, 8));
    }

    #[test]
    fn fourcc_names() {
        assert_eq!(FourCc::parse("MJPG"), Some(FourCc::Mjpeg));
        assert_eq!(FourCc::parse("yuy2"), Some(FourCc::Yuyv));
        assert_eq!(FourCc::parse("nv12"), None);
    }
}
