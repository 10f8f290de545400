//! The capture thread: keeps only the newest frame, reports how the source ended, and stops
//! (releasing the source) on stop() and on drop. Plus: no camera is a status, not a crash.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use camera::{
    CameraError, CaptureOptions, CapturedFrame, FrameSource, ReplayConfig, ReplaySource,
    SourceInfo, V4lConfig, V4lDevice, V4lSource, list_devices, open_str, spawn_capture,
};
use common::faces_dir;

fn replay(fps: f64) -> Box<dyn FrameSource> {
    let cfg = ReplayConfig::new(faces_dir().join("face_api_js/raj")).fps(fps);
    Box::new(ReplaySource::open(cfg).unwrap())
}

/// Wraps a source and raises a flag when it is dropped, i.e. when the thread let go of it.
struct Tracked {
    inner: Box<dyn FrameSource>,
    dropped: Arc<AtomicBool>,
}

impl FrameSource for Tracked {
    fn next_frame(&mut self) -> Result<CapturedFrame, CameraError> {
        self.inner.next_frame()
    }
    fn next_frame_timeout(&mut self, t: Duration) -> Result<CapturedFrame, CameraError> {
        self.inner.next_frame_timeout(t)
    }
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn keeps_only_the_latest_frame_and_stops_on_drop() {
    let dropped = Arc::new(AtomicBool::new(false));
    let source = Tracked {
        inner: replay(0.0),
        dropped: dropped.clone(),
    };
    let handle = spawn_capture(Box::new(source), CaptureOptions::default()).unwrap();
    assert_eq!(handle.info().width, 640);
    let first = handle.recv_timeout(Duration::from_secs(10)).unwrap();
    // An unpaced source outruns a consumer that looks away: older frames are dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.stats().captured < first.sequence + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let later = handle.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        later.sequence > first.sequence + 1,
        "{} then {}",
        first.sequence,
        later.sequence
    );
    let stats = handle.stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert!(stats.captured > later.sequence);
    assert_eq!(stats.errors, 0);
    // Each take is newer than the last: no stale frame is ever handed out.
    let mut last = later.sequence;
    for _ in 0..5 {
        let f = handle.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(f.sequence > last);
        last = f.sequence;
    }
    assert!(handle.is_running());
    assert!(!dropped.load(Ordering::SeqCst));
    drop(handle);
    // Drop joined the thread, so the source is gone by now.
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn stop_is_prompt_even_between_slow_frames() {
    // A frame every 5 s: stop must not wait for the next one.
    let mut handle = spawn_capture(replay(0.2), CaptureOptions::default()).unwrap();
    handle.recv_timeout(Duration::from_secs(10)).unwrap();
    let start = Instant::now();
    handle.stop();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(!handle.is_running());
    assert_eq!(
        handle
            .recv_timeout(Duration::from_millis(10))
            .unwrap_err()
            .code(),
        "CAPTURE_STOPPED"
    );
}

#[test]
fn recv_times_out_while_waiting_for_a_slow_source() {
    let handle = spawn_capture(replay(0.2), CaptureOptions::default()).unwrap();
    handle.recv_timeout(Duration::from_secs(10)).unwrap();
    let e = handle.recv_timeout(Duration::from_millis(20)).unwrap_err();
    assert_eq!(e.code(), "FRAME_TIMEOUT");
    assert!(handle.try_latest().is_none());
    assert!(handle.is_running());
}

#[test]
fn a_source_that_ends_is_reported_then_stopped() {
    let cfg = ReplayConfig::new(faces_dir().join("silent_face"))
        .fps(0.0)
        .looping(false);
    let handle = spawn_capture(
        Box::new(ReplaySource::open(cfg).unwrap()),
        CaptureOptions::default(),
    )
    .unwrap();
    let mut codes = Vec::new();
    loop {
        match handle.recv_timeout(Duration::from_secs(10)) {
            Ok(_) => {}
            Err(e) => {
                codes.push(e.code());
                if codes.len() == 2 {
                    break;
                }
            }
        }
    }
    assert_eq!(codes, ["REPLAY_ENDED", "CAPTURE_STOPPED"]);
    assert!(!handle.is_running());
    assert_eq!(handle.stats().captured, 3);
    assert_eq!(handle.last_error_code(), Some("REPLAY_ENDED"));
}

#[test]
fn a_missing_camera_is_no_camera() {
    for spec in ["v4l:/dev/video97", "v4l:/dev/video97@640x480:30", "v4l:97"] {
        let e = open_str(spec).err().unwrap();
        assert_eq!(e.code(), "NO_CAMERA", "{spec}: {e}");
        assert!(e.to_string().contains("no camera"), "{e}");
    }
    let e = V4lSource::open(V4lConfig::new(V4lDevice::Index(97)))
        .err()
        .unwrap();
    assert_eq!(e.code(), "NO_CAMERA");
}

#[test]
fn listing_cameras_works_without_any() {
    let devices = list_devices().unwrap();
    if !std::path::Path::new("/dev/video0").exists() {
        assert!(devices.is_empty(), "{devices:?}");
    }
}
