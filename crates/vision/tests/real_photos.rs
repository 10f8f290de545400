//! The real models on the real shared photos (read in place from ../shared/data/faces or
//! $FACE_DATA_DIR), including the bad-input cases.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use vision::{
    DEFAULT_LIVENESS_THRESHOLD, DEFAULT_MATCH_THRESHOLD, DecodeLimits, FacePipeline, Frame,
    MultiFace, PipelineConfig, PixelFormat, QualityIssue, VisionError, cosine, decode_image,
};

// Not `test_support::faces_dir`: test-support depends on vision (through access-server and
// kiosk-core), so using it here would build a second vision for these tests.
fn data_dir() -> PathBuf {
    std::env::var_os("FACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
        })
}

fn bytes(rel: &str) -> Vec<u8> {
    let p = data_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn photo(rel: &str) -> Frame {
    decode_image(&bytes(rel), &DecodeLimits::default()).unwrap()
}

/// One pipeline for the whole file: sessions are `&mut`, so tests take turns.
fn pipeline() -> MutexGuard<'static, FacePipeline> {
    static P: OnceLock<Mutex<FacePipeline>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(FacePipeline::load(&PipelineConfig::default()).unwrap()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn embed(frame: &Frame) -> Vec<f32> {
    pipeline()
        .embed_frame(frame, MultiFace::Largest)
        .unwrap()
        .1
        .into_vec()
}

#[test]
fn same_person_matches_and_different_people_do_not() {
    let obama1 = embed(&photo("face_recognition_examples/obama/obama1.jpg"));
    let obama2 = embed(&photo("face_recognition_examples/obama/obama2.jpg"));
    let biden = embed(&photo("face_recognition_examples/biden/biden.jpg"));
    let amy = embed(&photo("face_api_js/amy/amy1.png"));
    assert_eq!(obama1.len(), 256);
    assert!((obama1.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(cosine(&obama1, &obama2) >= DEFAULT_MATCH_THRESHOLD);
    assert!(cosine(&obama1, &biden) < DEFAULT_MATCH_THRESHOLD);
    assert!(cosine(&amy, &obama1) < DEFAULT_MATCH_THRESHOLD);
}

#[test]
fn group_photo_has_several_faces_and_refuse_policy_says_so() {
    let frame = photo("face_recognition_examples/multi_face/obama_and_biden.jpg");
    let mut p = pipeline();
    let faces = p.detect(&frame).unwrap();
    // Obama, Biden and a third person further back.
    assert!(faces.len() >= 2, "{faces:?}");
    let err = p.analyze(&frame, MultiFace::Refuse).unwrap_err();
    assert_eq!(err.code(), "MULTIPLE_FACES");
    let largest = p.analyze(&frame, MultiFace::Largest).unwrap();
    assert!(
        largest
            .quality
            .issues
            .contains(&QualityIssue::MultipleFaces)
    );
    let biggest_area = faces.iter().map(|f| f.area()).fold(0.0, f32::max);
    assert_eq!(largest.face.area(), biggest_area);
}

#[test]
fn a_frame_without_a_face_is_no_face() {
    let gray = Frame::from_raw(640, 480, PixelFormat::Gray8, &vec![90; 640 * 480]).unwrap();
    assert!(matches!(
        pipeline().analyze(&gray, MultiFace::Largest),
        Err(VisionError::NoFace)
    ));
}

#[test]
fn raw_bgr_camera_frame_gives_the_same_embedding_as_the_decoded_photo() {
    let frame = photo("face_recognition_examples/kit_harington/john1.jpeg");
    let bgr: Vec<u8> = frame
        .rgb()
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    let raw = Frame::from_raw(frame.width(), frame.height(), PixelFormat::Bgr8, &bgr).unwrap();
    assert!(cosine(&embed(&frame), &embed(&raw)) > 0.9999);
}

#[test]
fn liveness_separates_the_labelled_samples() {
    let mut p = pipeline();
    for (file, real) in [
        ("image_T1.jpg", true),
        ("image_F1.jpg", false),
        ("image_F2.jpg", false),
    ] {
        let frame = photo(&format!("silent_face/{file}"));
        let a = p.analyze(&frame, MultiFace::Largest).unwrap();
        assert_eq!(
            a.liveness >= DEFAULT_LIVENESS_THRESHOLD,
            real,
            "{file}: {}",
            a.liveness
        );
    }
}

#[test]
fn good_photo_passes_quality_and_degraded_copies_get_the_right_hint() {
    let frame = photo("face_recognition_examples/obama/obama.jpg");
    let mut p = pipeline();
    let good = p.analyze(&frame, MultiFace::Largest).unwrap();
    assert!(good.quality.passed, "{:?}", good.quality);

    let dark: Vec<u8> = frame.rgb().iter().map(|&v| v / 8).collect();
    let dark = Frame::from_raw(frame.width(), frame.height(), PixelFormat::Rgb8, &dark).unwrap();
    match p.analyze(&dark, MultiFace::Largest) {
        Ok(a) => assert!(
            a.quality.issues.contains(&QualityIssue::TooDark),
            "{:?}",
            a.quality
        ),
        Err(e) => assert_eq!(e.code(), "NO_FACE"),
    }

    // A heavy box blur: still a face, no longer sharp.
    let mut img =
        image::RgbImage::from_raw(frame.width(), frame.height(), frame.rgb().to_vec()).unwrap();
    img = image::imageops::blur(&img, 6.0);
    let blurred =
        Frame::from_raw(img.width(), img.height(), PixelFormat::Rgb8, img.as_raw()).unwrap();
    let a = p.analyze(&blurred, MultiFace::Largest).unwrap();
    assert!(
        a.quality.issues.contains(&QualityIssue::Blurry),
        "{:?}",
        a.quality
    );
}

/// Inserts an EXIF APP1 segment with the given orientation right after the JPEG SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01".to_vec();
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_honoured() {
    let upright = photo("face_recognition_examples/obama/obama1.jpg");
    // Store the pixels rotated 90 degrees counter-clockwise, tagged "rotate 90 CW to display".
    let img = image::RgbImage::from_raw(upright.width(), upright.height(), upright.rgb().to_vec())
        .unwrap();
    let stored = image::imageops::rotate270(&img);
    let sideways = Frame::from_raw(
        stored.width(),
        stored.height(),
        PixelFormat::Rgb8,
        stored.as_raw(),
    )
    .unwrap();
    let tagged = with_exif_orientation(&sideways.to_jpeg(92).unwrap(), 6);
    let decoded = decode_image(&tagged, &DecodeLimits::default()).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (upright.width(), upright.height())
    );
    let a = pipeline().analyze(&decoded, MultiFace::Largest).unwrap();
    assert!(
        a.quality.metrics.roll_degrees.abs() < 15.0,
        "{:?}",
        a.quality.metrics
    );
    assert!(cosine(a.embedding.as_slice(), &embed(&upright)) > 0.9);
}

#[test]
fn oversized_image_is_refused_from_its_header() {
    // A real JPEG whose SOF header claims 60000 x 60000: refused before any pixel is decoded.
    let mut jpeg = bytes("face_recognition_examples/obama/obama1.jpg");
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
        .expect("SOF marker");
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    let err = decode_image(&jpeg, &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE", "{err}");
    let small_limit = DecodeLimits {
        max_pixels: 10_000,
        ..Default::default()
    };
    let err = decode_image(&bytes("face_api_js/amy/amy1.png"), &small_limit).unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE");
}

#[test]
fn truncated_and_non_image_files_have_clear_codes() {
    let jpeg = bytes("face_recognition_examples/obama/obama1.jpg");
    let err = decode_image(&jpeg[..200], &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "IMAGE_CORRUPT", "{err}");
    // Cut after a third: the decoder alone would fill the rest with gray and find a face.
    let err = decode_image(&jpeg[..jpeg.len() / 3], &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "IMAGE_CORRUPT", "{err}");
    let png = bytes("face_api_js/amy/amy1.png");
    assert!(decode_image(&png[..png.len() / 2], &DecodeLimits::default()).is_err());
    let err = decode_image(&bytes("pairs.csv"), &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "IMAGE_UNSUPPORTED");
    // GIF is an image, but not one the kiosk accepts.
    let err = decode_image(
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        &DecodeLimits::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "IMAGE_UNSUPPORTED");
}

#[test]
fn missing_or_wrong_models_and_runtime_are_named_errors() {
    let empty = tempdir("models-empty");
    let cfg = PipelineConfig {
        models_dir: Some(empty.clone()),
        ..Default::default()
    };
    let err = FacePipeline::load(&cfg).err().expect("must fail");
    assert_eq!(err.code(), "MODEL_MISSING");
    assert!(
        err.to_string()
            .contains("face_detection_yunet_2023mar_dynamic.onnx"),
        "{err}"
    );
    assert!(err.to_string().contains("scripts/setup.sh"));

    let wrong = tempdir("models-wrong");
    std::fs::write(
        wrong.join("face_detection_yunet_2023mar_dynamic.onnx"),
        b"not a model",
    )
    .unwrap();
    let cfg = PipelineConfig {
        models_dir: Some(wrong),
        ..Default::default()
    };
    assert_eq!(
        FacePipeline::load(&cfg).err().unwrap().code(),
        "MODEL_HASH_MISMATCH"
    );

    let cfg = PipelineConfig {
        ort_library: Some(empty.join("libonnxruntime.so")),
        ..Default::default()
    };
    let err = FacePipeline::load(&cfg).err().unwrap();
    assert_eq!(err.code(), "RUNTIME_MISSING");
    assert!(err.to_string().contains("ORT_DYLIB_PATH"));
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vision-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shared device-input cases (../shared/data/cases, or `$CASES_DIR`).
fn case(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("CASES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir().join("../cases"));
    let p = dir.join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn bytes_after_the_end_of_a_jpeg_are_not_part_of_it() {
    let limits = DecodeLimits::default();
    let original = bytes("face_recognition_examples/obama/obama1.jpg");
    let want = decode_image(&original, &limits).unwrap();
    // The shared sample: a phone's trailer after the end marker.
    let shared = decode_image(&case("photo_with_trailer_after_eoi.jpg"), &limits).unwrap();
    assert_eq!(shared.rgb(), want.rgb());
    // Other trailers of the same kind: a motion photo's video, padding, zeros, another
    // whole JPEG, a lone marker byte.
    let mut mp4 = b"\x00\x00\x00\x18ftypmp42".to_vec();
    mp4.extend((0..50_000u32).map(|i| (i * 7919 % 251) as u8));
    for trailer in [
        mp4,
        vec![0u8; 4096],
        vec![0xFF; 33],
        bytes("face_recognition_examples/biden/biden.jpg"),
        vec![0xFF],
    ] {
        let mut with = original.clone();
        with.extend_from_slice(&trailer);
        let got = decode_image(&with, &limits)
            .unwrap_or_else(|e| panic!("trailer of {} bytes: {e}", trailer.len()));
        assert_eq!(got.rgb(), want.rgb(), "trailer of {} bytes", trailer.len());
    }
    // Cut short, then padded: still truncated, whatever the padding.
    let mut cut = original[..original.len() * 2 / 3].to_vec();
    cut.resize(original.len() + 2048, 0);
    assert_eq!(
        decode_image(&cut, &limits).unwrap_err().code(),
        "IMAGE_CORRUPT"
    );
}

#[test]
fn an_mjpeg_frame_in_a_whole_v4l2_buffer_is_the_frame() {
    let full = case("mjpeg_frame_in_full_v4l2_buffer.jpg");
    let frame = decode_image(&full, &DecodeLimits::default()).unwrap();
    assert_eq!((frame.width(), frame.height()), (640, 480));
    let obama = embed(&photo("face_recognition_examples/obama/obama1.jpg"));
    assert!(cosine(&embed(&frame), &obama) >= DEFAULT_MATCH_THRESHOLD);
}

#[test]
fn a_cut_short_runtime_library_is_runtime_load_not_a_crash() {
    let real = vision::runtime::resolved_ort_library(&vision::RuntimeConfig::default())
        .expect("setup installs ONNX Runtime");
    let lib = std::fs::read(&real).unwrap();
    let dir = tempdir("ort-cut");
    // An interrupted copy at several points, and a file that is not a library at all.
    for (name, bytes) in [
        ("half", &lib[..lib.len() / 2]),
        ("most", &lib[..lib.len() - 4096]),
        ("head", &lib[..4096]),
        ("text", &b"not a library"[..]),
    ] {
        let path = dir.join(format!("libonnxruntime-{name}.so"));
        std::fs::write(&path, bytes).unwrap();
        let cfg = PipelineConfig {
            ort_library: Some(path),
            ..Default::default()
        };
        let err = FacePipeline::load(&cfg).err().expect("must fail");
        assert_eq!(err.code(), "RUNTIME_LOAD", "{name}: {err}");
        assert!(err.to_string().contains("reinstall"), "{name}: {err}");
    }
}

#[test]
fn deep_images_are_decoded_within_the_memory_bound() {
    // 16-bit RGB: 6 bytes a pixel before conversion.
    let (w, h) = (2000u32, 1000u32);
    let img = image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(
        w,
        h,
        image::Rgb([30_000, 40_000, 50_000]),
    );
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let png = png.into_inner();
    // Within the bound: decoded, and converted to 8 bits.
    let f = decode_image(&png, &DecodeLimits::default()).unwrap();
    assert_eq!((f.width(), f.height()), (w, h));
    assert_eq!(&f.rgb()[..3], &[117, 156, 195]);
    // The same pixels at 16 bits need 12 MB: over an 8 MB bound, refused before decoding,
    // although 2 MP is far under the pixel limit.
    let tight = DecodeLimits {
        max_decoded_bytes: 8 * 1024 * 1024,
        ..Default::default()
    };
    assert_eq!(
        decode_image(&png, &tight).unwrap_err().code(),
        "IMAGE_TOO_LARGE"
    );
    // An 8-bit image of the same size (6 MB) still fits that bound.
    let eight = Frame::from_raw(w, h, PixelFormat::Rgb8, &vec![90; (w * h * 3) as usize])
        .unwrap()
        .to_png()
        .unwrap();
    assert!(decode_image(&eight, &tight).is_ok());
}

/// `frame` scaled by `s` (bilinear, rounded to u8), in the middle of a frame of the original
/// size whose edges continue the photo's own: the same scene farther from the camera.
fn farther(frame: &Frame, s: f32) -> Frame {
    let (w, h) = (frame.width(), frame.height());
    let (sw, sh) = (
        ((w as f32 * s) as usize).max(1),
        ((h as f32 * s) as usize).max(1),
    );
    let mut planar = vec![0f32; 3 * sw * sh];
    let full = vision::imgproc::Rect { x: 0, y: 0, w, h };
    vision::imgproc::resample_bgr_planar(frame, full, sw, sh, &mut planar, sw, sh);
    let n = sw * sh;
    let (ox, oy) = ((w as i64 - sw as i64) / 2, (h as i64 - sh as i64) / 2);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let sx = (x - ox).clamp(0, sw as i64 - 1) as usize;
            let sy = (y - oy).clamp(0, sh as i64 - 1) as usize;
            for c in [2, 1, 0] {
                rgb.push(planar[c * n + sy * sw + sx].round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Frame::from_raw(w, h, PixelFormat::Rgb8, &rgb).unwrap()
}

/// The measurement behind `vision::MIN_LIVENESS_FACE_SIDE` (a measurement, not a check: run
/// with `--ignored --nocapture`). Every shared photo the liveness models call real at full size
/// is moved farther from the camera step by step; the share of bona fide frames still called
/// real is printed by face side.
#[test]
#[ignore]
fn liveness_by_face_size() {
    let csv = String::from_utf8(bytes("pairs.csv")).unwrap();
    let mut names: Vec<String> = csv
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').take(2).map(str::to_string).collect::<Vec<_>>())
        .collect();
    names.sort();
    names.dedup();
    names.push("silent_face/image_T1.jpg".into());
    let edges = [
        0.0f32,
        40.0,
        50.0,
        60.0,
        70.0,
        80.0,
        100.0,
        130.0,
        f32::INFINITY,
    ];
    let (mut real, mut seen) = ([0u32; 8], [0u32; 8]);
    let mut bona_fide = 0;
    let mut p = pipeline();
    for name in &names {
        let frame = photo(name).fitted(640, 480).unwrap();
        match p.analyze_frame(&frame, MultiFace::Largest) {
            Ok(a) if a.liveness >= DEFAULT_LIVENESS_THRESHOLD => bona_fide += 1,
            _ => continue,
        }
        for s in [0.9f32, 0.75, 0.6, 0.5, 0.4, 0.33, 0.27, 0.22, 0.18] {
            let far = farther(&frame, s);
            let alone = {
                let (w, h) = (frame.width() as f32 * s, frame.height() as f32 * s);
                frame.fitted(w as u32, h as u32).unwrap()
            };
            for f in [far, alone] {
                let Ok(a) = p.analyze_frame(&f, MultiFace::Largest) else {
                    continue;
                };
                let side = a.quality.metrics.face_side;
                let bin = edges.windows(2).position(|e| side >= e[0] && side < e[1]);
                if let Some(b) = bin {
                    seen[b] += 1;
                    real[b] += u32::from(a.liveness >= DEFAULT_LIVENESS_THRESHOLD);
                }
            }
        }
    }
    println!(
        "{bona_fide} of {} photos are called real at full size",
        names.len()
    );
    for b in 0..8 {
        println!(
            "face side {:>4}..{:<4} px: {:>3} of {:>3} bona fide frames called real",
            edges[b],
            edges[b + 1],
            real[b],
            seen[b]
        );
    }
}

/// How many real faces the liveness cut-off rule (`QualityReport::liveness_issue`:
/// `FaceCutOff` when more than `max_cut_off` of the box is outside the frame) affects on the
/// shared photos framed as a 640x480 camera would: every detected face, and the face a kiosk
/// would use (the largest). The figure is written beside the rule in `quality.rs`.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn faces_cut_off_by_the_frame_edge() {
    fn images(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                images(&p, out);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("jpg" | "jpeg" | "png")
            ) {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    images(&data_dir(), &mut files);
    files.sort();
    let cfg = vision::QualityConfig::default();
    let mut p = pipeline();
    let (mut faces, mut touching, mut cut) = (0, 0, 0);
    let (mut chosen, mut chosen_touching, mut chosen_cut) = (0, 0, 0);
    for f in &files {
        let Ok(frame) = decode_image(&std::fs::read(f).unwrap(), &DecodeLimits::default())
            .and_then(|fr| fr.fitted(640, 480))
        else {
            continue;
        };
        let Ok(found) = p.detect(&frame) else {
            continue;
        };
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let largest = found.iter().map(|d| d.area()).fold(0.0f32, f32::max);
        for d in &found {
            let [x, y, w, h] = d.bbox;
            let outside_x = (-x).max(0.0) + (x + w - fw).max(0.0);
            let outside_y = (-y).max(0.0) + (y + h - fh).max(0.0);
            let cut_off = (outside_x / w.max(1.0)).max(outside_y / h.max(1.0));
            let (t, c) = (cut_off > 0.0, cut_off > cfg.max_cut_off);
            faces += 1;
            touching += usize::from(t);
            cut += usize::from(c);
            if d.area() == largest {
                chosen += 1;
                chosen_touching += usize::from(t);
                chosen_cut += usize::from(c);
                if t {
                    println!(
                        "{}: box {:?} in {fw}x{fh}, {:.0}% outside",
                        f.strip_prefix(data_dir()).unwrap().display(),
                        d.bbox.map(|v| v.round()),
                        cut_off * 100.0
                    );
                }
            }
        }
    }
    println!(
        "{} photos, {faces} faces: {touching} touch or cross the frame edge, {cut} are more \
         than {:.0}% outside; of the {chosen} faces a kiosk would use (largest): \
         {chosen_touching} touch, {chosen_cut} more than {:.0}% outside",
        files.len(),
        cfg.max_cut_off * 100.0,
        cfg.max_cut_off * 100.0
    );
}

/// The shared pairs (pairs.csv: image_a, image_b, same): every photo named, and the genuine
/// pairs as indexes into that list.
fn shared_pairs() -> (Vec<String>, Vec<(usize, usize)>) {
    let text = String::from_utf8(bytes("pairs.csv")).unwrap();
    let mut names: Vec<String> = Vec::new();
    let mut genuine = Vec::new();
    let index_of = |name: &str, names: &mut Vec<String>| match names.iter().position(|n| n == name)
    {
        Some(i) => i,
        None => {
            names.push(name.to_string());
            names.len() - 1
        }
    };
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        let (a, b) = (index_of(cols[0], &mut names), index_of(cols[1], &mut names));
        if cols[2].trim() == "1" {
            genuine.push((a, b));
        }
    }
    (names, genuine)
}

#[test]
fn one_to_many_on_real_faces_answers_as_the_exhaustive_scan() {
    use vision::{CANDIDATES, EXHAUSTIVE_UP_TO, TemplateIndex};
    let (names, genuine) = shared_pairs();
    let real: Vec<Vec<f32>> = names.iter().map(|n| embed(&photo(n))).collect();
    // Enough face-like fillers to take the two-stage path: each is mostly a random direction
    // with up to 0.3 of two real faces mixed in, so fillers sit where real faces do (they
    // share the faces' common component, as real impostors do) and score like impostors
    // (the shared impostors reach 0.31), not like random vectors orthogonal to every face.
    let mut s = 0x0005_DEEC_E66D_u64;
    let mut uniform = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32
    };
    let fillers = EXHAUSTIVE_UP_TO * 5;
    let mut index = TemplateIndex::new(real[0].len());
    for key in 0..fillers {
        let (x, y) = (
            (uniform() * real.len() as f32) as usize % real.len(),
            (uniform() * real.len() as f32) as usize % real.len(),
        );
        let (a, b) = (0.3 * uniform(), 0.3 * uniform());
        let mut v: Vec<f32> = (0..real[0].len())
            .map(|j| a * real[x][j] + b * real[y][j] + (uniform() - 0.5) / 8.0)
            .collect();
        let norm = cosine(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        index.insert(1_000_000 + key as u64, &v).unwrap();
    }
    for (i, e) in real.iter().enumerate() {
        index.insert(i as u64, e).unwrap();
    }
    // Each genuine pair's first photo probes the gallery without itself: the exhaustive best
    // (its pair, or another photo of that person) is above the threshold, and the search
    // must answer it, key and score to the bit.
    let (mut probes, mut worst_rank) = (0, 0);
    for &(a, b) in &genuine {
        if cosine(&real[a], &real[b]) < DEFAULT_MATCH_THRESHOLD {
            continue;
        }
        assert!(index.remove(a as u64));
        let exact = index.search_exact(&real[a], 1).unwrap()[0];
        assert!(exact.score >= DEFAULT_MATCH_THRESHOLD, "{}", names[a]);
        assert_eq!(index.search(&real[a], 1).unwrap()[0], exact, "{}", names[a]);
        worst_rank = worst_rank.max(index.first_stage_rank(&real[a]).unwrap().unwrap());
        index.insert(a as u64, &real[a]).unwrap();
        probes += 1;
    }
    eprintln!(
        "{probes} genuine probes over {} templates; worst first-stage rank {worst_rank} of {CANDIDATES}",
        index.len()
    );
    assert!(probes >= 50, "{probes}");
    assert!(worst_rank < CANDIDATES);
}
