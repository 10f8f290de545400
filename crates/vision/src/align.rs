//! 5-point alignment: a least-squares similarity transform (Umeyama, no reflection) from the
//! detector's landmarks to the embedder's template, then a bilinear warp.

use crate::detect::Face;
use crate::frame::Frame;
use crate::imgproc::{Affine, warp_bgr_planar};

/// Side of the embedder's input.
pub const ALIGNED_SIZE: usize = 128;

/// OMZ face-reidentification-retail-0095 template (normalised 0..1 of the 128 px side), same
/// point order as YuNet (MODELS.md §2).
pub const TEMPLATE: [[f32; 2]; 5] = [
    [0.315_568_75, 0.461_574_1],
    [0.682_622_9, 0.461_574_1],
    [0.500_262_5, 0.640_505_4],
    [0.349_471_9, 0.824_692],
    [0.653_436_5, 0.824_692],
];

/// An aligned face crop: planar BGR f32, `3 x 128 x 128`, ready for the embedder.
#[derive(Clone)]
pub struct AlignedFace {
    pub(crate) bgr: Vec<f32>,
}

impl AlignedFace {
    pub fn planar_bgr(&self) -> &[f32] {
        &self.bgr
    }

    /// An aligned face built elsewhere (another warp, a test): planar BGR f32 0..255 of
    /// `3 x 128 x 128`; `None` for any other length.
    pub fn from_planar_bgr(bgr: Vec<f32>) -> Option<Self> {
        (bgr.len() == 3 * ALIGNED_SIZE * ALIGNED_SIZE).then_some(Self { bgr })
    }
}

/// Similarity transform `dst = s R src + t` as a 2x3 matrix, fitted in least squares.
pub fn similarity(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Affine {
    let n = src.len() as f32;
    let mean = |p: &[[f32; 2]; 5]| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |a, q| (a.0 + q[0], a.1 + q[1]));
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] - msx, s[1] - msy);
        let (dx, dy) = (d[0] - mdx, d[1] - mdy);
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    let den = den.max(f32::EPSILON);
    let (a, b) = (num_a / den, num_b / den);
    [
        a,
        -b,
        mdx - (a * msx - b * msy),
        b,
        a,
        mdy - (b * msx + a * msy),
    ]
}

/// Inverse of a similarity (or any invertible affine) map.
pub fn invert(m: &Affine) -> Affine {
    let det = m[0] * m[4] - m[1] * m[3];
    let det = if det.abs() < f32::EPSILON {
        f32::EPSILON
    } else {
        det
    };
    let (a, b, c, d) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])]
}

/// Warps the face to the embedder's 128x128 template.
pub fn align(frame: &Frame, face: &Face) -> AlignedFace {
    let size = ALIGNED_SIZE as f32;
    let template = TEMPLATE.map(|[x, y]| [x * size, y * size]);
    let forward = similarity(&face.landmarks, &template);
    let mut bgr = vec![0.0; 3 * ALIGNED_SIZE * ALIGNED_SIZE];
    warp_bgr_planar(frame, &invert(&forward), ALIGNED_SIZE, &mut bgr);
    AlignedFace { bgr }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(m: &Affine, p: [f32; 2]) -> [f32; 2] {
        [
            m[0] * p[0] + m[1] * p[1] + m[2],
            m[3] * p[0] + m[4] * p[1] + m[5],
        ]
    }

    #[test]
    fn recovers_a_known_similarity() {
        // Rotate 30 degrees, scale 2, shift (5, -3).
        let (s, c) = (
            30f32.to_radians().sin() * 2.0,
            30f32.to_radians().cos() * 2.0,
        );
        let truth: Affine = [c, -s, 5.0, s, c, -3.0];
        let src = TEMPLATE.map(|[x, y]| [x * 100.0, y * 100.0]);
        let dst = src.map(|p| apply(&truth, p));
        let fit = similarity(&src, &dst);
        for (a, b) in fit.iter().zip(truth.iter()) {
            assert!((a - b).abs() < 1e-3, "{fit:?} vs {truth:?}");
        }
        let back = invert(&fit);
        let p = apply(&back, apply(&fit, [12.0, 34.0]));
        assert!((p[0] - 12.0).abs() < 1e-3 && (p[1] - 34.0).abs() < 1e-3);
    }
}
