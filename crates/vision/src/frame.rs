//! Images in and out of the pipeline: decoding (JPEG, PNG, EXIF orientation) and raw camera frames.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::error::{Result, VisionError};

/// An 8-bit RGB image, row-major, tightly packed. Every stage of the pipeline reads this.
#[derive(Clone)]
pub struct Frame {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

/// Pixel layouts a camera or caller may hand over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Gray8,
    Rgb8,
    Rgba8,
    Bgr8,
}

impl PixelFormat {
    fn channels(self) -> usize {
        match self {
            Self::Gray8 => 1,
            Self::Rgb8 | Self::Bgr8 => 3,
            Self::Rgba8 => 4,
        }
    }
}

/// Limits checked before a decoder allocates the full image.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_pixels: u64,
    /// Largest encoded file.
    pub max_bytes: usize,
    /// Most memory the decoder may allocate for the decoded pixels, whatever their depth: a
    /// 16-bit RGBA image needs 8 bytes a pixel, so the pixel limit alone let a 300 KB PNG of
    /// 35 MP take 300 MB more.
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 40 MP covers any phone or webcam photo; more is an attack or a mistake. 160 MB of
        // decoded pixels is 40 MP of 8-bit RGB (the common case) or 20 MP at 16 bits.
        Self {
            max_pixels: 40_000_000,
            max_bytes: 32 * 1024 * 1024,
            max_decoded_bytes: 160 * 1024 * 1024,
        }
    }
}

impl Frame {
    /// Wraps raw pixels (a camera frame), converting to RGB.
    pub fn from_raw(width: u32, height: u32, format: PixelFormat, data: &[u8]) -> Result<Self> {
        let n = width as usize * height as usize;
        let expected = n * format.channels();
        if n == 0 || data.len() != expected {
            return Err(VisionError::FrameSize {
                width,
                height,
                expected,
                actual: data.len(),
            });
        }
        let rgb = match format {
            PixelFormat::Rgb8 => data.to_vec(),
            PixelFormat::Gray8 => data.iter().flat_map(|&g| [g, g, g]).collect(),
            PixelFormat::Rgba8 => data
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
            PixelFormat::Bgr8 => data
                .chunks_exact(3)
                .flat_map(|p| [p[2], p[1], p[0]])
                .collect(),
        };
        Ok(Self { width, height, rgb })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// RGB bytes, row-major.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// A `width x height` frame with this image centred on mid-gray, scaled down (never up)
    /// to fit: how a still photo is shown to the pipeline as if a camera had framed it.
    pub fn letterboxed(&self, width: u32, height: u32) -> Result<Frame> {
        let scale = (width as f32 / self.width as f32)
            .min(height as f32 / self.height as f32)
            .min(1.0);
        let sw = ((self.width as f32 * scale).round() as u32).clamp(1, width);
        let sh = ((self.height as f32 * scale).round() as u32).clamp(1, height);
        let src = image::RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .ok_or_else(|| VisionError::ImageCorrupt("frame buffer size".into()))?;
        let small = if (sw, sh) == (self.width, self.height) {
            src
        } else {
            image::imageops::resize(&src, sw, sh, image::imageops::FilterType::Triangle)
        };
        let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
        image::imageops::replace(
            &mut canvas,
            &small,
            ((width - sw) / 2) as i64,
            ((height - sh) / 2) as i64,
        );
        Ok(Frame {
            width,
            height,
            rgb: canvas.into_raw(),
        })
    }

    /// This image scaled down (never up) to fit in `max_w x max_h`, aspect kept, no borders:
    /// how a replayed photo stands in for a camera frame. Padding or cropping would change
    /// what the liveness model sees around the face (MiniFASNet reads the context).
    pub fn fitted(&self, max_w: u32, max_h: u32) -> Result<Frame> {
        let scale = (max_w as f32 / self.width as f32)
            .min(max_h as f32 / self.height as f32)
            .min(1.0);
        if scale >= 1.0 {
            return Ok(self.clone());
        }
        let w = ((self.width as f32 * scale).round() as u32).clamp(1, max_w);
        let h = ((self.height as f32 * scale).round() as u32).clamp(1, max_h);
        let src = image::RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .ok_or_else(|| VisionError::ImageCorrupt("frame buffer size".into()))?;
        let small = image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle);
        Ok(Frame {
            width: w,
            height: h,
            rgb: small.into_raw(),
        })
    }

    /// The pixels inside `rect` (clamped to the frame; at least 1x1).
    pub fn cropped(&self, rect: crate::imgproc::Rect) -> Frame {
        let x = rect.x.min(self.width - 1);
        let y = rect.y.min(self.height - 1);
        let w = rect.w.clamp(1, self.width - x);
        let h = rect.h.clamp(1, self.height - y);
        let row = self.width as usize * 3;
        let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
        for r in y..y + h {
            let start = r as usize * row + x as usize * 3;
            rgb.extend_from_slice(&self.rgb[start..start + w as usize * 3]);
        }
        Frame {
            width: w,
            height: h,
            rgb,
        }
    }

    /// Encodes as PNG (lossless: for snapshots a person inspects).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let mut out = Cursor::new(Vec::new());
        image::RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .ok_or_else(|| VisionError::ImageCorrupt("frame buffer size".into()))?
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|e| VisionError::ImageCorrupt(e.to_string()))?;
        Ok(out.into_inner())
    }

    /// Encodes as JPEG (for sending a frame to the API).
    pub fn to_jpeg(&self, quality: u8) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
        image::ImageEncoder::write_image(
            enc,
            &self.rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| VisionError::ImageCorrupt(e.to_string()))?;
        Ok(out)
    }
}

/// Decodes a JPEG or PNG file's bytes into an upright RGB frame (EXIF orientation applied).
/// The pixel limit is checked from the header, before the pixels are decoded.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<Frame> {
    if bytes.is_empty() {
        return Err(VisionError::ImageEmpty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(VisionError::ImageCorrupt(format!(
            "{} bytes is over the limit of {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let format = image::guess_format(bytes).map_err(|_| VisionError::ImageUnsupported)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(VisionError::ImageUnsupported);
    }
    // The JPEG decoder fills a cut-off file with gray and reports success; a truncated upload
    // must not become an enrolment. The image is also cut at its real end: what follows the
    // end-of-image marker (a motion photo's video, padding, the rest of a V4L2 buffer) is not
    // part of it.
    let bytes = if format == ImageFormat::Jpeg {
        let end = crate::jpeg::end_of_image(bytes, 0).ok_or_else(|| {
            VisionError::ImageCorrupt(
                "the JPEG data ends before its end-of-image marker (truncated)".into(),
            )
        })?;
        &bytes[..end]
    } else {
        bytes
    };
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| VisionError::ImageCorrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(VisionError::ImageTooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(VisionError::ImageEmpty);
    }
    let too_large = || VisionError::ImageTooLarge {
        width,
        height,
        max_pixels: limits.max_pixels,
    };
    if decoder.total_bytes() > limits.max_decoded_bytes {
        return Err(too_large());
    }
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_decoded_bytes);
    decoder
        .set_limits(decoder_limits)
        .map_err(|_| too_large())?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| VisionError::ImageCorrupt(e.to_string()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let rgb = img.into_rgb8();
    let (width, height) = rgb.dimensions();
    Ok(Frame {
        width,
        height,
        rgb: rgb.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_formats_convert_to_rgb() {
        let bgr = Frame::from_raw(1, 1, PixelFormat::Bgr8, &[1, 2, 3]).unwrap();
        assert_eq!(bgr.rgb(), &[3, 2, 1]);
        let gray = Frame::from_raw(2, 1, PixelFormat::Gray8, &[7, 9]).unwrap();
        assert_eq!(gray.rgb(), &[7, 7, 7, 9, 9, 9]);
        let rgba = Frame::from_raw(1, 1, PixelFormat::Rgba8, &[4, 5, 6, 255]).unwrap();
        assert_eq!(rgba.rgb(), &[4, 5, 6]);
    }

    #[test]
    fn raw_frame_of_wrong_length_is_refused() {
        let err = Frame::from_raw(4, 4, PixelFormat::Rgb8, &[0; 10]).unwrap_err();
        assert_eq!(err.code(), "FRAME_SIZE");
    }

    #[test]
    fn empty_and_garbage_bytes_have_codes() {
        let limits = DecodeLimits::default();
        assert_eq!(
            decode_image(&[], &limits).unwrap_err().code(),
            "IMAGE_EMPTY"
        );
        assert_eq!(
            decode_image(b"hello world, not an image", &limits)
                .unwrap_err()
                .code(),
            "IMAGE_UNSUPPORTED"
        );
        // A PNG signature followed by junk: recognised, but corrupt.
        let mut junk = b"\x89PNG\r\n\x1a\n".to_vec();
        junk.extend_from_slice(&[0xAB; 64]);
        assert_eq!(
            decode_image(&junk, &limits).unwrap_err().code(),
            "IMAGE_CORRUPT"
        );
    }

    #[test]
    fn jpeg_round_trip_keeps_size() {
        let f = Frame::from_raw(16, 8, PixelFormat::Rgb8, &[128; 16 * 8 * 3]).unwrap();
        let jpeg = f.to_jpeg(90).unwrap();
        let back = decode_image(&jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((back.width(), back.height()), (16, 8));
    }
}
