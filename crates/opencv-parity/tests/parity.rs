//! `vision::imgproc` against OpenCV 4.6 (Debian 12's libopencv-core-dev and libopencv-imgproc-dev) on the
//! shared photos: resize against `cv::resize(INTER_LINEAR)`, the alignment warp against
//! `cv::warpAffine`, grey against `cv::cvtColor(BGR2GRAY)`, the sharpness measure against
//! `cv::Laplacian`, and the detector and liveness inputs built both ways (the liveness ones
//! also scored by the real models).
//!
//! Tolerances, and why:
//! - resize on f32 pixels: max 0.1 grey level, measured 0.046 (the same sampling; OpenCV
//!   computes the weights from a double scale and sums in another order). On u8 pixels OpenCV uses 11-bit fixed-point weights and rounds
//!   its output: max 1 level against ours rounded.
//! - warp: OpenCV quantises the source position to 1/32 px (`INTER_TAB_SIZE`) and its weights
//!   to that grid, even for float images; ours is exact. The difference is at most the local
//!   gradient times 1/64 px: mean under 0.25 level and max under 8 levels (measured 0.14
//!   and 4.1 on the 58 faces), and the embeddings of the two aligned faces agree to cosine
//!   0.9999 (measured 0.99997).
//! - grey: 1e-3 level (the same BT.601 weights in f32).
//! - variance of the Laplacian: relative 1e-3 (`ksize = 1` is the same 4-neighbour kernel).

use std::sync::{Mutex, MutexGuard, OnceLock};

use opencv::core::{self, Mat, Rect, Scalar, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use vision::align::ALIGNED_SIZE;
use vision::imgproc::{gray_from_bgr_planar, laplacian_variance, resample_bgr_planar};
use vision::liveness::{INPUT, MiniFasNet, SCALES, adapt_box, crop_box, model_input};
use vision::{AlignedFace, DetectorConfig, Face, FaceDetector, Frame, RuntimeConfig, YuNet};

type Cv<T> = opencv::Result<T>;

/// Every photo of pairs.csv and the three liveness samples.
fn photos() -> Vec<(String, Frame)> {
    let csv = std::fs::read_to_string(test_support::face_path("pairs.csv")).unwrap();
    let mut names: Vec<String> = csv
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').take(2).map(str::to_string).collect::<Vec<_>>())
        .collect();
    names.sort();
    names.dedup();
    for s in ["image_F1.jpg", "image_F2.jpg", "image_T1.jpg"] {
        names.push(format!("silent_face/{s}"));
    }
    names
        .into_iter()
        .map(|n| {
            let f = test_support::photo(&n);
            (n, f)
        })
        .collect()
}

/// The frame as OpenCV holds an image: interleaved BGR, u8.
fn bgr_u8(frame: &Frame) -> Cv<Mat> {
    let (w, h) = (frame.width() as i32, frame.height() as i32);
    let mut rgb = Mat::new_rows_cols_with_default(h, w, core::CV_8UC3, Scalar::all(0.0))?;
    rgb.data_bytes_mut()?.copy_from_slice(frame.rgb());
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&rgb, &mut bgr, imgproc::COLOR_RGB2BGR)?;
    Ok(bgr)
}

fn bgr_f32(frame: &Frame) -> Cv<Mat> {
    let mut f = Mat::default();
    bgr_u8(frame)?.convert_to(&mut f, core::CV_32F, 1.0, 0.0)?;
    Ok(f)
}

/// An interleaved 3-channel Mat (u8 or f32) as planar BGR f32, our layout.
fn planar(m: &Mat) -> Cv<Vec<f32>> {
    // A new, continuous f32 Mat (a ROI's rows are not contiguous).
    let mut f = Mat::default();
    m.convert_to(&mut f, core::CV_32F, 1.0, 0.0)?;
    let n = (f.rows() * f.cols()) as usize;
    let data = f.data_typed::<core::Vec3f>()?;
    let mut out = vec![0.0; 3 * n];
    for (i, px) in data.iter().enumerate() {
        for c in 0..3 {
            out[c * n + i] = px[c];
        }
    }
    Ok(out)
}

fn max_and_mean_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let mut max = 0f32;
    let mut sum = 0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        max = max.max(d);
        sum += d as f64;
    }
    (max, (sum / a.len() as f64) as f32)
}

fn ours_resized(frame: &Frame, r: vision::imgproc::Rect, w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; 3 * w * h];
    resample_bgr_planar(frame, r, w, h, &mut out, w, h);
    out
}

fn cv_resized(src: &Mat, r: vision::imgproc::Rect, w: usize, h: usize) -> Cv<Vec<f32>> {
    let roi = Mat::roi(
        src,
        Rect::new(r.x as i32, r.y as i32, r.w as i32, r.h as i32),
    )?;
    let mut out = Mat::default();
    imgproc::resize(
        &roi,
        &mut out,
        Size::new(w as i32, h as i32),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )?;
    planar(&out)
}

/// Regions and target sizes the pipeline uses: the whole frame to the detector's size, a
/// centred crop to the liveness and embedder sizes, and a small crop upscaled.
fn resize_cases(frame: &Frame) -> Vec<(vision::imgproc::Rect, usize, usize)> {
    let (w, h) = (frame.width(), frame.height());
    let full = vision::imgproc::Rect { x: 0, y: 0, w, h };
    let s = (640.0 / w.max(h) as f32).min(1.0);
    let (cw, ch) = (w * 3 / 5, h * 3 / 5);
    let centre = vision::imgproc::Rect {
        x: (w - cw) / 2,
        y: (h - ch) / 2,
        w: cw,
        h: ch,
    };
    let small = vision::imgproc::Rect {
        x: w / 3,
        y: h / 3,
        w: 37.min(w / 3),
        h: 41.min(h / 3),
    };
    vec![
        (
            full,
            ((w as f32 * s).round() as usize).max(1),
            ((h as f32 * s).round() as usize).max(1),
        ),
        (
            full,
            (w as usize * 3 / 4).max(1),
            (h as usize * 2 / 3).max(1),
        ),
        (centre, INPUT, INPUT),
        (centre, ALIGNED_SIZE, ALIGNED_SIZE),
        (small, INPUT, INPUT),
    ]
}

#[test]
fn resize_matches_cv_resize_inter_linear() -> Cv<()> {
    let (mut worst_f32, mut worst_u8) = (0f32, 0f32);
    for (name, frame) in photos() {
        let (src_f, src_u) = (bgr_f32(&frame)?, bgr_u8(&frame)?);
        for (r, w, h) in resize_cases(&frame) {
            let ours = ours_resized(&frame, r, w, h);
            let (max, _) = max_and_mean_diff(&ours, &cv_resized(&src_f, r, w, h)?);
            assert!(max <= 0.1, "{name} {r:?} -> {w}x{h}: f32 max diff {max}");
            worst_f32 = worst_f32.max(max);
            let rounded: Vec<f32> = ours.iter().map(|v| v.round()).collect();
            let (max, _) = max_and_mean_diff(&rounded, &cv_resized(&src_u, r, w, h)?);
            assert!(max <= 1.0, "{name} {r:?} -> {w}x{h}: u8 max diff {max}");
            worst_u8 = worst_u8.max(max);
        }
    }
    eprintln!("resize: worst f32 diff {worst_f32}, worst u8 diff {worst_u8}");
    Ok(())
}

/// One detector and one liveness pair for the file (sessions are `&mut`).
fn engines() -> MutexGuard<'static, (YuNet, MiniFasNet, vision::ReidEmbedder)> {
    static E: OnceLock<Mutex<(YuNet, MiniFasNet, vision::ReidEmbedder)>> = OnceLock::new();
    E.get_or_init(|| {
        let rt = RuntimeConfig::default();
        Mutex::new((
            YuNet::load(&rt, DetectorConfig::default()).unwrap(),
            MiniFasNet::load(&rt).unwrap(),
            vision::ReidEmbedder::load(&rt).unwrap(),
        ))
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

fn largest(faces: &[Face]) -> Option<Face> {
    faces
        .iter()
        .max_by(|a, b| a.area().total_cmp(&b.area()))
        .copied()
}

#[test]
fn alignment_warp_matches_cv_warp_affine() -> Cv<()> {
    use vision::FaceEmbedder as _;
    let mut e = engines();
    let (mut worst_max, mut worst_mean, mut worst_cos) = (0f32, 0f32, 1f32);
    let mut faces = 0;
    for (name, frame) in photos() {
        let Some(face) = largest(&e.0.detect(&frame).unwrap()) else {
            continue;
        };
        faces += 1;
        let ours = vision::align(&frame, &face);
        // The same inverse map (output pixel -> source pixel) that `align` warps through.
        let size = ALIGNED_SIZE as f32;
        let template = vision::align::TEMPLATE.map(|[x, y]| [x * size, y * size]);
        let inv = vision::align::invert(&vision::align::similarity(&face.landmarks, &template));
        let m = Mat::from_slice_2d(&[
            [inv[0] as f64, inv[1] as f64, inv[2] as f64],
            [inv[3] as f64, inv[4] as f64, inv[5] as f64],
        ])?;
        let mut out = Mat::default();
        imgproc::warp_affine(
            &bgr_f32(&frame)?,
            &mut out,
            &m,
            Size::new(ALIGNED_SIZE as i32, ALIGNED_SIZE as i32),
            imgproc::INTER_LINEAR | imgproc::WARP_INVERSE_MAP,
            core::BORDER_CONSTANT,
            Scalar::all(0.0),
        )?;
        let theirs = planar(&out)?;
        let (max, mean) = max_and_mean_diff(ours.planar_bgr(), &theirs);
        assert!(
            mean < 0.25 && max < 8.0,
            "{name}: warp diff max {max} mean {mean}"
        );
        worst_max = worst_max.max(max);
        worst_mean = worst_mean.max(mean);
        // The embedder's input built both ways gives the same template.
        let cv_face = AlignedFace::from_planar_bgr(theirs).unwrap();
        let emb = e.2.embed(&[ours, cv_face]).unwrap();
        let cos = vision::cosine(emb[0].as_slice(), emb[1].as_slice());
        assert!(cos >= 0.9999, "{name}: embeddings cosine {cos}");
        worst_cos = worst_cos.min(cos);
    }
    assert!(faces >= 50, "{faces}");
    eprintln!(
        "warp: {faces} faces, worst max {worst_max}, worst mean {worst_mean}, worst cosine {worst_cos}"
    );
    Ok(())
}

#[test]
fn grey_and_laplacian_variance_match_cv() -> Cv<()> {
    for (name, frame) in photos() {
        // The quality check's input: a 128x128 crop, as planar BGR.
        let (w, h) = (frame.width(), frame.height());
        let r = vision::imgproc::Rect {
            x: w / 4,
            y: h / 4,
            w: w / 2,
            h: h / 2,
        };
        let bgr = ours_resized(&frame, r, ALIGNED_SIZE, ALIGNED_SIZE);
        let n = ALIGNED_SIZE * ALIGNED_SIZE;
        let ours = gray_from_bgr_planar(&bgr, n);
        // The same pixels interleaved for OpenCV.
        let mut m = Mat::new_rows_cols_with_default(
            ALIGNED_SIZE as i32,
            ALIGNED_SIZE as i32,
            core::CV_32FC3,
            Scalar::all(0.0),
        )?;
        for (i, px) in m.data_typed_mut::<core::Vec3f>()?.iter_mut().enumerate() {
            *px = core::Vec3f::from([bgr[i], bgr[n + i], bgr[2 * n + i]]);
        }
        let mut grey = Mat::default();
        imgproc::cvt_color_def(&m, &mut grey, imgproc::COLOR_BGR2GRAY)?;
        let (max, _) = max_and_mean_diff(&ours, grey.data_typed::<f32>()?);
        assert!(max <= 1e-3, "{name}: grey diff {max}");

        let mut lap = Mat::default();
        imgproc::laplacian(
            &grey,
            &mut lap,
            core::CV_32F,
            1,
            1.0,
            0.0,
            core::BORDER_DEFAULT,
        )?;
        let interior = Mat::roi(
            &lap,
            Rect::new(1, 1, ALIGNED_SIZE as i32 - 2, ALIGNED_SIZE as i32 - 2),
        )?;
        let (mut mean, mut dev) = (Vector::<f64>::new(), Vector::<f64>::new());
        core::mean_std_dev(&interior, &mut mean, &mut dev, &core::no_array())?;
        let theirs = dev.get(0)?.powi(2) as f32;
        let ours = laplacian_variance(&ours, ALIGNED_SIZE, ALIGNED_SIZE);
        let rel = (ours - theirs).abs() / theirs.max(1e-6);
        assert!(rel <= 1e-3, "{name}: Laplacian variance {ours} vs {theirs}");
    }
    Ok(())
}

#[test]
fn detector_input_matches_cv_resize_and_zero_padding() -> Cv<()> {
    for (name, frame) in photos() {
        let mut ours = Vec::new();
        let lb = vision::detect::letterbox(&frame, 640, &mut ours);
        let mut resized = Mat::default();
        imgproc::resize(
            &bgr_f32(&frame)?,
            &mut resized,
            Size::new(lb.rw as i32, lb.rh as i32),
            0.0,
            0.0,
            imgproc::INTER_LINEAR,
        )?;
        let mut padded = Mat::default();
        core::copy_make_border(
            &resized,
            &mut padded,
            0,
            (lb.ph - lb.rh) as i32,
            0,
            (lb.pw - lb.rw) as i32,
            core::BORDER_CONSTANT,
            Scalar::all(0.0),
        )?;
        let (max, _) = max_and_mean_diff(&ours, &planar(&padded)?);
        assert!(max <= 0.1, "{name}: detector input max diff {max}");
    }
    Ok(())
}

/// The reference pipeline (MODELS.md §3): `cv2.resize` of the u8 crop, so rounded pixels.
fn cv_liveness_input(src_u8: &Mat, frame: &Frame, face: &Face, scale: f32) -> Cv<Vec<f32>> {
    let r = crop_box(frame.width(), frame.height(), adapt_box(face), scale);
    cv_resized(src_u8, r, INPUT, INPUT)
}

/// The liveness gap on the screen replay (ours 0.337, MODELS.md's reference 0.399) is not a
/// pre-processing difference: OpenCV's inputs (u8 resize, rounded) score within 0.01 of ours
/// on all three samples, while moving the face box by one pixel, which moves the crop's
/// integer edges, moves the screen replay's score by more than 0.03 (0.342 -> 0.399 at 1 px
/// up in the reference's own Python pipeline). The reference's box differs from ours by such
/// sub-pixel amounts (another YuNet decoding, another JPEG decoder).
#[test]
fn liveness_inputs_built_by_cv_score_as_ours_and_the_gap_is_the_box() -> Cv<()> {
    let mut guard = engines();
    let (detector, liveness, _) = &mut *guard;
    for sample in ["image_F1.jpg", "image_F2.jpg", "image_T1.jpg"] {
        let frame = test_support::photo(&format!("silent_face/{sample}"));
        let face = largest(&detector.detect(&frame).unwrap()).expect("a face");
        let src = bgr_u8(&frame)?;
        let mut ours = [vec![0.0; 3 * INPUT * INPUT], vec![0.0; 3 * INPUT * INPUT]];
        for (out, &scale) in ours.iter_mut().zip(&SCALES) {
            model_input(&frame, &face, scale, out);
        }
        let theirs = [
            cv_liveness_input(&src, &frame, &face, SCALES[0])?,
            cv_liveness_input(&src, &frame, &face, SCALES[1])?,
        ];
        for (o, t) in ours.iter().zip(&theirs) {
            let rounded: Vec<f32> = o.iter().map(|v| v.round()).collect();
            let (max, _) = max_and_mean_diff(&rounded, t);
            assert!(max <= 1.0, "{sample}: liveness input max diff {max}");
        }
        let s_ours = liveness.score_inputs([&ours[0], &ours[1]]).unwrap();
        let s_cv = liveness.score_inputs([&theirs[0], &theirs[1]]).unwrap();
        let preprocessing = (s_ours - s_cv).abs();
        assert!(
            preprocessing <= 0.01,
            "{sample}: ours {s_ours} OpenCV {s_cv}"
        );
        if sample == "image_F2.jpg" {
            let mut moved = face;
            moved.bbox[1] -= 1.0;
            let mut inputs = [vec![0.0; 3 * INPUT * INPUT], vec![0.0; 3 * INPUT * INPUT]];
            for (out, &scale) in inputs.iter_mut().zip(&SCALES) {
                model_input(&frame, &moved, scale, out);
            }
            let s_moved = liveness.score_inputs([&inputs[0], &inputs[1]]).unwrap();
            eprintln!(
                "screen replay: ours {s_ours:.3}, OpenCV inputs {s_cv:.3}, box 1 px up {s_moved:.3}"
            );
            assert!(
                (s_moved - s_ours).abs() > 3.0 * preprocessing.max(0.01),
                "one pixel of box moves the score more than pre-processing: {s_moved} vs {s_ours}"
            );
        }
    }
    Ok(())
}
