//! YUYV (YUY2, 4:2:2 packed) to RGB: what most USB webcams send when not sending MJPEG.

use crate::CameraError;

/// Converts one YUYV frame (`Y0 U Y1 V` per two pixels) to packed RGB8, using BT.601
/// limited-range coefficients (what UVC webcams send) in 8.8 fixed point.
pub fn yuyv_to_rgb(width: u32, height: u32, data: &[u8]) -> Result<Vec<u8>, CameraError> {
    let pixels = width as usize * height as usize;
    let expected = pixels * 2;
    // An odd width cannot be packed in YUYV: pairs of pixels share one U and V.
    if pixels == 0 || !width.is_multiple_of(2) || data.len() < expected {
        return Err(CameraError::BadFrameLength {
            what: "YUYV",
            width,
            height,
            expected,
            actual: data.len(),
        });
    }
    let mut rgb = vec![0u8; pixels * 3];
    // Drivers may pad the buffer past the image: only the first `expected` bytes are pixels.
    for (src, dst) in data[..expected]
        .chunks_exact(4)
        .zip(rgb.chunks_exact_mut(6))
    {
        let (u, v) = (src[1] as i32 - 128, src[3] as i32 - 128);
        let (r, g, b) = (409 * v + 128, -100 * u - 208 * v + 128, 516 * u + 128);
        for (i, y) in [src[0], src[2]].into_iter().enumerate() {
            let c = 298 * (y as i32 - 16);
            dst[i * 3] = clamp8((c + r) >> 8);
            dst[i * 3 + 1] = clamp8((c + g) >> 8);
            dst[i * 3 + 2] = clamp8((c + b) >> 8);
        }
    }
    Ok(rgb)
}

fn clamp8(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One YUYV pixel pair with both pixels set to (y, u, v).
    fn pair(y: u8, u: u8, v: u8) -> [u8; 4] {
        [y, u, y, v]
    }

    fn close(got: &[u8], want: [u8; 3]) -> bool {
        got.iter()
            .zip(want)
            .all(|(&g, w)| (g as i32 - w as i32).abs() <= 2)
    }

    #[test]
    fn bt601_reference_colours() {
        // (Y, Cb, Cr) of the BT.601 colour bars, limited range, and their RGB.
        let cases = [
            ((16, 128, 128), [0, 0, 0]),
            ((235, 128, 128), [255, 255, 255]),
            ((126, 128, 128), [128, 128, 128]),
            ((81, 90, 240), [255, 0, 0]),
            ((145, 54, 34), [0, 255, 0]),
            ((41, 240, 110), [0, 0, 255]),
            ((210, 16, 146), [255, 255, 0]),
        ];
        for ((y, u, v), want) in cases {
            let rgb = yuyv_to_rgb(2, 1, &pair(y, u, v)).unwrap();
            assert!(
                close(&rgb[..3], want),
                "{y},{u},{v} -> {:?}, want {want:?}",
                &rgb[..3]
            );
            assert_eq!(rgb[..3], rgb[3..], "both pixels of a pair share chroma");
        }
    }

    #[test]
    fn luma_differs_within_a_pair_and_clamps() {
        // Y below black and above white clamp instead of wrapping.
        let rgb = yuyv_to_rgb(2, 1, &[0, 128, 255, 128]).unwrap();
        assert_eq!(rgb, [0, 0, 0, 255, 255, 255]);
    }

    #[test]
    fn layout_is_row_major() {
        // 2x2: top row black, bottom row white.
        let data = [16, 128, 16, 128, 235, 128, 235, 128];
        let rgb = yuyv_to_rgb(2, 2, &data).unwrap();
        assert_eq!(&rgb[..6], &[0; 6]);
        assert_eq!(&rgb[6..], &[255; 6]);
    }

    #[test]
    fn padding_is_ignored_and_short_or_odd_frames_refused() {
        let mut data = pair(235, 128, 128).to_vec();
        data.extend_from_slice(&[9; 8]);
        assert_eq!(yuyv_to_rgb(2, 1, &data).unwrap(), [255; 6]);
        assert_eq!(
            yuyv_to_rgb(4, 1, &[0; 4]).unwrap_err().code(),
            "DECODE_FAILED"
        );
        assert_eq!(
            yuyv_to_rgb(3, 1, &[0; 6]).unwrap_err().code(),
            "DECODE_FAILED"
        );
        assert_eq!(yuyv_to_rgb(0, 0, &[]).unwrap_err().code(), "DECODE_FAILED");
    }
}
