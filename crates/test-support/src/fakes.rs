//! Face engines that need no ONNX Runtime and no model files, behind the same traits as the
//! real ones ([`FaceDetector`], [`FaceEmbedder`], [`LivenessModel`]), so a
//! [`FacePipeline`] built from them runs the real alignment, quality checks, matching and
//! everything above them.
//!
//! They are deterministic:
//! - the detector finds one face over the whole frame, its landmarks where a face looking
//!   straight at the camera has them (none in a blank frame; more than one on request);
//! - the embedder derives the embedding from the aligned face's pixels (a 16x16 thumbnail of
//!   its luma, mean removed): the same photo is the same person, and re-encoding it as JPEG
//!   barely moves it;
//! - the liveness model answers a configured score.
//!
//! [`face`] draws people for them: person `n` is a pattern orthogonal to every other
//! person's, so different people score about 0 and two photos of one person about 1.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use vision::{
    AlignedFace, Embedding, Face, FaceDetector, FaceEmbedder, FacePipeline, Frame, LivenessModel,
    PixelFormat, QualityConfig, Result,
};

/// The fake embedder's model id: templates it makes never mix with the real model's.
pub const FAKE_MODEL_ID: &str = "fake-thumbnail-16x16";

/// The liveness a new [`FakeFaces`] answers: well above the default threshold.
pub const LIVE: f32 = 0.95;

/// Landmarks of a face looking straight ahead, as fractions of its box: eyes, nose, mouth
/// corners (the detector's order).
const LANDMARKS: [[f32; 2]; 5] = [
    [0.32, 0.46],
    [0.68, 0.46],
    [0.50, 0.64],
    [0.35, 0.82],
    [0.65, 0.82],
];

struct Knobs {
    liveness: AtomicU32,
    faces: AtomicUsize,
}

/// The fake engines' settings, shared by a test and every pipeline made from them (clones
/// share them too): a test can turn liveness down or show a second face mid-way, even to a
/// server's pipeline on its own thread.
#[derive(Clone)]
pub struct FakeFaces {
    knobs: Arc<Knobs>,
}

impl Default for FakeFaces {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeFaces {
    /// One face per frame, liveness [`LIVE`]. Registers the fake embedder's calibration
    /// ([`fake_calibration`]) so face decisions have error rates to turn into thresholds.
    pub fn new() -> Self {
        static REGISTERED: std::sync::Once = std::sync::Once::new();
        REGISTERED.call_once(|| fake_calibration().register());
        Self {
            knobs: Arc::new(Knobs {
                liveness: AtomicU32::new(LIVE.to_bits()),
                faces: AtomicUsize::new(1),
            }),
        }
    }

    /// What the liveness model answers from now on.
    pub fn set_liveness(&self, score: f32) {
        self.knobs.liveness.store(score.to_bits(), Ordering::SeqCst);
    }

    /// How many faces the detector finds in a frame that is not blank from now on.
    pub fn set_faces(&self, n: usize) {
        self.knobs.faces.store(n, Ordering::SeqCst);
    }

    pub fn detector(&self) -> FakeDetector {
        FakeDetector {
            knobs: self.knobs.clone(),
        }
    }

    pub fn embedder(&self) -> ThumbnailEmbedder {
        ThumbnailEmbedder
    }

    pub fn liveness(&self) -> FakeLiveness {
        FakeLiveness {
            knobs: self.knobs.clone(),
        }
    }

    /// A pipeline of the three fakes with the default quality checks.
    pub fn pipeline(&self) -> FacePipeline {
        FacePipeline::from_engines(
            Box::new(self.detector()),
            Box::new(self.embedder()),
            Box::new(self.liveness()),
            QualityConfig::default(),
        )
    }
}

/// The fake embedder's score distributions, as [`face`]'s people make them: different
/// people orthogonal (impostor cosines about N(0, 0.12), the spread of noisy thumbnails), two
/// photos of one person near 1. 300,000 impostor scores measure FMR down to about 1.3e-5:
/// 1:1 at 1e-4 sits near 0.45, 1:N over tens of people near 0.5.
pub fn fake_calibration() -> vision::decision::Calibration {
    let mut s = 0x0005_DEEC_E66D_u64;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32
    };
    // Irwin-Hall: the sum of 12 uniforms less 6 is close to a standard normal.
    let mut normal = move || (0..12).map(|_| uniform()).sum::<f32>() - 6.0;
    let mut impostor: Vec<f32> = (0..300_000).map(|_| 0.12 * normal()).collect();
    let genuine: Vec<f32> = (0..2_000)
        .map(|_| (0.92 + 0.02 * normal()).min(1.0))
        .collect();
    vision::decision::Calibration::from_scores(
        FAKE_MODEL_ID,
        "test-support: synthetic scores of the fake engines",
        &genuine,
        &[],
        &mut impostor,
    )
}

/// Finds one face over the whole frame (see the module docs); none in a blank frame.
pub struct FakeDetector {
    knobs: Arc<Knobs>,
}

fn face_at(x: f32, y: f32, w: f32, h: f32, score: f32) -> Face {
    Face {
        bbox: [x, y, w, h],
        landmarks: LANDMARKS.map(|[fx, fy]| [x + fx * w, y + fy * h]),
        score,
    }
}

/// Whether every pixel is (nearly) the same: nothing in front of the camera.
fn blank(frame: &Frame) -> bool {
    let (lo, hi) = frame
        .rgb()
        .iter()
        .fold((u8::MAX, u8::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    hi.saturating_sub(lo) < 8
}

impl FaceDetector for FakeDetector {
    fn detect(&mut self, frame: &Frame) -> Result<Vec<Face>> {
        if blank(frame) {
            return Ok(Vec::new());
        }
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let n = self.knobs.faces.load(Ordering::SeqCst);
        // The first face fills the frame; any others are small ones in a row along the top.
        Ok((0..n)
            .map(|i| match i {
                0 => face_at(0.0, 0.0, w, h, 0.99),
                _ => face_at(w * 0.05 * i as f32, 0.0, w * 0.05, h * 0.05, 0.9),
            })
            .collect())
    }
}

/// Side of the thumbnail the embedding is made of: 16 x 16 = `vision::EMBEDDING_DIM` values.
const THUMB: usize = 16;

/// Embeds an aligned face as the luma of a 16x16 thumbnail of it, mean removed, normalised.
pub struct ThumbnailEmbedder;

impl FaceEmbedder for ThumbnailEmbedder {
    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Embedding>> {
        let size = vision::align::ALIGNED_SIZE;
        let cell = size / THUMB;
        let plane = size * size;
        Ok(faces
            .iter()
            .map(|f| {
                let bgr = f.planar_bgr();
                let mut thumb = vec![0f32; THUMB * THUMB];
                for y in 0..size {
                    for x in 0..size {
                        let i = y * size + x;
                        let luma =
                            0.114 * bgr[i] + 0.587 * bgr[plane + i] + 0.299 * bgr[2 * plane + i];
                        thumb[(y / cell) * THUMB + x / cell] += luma;
                    }
                }
                let mean = thumb.iter().sum::<f32>() / thumb.len() as f32;
                Embedding::from_raw(thumb.into_iter().map(|v| v - mean).collect())
            })
            .collect())
    }

    fn model_id(&self) -> &'static str {
        FAKE_MODEL_ID
    }
}

/// Answers the configured liveness for every face.
pub struct FakeLiveness {
    knobs: Arc<Knobs>,
}

impl LivenessModel for FakeLiveness {
    fn score(&mut self, _frame: &Frame, _face: &Face) -> Result<f32> {
        Ok(f32::from_bits(self.knobs.liveness.load(Ordering::SeqCst)))
    }
}

/// Side of a [`face`] frame, in pixels.
pub const FACE_SIZE: u32 = 256;
/// Cells along each side of a person's pattern.
const GRID: u32 = 8;

/// A photo of person `who` (1 to 63) for the fake engines: an 8x8 pattern of light and dark
/// cells, the row `who` of a Hadamard matrix, so any two people are orthogonal. `variant` 0 is
/// the clean pattern; any other is the same person with a little deterministic noise (another
/// photo of them).
pub fn face(who: u8, variant: u32) -> Frame {
    assert!((1..64).contains(&who), "person {who}: 1 to 63");
    let cell = FACE_SIZE / GRID;
    let mut noise = NoiseSource(u64::from(who) << 32 | u64::from(variant) | 1);
    let mut rgb = Vec::with_capacity((FACE_SIZE * FACE_SIZE * 3) as usize);
    for y in 0..FACE_SIZE {
        for x in 0..FACE_SIZE {
            let j = (y / cell) * GRID + x / cell;
            let sign = if (u32::from(who) & j).count_ones().is_multiple_of(2) {
                1
            } else {
                -1
            };
            let jitter = if variant == 0 {
                0
            } else {
                noise.next() as i32 % 25 - 12
            };
            let v = (128 + 60 * sign + jitter).clamp(0, 255) as u8;
            rgb.extend_from_slice(&[v, v, v]);
        }
    }
    Frame::from_raw(FACE_SIZE, FACE_SIZE, PixelFormat::Rgb8, &rgb).expect("a whole frame")
}

/// [`face`] as a camera or phone sends it: JPEG (quality 92).
pub fn face_jpeg(who: u8, variant: u32) -> Vec<u8> {
    face(who, variant).to_jpeg(92).expect("a JPEG")
}

/// A frame with nothing in it: the fake detector finds no face.
pub fn blank_frame() -> Frame {
    let n = (FACE_SIZE * FACE_SIZE * 3) as usize;
    Frame::from_raw(FACE_SIZE, FACE_SIZE, PixelFormat::Rgb8, &vec![128; n]).expect("a frame")
}

/// xorshift64: the same noise for the same person and variant, on every machine.
struct NoiseSource(u64);

impl NoiseSource {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vision::{DEFAULT_MATCH_THRESHOLD, DecodeLimits, MultiFace, cosine, decode_image};

    fn embed(p: &mut FacePipeline, f: &Frame) -> Vec<f32> {
        p.analyze(f, MultiFace::Refuse)
            .unwrap()
            .embedding
            .into_vec()
    }

    #[test]
    fn one_person_matches_and_two_people_do_not() {
        let fakes = FakeFaces::new();
        let mut p = fakes.pipeline();
        for who in 1..12 {
            let a = embed(&mut p, &face(who, 0));
            assert_eq!(a.len(), vision::EMBEDDING_DIM);
            for variant in 1..3 {
                let b = embed(&mut p, &face(who, variant));
                assert!(cosine(&a, &b) > 0.95, "{who}/{variant}: {}", cosine(&a, &b));
            }
            // Through JPEG, as an enrolment sample reaches the server.
            let jpeg = face(who, 1).to_jpeg(92).unwrap();
            let c = embed(
                &mut p,
                &decode_image(&jpeg, &DecodeLimits::default()).unwrap(),
            );
            assert!(cosine(&a, &c) > 0.95, "{who} jpeg: {}", cosine(&a, &c));
            for other in (who + 1)..12 {
                let b = embed(&mut p, &face(other, 1));
                let s = cosine(&a, &b);
                assert!(
                    s.abs() < DEFAULT_MATCH_THRESHOLD / 2.0,
                    "{who} ~ {other}: {s}"
                );
            }
        }
    }

    #[test]
    fn every_fake_face_passes_the_real_quality_checks() {
        let mut p = FakeFaces::new().pipeline();
        for who in 1..64 {
            let a = p.analyze(&face(who, 2), MultiFace::Refuse).unwrap();
            assert!(a.quality.passed, "{who}: {:?}", a.quality.issues);
            assert_eq!(a.liveness, LIVE);
        }
    }

    #[test]
    fn the_knobs_reach_a_pipeline_made_before_they_turned() {
        let fakes = FakeFaces::new();
        let mut p = fakes.pipeline();
        assert_eq!(p.embedder_model_id(), FAKE_MODEL_ID);
        fakes.set_liveness(0.1);
        fakes.set_faces(2);
        let a = p.analyze(&face(3, 0), MultiFace::Largest).unwrap();
        assert_eq!((a.liveness, a.faces_in_frame), (0.1, 2));
        assert_eq!(
            p.analyze(&face(3, 0), MultiFace::Refuse)
                .unwrap_err()
                .code(),
            "MULTIPLE_FACES"
        );
        assert_eq!(
            p.analyze(&blank_frame(), MultiFace::Largest)
                .unwrap_err()
                .code(),
            "NO_FACE"
        );
    }
}
