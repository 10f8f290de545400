//! The shared photos as the suites use them: bytes, base64 for the API, decoded frames.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vision::{DecodeLimits, Frame, decode_image};

use crate::paths::{case_path, face_path};

/// Three photos of one person, for an enrolment.
pub const OBAMA_ENROL: [&str; 3] = [
    "face_recognition_examples/obama/obama.jpg",
    "face_recognition_examples/obama/obama1.jpg",
    "face_recognition_examples/obama/obama2.jpg",
];
/// Another photo of the same person, not among [`OBAMA_ENROL`].
pub const OBAMA_PROBE: &str = "face_recognition_examples/obama/obama3.jpg";
pub const ALEX_ENROL: [&str; 3] = [
    "face_recognition_examples/alex_lacamoire/alex_lacamoire1.jpg",
    "face_recognition_examples/alex_lacamoire/img1.jpg",
    "face_recognition_examples/alex_lacamoire/alex-lacamoire.png",
];
/// A stranger to the people above.
pub const BIDEN: &str = "face_recognition_examples/biden/biden.jpg";

fn read(path: std::path::PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The bytes of a shared photo (path below [`crate::faces_dir`]).
pub fn photo_bytes(rel: &str) -> Vec<u8> {
    read(face_path(rel))
}

/// Bytes as the API takes an image (standard base64).
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A shared photo as the API takes it.
pub fn photo_b64(rel: &str) -> String {
    b64(&photo_bytes(rel))
}

/// A shared photo, decoded.
pub fn photo(rel: &str) -> Frame {
    decode_image(&photo_bytes(rel), &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Several shared photos, decoded.
pub fn frames(rels: &[&str]) -> Vec<Frame> {
    rels.iter().map(|r| photo(r)).collect()
}

/// The same still `n` times: a person holding still in front of the camera.
pub fn burst(rel: &str, n: usize) -> Vec<Frame> {
    vec![photo(rel); n]
}

/// The bytes of a device-input case (file name below [`crate::cases_dir`]).
pub fn case_bytes(name: &str) -> Vec<u8> {
    read(case_path(name))
}

/// A device-input case as the API takes it.
pub fn case_b64(name: &str) -> String {
    b64(&case_bytes(name))
}

/// `photo` scaled by `scale` in the middle of a 640x480 frame whose edges continue the
/// photo's own (no border the liveness models could take for a screen's): the same person
/// standing farther from the camera.
pub fn farther(photo_rel: &str, scale: f32) -> Frame {
    let f = photo(photo_rel);
    let (w, h) = (
        (f.width() as f32 * scale) as u32,
        (f.height() as f32 * scale) as u32,
    );
    let small = f.fitted(w, h).unwrap();
    let (sw, sh) = (small.width() as i64, small.height() as i64);
    let (ox, oy) = ((640 - sw) / 2, (480 - sh) / 2);
    let mut rgb = Vec::with_capacity(640 * 480 * 3);
    for y in 0..480i64 {
        for x in 0..640i64 {
            let (sx, sy) = ((x - ox).clamp(0, sw - 1), (y - oy).clamp(0, sh - 1));
            let i = ((sy * sw + sx) * 3) as usize;
            rgb.extend_from_slice(&small.rgb()[i..i + 3]);
        }
    }
    Frame::from_raw(640, 480, vision::PixelFormat::Rgb8, &rgb).unwrap()
}
