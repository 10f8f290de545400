//! Presentation-attack detection: the `LivenessModel` trait and the fused MiniFASNet pair
//! (MODELS.md §3).

use ort::session::Session;
use ort::value::TensorRef;

use crate::detect::Face;
use crate::error::{Result, VisionError};
use crate::frame::Frame;
use crate::imgproc::{Rect, resample_bgr_planar};
use crate::runtime::{RuntimeConfig, inference, load_session};

/// Side of both models' input, px.
pub const INPUT: usize = 80;

/// The crop scales of MiniFASNetV2 and MiniFASNetV1SE, in that order (their file names).
pub const SCALES: [f32; 2] = [2.7, 4.0];

/// The liveness engine boundary.
pub trait LivenessModel: Send {
    /// Probability in 0..1 that the face is a live person, not a print or a screen.
    fn score(&mut self, frame: &Frame, face: &Face) -> Result<f32>;
}

/// MiniFASNetV2 (crop scale 2.7) and MiniFASNetV1SE (crop scale 4.0), softmax averaged as
/// upstream's `test.py` does; the score is the fused probability of class 1 (real).
pub struct MiniFasNet {
    models: [(Session, f32, &'static str); 2],
    input: Vec<f32>,
}

impl MiniFasNet {
    pub fn load(runtime: &RuntimeConfig) -> Result<Self> {
        Ok(Self {
            models: [
                (load_session(runtime, "liveness_v2")?, 2.7, "minifasnet-v2"),
                (
                    load_session(runtime, "liveness_v1se")?,
                    4.0,
                    "minifasnet-v1se",
                ),
            ],
            input: vec![0.0; 3 * INPUT * INPUT],
        })
    }
}

/// YuNet boxes are taller than the RetinaFace boxes MiniFASNet was trained on: make a square of
/// side (w+h)/2, centred 0.08 h lower (the adapter fitted in MODELS.md).
pub fn adapt_box(face: &Face) -> [f32; 4] {
    let [x, y, w, h] = face.bbox;
    let side = (w + h) / 2.0;
    let (cx, cy) = (x + w / 2.0, y + h / 2.0 + 0.08 * h);
    [cx - side / 2.0, cy - side / 2.0, side, side]
}

/// Upstream `CropImage._get_new_box`: scale the box about its centre, shift it inside the frame.
pub fn crop_box(frame_w: u32, frame_h: u32, bbox: [f32; 4], scale: f32) -> Rect {
    let (src_w, src_h) = (frame_w as f32, frame_h as f32);
    let [x, y, bw, bh] = bbox;
    let scale = scale.min((src_h - 1.0) / bh).min((src_w - 1.0) / bw);
    let (nw, nh) = (bw * scale, bh * scale);
    let (cx, cy) = (x + bw / 2.0, y + bh / 2.0);
    let (mut l, mut t, mut r, mut b) = (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if l < 0.0 {
        r -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if r > src_w - 1.0 {
        l -= r - src_w + 1.0;
        r = src_w - 1.0;
    }
    if b > src_h - 1.0 {
        t -= b - src_h + 1.0;
        b = src_h - 1.0;
    }
    // Python's int() truncates toward zero; clamp guards against float drift at the edges.
    let (l, t) = ((l as i64).max(0) as u32, (t as i64).max(0) as u32);
    let (r, b) = (
        (r as i64).max(l as i64) as u32,
        (b as i64).max(t as i64) as u32,
    );
    let r = r.min(frame_w - 1);
    let b = b.min(frame_h - 1);
    Rect {
        x: l,
        y: t,
        w: r - l + 1,
        h: b - t + 1,
    }
}

/// How much wider than the widest liveness crop an upload is: the receiver detects the face
/// again and its box differs from ours by a few pixels, so its scale-4.0 crop must still fit
/// inside without being clamped (a clamped crop is a smaller context, another score).
pub const UPLOAD_MARGIN: f32 = 1.15;

/// The part of a frame to send to a server that judges the face again (detection, match and
/// liveness in one pass): the widest model's crop ([`SCALES`]`[1]`, 4.0x the adapted box)
/// grown by [`UPLOAD_MARGIN`], placed inside the frame as [`crop_box`] places it, so a face
/// near an edge keeps the same context it had in the whole frame. Every model's crop of the
/// receiver falls inside; the rest of the frame is not needed.
pub fn upload_region(frame_w: u32, frame_h: u32, face: &Face) -> Rect {
    crop_box(frame_w, frame_h, adapt_box(face), SCALES[1] * UPLOAD_MARGIN)
}

/// One model's input: the adapted box ([`adapt_box`]) scaled by `scale` ([`crop_box`]),
/// resampled bilinearly to 80x80, planar BGR f32 0..255 into `out` (`3 * 80 * 80`).
pub fn model_input(frame: &Frame, face: &Face, scale: f32, out: &mut [f32]) {
    let rect = crop_box(frame.width(), frame.height(), adapt_box(face), scale);
    resample_bgr_planar(frame, rect, INPUT, INPUT, out, INPUT, INPUT);
}

fn softmax_real(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    exps[1] / exps.iter().sum::<f32>()
}

impl MiniFasNet {
    /// The fused score of inputs built elsewhere (another resize, a test): `inputs[i]` is the
    /// `3 x 80 x 80` planar BGR input of the model with crop scale [`SCALES`]`[i]`.
    pub fn score_inputs(&mut self, inputs: [&[f32]; 2]) -> Result<f32> {
        let mut total = 0.0;
        for ((session, _, name), input) in self.models.iter_mut().zip(inputs) {
            total += run_one(session, name, input)?;
        }
        Ok(total / 2.0)
    }
}

fn run_one(session: &mut Session, name: &'static str, input: &[f32]) -> Result<f32> {
    if input.len() != 3 * INPUT * INPUT {
        return Err(VisionError::Inference {
            model: name,
            reason: format!(
                "input of {} values, expected {}",
                input.len(),
                3 * INPUT * INPUT
            ),
        });
    }
    let tensor =
        TensorRef::from_array_view(([1usize, 3, INPUT, INPUT], input)).map_err(inference(name))?;
    let outputs = session.run(ort::inputs![tensor]).map_err(inference(name))?;
    let (_, logits) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(inference(name))?;
    if logits.len() != 3 {
        return Err(VisionError::Inference {
            model: name,
            reason: format!("expected 3 logits, got {}", logits.len()),
        });
    }
    Ok(softmax_real(logits))
}

impl LivenessModel for MiniFasNet {
    fn score(&mut self, frame: &Frame, face: &Face) -> Result<f32> {
        let mut total = 0.0;
        for (session, scale, name) in &mut self.models {
            model_input(frame, face, *scale, &mut self.input);
            total += run_one(session, name, &self.input)?;
        }
        Ok(total / self.models.len() as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_shifted_inside_the_frame() {
        // A box near the top-left corner, scaled 4x, must stay inside a 640x480 frame.
        let r = crop_box(640, 480, [10.0, 10.0, 100.0, 100.0], 4.0);
        assert_eq!((r.x, r.y), (0, 0));
        assert!(r.x + r.w <= 640 && r.y + r.h <= 480);
        // Scale is capped so the crop fits: (480 - 1) / 100 = 4.79 > 4, so 400 x 400.
        assert_eq!((r.w, r.h), (401, 401));
    }

    #[test]
    fn adapter_makes_a_square_lower_box() {
        let f = Face {
            bbox: [100.0, 100.0, 80.0, 120.0],
            landmarks: [[0.0; 2]; 5],
            score: 1.0,
        };
        let [_, y, w, h] = adapt_box(&f);
        assert_eq!(w, h);
        assert_eq!(w, 100.0);
        assert!((y - (160.0 + 9.6 - 50.0)).abs() < 1e-4);
    }

    #[test]
    fn softmax_picks_the_real_class() {
        assert!(softmax_real(&[0.0, 10.0, 0.0]) > 0.99);
        assert!(softmax_real(&[10.0, 0.0, 0.0]) < 0.01);
    }
}
