//! Face detection: the `FaceDetector` trait and the YuNet implementation (MODELS.md §1).

use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::error::Result;
use crate::frame::Frame;
use crate::imgproc::{Rect, resample_bgr_planar};
use crate::runtime::{RuntimeConfig, inference, load_session};

/// A detected face in frame coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Face {
    /// `[x, y, w, h]` of the box.
    pub bbox: [f32; 4],
    /// Image-left eye, image-right eye, nose, image-left and image-right mouth corner.
    pub landmarks: [[f32; 2]; 5],
    pub score: f32,
}

impl Face {
    pub fn area(&self) -> f32 {
        self.bbox[2] * self.bbox[3]
    }

    /// Intersection over union with another face's box.
    pub fn iou(&self, other: &Face) -> f32 {
        iou(&self.bbox, &other.bbox)
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let x1 = a[0].max(b[0]);
    let y1 = a[1].max(b[1]);
    let x2 = (a[0] + a[2]).min(b[0] + b[2]);
    let y2 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// The detector engine boundary: another model can be dropped in behind it.
pub trait FaceDetector: Send {
    /// All faces in the frame, best score first.
    fn detect(&mut self, frame: &Frame) -> Result<Vec<Face>>;
}

#[derive(Debug, Clone, Copy)]
pub struct DetectorConfig {
    /// Minimum `sqrt(cls * obj)`; 0.6 as in opencv_zoo's `yunet.py` (43/43 on the dlib set).
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Frames are scaled down so their long side is at most this (YuNet sees faces of about
    /// 10 to 300 px). A kiosk camera with near faces can use 320 for a 4x cheaper detection.
    pub max_side: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_iou: 0.3,
            max_side: 640,
        }
    }
}

/// YuNet (dynamic-input file): any frame size, padded to multiples of 32.
pub struct YuNet {
    session: Session,
    config: DetectorConfig,
    input: Vec<f32>,
}

const STRIDES: [usize; 3] = [8, 16, 32];

impl YuNet {
    pub fn load(runtime: &RuntimeConfig, config: DetectorConfig) -> Result<Self> {
        Ok(Self {
            session: load_session(runtime, "detector")?,
            config,
            input: Vec::new(),
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: DetectorConfig) {
        self.config = config;
    }
}

impl FaceDetector for YuNet {
    fn detect(&mut self, frame: &Frame) -> Result<Vec<Face>> {
        let (w, h) = (frame.width(), frame.height());
        let Letterbox { rw, rh, pw, ph } = letterbox(frame, self.config.max_side, &mut self.input);
        let (sx, sy) = (w as f32 / rw as f32, h as f32 / rh as f32);

        let tensor = TensorRef::from_array_view(([1usize, 3, ph, pw], &self.input[..]))
            .map_err(inference("yunet"))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(inference("yunet"))?;
        let get = |name: &str| -> Result<&[f32]> {
            let v = outputs
                .get(name)
                .ok_or_else(|| crate::VisionError::Inference {
                    model: "yunet",
                    reason: format!("output {name} missing"),
                })?;
            Ok(v.try_extract_tensor::<f32>().map_err(inference("yunet"))?.1)
        };

        let mut faces = Vec::new();
        for s in STRIDES {
            let (cols, rows) = (pw / s, ph / s);
            let cls = get(&format!("cls_{s}"))?;
            let obj = get(&format!("obj_{s}"))?;
            let bbox = get(&format!("bbox_{s}"))?;
            let kps = get(&format!("kps_{s}"))?;
            let n = rows * cols;
            if cls.len() < n || obj.len() < n || bbox.len() < 4 * n || kps.len() < 10 * n {
                return Err(crate::VisionError::Inference {
                    model: "yunet",
                    reason: format!("stride {s} outputs are shorter than {n} anchors"),
                });
            }
            let sf = s as f32;
            for r in 0..rows {
                for c in 0..cols {
                    let idx = r * cols + c;
                    let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                    if score < self.config.score_threshold {
                        continue;
                    }
                    let (cf, rf) = (c as f32, r as f32);
                    let b = &bbox[idx * 4..idx * 4 + 4];
                    let cx = (cf + b[0]) * sf;
                    let cy = (rf + b[1]) * sf;
                    let bw = b[2].exp() * sf;
                    let bh = b[3].exp() * sf;
                    let k = &kps[idx * 10..idx * 10 + 10];
                    let mut landmarks = [[0.0f32; 2]; 5];
                    for (i, lm) in landmarks.iter_mut().enumerate() {
                        *lm = [(k[2 * i] + cf) * sf * sx, (k[2 * i + 1] + rf) * sf * sy];
                    }
                    faces.push(Face {
                        bbox: [(cx - bw / 2.0) * sx, (cy - bh / 2.0) * sy, bw * sx, bh * sy],
                        landmarks,
                        score,
                    });
                }
            }
        }
        Ok(nms(faces, self.config.nms_iou))
    }
}

/// The detector's input geometry: the frame resized to `rw x rh`, padded to `pw x ph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letterbox {
    pub rw: usize,
    pub rh: usize,
    pub pw: usize,
    pub ph: usize,
}

/// YuNet's input: the frame scaled down (never up) so its long side is at most `max_side`
/// (bilinear, [`resample_bgr_planar`]), at the top-left of a zero canvas whose sides are
/// multiples of 32 (OpenCV `FaceDetectorYN`'s padding); planar BGR f32 0..255 into `out`
/// (`3 x ph x pw`, resized here; reused from frame to frame).
pub fn letterbox(frame: &Frame, max_side: u32, out: &mut Vec<f32>) -> Letterbox {
    let (w, h) = (frame.width(), frame.height());
    let scale = (max_side as f32 / w.max(h) as f32).min(1.0);
    let rw = ((w as f32 * scale).round() as usize).max(1);
    let rh = ((h as f32 * scale).round() as usize).max(1);
    let pw = rw.div_ceil(32) * 32;
    let ph = rh.div_ceil(32) * 32;
    let len = 3 * pw * ph;
    if (rw, rh) != (pw, ph) || out.len() != len {
        // Only padding needs the zeros: a frame that fills the canvas (640x480) overwrites all
        // of it, and zeroing its 3.7 MB first was a tenth of the detector's pre-processing.
        out.clear();
        out.resize(len, 0.0);
    }
    resample_bgr_planar(frame, Rect { x: 0, y: 0, w, h }, rw, rh, out, pw, ph);
    Letterbox { rw, rh, pw, ph }
}

/// Greedy non-maximum suppression, best score first.
pub fn nms(mut faces: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Face> = Vec::with_capacity(faces.len().min(16));
    for f in faces {
        if keep.iter().all(|k| k.iou(&f) <= iou_threshold) {
            keep.push(f);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face {
            bbox: [x, 0.0, 10.0, 10.0],
            landmarks: [[0.0; 2]; 5],
            score,
        }
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_disjoint() {
        let kept = nms(vec![face(0.0, 0.7), face(1.0, 0.9), face(50.0, 0.8)], 0.3);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].bbox[0], 50.0);
    }

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_zero() {
        assert_eq!(face(0.0, 1.0).iou(&face(0.0, 1.0)), 1.0);
        assert_eq!(face(0.0, 1.0).iou(&face(20.0, 1.0)), 0.0);
    }
}
