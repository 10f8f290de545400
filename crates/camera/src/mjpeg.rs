//! Pure-Rust MJPEG video containers, enough to replay a recorded camera session without
//! ffmpeg: a concatenated JPEG stream (`.mjpeg`/`.mjpg`, what `ffmpeg -c:v copy -f mjpeg` or
//! many IP cameras write) and an MJPEG AVI (`.avi` whose video chunks are JPEGs).

use std::ops::Range;

/// Byte ranges of the JPEG images in a concatenated stream. Bytes between images are
/// skipped; a truncated last image is left out.
///
/// Walks the marker segments rather than searching for the end marker, so a thumbnail
/// embedded in an EXIF segment (which has its own start and end markers) does not cut an
/// image short.
pub fn split_jpeg_stream(data: &[u8]) -> Vec<Range<usize>> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(start) = find_soi(data, pos) {
        match jpeg_end(data, start) {
            Some(end) => {
                frames.push(start..end);
                pos = end;
            }
            // Corrupt or truncated: resynchronise on the next start marker.
            None => pos = start + 2,
        }
    }
    frames
}

fn find_soi(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0xFF, 0xD8, 0xFF])
        .map(|i| from + i)
}

/// End (exclusive) of the JPEG starting at `start`, or None if it is cut off or malformed.
fn jpeg_end(data: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if *data.get(i)? != 0xFF {
            return None;
        }
        while *data.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = *data.get(i + 1)?;
        i += 2;
        match marker {
            0xD9 => return Some(i),
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // A second start marker inside an image: this one is broken.
            0xD8 | 0x00 => return None,
            _ => {}
        }
        let len = u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]) as usize;
        if len < 2 {
            return None;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data follows the scan header: it ends at the first 0xFF that is
            // neither a stuffed 0xFF00 nor a restart marker.
            loop {
                let off = data.get(i..)?.iter().position(|&b| b == 0xFF)?;
                i += off;
                match *data.get(i + 1)? {
                    0x00 | 0xD0..=0xD7 | 0xFF => i += 1,
                    _ => break,
                }
            }
        }
    }
}

/// The standard Huffman tables (JPEG Annex K.3) as one DHT segment. Many UVC webcams send
/// MJPEG frames without tables, relying on these (AVI1 convention); decoders for still
/// images refuse such frames, so the tables are put back before decoding.
#[rustfmt::skip]
const STANDARD_DHT: [u8; 420] = {
    const DC_BITS_Y: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const DC_BITS_C: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
    const DC_VALS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const AC_BITS_Y: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
    const AC_BITS_C: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
    const AC_VALS_Y: [u8; 162] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
        0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
        0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
        0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
        0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
        0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
        0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
        0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
        0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
        0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
        0xf9, 0xfa,
    ];
    const AC_VALS_C: [u8; 162] = [
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
        0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
        0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
        0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
        0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
        0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
        0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
        0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
        0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
        0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
        0xf9, 0xfa,
    ];
    let mut out = [0u8; 420];
    // Marker and length (418: everything after the marker).
    out[0] = 0xFF; out[1] = 0xC4; out[2] = 0x01; out[3] = 0xA2;
    let mut i = 4;
    // (class << 4 | id, bits, values): DC Y, AC Y, DC C, AC C.
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_BITS_Y, &DC_VALS), (0x10, &AC_BITS_Y, &AC_VALS_Y),
        (0x01, &DC_BITS_C, &DC_VALS), (0x11, &AC_BITS_C, &AC_VALS_C),
    ];
    let mut t = 0;
    while t < 4 {
        let (class_id, bits, vals) = tables[t];
        out[i] = class_id;
        i += 1;
        let mut k = 0;
        while k < 16 { out[i] = bits[k]; i += 1; k += 1; }
        k = 0;
        while k < vals.len() { out[i] = vals[k]; i += 1; k += 1; }
        t += 1;
    }
    assert!(i == 420);
    out
};

/// `jpeg` with the standard Huffman tables inserted before its scan if it has none
/// (webcam MJPEG); unchanged (borrowed) otherwise or if it is not a JPEG at all.
pub fn with_default_huffman(jpeg: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Cow::Borrowed(jpeg);
    }
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        match jpeg[i + 1] {
            0xC4 => return Cow::Borrowed(jpeg),
            0xDA => {
                let mut out = Vec::with_capacity(jpeg.len() + STANDARD_DHT.len());
                out.extend_from_slice(&jpeg[..i]);
                out.extend_from_slice(&STANDARD_DHT);
                out.extend_from_slice(&jpeg[i..]);
                return Cow::Owned(out);
            }
            // Fill bytes before a marker.
            0xFF => i += 1,
            _ => i += 2 + u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize,
        }
    }
    Cow::Borrowed(jpeg)
}

/// What an AVI holds that the replay needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AviFrames {
    /// Byte ranges of the JPEG frames, in order.
    pub frames: Vec<Range<usize>>,
    /// The file's frame rate (from its main header), when it has one.
    pub fps: Option<f64>,
}

/// Why an AVI could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AviError {
    NotAvi,
    NoMjpegFrames,
}

/// Finds the JPEG video frames of an AVI file (RIFF `AVI `, and OpenDML `AVIX` extensions).
/// Chunks that are not JPEG (audio, other codecs) are ignored.
pub fn parse_avi(data: &[u8]) -> Result<AviFrames, AviError> {
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"AVI " {
        return Err(AviError::NotAvi);
    }
    let mut out = AviFrames {
        frames: Vec::new(),
        fps: None,
    };
    // Top level: one `RIFF AVI ` and possibly `RIFF AVIX` chunks after it.
    let mut pos = 0;
    while let Some((id, body)) = chunk(data, pos) {
        if id == *b"RIFF" && body.len() >= 4 {
            walk(data, body.start + 4..body.end, &mut out);
        }
        pos = next_chunk(body);
    }
    if out.frames.is_empty() {
        return Err(AviError::NoMjpegFrames);
    }
    Ok(out)
}

/// The chunk at `pos`: its id and body range (clamped to the data: files written by a
/// recorder that was killed have sizes of 0 or too large).
fn chunk(data: &[u8], pos: usize) -> Option<([u8; 4], Range<usize>)> {
    let head = data.get(pos..pos.checked_add(8)?)?;
    let id = [head[0], head[1], head[2], head[3]];
    let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let start = pos + 8;
    let end = start.saturating_add(size).min(data.len());
    Some((id, start..end))
}

fn next_chunk(body: Range<usize>) -> usize {
    // Chunks are padded to an even length.
    body.end + (body.end - body.start) % 2
}

fn walk(data: &[u8], range: Range<usize>, out: &mut AviFrames) {
    let mut pos = range.start;
    while pos < range.end {
        let Some((id, body)) = chunk(data, pos) else {
            return;
        };
        if body.start > range.end {
            return;
        }
        let body = body.start..body.end.min(range.end);
        if id == *b"LIST" && body.len() >= 4 {
            walk(data, body.start + 4..body.end, out);
        } else if id == *b"avih" && body.len() >= 4 {
            let us = u32::from_le_bytes([
                data[body.start],
                data[body.start + 1],
                data[body.start + 2],
                data[body.start + 3],
            ]);
            if us > 0 {
                out.fps = Some(1e6 / us as f64);
            }
        } else if (id[2..] == *b"dc" || id[2..] == *b"db")
            && data[body.clone()].starts_with(&[0xFF, 0xD8])
        {
            out.frames.push(body.clone());
        }
        pos = next_chunk(body);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny valid-looking JPEG structure (not decodable pixels; structure only), with an
    /// optional EXIF-like APP1 segment holding a nested thumbnail with its own SOI/EOI.
    pub(crate) fn fake_jpeg(tag: u8, with_thumbnail: bool) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        if with_thumbnail {
            let thumb = [0xFF, 0xD8, 0xFF, 0xD9];
            j.extend_from_slice(&[0xFF, 0xE1, 0, (2 + thumb.len()) as u8]);
            j.extend_from_slice(&thumb);
        }
        // A comment segment, then a scan with stuffed 0xFF00 and a restart marker inside.
        j.extend_from_slice(&[0xFF, 0xFE, 0, 3, tag]);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD3, 4]);
        j.extend_from_slice(&[0xFF, 0xD9]);
        j
    }

    #[test]
    fn splits_concatenated_images_with_junk_between() {
        let a = fake_jpeg(1, true);
        let b = fake_jpeg(2, false);
        let mut stream = b"junk".to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(b"\r\n--boundary\r\n");
        stream.extend_from_slice(&b);
        let frames = split_jpeg_stream(&stream);
        assert_eq!(frames.len(), 2);
        assert_eq!(&stream[frames[0].clone()], &a[..]);
        assert_eq!(&stream[frames[1].clone()], &b[..]);
    }

    #[test]
    fn truncated_last_image_is_dropped() {
        let a = fake_jpeg(1, false);
        let mut stream = a.clone();
        stream.extend_from_slice(&a[..a.len() - 3]);
        assert_eq!(split_jpeg_stream(&stream), vec![0..a.len()]);
        assert!(split_jpeg_stream(&[]).is_empty());
        assert!(split_jpeg_stream(&[0xFF, 0xD8, 0xFF]).is_empty());
    }

    fn riff_chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        if body.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    /// A minimal MJPEG AVI: main header at `fps`, and a `movi` list holding the frames.
    pub(crate) fn build_avi(frames: &[Vec<u8>], fps: u32) -> Vec<u8> {
        let mut avih = (1_000_000 / fps).to_le_bytes().to_vec();
        avih.resize(56, 0);
        let mut hdrl = b"hdrl".to_vec();
        hdrl.extend(riff_chunk(b"avih", &avih));
        let mut movi = b"movi".to_vec();
        for f in frames {
            movi.extend(riff_chunk(b"00dc", f));
            // Audio chunks are skipped.
            movi.extend(riff_chunk(b"01wb", &[1, 2, 3]));
        }
        let mut body = b"AVI ".to_vec();
        body.extend(riff_chunk(b"LIST", &hdrl));
        body.extend(riff_chunk(b"LIST", &movi));
        body.extend(riff_chunk(b"idx1", &[]));
        riff_chunk(b"RIFF", &body)
    }

    #[test]
    fn avi_frames_and_rate() {
        // An odd-length frame exercises the padding byte.
        let frames = vec![fake_jpeg(1, false), [fake_jpeg(2, true), vec![0]].concat()];
        let avi = build_avi(&frames, 25);
        let parsed = parse_avi(&avi).unwrap();
        assert_eq!(parsed.frames.len(), 2);
        assert_eq!(&avi[parsed.frames[0].clone()], &frames[0][..]);
        assert_eq!(&avi[parsed.frames[1].clone()], &frames[1][..]);
        assert!((parsed.fps.unwrap() - 25.0).abs() < 1e-9);
    }

    #[test]
    fn bad_avis_are_refused_not_panicked_on() {
        assert_eq!(parse_avi(b"RIFF\0\0\0\0WAVE"), Err(AviError::NotAvi));
        assert_eq!(parse_avi(&[]), Err(AviError::NotAvi));
        let empty = build_avi(&[], 10);
        assert_eq!(parse_avi(&empty), Err(AviError::NoMjpegFrames));
        // Truncated anywhere: never a panic.
        let avi = build_avi(&[fake_jpeg(1, false)], 10);
        for n in 0..avi.len() {
            let _ = parse_avi(&avi[..n]);
        }
    }

    /// Removes the DHT segments of a JPEG, as a webcam that relies on the default tables sends it.
    fn strip_dht(j: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        let mut i = 2;
        loop {
            let m = j[i + 1];
            if m == 0xDA {
                out.extend_from_slice(&j[i..]);
                return out;
            }
            let len = u16::from_be_bytes([j[i + 2], j[i + 3]]) as usize;
            if m != 0xC4 {
                out.extend_from_slice(&j[i..i + 2 + len]);
            }
            i += 2 + len;
        }
    }

    #[test]
    fn mjpeg_without_huffman_tables_decodes_like_the_original() {
        // A busy colour pattern so that many AC codes of both tables are used.
        let (w, h) = (64u32, 48u32);
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| ((i * 37) ^ (i / 7 * 13)) as u8)
            .collect();
        let frame = vision::Frame::from_raw(w, h, vision::PixelFormat::Rgb8, &rgb).unwrap();
        let jpeg = frame.to_jpeg(95).unwrap();
        let limits = vision::DecodeLimits::default();
        let want = vision::decode_image(&jpeg, &limits).unwrap();
        let bare = strip_dht(&jpeg);
        assert!(bare.len() < jpeg.len());
        // Without tables the still-image decoder refuses the frame...
        assert!(vision::decode_image(&bare, &limits).is_err());
        // ...and with the standard ones back it decodes to the very same pixels.
        let fixed = with_default_huffman(&bare);
        assert_eq!(
            vision::decode_image(&fixed, &limits).unwrap().rgb(),
            want.rgb()
        );
        // Frames that carry tables, and non-JPEG bytes, pass through untouched.
        assert!(matches!(
            with_default_huffman(&jpeg),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(
            with_default_huffman(b"xx"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(
            with_default_huffman(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF]),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
