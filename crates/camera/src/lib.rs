//! Frame sources for the kiosk: a V4L2 camera ([`V4lSource`] over [`RawCamera`], cargo feature `v4l`)
//! and a replay source ([`ReplaySource`]: a folder of photos or an MJPEG video, looping at a
//! set rate) behind one trait, [`FrameSource`], so every test and every machine without a
//! camera runs the same code as the kiosk.
//!
//! The kiosk core opens a source from a spec string ([`open_str`], [`SourceSpec`]) and hands it
//! to [`spawn_capture`], which pulls frames on its own thread and keeps only the newest one
//! for the consumer ([`CaptureHandle`]). No camera is a [`CameraError::NoCamera`] with code
//! `NO_CAMERA`, never a panic.

mod capture;
mod error;
pub mod grey;
pub mod mjpeg;
pub mod pacing;
mod replay;
mod slot;
mod spec;
mod v4l;
pub mod yuyv;

use std::time::{Duration, Instant};

pub use capture::{CaptureHandle, CaptureOptions, CaptureStats, spawn_capture};
pub use error::CameraError;
pub use replay::{DEFAULT_REPLAY_FPS, ReplayConfig, ReplaySource};
pub use spec::{SourceSpec, open, open_str};
pub use v4l::{
    DeviceInfo, FourCc, OfferedMode, RawCamera, RawOpener, V4l2Camera, V4lConfig, V4lDevice,
    V4lMode, V4lSource, choose_mode, describe_formats, list_devices,
};
pub use yuyv::yuyv_to_rgb;

/// Size a camera (and, by default, a replay) delivers: what the face pipeline is tuned for.
pub const DEFAULT_WIDTH: u32 = 640;
pub const DEFAULT_HEIGHT: u32 = 480;

/// One frame as the camera delivered it.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    pub frame: vision::Frame,
    /// Counts frames the source produced, from 0. A gap means frames were dropped on the way.
    pub sequence: u64,
    /// When the frame was captured (monotonic clock), for latency and frame-age checks.
    pub captured_at: Instant,
}

impl CapturedFrame {
    /// How long ago the frame was captured.
    pub fn age(&self) -> Duration {
        self.captured_at.elapsed()
    }
}

/// Which kind of source delivers the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    V4l,
    Replay,
}

/// What a source is and what it delivers, for logs and the kiosk's status screen.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// Human-readable: the device and its name, or the replayed path.
    pub description: String,
    pub width: u32,
    pub height: u32,
    /// Nominal frames per second; 0 when unpaced.
    pub fps: f64,
    /// What arrives from the device before decoding: "MJPEG", "YUYV", "JPEG/PNG files", ...
    pub input_format: String,
}

/// A source of RGB frames. Blocking: `next_frame` returns when the next frame is due (a
/// camera's next exposure, a replay's next deadline). Sources are `Send` so that one thread
/// can own each; see [`spawn_capture`].
pub trait FrameSource: Send {
    /// Waits for and returns the next frame.
    fn next_frame(&mut self) -> Result<CapturedFrame, CameraError>;

    /// Like [`next_frame`](Self::next_frame) but gives up after `timeout` with
    /// [`CameraError::Timeout`], so a caller can check for shutdown. Sources that cannot
    /// bound their wait may block longer; the built-in ones all honour it.
    fn next_frame_timeout(&mut self, timeout: Duration) -> Result<CapturedFrame, CameraError> {
        let _ = timeout;
        self.next_frame()
    }

    fn info(&self) -> SourceInfo;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<CapturedFrame, CameraError> {
        (**self).next_frame()
    }
    fn next_frame_timeout(&mut self, timeout: Duration) -> Result<CapturedFrame, CameraError> {
        (**self).next_frame_timeout(timeout)
    }
    fn info(&self) -> SourceInfo {
        (**self).info()
    }
}
