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
        match vision::jpeg::end_of_image(data, start) {
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
    use vision::jpeg::with_default_huffman;

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
