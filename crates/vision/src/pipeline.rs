//! The whole face pipeline behind one owner: detect, choose, align, assess, embed, liveness.

use std::path::PathBuf;

use serde::Serialize;

use crate::align::{AlignedFace, align};
use crate::detect::{DetectorConfig, Face, FaceDetector, YuNet};
use crate::embed::{Embedding, FaceEmbedder, ReidEmbedder};
use crate::error::{Result, VisionError};
use crate::frame::Frame;
use crate::liveness::{LivenessModel, MiniFasNet};
use crate::quality::{QualityConfig, QualityReport, assess};
use crate::runtime::RuntimeConfig;

/// Default minimum fused real-probability. The three labelled samples score 0.07 and 0.40
/// (spoofs) and 0.99 (real); 0.6 keeps the screen replay well out. MiniFASNet is a weak signal
/// (MODELS.md): kiosks vote over several frames.
pub const DEFAULT_LIVENESS_THRESHOLD: f32 = 0.6;

/// What to do when a frame holds more than one face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiFace {
    /// Use the largest face (a kiosk queue: the person in front).
    #[default]
    Largest,
    /// Refuse with `MULTIPLE_FACES` (enrolment: never store the wrong person).
    Refuse,
    /// Use the face whose box centre is nearest the frame's (photo sets cropped around their
    /// subject, such as LFW, where the largest face is sometimes a bystander's).
    Centred,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub models_dir: Option<PathBuf>,
    pub ort_library: Option<PathBuf>,
    pub intra_threads: usize,
    pub spinning: bool,
    pub detector: DetectorConfig,
    pub quality: QualityConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let rt = RuntimeConfig::default();
        Self {
            models_dir: rt.models_dir,
            ort_library: rt.ort_library,
            intra_threads: rt.intra_threads,
            spinning: rt.spinning,
            detector: DetectorConfig::default(),
            quality: QualityConfig::default(),
        }
    }
}

impl PipelineConfig {
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            models_dir: self.models_dir.clone(),
            ort_library: self.ort_library.clone(),
            intra_threads: self.intra_threads,
            spinning: self.spinning,
        }
    }
}

/// What a kiosk needs from every frame of a burst: the face, its quality, its liveness.
/// The embedding is left out: it is computed once, for the best frame.
#[derive(Clone)]
pub struct FrameAnalysis {
    pub face: Face,
    pub faces_in_frame: usize,
    pub quality: QualityReport,
    pub liveness: f32,
    pub aligned: AlignedFace,
}

/// Everything known about the chosen face in a frame.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub face: Face,
    /// Faces seen in the frame (the chosen one included).
    pub faces_in_frame: usize,
    pub quality: QualityReport,
    pub embedding: Embedding,
    pub liveness: f32,
}

/// The pipeline owns its engines; `&mut self` methods mean one caller at a time (ORT sessions
/// take `&mut` to run). Multi-threaded programs put it on its own thread behind a channel.
pub struct FacePipeline {
    detector: Box<dyn FaceDetector>,
    embedder: Box<dyn FaceEmbedder>,
    liveness: Box<dyn LivenessModel>,
    quality: QualityConfig,
}

impl FacePipeline {
    /// Loads the real models (hash-checked) and the ONNX Runtime library.
    pub fn load(config: &PipelineConfig) -> Result<Self> {
        let rt = config.runtime();
        Ok(Self {
            detector: Box::new(YuNet::load(&rt, config.detector)?),
            embedder: Box::new(ReidEmbedder::load(&rt)?),
            liveness: Box::new(MiniFasNet::load(&rt)?),
            quality: config.quality,
        })
    }

    /// Builds a pipeline from other engines (another model, or a test double).
    pub fn from_engines(
        detector: Box<dyn FaceDetector>,
        embedder: Box<dyn FaceEmbedder>,
        liveness: Box<dyn LivenessModel>,
        quality: QualityConfig,
    ) -> Self {
        Self {
            detector,
            embedder,
            liveness,
            quality,
        }
    }

    pub fn quality_config(&self) -> &QualityConfig {
        &self.quality
    }

    pub fn embedder_model_id(&self) -> &'static str {
        self.embedder.model_id()
    }

    pub fn detect(&mut self, frame: &Frame) -> Result<Vec<Face>> {
        self.detector.detect(frame)
    }

    /// Picks the face to use from a detection result.
    /// The face `policy` picks among `faces` of a `width` x `height` frame.
    pub fn choose(faces: &[Face], policy: MultiFace, width: u32, height: u32) -> Result<Face> {
        match (faces.len(), policy) {
            (0, _) => Err(VisionError::NoFace),
            (_, MultiFace::Centred) => {
                let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
                let off = |f: &Face| {
                    let (x, y) = (f.bbox[0] + f.bbox[2] / 2.0, f.bbox[1] + f.bbox[3] / 2.0);
                    (x - cx).powi(2) + (y - cy).powi(2)
                };
                Ok(*faces
                    .iter()
                    .min_by(|a, b| off(a).total_cmp(&off(b)))
                    .unwrap_or(&faces[0]))
            }
            (1, _) | (_, MultiFace::Largest) => Ok(*faces
                .iter()
                .max_by(|a, b| a.area().total_cmp(&b.area()))
                .unwrap_or(&faces[0])),
            (count, MultiFace::Refuse) => Err(VisionError::MultipleFaces { count }),
        }
    }

    pub fn align(&self, frame: &Frame, face: &Face) -> AlignedFace {
        align(frame, face)
    }

    pub fn assess(
        &self,
        frame: &Frame,
        face: &Face,
        aligned: &AlignedFace,
        faces_in_frame: usize,
    ) -> QualityReport {
        assess(frame, face, aligned, faces_in_frame, &self.quality)
    }

    pub fn embed(&mut self, aligned: &[AlignedFace]) -> Result<Vec<Embedding>> {
        self.embedder.embed(aligned)
    }

    pub fn liveness(&mut self, frame: &Frame, face: &Face) -> Result<f32> {
        self.liveness.score(frame, face)
    }

    /// The per-frame work of a live camera: detect, choose by `policy`, align, assess
    /// quality, score liveness.
    pub fn analyze_frame(&mut self, frame: &Frame, policy: MultiFace) -> Result<FrameAnalysis> {
        let faces = self.detect(frame)?;
        let face = Self::choose(&faces, policy, frame.width(), frame.height())?;
        let aligned = self.align(frame, &face);
        let quality = self.assess(frame, &face, &aligned, faces.len());
        let liveness = self.liveness(frame, &face)?;
        Ok(FrameAnalysis {
            face,
            faces_in_frame: faces.len(),
            quality,
            liveness,
            aligned,
        })
    }

    /// Embeds one analysed frame's face.
    pub fn embed_analysis(&mut self, a: &FrameAnalysis) -> Result<Embedding> {
        self.embed(std::slice::from_ref(&a.aligned))?
            .pop()
            .ok_or(VisionError::NoFace)
    }

    /// Detect, choose by `policy`, align, assess quality, embed and score liveness.
    pub fn analyze(&mut self, frame: &Frame, policy: MultiFace) -> Result<FaceAnalysis> {
        let a = self.analyze_frame(frame, policy)?;
        let embedding = self.embed_analysis(&a)?;
        Ok(FaceAnalysis {
            face: a.face,
            faces_in_frame: a.faces_in_frame,
            quality: a.quality,
            embedding,
            liveness: a.liveness,
        })
    }

    /// Embedding of the chosen face only (no quality, no liveness): evaluation and matching.
    pub fn embed_frame(&mut self, frame: &Frame, policy: MultiFace) -> Result<(Face, Embedding)> {
        let faces = self.detect(frame)?;
        let face = Self::choose(&faces, policy, frame.width(), frame.height())?;
        let aligned = self.align(frame, &face);
        let e = self
            .embed(std::slice::from_ref(&aligned))?
            .pop()
            .ok_or(VisionError::NoFace)?;
        Ok((face, e))
    }
}
