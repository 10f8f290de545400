//! Greyscale frames to RGB: what infrared cameras (the kind face login uses in the dark) send.
//! The face models take colour, so a grey level goes to all three channels.

use crate::CameraError;

/// GREY (V4L2 `GREY`, also called Y8 / Y800): one byte per pixel. A buffer longer than the
/// image (driver padding) is read for its first `width * height` bytes.
pub fn grey_to_rgb(width: u32, height: u32, data: &[u8]) -> Result<Vec<u8>, CameraError> {
    let pixels = checked_len("GREY", width, height, 1, data)?;
    Ok(data[..pixels].iter().flat_map(|&g| [g, g, g]).collect())
}

/// Y16 (V4L2 `Y16 `): 16-bit little-endian grey. The spec puts the significant bits at the
/// top, but IR cameras commonly deliver 10 or 12 significant bits at the bottom; so each
/// frame is scaled by its own brightest pixel's bit length (a shift, not a stretch, so a
/// dark scene stays dark rather than turning into amplified noise).
pub fn y16_to_rgb(width: u32, height: u32, data: &[u8]) -> Result<Vec<u8>, CameraError> {
    let pixels = checked_len("Y16", width, height, 2, data)?;
    let samples = data[..pixels * 2]
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]));
    let max = samples.clone().max().unwrap_or(0);
    let shift = (16 - max.leading_zeros()).saturating_sub(8);
    Ok(samples
        .flat_map(|v| {
            let g = (v >> shift).min(255) as u8;
            [g, g, g]
        })
        .collect())
}

/// Pixel count, or `BadFrameLength` when the buffer is shorter than the image.
fn checked_len(
    what: &'static str,
    width: u32,
    height: u32,
    bytes_per_pixel: usize,
    data: &[u8],
) -> Result<usize, CameraError> {
    let pixels = width as usize * height as usize;
    let expected = pixels * bytes_per_pixel;
    if pixels == 0 || data.len() < expected {
        return Err(CameraError::BadFrameLength {
            what,
            width,
            height,
            expected,
            actual: data.len(),
        });
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_goes_to_all_channels_and_padding_is_ignored() {
        let rgb = grey_to_rgb(2, 1, &[7, 200, 99, 99]).unwrap();
        assert_eq!(rgb, [7, 7, 7, 200, 200, 200]);
        assert_eq!(
            grey_to_rgb(2, 2, &[1, 2, 3]).unwrap_err().code(),
            "DECODE_FAILED"
        );
    }

    #[test]
    fn y16_scales_by_the_frames_own_bit_depth() {
        // Full 16-bit range: the top byte.
        let full: Vec<u8> = [0xFF00u16, 0x8000]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            y16_to_rgb(2, 1, &full).unwrap(),
            [255, 255, 255, 128, 128, 128]
        );
        // 10 significant bits at the bottom (max 1023): shifted by 2, not truncated to 0.
        let ten: Vec<u8> = [1023u16, 512]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            y16_to_rgb(2, 1, &ten).unwrap(),
            [255, 255, 255, 128, 128, 128]
        );
        // Already 8-bit values stay as they are; an all-black frame stays black.
        let low: Vec<u8> = [200u16, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(y16_to_rgb(2, 1, &low).unwrap(), [200, 200, 200, 0, 0, 0]);
        assert_eq!(y16_to_rgb(1, 1, &[0, 0]).unwrap(), [0, 0, 0]);
        assert_eq!(
            y16_to_rgb(2, 1, &[1, 2, 3]).unwrap_err().code(),
            "DECODE_FAILED"
        );
    }
}
