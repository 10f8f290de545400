//! On-device face pipeline for Access Kiosk: detection (YuNet), 5-point alignment, embedding
//! (face-reidentification-retail-0095), liveness (MiniFASNet pair), capture quality and
//! matching. No IO beyond loading the model files and the ONNX Runtime library.
//!
//! Each engine sits behind a trait ([`FaceDetector`], [`FaceEmbedder`], [`LivenessModel`]) so
//! another model can be dropped in; [`FacePipeline`] owns one of each, and [`VisionWorker`]
//! owns the pipeline on its own thread for programs with many callers.

pub mod align;
pub mod decision;
pub mod detect;
pub mod embed;
mod error;
pub mod frame;
pub mod imgproc;
pub mod jpeg;
pub mod liveness;
pub mod matcher;
pub mod metrics;
mod onnx_rewrite;
pub mod pipeline;
pub mod quality;
pub mod runtime;
pub mod worker;

pub use align::{AlignedFace, align};
pub use detect::{DetectorConfig, Face, FaceDetector, YuNet};
pub use embed::{EMBEDDER_MODEL_ID, EMBEDDING_DIM, Embedding, FaceEmbedder, ReidEmbedder};
pub use error::{Result, VisionError};
pub use frame::{DecodeLimits, Frame, PixelFormat, decode_image};
pub use liveness::{LivenessModel, MiniFasNet};
pub use matcher::{
    Admission, CANDIDATES, DEFAULT_MATCH_THRESHOLD, EXHAUSTIVE_UP_TO, Gallery, Match, PersonMatch,
    TemplateIndex, cosine, try_cosine,
};
pub use pipeline::{
    DEFAULT_LIVENESS_THRESHOLD, FaceAnalysis, FacePipeline, FrameAnalysis, MultiFace,
    PipelineConfig,
};
pub use quality::{
    MIN_LIVENESS_FACE_SIDE, QualityConfig, QualityIssue, QualityMetrics, QualityReport,
};
pub use runtime::{ModelSpec, RuntimeConfig, manifest};
pub use worker::{Readiness, VisionWorker, WorkerError};
