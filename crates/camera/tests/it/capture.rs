//! The capture thread: keeps only the newest frame, reports how the source ended, and stops
//! (releasing the source) on stop() and on drop. Plus: no camera is a status, not a crash.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use camera::{
    CameraError, CaptureOptions, CapturedFrame, FrameSource, OfferedMode, RawCamera, ReplayConfig,
    ReplaySource, SourceInfo, V4lConfig, V4lDevice, V4lSource, list_devices, open_str,
    spawn_capture,
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

/// A V4L2 driver stand-in: offers `modes`, and hands out `frames` in turn as the driver's
/// buffers, each `buffer_len` long (what a driver maps), with `bytesused` honoured or not.
struct FakeDriver {
    modes: Vec<OfferedMode>,
    frames: Vec<Vec<u8>>,
    buffer_len: usize,
    honour_bytesused: bool,
    buffer: Vec<u8>,
    next: usize,
    started: Arc<std::sync::Mutex<Option<OfferedMode>>>,
}

impl FakeDriver {
    fn new(modes: Vec<OfferedMode>, frames: Vec<Vec<u8>>, buffer_len: usize) -> Self {
        Self {
            modes,
            frames,
            buffer_len,
            honour_bytesused: false,
            buffer: vec![0; buffer_len],
            next: 0,
            started: Arc::default(),
        }
    }

    fn opener(self) -> camera::RawOpener {
        Box::new(move || Ok(Box::new(self) as Box<dyn RawCamera>))
    }
}

impl RawCamera for FakeDriver {
    fn name(&self) -> String {
        "Fake V4L2 camera".into()
    }
    fn modes(&mut self) -> Result<Vec<OfferedMode>, CameraError> {
        Ok(self.modes.clone())
    }
    fn start(&mut self, mode: &OfferedMode) -> Result<OfferedMode, CameraError> {
        *self.started.lock().unwrap() = Some(*mode);
        Ok(*mode)
    }
    fn read(&mut self, _timeout: Duration) -> Result<&[u8], CameraError> {
        std::thread::sleep(Duration::from_millis(5));
        let frame = &self.frames[self.next % self.frames.len()];
        self.next += 1;
        // Like the kernel: the frame at the start of the mapping, the rest left as it was
        // (zeros at first, then whatever an earlier, larger frame wrote there).
        self.buffer[..frame.len()].copy_from_slice(frame);
        Ok(if self.honour_bytesused {
            &self.buffer[..frame.len()]
        } else {
            &self.buffer[..self.buffer_len]
        })
    }
}

fn offered(fourcc: &[u8; 4], width: u32, height: u32) -> OfferedMode {
    OfferedMode {
        fourcc: *fourcc,
        width,
        height,
        fps: 30,
    }
}

fn fake_camera(driver: FakeDriver) -> Result<V4lSource, CameraError> {
    V4lSource::open_with(V4lConfig::new(V4lDevice::Index(0)), driver.opener())
}

/// The JPEG image at the start of the shared full-buffer case, and the case itself.
fn mjpeg_case() -> (Vec<u8>, Vec<u8>) {
    let full = std::fs::read(common::cases_dir().join("mjpeg_frame_in_full_v4l2_buffer.jpg"))
        .expect("the shared MJPEG case");
    let end = vision::jpeg::end_of_image(&full, 0).expect("an end-of-image marker");
    (full[..end].to_vec(), full)
}

#[test]
fn mjpeg_frames_in_whole_driver_buffers_decode() {
    let (jpeg, full) = mjpeg_case();
    assert_eq!(
        full.len(),
        614_400,
        "the case is a 640x480 YUYV-sized buffer"
    );
    let want = vision::decode_image(&jpeg, &vision::DecodeLimits::default()).unwrap();
    assert_eq!((want.width(), want.height()), (640, 480));
    // The shared buffer as a file, as `kiosk sign-in --face` would read it.
    let got = vision::decode_image(&full, &vision::DecodeLimits::default()).unwrap();
    assert_eq!(got.rgb(), want.rgb());

    // A smaller frame after a larger one leaves the larger one's tail (entropy data and its
    // own end marker) behind it in the buffer.
    let small = want.fitted(320, 240).unwrap().to_jpeg(80).unwrap();
    let big = want.to_jpeg(100).unwrap();
    assert!(big.len() > jpeg.len() && big.len() > small.len());
    let big_px = vision::decode_image(&big, &vision::DecodeLimits::default()).unwrap();
    let small_px = vision::decode_image(&small, &vision::DecodeLimits::default()).unwrap();
    for (buffer_len, honour) in [
        (614_400, false),
        (640 * 480 * 3, false),
        (1_843_200, false),
        (614_400, true),
    ] {
        let mut driver = FakeDriver::new(
            vec![offered(b"MJPG", 640, 480)],
            vec![big.clone(), jpeg.clone(), small.clone()],
            buffer_len,
        );
        driver.honour_bytesused = honour;
        let mut cam = fake_camera(driver).unwrap();
        assert_eq!(cam.info().input_format, "MJPEG");
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen < 6 && Instant::now() < deadline {
            let f = cam
                .next_frame_timeout(Duration::from_secs(2))
                .unwrap()
                .frame;
            let px = f.rgb();
            assert!(
                px == want.rgb() || px == big_px.rgb() || px == small_px.rgb(),
                "buffer {buffer_len}: a {}x{} frame that is none of the three sent",
                f.width(),
                f.height()
            );
            seen += 1;
        }
        assert_eq!(seen, 6, "buffer {buffer_len}");
    }
}

#[test]
fn an_infrared_camera_offering_only_grey_or_y16_opens_and_delivers() {
    let (w, h) = (640u32, 400u32);
    let grey: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let driver = FakeDriver::new(
        vec![
            offered(b"Y16 ", w, h),
            offered(b"GREY", w, h),
            offered(b"GREY", 340, 340),
        ],
        vec![grey.clone()],
        (w * h) as usize,
    );
    let started = driver.started.clone();
    let mut cam = fake_camera(driver).unwrap();
    assert_eq!(started.lock().unwrap().unwrap().fourcc, *b"GREY");
    assert_eq!(cam.info().input_format, "GREY");
    let f = cam
        .next_frame_timeout(Duration::from_secs(2))
        .unwrap()
        .frame;
    assert_eq!((f.width(), f.height()), (w, h));
    assert!(
        f.rgb()
            .chunks_exact(3)
            .zip(&grey)
            .all(|(p, &g)| p == [g, g, g])
    );

    // Y16 only, with 10 significant bits: scaled, not black.
    let y16: Vec<u8> = (0..w * h)
        .flat_map(|i| ((i % 1024) as u16).to_le_bytes())
        .collect();
    let driver = FakeDriver::new(
        vec![offered(b"Y16 ", w, h)],
        vec![y16],
        (w * h * 2) as usize,
    );
    let mut cam = fake_camera(driver).unwrap();
    assert_eq!(cam.info().input_format, "Y16");
    let f = cam
        .next_frame_timeout(Duration::from_secs(2))
        .unwrap()
        .frame;
    assert_eq!(f.rgb().iter().copied().max(), Some(255));
}

#[test]
fn a_camera_with_no_format_we_decode_says_which_it_has() {
    let driver = FakeDriver::new(
        vec![offered(b"NV12", 640, 480), offered(b"H264", 1920, 1080)],
        vec![vec![0; 16]],
        16,
    );
    let e = fake_camera(driver).err().expect("must fail");
    assert_eq!(e.code(), "CAMERA_FORMAT_UNSUPPORTED");
    let msg = e.to_string();
    assert!(msg.contains("NV12") && msg.contains("H264"), "{msg}");
}
