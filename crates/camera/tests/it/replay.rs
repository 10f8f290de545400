//! The replay source on the real shared photos: looping, frame size, sequence numbers,
//! pacing (loose bounds only: speed is measured by benchmarks, not tests), videos, bad input.

use crate::common;

use std::time::{Duration, Instant};

use camera::{FrameSource, ReplayConfig, ReplaySource, SourceKind, open_str};
use common::{Scratch, build_avi, faces_dir, jpegs};

#[test]
fn folder_loops_at_camera_size_with_increasing_sequence() {
    let dir = faces_dir().join("face_api_js/raj");
    let mut src = ReplaySource::open(ReplayConfig::new(&dir).fps(0.0)).unwrap();
    assert_eq!(src.len(), 5);
    let info = src.info();
    assert_eq!(info.kind, SourceKind::Replay);
    assert_eq!((info.width, info.height, info.fps), (640, 480, 0.0));
    let frames: Vec<_> = (0..12).map(|_| src.next_frame().unwrap()).collect();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.sequence, i as u64);
        // The crops are small: shown as they are, never scaled up or padded.
        assert!(f.frame.width() <= 640 && f.frame.height() <= 480);
    }
    // Frame 5 is frame 0 again, 11 is 1: the folder loops in sorted order.
    assert_eq!(frames[0].frame.rgb(), frames[5].frame.rgb());
    assert_eq!(frames[1].frame.rgb(), frames[11].frame.rgb());
    assert_ne!(frames[0].frame.rgb(), frames[1].frame.rgb());
    assert!(
        frames
            .windows(2)
            .all(|w| w[0].captured_at <= w[1].captured_at)
    );
}

#[test]
fn every_shared_photo_replays_within_the_camera_size() {
    let cfg = ReplayConfig::new(faces_dir())
        .fps(0.0)
        .recursive(true)
        .size(320, 240)
        .looping(false);
    let mut src = ReplaySource::open(cfg).unwrap();
    let n = src.len();
    assert!(n >= 40, "only {n} photos found under {:?}", faces_dir());
    assert!(src.files().windows(2).all(|w| w[0] < w[1]), "sorted");
    for i in 0..n {
        let f = src
            .next_frame()
            .unwrap_or_else(|e| panic!("{:?}: {e}", src.files()[i]));
        let (w, h) = (f.frame.width(), f.frame.height());
        assert!(w <= 320 && h <= 240, "{:?}: {w}x{h}", src.files()[i]);
    }
    // Looping off: the end is a status, not a wrap-around.
    assert_eq!(src.next_frame().unwrap_err().code(), "REPLAY_ENDED");
}

#[test]
fn paced_replay_keeps_roughly_to_its_rate() {
    let dir = faces_dir().join("face_api_js/amy");
    let mut src = open_str(&format!("replay:{}@25", dir.display())).unwrap();
    assert_eq!(src.info().fps, 25.0);
    let start = Instant::now();
    for _ in 0..6 {
        src.next_frame().unwrap();
    }
    let took = start.elapsed();
    // 6 frames at 25 fps: the first at once, then 5 intervals of 40 ms. Sleeps are never
    // short, so the lower bound is firm; the upper one only catches a broken pacer.
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn timeout_gives_up_before_the_next_deadline() {
    let dir = faces_dir().join("face_api_js/raj");
    let mut src = ReplaySource::open(ReplayConfig::new(dir).fps(1.0)).unwrap();
    assert_eq!(src.next_frame().unwrap().sequence, 0);
    let start = Instant::now();
    let e = src
        .next_frame_timeout(Duration::from_millis(30))
        .unwrap_err();
    assert_eq!(e.code(), "FRAME_TIMEOUT");
    assert!(e.is_transient());
    assert!(start.elapsed() < Duration::from_millis(900));
    // The timed-out call used no frame.
    assert_eq!(src.next_frame().unwrap().sequence, 1);
}

#[test]
fn mjpeg_stream_and_avi_replay_the_same_frames_as_the_folder() {
    let files = jpegs("silent_face");
    assert_eq!(files.len(), 3);
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let scratch = Scratch::new("video");
    let stream = scratch.0.join("clip.mjpeg");
    std::fs::write(&stream, bytes.concat()).unwrap();
    let avi = scratch.0.join("clip.avi");
    std::fs::write(&avi, build_avi(&bytes, 10)).unwrap();

    let mut folder =
        ReplaySource::open(ReplayConfig::new(faces_dir().join("silent_face")).fps(0.0)).unwrap();
    let mut stream = ReplaySource::open(ReplayConfig::new(&stream).fps(0.0)).unwrap();
    assert_eq!(stream.info().input_format, "MJPEG stream");
    // The AVI's own rate (10 fps) is used when the spec gives none.
    let mut avi = open_str(&format!("replay:{}", avi.display())).unwrap();
    assert_eq!(
        (avi.info().fps, avi.info().input_format.as_str()),
        (10.0, "MJPEG AVI")
    );
    for i in 0..4 {
        let want = folder.next_frame().unwrap();
        let s = stream.next_frame().unwrap();
        let a = avi.next_frame().unwrap();
        assert_eq!(s.frame.rgb(), want.frame.rgb(), "stream frame {i}");
        assert_eq!(a.frame.rgb(), want.frame.rgb(), "avi frame {i}");
        assert_eq!((s.sequence, a.sequence), (i, i));
    }
}

#[test]
fn single_photo_replays_as_a_still() {
    let photo = faces_dir().join("skimage/astronaut.png");
    let mut src = open_str(&format!("replay:{}@0", photo.display())).unwrap();
    let a = src.next_frame().unwrap();
    let b = src.next_frame().unwrap();
    assert_eq!(a.frame.rgb(), b.frame.rgb());
    assert_eq!(
        (b.sequence, b.frame.width(), b.frame.height()),
        (1, 480, 480)
    );
}

#[test]
fn bad_replays_have_codes_not_panics() {
    let scratch = Scratch::new("bad");
    let code = |spec: String| open_str(&spec).err().map(|e| e.code());
    let empty = scratch.0.join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no images here").unwrap();
    assert_eq!(
        code(format!("replay:{}", empty.display())),
        Some("REPLAY_EMPTY")
    );
    let missing = scratch.0.join("missing");
    assert_eq!(
        code(format!("replay:{}", missing.display())),
        Some("REPLAY_IO")
    );
    let text = scratch.0.join("clip.mjpeg");
    std::fs::write(&text, "not video").unwrap();
    assert_eq!(
        code(format!("replay:{}", text.display())),
        Some("REPLAY_FORMAT")
    );

    // A corrupt image opens (files are only listed) and fails per frame, then the good one
    // still comes through: one bad file does not stop a replay.
    let mixed = scratch.0.join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::write(mixed.join("a_broken.jpg"), b"\xFF\xD8\xFFjunk").unwrap();
    std::fs::copy(
        faces_dir().join("silent_face/image_F1.jpg"),
        mixed.join("b.jpg"),
    )
    .unwrap();
    let mut src = ReplaySource::open(ReplayConfig::new(&mixed).fps(0.0)).unwrap();
    let e = src.next_frame().unwrap_err();
    assert_eq!(e.code(), "DECODE_FAILED");
    assert!(e.is_transient());
    assert_eq!(src.next_frame().unwrap().sequence, 0);
    assert_eq!(src.next_frame().unwrap_err().code(), "DECODE_FAILED");
}
