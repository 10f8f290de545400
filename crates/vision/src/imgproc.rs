//! Pixel loops shared by the stages: resampling into model tensors, warping, gray statistics.
//! Written by hand (no OpenCV) and kept allocation-free in the hot paths.

use crate::frame::Frame;

/// An integer rectangle inside a frame (inclusive of `x`, `y`, exclusive of `x + w`, `y + h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Bilinear resample of `src` (a region of the frame) to `dst_w x dst_h`, written as planar
/// **BGR** f32 (0..255) into `out` whose planes are `out_w x out_h` (the rest stays as it is, so
/// a zeroed buffer gives zero padding). Matches OpenCV's `resize(INTER_LINEAR)` sampling:
/// pixel centres at +0.5, edges replicated.
pub fn resample_bgr_planar(
    frame: &Frame,
    src: Rect,
    dst_w: usize,
    dst_h: usize,
    out: &mut [f32],
    out_w: usize,
    out_h: usize,
) {
    debug_assert!(dst_w <= out_w && dst_h <= out_h && out.len() >= 3 * out_w * out_h);
    let fw = frame.width() as usize;
    let rgb = frame.rgb();
    let plane = out_w * out_h;
    if (src.w as usize, src.h as usize) == (dst_w, dst_h) {
        // Same size (a 640x480 camera frame): no interpolation, only the channel shuffle.
        for dy in 0..dst_h {
            let row = &rgb[((src.y as usize + dy) * fw + src.x as usize) * 3..][..dst_w * 3];
            let o = dy * out_w;
            for (dx, px) in row.chunks_exact(3).enumerate() {
                out[2 * plane + o + dx] = px[0] as f32;
                out[plane + o + dx] = px[1] as f32;
                out[o + dx] = px[2] as f32;
            }
        }
        return;
    }
    let sx = src.w as f32 / dst_w as f32;
    let sy = src.h as f32 / dst_h as f32;
    // Per-column source offsets and weights, computed once.
    let cols: Vec<(usize, usize, f32)> = (0..dst_w)
        .map(|dx| {
            let fx = ((dx as f32 + 0.5) * sx - 0.5).clamp(0.0, (src.w - 1) as f32);
            let x0 = fx.floor() as usize;
            let x1 = (x0 + 1).min(src.w as usize - 1);
            (
                (src.x as usize + x0) * 3,
                (src.x as usize + x1) * 3,
                fx - x0 as f32,
            )
        })
        .collect();
    for dy in 0..dst_h {
        let fy = ((dy as f32 + 0.5) * sy - 0.5).clamp(0.0, (src.h - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(src.h as usize - 1);
        let wy = fy - y0 as f32;
        let r0 = &rgb[(src.y as usize + y0) * fw * 3..];
        let r1 = &rgb[(src.y as usize + y1) * fw * 3..];
        let row = dy * out_w;
        for (dx, &(i0, i1, wx)) in cols.iter().enumerate() {
            for c in 0..3 {
                let top = r0[i0 + c] as f32 * (1.0 - wx) + r0[i1 + c] as f32 * wx;
                let bot = r1[i0 + c] as f32 * (1.0 - wx) + r1[i1 + c] as f32 * wx;
                // RGB channel c goes to BGR plane 2 - c.
                out[(2 - c) * plane + row + dx] = top * (1.0 - wy) + bot * wy;
            }
        }
    }
}

/// A 2x3 affine map `[a, b, tx; c, d, ty]` from output to source coordinates.
pub type Affine = [f32; 6];

/// Warps the frame through `inv` (output pixel -> source pixel) into planar BGR f32 of
/// `size x size`, bilinear, with black outside the frame (OpenCV `warpAffine`, border 0).
pub fn warp_bgr_planar(frame: &Frame, inv: &Affine, size: usize, out: &mut [f32]) {
    let (fw, fh) = (frame.width() as i64, frame.height() as i64);
    let rgb = frame.rgb();
    let plane = size * size;
    let px = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= fw || y >= fh {
            0.0
        } else {
            rgb[((y * fw + x) * 3) as usize + c] as f32
        }
    };
    let (b, rest) = out[..3 * plane].split_at_mut(plane);
    let (g, r) = rest.split_at_mut(plane);
    for oy in 0..size {
        for ox in 0..size {
            let (fx, fy) = (ox as f32, oy as f32);
            let sx = inv[0] * fx + inv[1] * fy + inv[2];
            let sy = inv[3] * fx + inv[4] * fy + inv[5];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (wx, wy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let o = oy * size + ox;
            if x0 >= 0 && y0 >= 0 && x0 + 1 < fw && y0 + 1 < fh {
                // All four taps inside the frame (nearly every pixel of a face): one slice per
                // row, no per-tap bounds test. Same arithmetic as the edge path, to the bit.
                let i = ((y0 * fw + x0) * 3) as usize;
                let (top, bot) = (&rgb[i..i + 6], &rgb[i + 3 * fw as usize..][..6]);
                let v = |c: usize| -> f32 {
                    (top[c] as f32 * (1.0 - wx) + top[c + 3] as f32 * wx) * (1.0 - wy)
                        + (bot[c] as f32 * (1.0 - wx) + bot[c + 3] as f32 * wx) * wy
                };
                (r[o], g[o], b[o]) = (v(0), v(1), v(2));
                continue;
            }
            let v = |c: usize| -> f32 {
                (px(x0, y0, c) * (1.0 - wx) + px(x0 + 1, y0, c) * wx) * (1.0 - wy)
                    + (px(x0, y0 + 1, c) * (1.0 - wx) + px(x0 + 1, y0 + 1, c) * wx) * wy
            };
            (r[o], g[o], b[o]) = (v(0), v(1), v(2));
        }
    }
}

/// Luma (BT.601) of a planar BGR f32 image.
pub fn gray_from_bgr_planar(bgr: &[f32], n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.114 * bgr[i] + 0.587 * bgr[n + i] + 0.299 * bgr[2 * n + i])
        .collect()
}

/// Variance of the 4-neighbour Laplacian over the interior: a standard sharpness measure.
pub fn laplacian_variance(gray: &[f32], w: usize, h: usize) -> f32 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let (mut sum, mut sum2, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let l = gray[i - 1] + gray[i + 1] + gray[i - w] + gray[i + w] - 4.0 * gray[i];
            sum += l as f64;
            sum2 += (l * l) as f64;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum2 / n - mean * mean) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    fn gradient(w: u32, h: u32) -> Frame {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 10) as u8, (y * 10) as u8, 200]);
            }
        }
        Frame::from_raw(w, h, PixelFormat::Rgb8, &data).unwrap()
    }

    #[test]
    fn identity_resample_copies_pixels_as_bgr() {
        let f = gradient(4, 3);
        let mut out = vec![0.0; 3 * 4 * 3];
        let full = Rect {
            x: 0,
            y: 0,
            w: 4,
            h: 3,
        };
        resample_bgr_planar(&f, full, 4, 3, &mut out, 4, 3);
        // Plane 0 is blue (constant 200), plane 2 is red (x * 10).
        assert!(out[..12].iter().all(|&v| v == 200.0));
        assert_eq!(out[24 + 5], 10.0); // red at x=1, y=1
        assert_eq!(out[12 + 5], 10.0); // green at x=1, y=1
    }

    #[test]
    fn resample_pads_with_what_was_there() {
        let f = gradient(2, 2);
        let mut out = vec![-1.0; 3 * 4 * 4];
        resample_bgr_planar(
            &f,
            Rect {
                x: 0,
                y: 0,
                w: 2,
                h: 2,
            },
            2,
            2,
            &mut out,
            4,
            4,
        );
        assert_eq!(out[3], -1.0);
        assert_eq!(out[0], 200.0);
    }

    #[test]
    fn identity_warp_is_exact_and_black_outside() {
        let f = gradient(8, 8);
        let mut out = vec![0.0; 3 * 16 * 16];
        warp_bgr_planar(&f, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 16, &mut out);
        assert_eq!(out[2 * 256 + 3], 30.0); // red at (3, 0)
        assert_eq!(out[2 * 256 + 12 * 16 + 12], 0.0); // outside the 8x8 frame
    }

    #[test]
    fn the_inside_fast_path_warps_as_the_per_tap_path() {
        // A rotated, scaled warp that runs off two edges: every output pixel, inside or
        // across an edge, must be what the per-tap formula (black outside) gives, to the bit.
        let f = gradient(40, 30);
        let (fw, fh) = (40i64, 30i64);
        let inv: Affine = [0.9, -0.35, 6.3, 0.35, 0.9, -4.7];
        let size = 32;
        let mut out = vec![-1.0; 3 * size * size];
        warp_bgr_planar(&f, &inv, size, &mut out);
        let px = |x: i64, y: i64, c: usize| -> f32 {
            if x < 0 || y < 0 || x >= fw || y >= fh {
                0.0
            } else {
                f.rgb()[((y * fw + x) * 3) as usize + c] as f32
            }
        };
        let (mut inside, mut edge) = (0, 0);
        for oy in 0..size {
            for ox in 0..size {
                let (fx, fy) = (ox as f32, oy as f32);
                let sx = inv[0] * fx + inv[1] * fy + inv[2];
                let sy = inv[3] * fx + inv[4] * fy + inv[5];
                let (x0, y0) = (sx.floor(), sy.floor());
                let (wx, wy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                if x0 >= 0 && y0 >= 0 && x0 + 1 < fw && y0 + 1 < fh {
                    inside += 1;
                } else {
                    edge += 1;
                }
                for c in 0..3 {
                    let want = (px(x0, y0, c) * (1.0 - wx) + px(x0 + 1, y0, c) * wx) * (1.0 - wy)
                        + (px(x0, y0 + 1, c) * (1.0 - wx) + px(x0 + 1, y0 + 1, c) * wx) * wy;
                    assert_eq!(out[(2 - c) * size * size + oy * size + ox], want);
                }
            }
        }
        assert!(inside > 100 && edge > 100, "{inside} {edge}");
    }

    #[test]
    fn flat_image_has_no_laplacian_variance_and_edges_have_some() {
        let flat = vec![100.0; 64];
        assert_eq!(laplacian_variance(&flat, 8, 8), 0.0);
        let checker: Vec<f32> = (0..64)
            .map(|i| if (i / 8 + i % 8) % 2 == 0 { 0.0 } else { 255.0 })
            .collect();
        assert!(laplacian_variance(&checker, 8, 8) > 1000.0);
    }
}
