//! [`V4lSource`]: a capture thread over any [`RawCamera`] that keeps only the latest raw frame.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{
    OfferedMode, RawCamera, V4l2Camera, V4lConfig, V4lMode, choose_mode, decode_raw,
    describe_formats, device_label,
};
use crate::slot::{LatestSlot, TakeError};
use crate::{CameraError, CapturedFrame, FrameSource, SourceInfo, SourceKind};

/// Failed reads in a row after which the camera counts as unplugged.
const MAX_READ_FAILURES: u32 = 10;
/// How long one read waits before the thread looks at its stop flag again.
const READ_WAIT: Duration = Duration::from_millis(500);
/// How long drop waits for the capture thread to release the device.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Opens the device, on the capture thread (a driver handle is not `Send`).
pub type RawOpener = Box<dyn FnOnce() -> Result<Box<dyn RawCamera>, CameraError> + Send>;

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

/// A V4L2 camera (or any [`RawCamera`]). Opening starts streaming on a capture thread;
/// dropping stops it and releases the device.
pub struct V4lSource {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    mode: V4lMode,
    device: String,
    name: String,
}

impl V4lSource {
    /// Opens the camera in the mode closest to the one asked for ([`choose_mode`]).
    /// Errors: `NO_CAMERA`, `CAMERA_BUSY`, `CAMERA_PERMISSION`, `CAMERA_FORMAT_UNSUPPORTED`
    /// (naming the formats the device has), `CAMERA_ERROR`, `BACKEND_UNAVAILABLE`.
    pub fn open(config: V4lConfig) -> Result<Self, CameraError> {
        let device = config.device.clone();
        Self::open_with(
            config,
            Box::new(move || Ok(Box::new(V4l2Camera::open(&device)?) as Box<dyn RawCamera>)),
        )
    }

    /// The same over a device of the caller's: how tests drive the capture logic with a
    /// fake driver.
    pub fn open_with(config: V4lConfig, opener: RawOpener) -> Result<Self, CameraError> {
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
            .name(format!("camera {device}"))
            .spawn(move || {
                capture(
                    opener,
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
    opener: RawOpener,
    device: &str,
    wanted: &V4lMode,
    shared: &Shared,
    opened: mpsc::SyncSender<Opened>,
) {
    let mut camera = match opener().and_then(|mut c| {
        let mode = start(c.as_mut(), device, wanted)?;
        Ok((c, mode))
    }) {
        Ok((camera, mode)) => {
            let _ = opened.send(Ok((mode, camera.name())));
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
        match camera.read(READ_WAIT) {
            Ok(data) => {
                failures = 0;
                let raw = RawFrame {
                    data: data.to_vec(),
                    sequence,
                    captured_at: Instant::now(),
                };
                sequence += 1;
                if !shared.slot.put(raw) {
                    break;
                }
            }
            // A slow frame (dim light lowers the rate) is not a failure.
            Err(CameraError::Timeout { .. }) => {}
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
}

/// Chooses the best decodable mode the device offers and starts it.
fn start(
    camera: &mut dyn RawCamera,
    device: &str,
    wanted: &V4lMode,
) -> Result<V4lMode, CameraError> {
    let offered = camera.modes()?;
    let decodable: Vec<(V4lMode, OfferedMode)> = offered
        .iter()
        .filter_map(|o| Some((o.decodable()?, *o)))
        .collect();
    let modes: Vec<V4lMode> = decodable.iter().map(|(m, _)| *m).collect();
    let unsupported = || CameraError::FormatUnsupported {
        device: device.to_owned(),
        available: describe_formats(&offered),
    };
    let mode = choose_mode(&modes, wanted).ok_or_else(unsupported)?;
    let (_, chosen) = decodable
        .iter()
        .find(|(m, _)| *m == mode)
        .ok_or_else(unsupported)?;
    let actual = camera.start(chosen)?;
    // The driver may adjust what it was asked for; decode what it really sends.
    actual.decodable().ok_or_else(unsupported)
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
