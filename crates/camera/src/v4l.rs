//! The real camera: V4L2 (cargo feature `v4l`, Linux). Each [`V4lSource`] drives its device on
//! a capture thread of its own that keeps only the latest raw frame; frames are decoded
//! (MJPEG, YUYV, GREY or Y16 to RGB) when the consumer takes them, so frames nobody looks at
//! cost no decoding.
//!
//! The device sits behind [`RawCamera`]: [`V4l2Camera`] is the real driver (the `v4l` crate,
//! the same binding nokhwa's Linux backend wraps, used directly because nokhwa 0.10 drops the
//! driver's `bytesused`, knows GREY only under a misspelt fourcc and has no Y16), and tests
//! drive the same capture logic with fake devices.

use crate::{CameraError, DEFAULT_HEIGHT, DEFAULT_WIDTH};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The pixel formats we decode, in order of preference when the caller asked for none of
/// the ones a device offers: colour first (the face models were trained on colour), MJPEG
/// before YUYV (less USB bandwidth), then 8-bit infrared grey before 16-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourCc {
    Mjpeg,
    Yuyv,
    /// 8-bit grey (V4L2 `GREY`, also `Y8`/`Y800`): infrared cameras.
    Grey,
    /// 16-bit little-endian grey (V4L2 `Y16 `): infrared cameras.
    Y16,
}

impl FourCc {
    pub const ALL: [FourCc; 4] = [Self::Mjpeg, Self::Yuyv, Self::Grey, Self::Y16];

    pub fn name(self) -> &'static str {
        match self {
            Self::Mjpeg => "MJPEG",
            Self::Yuyv => "YUYV",
            Self::Grey => "GREY",
            Self::Y16 => "Y16",
        }
    }

    /// Parses a name a person types: "mjpeg"/"mjpg", "yuyv"/"yuy2", "grey"/"gray"/"y8",
    /// "y16"; any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mjpeg" | "mjpg" => Some(Self::Mjpeg),
            "yuyv" | "yuy2" => Some(Self::Yuyv),
            "grey" | "gray" | "y8" | "y800" => Some(Self::Grey),
            "y16" => Some(Self::Y16),
            _ => None,
        }
    }

    /// From a driver's four-character code (`b"MJPG"`, `b"GREY"`, `b"Y16 "`, ...); None for
    /// formats we do not decode.
    pub fn from_fourcc(code: &[u8; 4]) -> Option<Self> {
        match code {
            b"MJPG" | b"JPEG" => Some(Self::Mjpeg),
            b"YUYV" | b"YUY2" => Some(Self::Yuyv),
            b"GREY" | b"Y8  " | b"Y800" => Some(Self::Grey),
            b"Y16 " => Some(Self::Y16),
            _ => None,
        }
    }
}

/// One mode a device offers, in whatever pixel format: what [`RawCamera::modes`] lists and
/// `kiosk camera list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfferedMode {
    /// The driver's four-character code, e.g. `*b"MJPG"`, `*b"GREY"`, `*b"NV12"`.
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    /// Frames per second (rounded down); 0 when the driver does not say.
    pub fps: u32,
}

impl OfferedMode {
    /// The mode as we would run it, when we decode its pixel format.
    pub fn decodable(&self) -> Option<V4lMode> {
        Some(V4lMode {
            width: self.width,
            height: self.height,
            fps: self.fps,
            format: FourCc::from_fourcc(&self.fourcc)?,
        })
    }

    /// The fourcc as text, trailing spaces dropped ("Y16 " is "Y16").
    pub fn fourcc_str(&self) -> String {
        String::from_utf8_lossy(&self.fourcc).trim_end().to_owned()
    }
}

impl fmt::Display for OfferedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}@{} {}",
            self.width,
            self.height,
            self.fps,
            self.fourcc_str()
        )
    }
}

/// The formats a device offers, each once, for messages: "MJPG, YUYV, NV12".
pub fn describe_formats(modes: &[OfferedMode]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for m in modes {
        let f = m.fourcc_str();
        if !seen.contains(&f) {
            seen.push(f);
        }
    }
    if seen.is_empty() {
        "no modes".into()
    } else {
        seen.join(", ")
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
/// pixels), then nearest rate, then the wanted pixel format, else the preferred one
/// ([`FourCc`]'s order: colour before infrared grey); ties go to the larger size.
/// None only when `available` is empty.
pub fn choose_mode(available: &[V4lMode], wanted: &V4lMode) -> Option<V4lMode> {
    available.iter().copied().min_by_key(|m| {
        let dw = m.width as i64 - wanted.width as i64;
        let dh = m.height as i64 - wanted.height as i64;
        (
            dw * dw + dh * dh,
            (m.fps as i64 - wanted.fps as i64).abs(),
            (m.format != wanted.format, m.format),
            std::cmp::Reverse(m.width as u64 * m.height as u64),
        )
    })
}

/// One capture device as the capture thread drives it: the boundary between the camera logic
/// (mode choice, decoding, the latest-frame slot) and a driver. [`V4l2Camera`] is the real
/// one; tests use fakes. Not `Send`: it lives on its capture thread from open to close.
pub trait RawCamera {
    /// The device's name as its driver reports it (e.g. "Integrated IR Camera").
    fn name(&self) -> String;
    /// Every mode the device offers, in every pixel format it has (decodable or not).
    fn modes(&mut self) -> Result<Vec<OfferedMode>, CameraError>;
    /// Sets `mode` and starts streaming; returns the mode the driver actually runs.
    fn start(&mut self, mode: &OfferedMode) -> Result<OfferedMode, CameraError>;
    /// Waits up to `timeout` for the next frame: the bytes the driver filled (for V4L2, the
    /// first `bytesused` bytes of the buffer). `Timeout` when none came.
    fn read(&mut self, timeout: Duration) -> Result<&[u8], CameraError>;
}

/// A camera found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub index: u32,
    pub path: PathBuf,
    pub name: String,
    /// Every mode it offers (empty when it could not be asked, e.g. held by another program).
    pub modes: Vec<OfferedMode>,
    /// Why the modes could not be read, when they could not.
    pub error: Option<String>,
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

/// Turns a driver error into an error with a code, by its errno.
pub(crate) fn classify(device: &str, error: &std::io::Error) -> CameraError {
    let device = device.to_owned();
    // ENOENT, ENODEV, ENXIO: unplugged or never there. EBUSY: another program streams.
    match error.raw_os_error() {
        Some(2 | 6 | 19) => CameraError::NoCamera { device },
        Some(16) => CameraError::CameraBusy { device },
        Some(1 | 13) => CameraError::PermissionDenied { device },
        _ => CameraError::Backend {
            device,
            reason: error.to_string(),
        },
    }
}

/// Decodes one raw frame of `mode` into RGB. An MJPEG frame is cut at its end-of-image
/// marker (a buffer handed over whole, zeros or stale bytes after the image, decodes).
pub(crate) fn decode_raw(mode: &V4lMode, data: &[u8]) -> Result<vision::Frame, CameraError> {
    let raw = |what, rgb: Result<Vec<u8>, CameraError>| {
        vision::Frame::from_raw(mode.width, mode.height, vision::PixelFormat::Rgb8, &rgb?)
            .map_err(|source| CameraError::DecodeFailed { what, source })
    };
    match mode.format {
        FourCc::Mjpeg => vision::decode_image(
            &vision::jpeg::with_default_huffman(data),
            &vision::DecodeLimits::default(),
        )
        .map_err(|source| CameraError::DecodeFailed {
            what: "MJPEG",
            source,
        }),
        FourCc::Yuyv => raw("YUYV", crate::yuyv_to_rgb(mode.width, mode.height, data)),
        FourCc::Grey => raw(
            "GREY",
            crate::grey::grey_to_rgb(mode.width, mode.height, data),
        ),
        FourCc::Y16 => raw(
            "Y16",
            crate::grey::y16_to_rgb(mode.width, mode.height, data),
        ),
    }
}

mod source;
pub use source::{RawOpener, V4lSource};

#[cfg(all(feature = "v4l", target_os = "linux"))]
mod backend;
#[cfg(all(feature = "v4l", target_os = "linux"))]
pub use backend::{V4l2Camera, list_devices};

/// Without the `v4l` feature: cameras are listed as none and cannot be opened.
#[cfg(not(all(feature = "v4l", target_os = "linux")))]
mod disabled {
    use super::*;

    /// Cameras on this machine: none can be opened without the `v4l` feature.
    pub fn list_devices() -> Result<Vec<DeviceInfo>, CameraError> {
        Ok(Vec::new())
    }

    /// Stands in for the driver: a missing device is still `NO_CAMERA`, a present one
    /// `BACKEND_UNAVAILABLE`.
    pub enum V4l2Camera {}

    impl V4l2Camera {
        pub fn open(device: &V4lDevice) -> Result<Self, CameraError> {
            resolve_index(device)?;
            Err(CameraError::BackendUnavailable {
                backend: "V4L2",
                feature: "v4l",
            })
        }
    }

    impl RawCamera for V4l2Camera {
        fn name(&self) -> String {
            match *self {}
        }
        fn modes(&mut self) -> Result<Vec<OfferedMode>, CameraError> {
            match *self {}
        }
        fn start(&mut self, _: &OfferedMode) -> Result<OfferedMode, CameraError> {
            match *self {}
        }
        fn read(&mut self, _: Duration) -> Result<&[u8], CameraError> {
            match *self {}
        }
    }
}
#[cfg(not(all(feature = "v4l", target_os = "linux")))]
pub use disabled::{V4l2Camera, list_devices};

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
    fn driver_errors_map_to_codes() {
        let c = |errno| classify("/dev/video0", &std::io::Error::from_raw_os_error(errno)).code();
        assert_eq!(c(2), "NO_CAMERA");
        assert_eq!(c(19), "NO_CAMERA");
        assert_eq!(c(16), "CAMERA_BUSY");
        assert_eq!(c(13), "CAMERA_PERMISSION");
        assert_eq!(c(5), "CAMERA_ERROR");
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
        assert_eq!(FourCc::parse("Y8"), Some(FourCc::Grey));
        assert_eq!(FourCc::parse("y16"), Some(FourCc::Y16));
        assert_eq!(FourCc::parse("nv12"), None);
        assert_eq!(FourCc::from_fourcc(b"GREY"), Some(FourCc::Grey));
        assert_eq!(FourCc::from_fourcc(b"Y16 "), Some(FourCc::Y16));
        assert_eq!(FourCc::from_fourcc(b"NV12"), None);
    }

    #[test]
    fn an_infrared_only_camera_gets_a_mode_and_colour_wins_when_there_is_a_choice() {
        let want = m(640, 480, 30, FourCc::Mjpeg);
        let ir = [m(640, 400, 30, FourCc::Y16), m(640, 400, 30, FourCc::Grey)];
        assert_eq!(choose_mode(&ir, &want), Some(ir[1]));
        let both = [m(640, 480, 30, FourCc::Grey), m(640, 480, 30, FourCc::Yuyv)];
        assert_eq!(choose_mode(&both, &want), Some(both[1]));
        // Asked for grey explicitly: grey.
        let want_grey = m(640, 480, 30, FourCc::Grey);
        assert_eq!(choose_mode(&both, &want_grey), Some(both[0]));
    }

    #[test]
    fn grey_and_y16_frames_decode() {
        let f = decode_raw(&m(2, 1, 30, FourCc::Grey), &[10, 20]).unwrap();
        assert_eq!(f.rgb(), &[10, 10, 10, 20, 20, 20]);
        let f = decode_raw(&m(1, 1, 30, FourCc::Y16), &0xFF00u16.to_le_bytes()).unwrap();
        assert_eq!(f.rgb(), &[255, 255, 255]);
        assert_eq!(
            decode_raw(&m(2, 2, 30, FourCc::Grey), &[1])
                .unwrap_err()
                .code(),
            "DECODE_FAILED"
        );
    }

    #[test]
    fn formats_are_described_once_each() {
        let o = |f: &[u8; 4], w| OfferedMode {
            fourcc: *f,
            width: w,
            height: 480,
            fps: 30,
        };
        let modes = [o(b"NV12", 640), o(b"Y16 ", 640), o(b"NV12", 320)];
        assert_eq!(describe_formats(&modes), "NV12, Y16");
        assert_eq!(describe_formats(&[]), "no modes");
        assert_eq!(modes[1].to_string(), "640x480@30 Y16");
        assert_eq!(modes[0].decodable(), None);
    }
}
