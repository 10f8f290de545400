//! Checking a camera before going live (`kiosk camera test`): open it, run the face pipeline
//! on what it delivers for a few seconds, and report per second how many frames came, whether
//! a face was found, its capture quality and liveness, plus a snapshot to look at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use vision::{FacePipeline, Frame, MultiFace};

use crate::error::{KioskError, Result};

/// One second of the check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CameraSecond {
    /// 1 for the first second.
    pub second: u32,
    /// Frames the camera delivered in this second (analysed or not).
    pub frames: u32,
    /// Frames the face pipeline analysed (fewer than `frames` when it is slower than the camera).
    pub analysed: u32,
    /// Analysed frames in which a face was found.
    pub with_face: u32,
    /// Mean capture quality (0..1) over the frames with a face; None without any.
    pub quality: Option<f32>,
    /// Frames whose quality passed every check.
    pub quality_passed: u32,
    /// Mean liveness score (0..1) over the frames with a face.
    pub liveness: Option<f32>,
    /// The most frequent guidance this second (`NO_FACE`, `TOO_FAR`, `TOO_DARK`, ...), if any.
    pub guidance: Option<String>,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct CameraReport {
    /// The device and its name, or the replayed path.
    pub source: String,
    /// What arrives before decoding ("MJPEG", "YUYV", "GREY", ...).
    pub input_format: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second delivered over the whole check.
    pub fps: f32,
    pub seconds: Vec<CameraSecond>,
    /// The PNG written of the best frame (a face if any was seen), when one was asked for.
    pub snapshot: Option<PathBuf>,
}

#[derive(Default)]
struct Tally {
    second: CameraSecond,
    quality_sum: f32,
    liveness_sum: f32,
    guidance: BTreeMap<String, u32>,
}

impl Tally {
    fn finish(mut self) -> CameraSecond {
        let n = self.second.with_face as f32;
        if n > 0.0 {
            self.second.quality = Some(self.quality_sum / n);
            self.second.liveness = Some(self.liveness_sum / n);
        }
        self.second.guidance = self
            .guidance
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .map(|(code, _)| code);
        self.second
    }
}

/// Opens `spec` (`v4l:0`, `replay:DIR@15`, ...) and checks it for `seconds` seconds, calling
/// `each_second` as every second completes. Writes the best frame to `snapshot` as PNG when
/// given. Errors: the camera's (`NO_CAMERA`, `CAMERA_BUSY`, `CAMERA_FORMAT_UNSUPPORTED`, ...),
/// `FRAME_TIMEOUT` when it opens but delivers nothing, and the pipeline's.
pub fn check_camera(
    spec: &str,
    seconds: u32,
    pipeline: &mut FacePipeline,
    snapshot: Option<&Path>,
    mut each_second: impl FnMut(&CameraSecond),
) -> Result<CameraReport> {
    let source = camera::open_str(spec).map_err(KioskError::Camera)?;
    let info = source.info();
    let capture = camera::spawn_capture(source, camera::CaptureOptions::default())
        .map_err(KioskError::Camera)?;
    let quality_cfg = *pipeline.quality_config();
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds.max(1) as u64);
    let mut done = Vec::new();
    let mut tally = Tally::default();
    let mut last_sequence = None;
    let mut delivered = 0u64;
    // Best frame so far: (has a face, quality score, frame).
    let mut best: Option<(bool, f32, Frame)> = None;
    while Instant::now() < end {
        let captured = match capture.recv_timeout(Duration::from_secs(3)) {
            Ok(c) => c,
            Err(e) if e.is_transient() && delivered > 0 => continue,
            Err(e) => return Err(KioskError::Camera(e)),
        };
        // Frames the capture thread dropped while we analysed still count as delivered.
        let new = match last_sequence {
            Some(prev) => captured.sequence.saturating_sub(prev).max(1),
            None => 1,
        };
        last_sequence = Some(captured.sequence);
        delivered += new;
        let second = (start.elapsed().as_secs() as u32) + 1;
        if second > seconds.max(1) {
            break;
        }
        if second > tally.second.second && tally.second.second > 0 {
            let finished = std::mem::take(&mut tally).finish();
            each_second(&finished);
            done.push(finished);
        }
        tally.second.second = second;
        tally.second.frames += new as u32;
        tally.second.analysed += 1;
        let (face, score) = match pipeline.analyze_frame(&captured.frame, MultiFace::Largest) {
            Ok(a) => {
                let q = a.quality.score(&quality_cfg);
                tally.second.with_face += 1;
                tally.quality_sum += q;
                tally.liveness_sum += a.liveness;
                if a.quality.passed {
                    tally.second.quality_passed += 1;
                }
                if let Some(issue) = a.quality.issues.first() {
                    *tally.guidance.entry(issue.code().to_string()).or_default() += 1;
                }
                (true, q)
            }
            Err(e) if e.is_input_error() => {
                *tally.guidance.entry(e.code().to_string()).or_default() += 1;
                (false, 0.0)
            }
            Err(e) => return Err(KioskError::Vision(e)),
        };
        if best
            .as_ref()
            .is_none_or(|(f, s, _)| (face, score) > (*f, *s))
        {
            best = Some((face, score, captured.frame));
        }
    }
    if tally.second.second > 0 {
        let finished = tally.finish();
        each_second(&finished);
        done.push(finished);
    }
    let snapshot = match (snapshot, best) {
        (Some(path), Some((_, _, frame))) => {
            write_png(&frame, path)?;
            Some(path.to_path_buf())
        }
        _ => None,
    };
    Ok(CameraReport {
        source: info.description,
        input_format: info.input_format,
        width: info.width,
        height: info.height,
        fps: delivered as f32 / start.elapsed().as_secs_f32().max(1e-3),
        seconds: done,
        snapshot,
    })
}

fn write_png(frame: &Frame, path: &Path) -> Result<()> {
    let png = frame.to_png().map_err(KioskError::Vision)?;
    std::fs::write(path, png).map_err(|source| KioskError::Io {
        path: path.to_path_buf(),
        source,
    })
}
