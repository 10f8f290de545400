//! nokhwa-backed V4L2 capture (Linux, feature `v4l`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nokhwa::Camera;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use super::{
    DeviceInfo, FourCc, V4lConfig, V4lMode, choose_mode, classify, decode_raw, device_label,
    resolve_index,
};
use crate::slot::{LatestSlot, TakeError};
use crate::{CameraError, CapturedFrame, FrameSource, SourceInfo, SourceKind};

/// Failed reads in a row after which the camera counts as unplugged.
const MAX_READ_FAILURES: u32 = 10;
/// How long drop waits for the capture thread to release the device.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Cameras V4L2 can see. Empty (not an error) when there are none.
pub fn list_devices() -> Result<Vec<DeviceInfo>, CameraError> {
    let cams = nokhwa::query(ApiBackend::Video4Linux).map_err(|e| CameraError::Backend {
        device: "V4L2".into(),
        reason: e.to_string(),
    })?;
    Ok(cams
        .into_iter()
        .filter_map(|c| {
            let index = c.index().as_index().ok()?;
            Some(DeviceInfo {
                index,
                path: format!("/dev/video{index}").into(),
                name: c.human_name(),
                description: c.description().to_owned(),
            })
        })
        .collect())
}

struct RawFrame {
    data: Vec<u8>,
    sequence: u64,
    captured_at: Instant,
}

struct Shared {
    slot: LatestSlot<RawFrame>,
    stop: AtomicBool,
    failure: Mutex<Option<CameraError>>,
}

/// A V4L2 camera. Opening starts streaming on a capture thread; dropping stops it and
/// releases the device.
pub struct V4lSource {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    mode: V4lMode,
    device: String,
    name: String,
}

impl V4lSource {
    /// Opens the camera in the mode closest to the one asked for. Errors: `NO_CAMERA`,
    /// `CAMERA_BUSY`, `CAMERA_PERMISSION`, `FORMAT_UNSUPPORTED`, `CAMERA_ERROR`.
    pub fn open(config: V4lConfig) -> Result<Self, CameraError> {
        let index = resolve_index(&config.device)?;
        let device = device_label(&config.device);
        let shared = Arc::new(Shared {
            slot: LatestSlot::new(),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let (opened_tx, opened_rx) = mpsc::sync_channel(1);
        let (done_tx, done_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread_device = device.clone();
        let thread = std::thread::Builder::new()
            .name(format!("v4l-{index}"))
            .spawn(move || {
                capture(
                    index,
                    &thread_device,
                    &config.mode,
                    &thread_shared,
                    opened_tx,
                );
                thread_shared.slot.close();
                let _ = done_tx.send(());
            })
            .map_err(|e| CameraError::Backend {
                device: device.clone(),
                reason: format!("could not start the capture thread: {e}"),
            })?;
        match opened_rx.recv() {
            Ok(Ok((mode, name))) => Ok(Self {
                shared,
                thread: Some(thread),
                done: done_rx,
                mode,
                device,
                name,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            // The thread ended without a word: it panicked inside the driver bindings.
            Err(_) => {
                let _ = thread.join();
                Err(CameraError::Backend {
                    device,
                    reason: "the capture thread panicked while opening the camera".into(),
                })
            }
        }
    }

    /// The mode the camera actually runs in.
    pub fn mode(&self) -> V4lMode {
        self.mode
    }
}

type Opened = Result<(V4lMode, String), CameraError>;

/// Runs on the capture thread: opens the camera, reports, then streams until stopped.
fn capture(
    index: u32,
    device: &str,
    wanted: &V4lMode,
    shared: &Shared,
    opened: mpsc::SyncSender<Opened>,
) {
    let mut camera = match open_camera(index, device, wanted) {
        Ok((camera, mode)) => {
            let name = camera.info().human_name();
            let _ = opened.send(Ok((mode, name)));
            camera
        }
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    };
    let mut sequence = 0u64;
    let mut failures = 0u32;
    while !shared.stop.load(Ordering::Acquire) {
        match camera.frame_raw() {
            Ok(data) => {
                failures = 0;
                let raw = RawFrame {
                    data: data.into_owned(),
                    sequence,
                    captured_at: Instant::now(),
                };
                sequence += 1;
                if !shared.slot.put(raw) {
                    break;
                }
            }
            Err(e) => {
                failures += 1;
                if failures >= MAX_READ_FAILURES {
                    *shared.failure.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(CameraError::Disconnected {
                            device: device.to_owned(),
                            reason: e.to_string(),
                        });
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let _ = camera.stop_stream();
}

fn open_camera(
    index: u32,
    device: &str,
    wanted: &V4lMode,
) -> Result<(Camera, V4lMode), CameraError> {
    let decodable = [FrameFormat::MJPEG, FrameFormat::YUYV];
    // Open in any mode we decode, then choose the mode ourselves: nokhwa's own "closest"
    // fails outright when the wanted pixel format is missing.
    let request = RequestedFormat::with_formats(RequestedFormatType::None, &decodable);
    let mut camera =
        Camera::with_backend(CameraIndex::Index(index), request, ApiBackend::Video4Linux)
            .map_err(|e| open_error(device, &e.to_string()))?;
    let all = camera
        .compatible_camera_formats()
        .map_err(|e| open_error(device, &e.to_string()))?;
    let modes: Vec<V4lMode> = all.iter().filter_map(to_mode).collect();
    let mode = choose_mode(&modes, wanted).ok_or_else(|| CameraError::FormatUnsupported {
        device: device.to_owned(),
        available: describe(&all),
    })?;
    let current = to_mode(&camera.camera_format());
    if current != Some(mode) {
        let format = match mode.format {
            FourCc::Mjpeg => FrameFormat::MJPEG,
            FourCc::Yuyv => FrameFormat::YUYV,
        };
        let exact = CameraFormat::new_from(mode.width, mode.height, format, mode.fps);
        camera
            .set_camera_requset(RequestedFormat::with_formats(
                RequestedFormatType::Exact(exact),
                &decodable,
            ))
            .map_err(|e| open_error(device, &e.to_string()))?;
    }
    // Streaming is where a camera held by another program says EBUSY.
    camera
        .open_stream()
        .map_err(|e| open_error(device, &e.to_string()))?;
    let actual = to_mode(&camera.camera_format()).unwrap_or(mode);
    Ok((camera, actual))
}

fn open_error(device: &str, message: &str) -> CameraError {
    // nokhwa's wording when no mode of the formats asked for exists.
    if message.contains("Fufill") || message.contains("Fulfill") {
        return CameraError::FormatUnsupported {
            device: device.to_owned(),
            available: message.to_owned(),
        };
    }
    classify(device, message)
}

fn to_mode(f: &CameraFormat) -> Option<V4lMode> {
    let format = match f.format() {
        FrameFormat::MJPEG => FourCc::Mjpeg,
        FrameFormat::YUYV => FourCc::Yuyv,
        _ => return None,
    };
    Some(V4lMode {
        width: f.width(),
        height: f.height(),
        fps: f.frame_rate(),
        format,
    })
}

fn describe(all: &[CameraFormat]) -> String {
    if all.is_empty() {
        return "no modes".into();
    }
    all.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FrameSource for V4lSource {
    fn next_frame(&mut self) -> Result<CapturedFrame, CameraError> {
        self.next_frame_timeout(Duration::MAX)
    }

    fn next_frame_timeout(&mut self, timeout: Duration) -> Result<CapturedFrame, CameraError> {
        let raw = match self.shared.slot.take_timeout(timeout) {
            Ok(raw) => raw,
            Err(TakeError::Timeout) => return Err(CameraError::Timeout { waited: timeout }),
            Err(TakeError::Closed) => {
                let failure = self
                    .shared
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                return Err(failure.unwrap_or_else(|| CameraError::Disconnected {
                    device: self.device.clone(),
                    reason: "the capture thread ended".into(),
                }));
            }
        };
        Ok(CapturedFrame {
            frame: decode_raw(&self.mode, &raw.data)?,
            sequence: raw.sequence,
            captured_at: raw.captured_at,
        })
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::V4l,
            description: format!("{} ({})", self.device, self.name),
            width: self.mode.width,
            height: self.mode.height,
            fps: self.mode.fps as f64,
            input_format: self.mode.format.name().to_owned(),
        }
    }
}

impl Drop for V4lSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.slot.close();
        // The thread may be blocked in a read from a hung device: wait a bounded time so the
        // device is released for a re-open, and otherwise leave the thread to finish alone.
        if self.done.recv_timeout(STOP_WAIT).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
    }
}
