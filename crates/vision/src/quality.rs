//! Capture quality: is this frame good enough to enrol or match, and if not, what should the
//! person do? Each issue has a stable code and a plain-language hint a kiosk can show.

use serde::Serialize;

use crate::align::{ALIGNED_SIZE, AlignedFace};
use crate::detect::Face;
use crate::frame::Frame;
use crate::imgproc::{gray_from_bgr_planar, laplacian_variance};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualityIssue {
    FaceTooSmall,
    FaceCutOff,
    TooDark,
    TooBright,
    Blurry,
    LookStraight,
    HeadTilted,
    MultipleFaces,
}

impl QualityIssue {
    pub fn code(self) -> &'static str {
        match self {
            Self::FaceTooSmall => "FACE_TOO_SMALL",
            Self::FaceCutOff => "FACE_CUT_OFF",
            Self::TooDark => "TOO_DARK",
            Self::TooBright => "TOO_BRIGHT",
            Self::Blurry => "BLURRY",
            Self::LookStraight => "LOOK_STRAIGHT",
            Self::HeadTilted => "HEAD_TILTED",
            Self::MultipleFaces => "MULTIPLE_FACES",
        }
    }

    /// The issue a [`Self::code`] names (a server's answer read back by a kiosk).
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::FaceTooSmall,
            Self::FaceCutOff,
            Self::TooDark,
            Self::TooBright,
            Self::Blurry,
            Self::LookStraight,
            Self::HeadTilted,
            Self::MultipleFaces,
        ]
        .into_iter()
        .find(|i| i.code() == code)
    }

    /// What to tell the person.
    pub fn hint(self) -> &'static str {
        match self {
            Self::FaceTooSmall => "Move closer",
            Self::FaceCutOff => "Centre your face in the oval",
            Self::TooDark => "More light, please",
            Self::TooBright => "Too much light behind or on you",
            Self::Blurry => "Hold still",
            Self::LookStraight => "Look straight at the camera",
            Self::HeadTilted => "Keep your head level",
            Self::MultipleFaces => "Only one person at a time",
        }
    }
}

/// The smallest face whose liveness score is trusted: the side `(w + h) / 2` of the detector's
/// box, in frame pixels (the side of the square box the liveness crops start from, see
/// `liveness::adapt_box`). Smaller faces get "Move closer", never a spoof verdict.
///
/// Measured (issue 16) on the 15 shared photos the liveness models call real at full size
/// (silent_face T1 and 14 of pairs.csv's 55 photos, framed at 640x480), each moved farther
/// step by step (0.9x to 0.18x), both alone and inside a 640x480 frame whose edges continue
/// the photo (no border a model could take for a screen's): 269 frames with a face. Bona fide
/// frames called real (fused score >= 0.6) by face side: 100 px and more, 54 of 54; 80-100,
/// 25 of 26; 70-80, 13 of 15; 60-70, 20 of 22; 50-60, 28 of 29; 40-50, 30 of 33; under 40,
/// 67 of 90. Under 100 px about one bona fide frame in seven is called a spoof; at 100 px and
/// above none was. (The attack samples stay spoofs at every size.) With a 640x480 camera and a
/// 60-70 degree lens, 100 px is a face about 80 cm away. Reproduce with `cargo test -p vision
/// --test real_photos -- --ignored liveness_by_face_size --nocapture`.
pub const MIN_LIVENESS_FACE_SIDE: f32 = 100.0;

/// Limits for each check; defaults suit a webcam at arm's length and enrolment photos.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QualityConfig {
    /// Minimum distance between the eyes, in frame pixels.
    pub min_eye_distance: f32,
    /// How far (as a fraction of the face box) the box may stick out of the frame.
    pub max_cut_off: f32,
    pub min_brightness: f32,
    pub max_brightness: f32,
    /// Variance of the Laplacian of the aligned 128x128 face.
    pub min_sharpness: f32,
    /// |nose offset from the eye midpoint| / eye distance.
    pub max_yaw: f32,
    pub max_roll_degrees: f32,
    /// Smallest face side (frame px) for a trusted liveness score ([`MIN_LIVENESS_FACE_SIDE`]).
    pub min_liveness_face_side: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            min_eye_distance: 20.0,
            max_cut_off: 0.25,
            min_brightness: 45.0,
            max_brightness: 215.0,
            min_sharpness: 15.0,
            max_yaw: 0.45,
            max_roll_degrees: 25.0,
            min_liveness_face_side: MIN_LIVENESS_FACE_SIDE,
        }
    }
}

/// The measurements behind the verdict, for UIs (a live quality meter) and for tuning.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QualityMetrics {
    pub eye_distance: f32,
    /// `(w + h) / 2` of the face box, frame px.
    pub face_side: f32,
    pub cut_off: f32,
    pub brightness: f32,
    pub sharpness: f32,
    pub yaw: f32,
    pub roll_degrees: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    pub passed: bool,
    /// Most important first: the first one is the hint to show.
    pub issues: Vec<QualityIssue>,
    pub metrics: QualityMetrics,
    /// Why the liveness score of this face cannot be trusted, if it cannot: `FaceTooSmall`
    /// (under `min_liveness_face_side`) or `FaceCutOff` (the face leaves the frame). Kept out of
    /// `issues` and `passed`: matching works on smaller faces; callers that decide on
    /// liveness ask the person to come closer instead of calling the face a spoof.
    pub liveness_issue: Option<QualityIssue>,
}

impl QualityReport {
    /// Whether the liveness score can be used: [`Self::liveness_issue`] is `None`.
    pub fn liveness_ready(&self) -> bool {
        self.liveness_issue.is_none()
    }
}

impl QualityReport {
    /// A 0..1 summary for a meter: 1 when every check passes with margin.
    pub fn score(&self, cfg: &QualityConfig) -> f32 {
        let m = &self.metrics;
        let parts = [
            (m.eye_distance / (cfg.min_eye_distance * 2.0)).min(1.0),
            (m.sharpness / (cfg.min_sharpness * 3.0)).min(1.0),
            1.0 - (m.yaw.abs() / cfg.max_yaw).min(1.0) * 0.5,
            1.0 - (m.roll_degrees.abs() / cfg.max_roll_degrees).min(1.0) * 0.5,
        ];
        let s = parts.iter().product::<f32>();
        if self.passed { s.max(0.5) } else { s.min(0.49) }
    }
}

/// Measures one face. `faces_in_frame` lets the report flag a crowd.
pub fn assess(
    frame: &Frame,
    face: &Face,
    aligned: &AlignedFace,
    faces_in_frame: usize,
    cfg: &QualityConfig,
) -> QualityReport {
    let [le, re, nose, ..] = face.landmarks;
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let eye_distance = (dx * dx + dy * dy).sqrt();
    let roll_degrees = dy.atan2(dx).to_degrees();
    // Nose offset along the eye line, relative to the eye midpoint.
    let mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let yaw = if eye_distance > 0.0 {
        ((nose[0] - mid[0]) * dx + (nose[1] - mid[1]) * dy) / (eye_distance * eye_distance)
    } else {
        0.0
    };
    let [x, y, w, h] = face.bbox;
    let (fw, fh) = (frame.width() as f32, frame.height() as f32);
    let outside_x = (-x).max(0.0) + (x + w - fw).max(0.0);
    let outside_y = (-y).max(0.0) + (y + h - fh).max(0.0);
    let cut_off = (outside_x / w.max(1.0)).max(outside_y / h.max(1.0));

    let n = ALIGNED_SIZE * ALIGNED_SIZE;
    let gray = gray_from_bgr_planar(&aligned.bgr, n);
    // Central region of the aligned face: skin, eyes, nose; not the black warp border.
    let (lo, hi) = (ALIGNED_SIZE / 4, ALIGNED_SIZE * 3 / 4);
    let mut sum = 0.0;
    for row in lo..hi {
        sum += gray[row * ALIGNED_SIZE + lo..row * ALIGNED_SIZE + hi]
            .iter()
            .sum::<f32>();
    }
    let brightness = sum / ((hi - lo) * (hi - lo)) as f32;
    let sharpness = laplacian_variance(&gray, ALIGNED_SIZE, ALIGNED_SIZE);

    let face_side = (w + h) / 2.0;
    let metrics = QualityMetrics {
        eye_distance,
        face_side,
        cut_off,
        brightness,
        sharpness,
        yaw,
        roll_degrees,
    };
    let checks = [
        (faces_in_frame > 1, QualityIssue::MultipleFaces),
        (
            eye_distance < cfg.min_eye_distance,
            QualityIssue::FaceTooSmall,
        ),
        (cut_off > cfg.max_cut_off, QualityIssue::FaceCutOff),
        (brightness < cfg.min_brightness, QualityIssue::TooDark),
        (brightness > cfg.max_brightness, QualityIssue::TooBright),
        (yaw.abs() > cfg.max_yaw, QualityIssue::LookStraight),
        (
            roll_degrees.abs() > cfg.max_roll_degrees,
            QualityIssue::HeadTilted,
        ),
        (sharpness < cfg.min_sharpness, QualityIssue::Blurry),
    ];
    let issues: Vec<QualityIssue> = checks
        .into_iter()
        .filter_map(|(bad, issue)| bad.then_some(issue))
        .collect();
    // Cut off: more than `max_cut_off` (a quarter) of the box outside the frame, not merely
    // touching the edge. Measured (issue 16) on the 81 shared photos framed at 640x480 at most
    // (163 faces): 36 boxes touch or cross an edge, 35 of them the face a kiosk would use
    // (mostly face_api_js's 150x150 head shots, 0-7% outside; obama_partial_face2 10%), and
    // none is more than 25% outside. A touching rule would ask 35 of 81 real faces to move;
    // this one asks none of them. Reproduce with `cargo test -p vision --test real_photos --
    // --ignored faces_cut_off_by_the_frame_edge --nocapture`.
    let liveness_issue = if face_side < cfg.min_liveness_face_side {
        Some(QualityIssue::FaceTooSmall)
    } else if cut_off > cfg.max_cut_off {
        Some(QualityIssue::FaceCutOff)
    } else {
        None
    };
    QualityReport {
        passed: issues.is_empty(),
        issues,
        metrics,
        liveness_issue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::align;
    use crate::frame::PixelFormat;

    fn frame(value: u8) -> Frame {
        Frame::from_raw(200, 200, PixelFormat::Gray8, &vec![value; 200 * 200]).unwrap()
    }

    fn face(eye_gap: f32, tilt: f32) -> Face {
        Face {
            bbox: [50.0, 40.0, 100.0, 120.0],
            landmarks: [
                [100.0 - eye_gap / 2.0, 90.0],
                [100.0 + eye_gap / 2.0, 90.0 + tilt],
                [100.0, 115.0],
                [85.0, 140.0],
                [115.0, 140.0],
            ],
            score: 0.9,
        }
    }

    #[test]
    fn dark_flat_small_tilted_face_gets_every_hint() {
        let f = frame(10);
        let small = face(10.0, 6.0);
        let report = assess(&f, &small, &align(&f, &small), 2, &QualityConfig::default());
        assert!(!report.passed);
        for issue in [
            QualityIssue::MultipleFaces,
            QualityIssue::FaceTooSmall,
            QualityIssue::TooDark,
            QualityIssue::HeadTilted,
            QualityIssue::Blurry,
        ] {
            assert!(
                report.issues.contains(&issue),
                "{issue:?} missing: {report:?}"
            );
        }
        assert_eq!(report.issues[0].hint(), "Only one person at a time");
    }

    #[test]
    fn bright_frame_is_flagged_too_bright_not_dark() {
        let f = frame(250);
        let fc = face(40.0, 0.0);
        let report = assess(&f, &fc, &align(&f, &fc), 1, &QualityConfig::default());
        assert!(report.issues.contains(&QualityIssue::TooBright));
        assert!(!report.issues.contains(&QualityIssue::TooDark));
        assert!(!report.issues.contains(&QualityIssue::FaceTooSmall));
        assert!(report.metrics.yaw.abs() < 1e-3);
    }

    #[test]
    fn a_face_under_the_liveness_size_is_told_to_come_closer_without_failing_quality() {
        let f = frame(128);
        // Box 100 x 120: side 110, above the minimum.
        let near = face(40.0, 0.0);
        let r = assess(&f, &near, &align(&f, &near), 1, &QualityConfig::default());
        assert_eq!(r.metrics.face_side, 110.0);
        assert!(r.liveness_ready(), "{r:?}");
        let cfg = QualityConfig {
            min_liveness_face_side: 120.0,
            ..QualityConfig::default()
        };
        let r = assess(&f, &near, &align(&f, &near), 1, &cfg);
        assert_eq!(r.liveness_issue, Some(QualityIssue::FaceTooSmall));
        assert!(!r.issues.contains(&QualityIssue::FaceTooSmall));
        assert_eq!(
            r.liveness_issue.map(QualityIssue::hint),
            Some("Move closer")
        );
    }
}
