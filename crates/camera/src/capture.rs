//! A capture thread: owns one source, pulls frames as fast as the source gives them and keeps
//! only the latest for the consumer, so a slow face pipeline always works on a fresh frame.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::slot::{LatestSlot, TakeError};
use crate::{CameraError, CapturedFrame, FrameSource, SourceInfo};

/// Tuning of [`spawn_capture`].
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Longest the thread waits on the source before checking for stop: bounds how long
    /// `stop()` and drop take.
    pub poll: Duration,
    /// Transient errors (bad frames, timeouts) in a row after which the source is given up.
    /// Timeouts do not count here: a paused stream is not broken.
    pub max_consecutive_errors: u32,
    pub thread_name: String,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(100),
            max_consecutive_errors: 30,
            thread_name: "camera-capture".into(),
        }
    }
}

/// Counters of a capture thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames read from the source.
    pub captured: u64,
    /// Frames replaced by a newer one before the consumer took them.
    pub dropped: u64,
    /// Frames that failed to read or decode (the thread carried on).
    pub errors: u64,
}

struct Shared {
    slot: LatestSlot<CapturedFrame>,
    stop: AtomicBool,
    captured: AtomicU64,
    errors: AtomicU64,
    /// Why the thread ended on its own (the source failed), for the consumer to report.
    failure: Mutex<Option<CameraError>>,
    device: String,
    last_error_code: Mutex<Option<&'static str>>,
}

/// The consumer's end of a capture thread. Dropping it stops the thread and waits for it.
pub struct CaptureHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    info: SourceInfo,
}

/// Moves `source` onto a new thread that reads frames continuously. The handle hands out the
/// newest frame; older unread frames are dropped (counted in [`CaptureStats::dropped`]).
pub fn spawn_capture(
    source: Box<dyn FrameSource>,
    options: CaptureOptions,
) -> Result<CaptureHandle, CameraError> {
    let info = source.info();
    let shared = Arc::new(Shared {
        slot: LatestSlot::new(),
        stop: AtomicBool::new(false),
        captured: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        failure: Mutex::new(None),
        device: info.description.clone(),
        last_error_code: Mutex::new(None),
    });
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name(options.thread_name.clone())
        .spawn(move || {
            // A panic inside a source (third-party driver code) must end this capture with a
            // status, not leave the consumer waiting forever.
            let sh = &thread_shared;
            let run = std::panic::AssertUnwindSafe(|| run(source, sh, &options));
            if std::panic::catch_unwind(run).is_err() {
                *lock(&sh.last_error_code) = Some("CAMERA_ERROR");
                *lock(&sh.failure) = Some(CameraError::Backend {
                    device: sh_device(sh),
                    reason: "the frame source panicked".into(),
                });
            }
            sh.slot.close();
        })
        .map_err(|e| CameraError::Backend {
            device: info.description.clone(),
            reason: format!("could not start the capture thread: {e}"),
        })?;
    Ok(CaptureHandle {
        shared,
        thread: Some(thread),
        info,
    })
}

fn run(mut source: Box<dyn FrameSource>, shared: &Shared, options: &CaptureOptions) {
    let mut consecutive = 0u32;
    while !shared.stop.load(Ordering::Acquire) {
        match source.next_frame_timeout(options.poll) {
            Ok(frame) => {
                consecutive = 0;
                shared.captured.fetch_add(1, Ordering::Relaxed);
                if !shared.slot.put(frame) {
                    break;
                }
            }
            Err(CameraError::Timeout { .. }) => {}
            Err(e) if e.is_transient() => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                *lock(&shared.last_error_code) = Some(e.code());
                consecutive += 1;
                if consecutive >= options.max_consecutive_errors {
                    *lock(&shared.failure) = Some(e);
                    break;
                }
            }
            Err(e) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                *lock(&shared.last_error_code) = Some(e.code());
                *lock(&shared.failure) = Some(e);
                break;
            }
        }
    }
    // The source (and its device) drops here; the caller then closes the slot, which wakes
    // a consumer blocked in recv.
}

fn sh_device(sh: &Shared) -> String {
    sh.device.clone()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CaptureHandle {
    /// The newest frame not yet taken, without waiting.
    pub fn try_latest(&self) -> Option<CapturedFrame> {
        self.shared.slot.try_take()
    }

    /// Waits up to `timeout` for a frame newer than the last one taken. Errors:
    /// `FRAME_TIMEOUT`; the source's own error if it failed (e.g. `CAMERA_DISCONNECTED`);
    /// `CAPTURE_STOPPED` after [`stop`](Self::stop).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<CapturedFrame, CameraError> {
        match self.shared.slot.take_timeout(timeout) {
            Ok(f) => Ok(f),
            Err(TakeError::Timeout) => Err(CameraError::Timeout { waited: timeout }),
            Err(TakeError::Closed) => Err(self.take_failure().unwrap_or(CameraError::Stopped)),
        }
    }

    /// Why the source failed, once (later calls get None, and `recv` then reports
    /// `CAPTURE_STOPPED`).
    pub fn take_failure(&self) -> Option<CameraError> {
        lock(&self.shared.failure).take()
    }

    /// Code of the most recent error seen, fatal or not (for the status screen).
    pub fn last_error_code(&self) -> Option<&'static str> {
        *lock(&self.shared.last_error_code)
    }

    /// False once the thread has ended (stopped, or the source failed).
    pub fn is_running(&self) -> bool {
        !self.shared.slot.is_closed()
    }

    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            captured: self.shared.captured.load(Ordering::Relaxed),
            dropped: self.shared.slot.replaced(),
            errors: self.shared.errors.load(Ordering::Relaxed),
        }
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Stops the thread and waits for it (at most about one poll interval plus one frame
    /// decode); the source and its device are released when this returns.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // A panic in a third-party source must not take the kiosk down with it.
            if t.join().is_err() {
                *lock(&self.shared.last_error_code) = Some("CAPTURE_PANICKED");
            }
        }
        self.shared.slot.close();
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
