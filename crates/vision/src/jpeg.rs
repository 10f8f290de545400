//! What the pipeline needs to know about JPEG's byte structure (ITU-T T.81 Annex B): where an
//! image really ends, and the default Huffman tables that webcam MJPEG frames leave out.
//! The pixels are decoded by the `image` crate; this is only the framing around them.

/// End (exclusive) of the JPEG whose start-of-image marker is at `start`: the byte after its
/// end-of-image marker, or None when the image is cut off or malformed before it.
///
/// Walks the marker segments by their lengths (so an EXIF thumbnail's own markers are
/// skipped) and the entropy-coded data of every scan (progressive files have several), so
/// whatever follows the image is ignored: the zeros or stale bytes of a V4L2 buffer whose
/// `bytesused` was dropped, a phone's motion-photo video, an encoder's padding.
pub fn end_of_image(data: &[u8], start: usize) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        crate::Frame::from_raw(16, 8, crate::PixelFormat::Rgb8, &[90; 16 * 8 * 3])
            .unwrap()
            .to_jpeg(90)
            .unwrap()
    }

    #[test]
    fn end_is_found_whatever_follows() {
        let j = jpeg();
        assert_eq!(end_of_image(&j, 0), Some(j.len()));
        for tail in [
            vec![0u8; 600_000],
            vec![0xFF; 7],
            j.clone(),
            b"ftypmp42".repeat(50),
        ] {
            let mut padded = j.clone();
            padded.extend_from_slice(&tail);
            assert_eq!(
                end_of_image(&padded, 0),
                Some(j.len()),
                "tail of {}",
                tail.len()
            );
        }
    }

    #[test]
    fn a_cut_image_has_no_end() {
        let j = jpeg();
        for cut in [2, 20, j.len() / 2, j.len() - 2, j.len() - 1] {
            assert_eq!(end_of_image(&j[..cut], 0), None, "cut at {cut}");
        }
        // Cut, then zero-filled to a buffer's size: still no end marker.
        let mut zeroed = j[..j.len() - 40].to_vec();
        zeroed.resize(4096, 0);
        assert_eq!(end_of_image(&zeroed, 0), None);
    }
}
