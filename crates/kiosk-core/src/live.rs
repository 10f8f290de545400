//! The live camera: one thread owns the frame source, analyses each frame (detect, quality,
//! liveness) on the vision thread, and publishes a preview (JPEG, face box, guidance) that any
//! number of watchers (the app's preview channel) read. Sign-in and enrolment take the most
//! recent analysed frames from here, so the camera has exactly one owner.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use tokio::sync::watch;
use vision::{Frame, FrameAnalysis, MultiFace, VisionWorker};

use crate::error::{KioskError, Result};

/// What the UI draws for one frame.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewFrame {
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub jpeg_b64: String,
    pub face: Option<FaceBox>,
    /// Quality hint codes, most important first; `NO_FACE` when none is seen.
    pub guidance: Vec<String>,
    /// 0..1, for a meter.
    pub quality: f32,
    pub liveness: Option<f32>,
    /// Frames published per second, measured.
    pub fps: f32,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub score: f32,
}

/// A recent frame and what the vision thread saw in it (None: no face).
#[derive(Clone)]
struct Recent {
    frame: Frame,
    analysis: Option<FrameAnalysis>,
}

impl Recent {
    fn usable(&self) -> bool {
        self.analysis.as_ref().is_some_and(|a| a.quality.passed)
    }
}

/// A frame with its analysis, as the live camera already computed it.
pub type AnalysedFrame = (Frame, Option<FrameAnalysis>);

const KEEP: usize = 8;

pub struct LiveCamera {
    preview: watch::Receiver<Option<PreviewFrame>>,
    recent: Arc<Mutex<VecDeque<Recent>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    source: String,
}

impl LiveCamera {
    /// Opens `spec` (`v4l:0`, `replay:DIR@15`, ...) and starts analysing.
    pub fn start(spec: &str, vision: VisionWorker, quality: vision::QualityConfig) -> Result<Self> {
        let source = camera::open_str(spec).map_err(KioskError::Camera)?;
        let description = source.info().description.clone();
        let capture = camera::spawn_capture(source, camera::CaptureOptions::default())
            .map_err(KioskError::Camera)?;
        let (tx, rx) = watch::channel(None);
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(KEEP)));
        let stop = Arc::new(AtomicBool::new(false));
        let (recent2, stop2) = (recent.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("live-camera".into())
            .spawn(move || {
                let mut last = Instant::now();
                let mut fps = 0f32;
                while !stop2.load(Ordering::Relaxed) {
                    let Ok(captured) = capture.recv_timeout(Duration::from_millis(500)) else {
                        continue;
                    };
                    let frame = captured.frame;
                    let f2 = frame.clone();
                    let analysed =
                        vision.run_blocking(move |p| p.analyze_frame(&f2, MultiFace::Largest));
                    let Ok(analysis) = analysed else { break };
                    let (face, guidance, q, liveness) = match &analysis {
                        Ok(a) => (
                            Some(FaceBox {
                                x: a.face.bbox[0],
                                y: a.face.bbox[1],
                                w: a.face.bbox[2],
                                h: a.face.bbox[3],
                                score: a.face.score,
                            }),
                            a.quality
                                .issues
                                .iter()
                                .map(|i| i.code().to_string())
                                .collect(),
                            a.quality.score(&quality),
                            Some(a.liveness),
                        ),
                        Err(_) => (None, vec!["NO_FACE".to_string()], 0.0, None),
                    };
                    let jpeg = frame.to_jpeg(70).unwrap_or_default();
                    {
                        let mut r = recent2.lock().unwrap_or_else(|e| e.into_inner());
                        if r.len() == KEEP {
                            r.pop_front();
                        }
                        r.push_back(Recent {
                            frame: frame.clone(),
                            analysis: analysis.ok(),
                        });
                    }
                    let dt = last.elapsed().as_secs_f32().max(1e-3);
                    last = Instant::now();
                    fps = if fps == 0.0 {
                        1.0 / dt
                    } else {
                        0.8 * fps + 0.2 / dt
                    };
                    let _ = tx.send(Some(PreviewFrame {
                        seq: captured.sequence,
                        width: frame.width(),
                        height: frame.height(),
                        jpeg_b64: base64::engine::general_purpose::STANDARD.encode(jpeg),
                        face,
                        guidance,
                        quality: q,
                        liveness,
                        fps,
                    }));
                }
            })
            .map_err(|_| KioskError::EngineStopped)?;
        Ok(Self {
            preview: rx,
            recent,
            stop,
            thread: Some(thread),
            source: description,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The latest preview, as a stream.
    pub fn preview(&self) -> watch::Receiver<Option<PreviewFrame>> {
        self.preview.clone()
    }

    /// The last `n` frames (oldest first) with their analyses, preferring ones with a usable
    /// face.
    pub fn recent_analysed(&self, n: usize) -> Vec<AnalysedFrame> {
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let good: Vec<&Recent> = r.iter().filter(|x| x.usable()).collect();
        let pick = if good.len() >= n {
            good
        } else {
            r.iter().collect()
        };
        let skip = pick.len().saturating_sub(n);
        pick.into_iter()
            .skip(skip)
            .map(|x| (x.frame.clone(), x.analysis.clone()))
            .collect()
    }

    /// Waits until `n` analysed frames were seen (a camera just opened), up to `timeout`.
    pub async fn wait_for_analysed(&self, n: usize, timeout: Duration) -> Vec<AnalysedFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            let frames = self.recent_analysed(n);
            if frames.len() >= n || Instant::now() >= deadline {
                return frames;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Like `wait_for_analysed`, the frames alone (enrolment analyses its samples itself).
    pub async fn wait_for_frames(&self, n: usize, timeout: Duration) -> Vec<Frame> {
        self.wait_for_analysed(n, timeout)
            .await
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }
}

impl Drop for LiveCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
