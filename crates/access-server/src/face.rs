//! Face analysis behind a small async interface, so handlers never touch the pipeline.

use std::sync::Arc;

use access_types::ErrorCode;
use vision::{Embedding, Readiness};

use crate::delivery::BoxFut;
use crate::error::ApiError;

/// What the server needs from one image.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub embedding: Embedding,
    /// Probability the face is real (0..1).
    pub liveness: f32,
    pub face_score: f32,
    pub quality_passed: bool,
    pub issues: Vec<String>,
    /// Why `liveness` cannot be trusted for this face, if it cannot: too small or cut off by
    /// the frame edge (`vision::QualityReport::liveness_issue`, the kiosk's rule too).
    pub liveness_issue: Option<vision::QualityIssue>,
    /// The side of the face box, px (what `vision::MIN_LIVENESS_FACE_SIDE` bounds).
    pub face_side: f32,
}

impl FaceAnalysis {
    /// Refuses a liveness verdict on a face whose score is not trusted: 422 `FACE_QUALITY`
    /// with the issue (`FACE_TOO_SMALL`, `FACE_CUT_OFF`) and its hint ("Move closer"), never
    /// `liveness_failed`; no attempt is used.
    pub fn require_liveness_ready(&self) -> Result<(), ApiError> {
        let Some(issue) = self.liveness_issue else {
            return Ok(());
        };
        Err(ApiError::new(
            ErrorCode::FaceQuality,
            format!(
                "no liveness verdict on this face: {}",
                issue.hint().to_lowercase()
            ),
        )
        .with_details(serde_json::json!({
            "issues": [issue.code()],
            "hint": issue.hint(),
            "face_side": self.face_side.round(),
            "min_face_side": vision::MIN_LIVENESS_FACE_SIDE,
        })))
    }
}

/// A flow's face settings as `vision::decision` reads them.
pub fn targets(l: &access_types::LoginSettings) -> vision::decision::FaceTargets {
    vision::decision::FaceTargets {
        target_fmr: l.target_fmr,
        target_fpir: l.target_fpir,
        fnir_ceiling: l.fnir_ceiling,
        threshold_override: l.match_min_score,
    }
}

pub trait FaceEngine: Send + Sync {
    /// Analyse an encoded image. `enrol`: refuse several faces (never store the wrong person);
    /// otherwise the largest face is used (the person in front of the kiosk).
    fn analyze(&self, image: Vec<u8>, enrol: bool) -> BoxFut<'_, Result<FaceAnalysis, ApiError>>;
    /// The embedding space of `FaceAnalysis::embedding`: only templates of this model match.
    fn model_id(&self) -> &str;
    /// Whether the engine can take work (models load in the background).
    fn readiness(&self) -> Readiness;
    /// Blocks until nothing is loading any more, at most `timeout`; `true` when settled. The
    /// server calls it before exiting (see `vision::VisionWorker::wait_settled`).
    fn wait_settled(&self, _timeout: std::time::Duration) -> bool {
        true
    }
}

#[derive(Clone)]
pub struct FaceService {
    engine: Option<Arc<dyn FaceEngine>>,
}

impl FaceService {
    pub fn disabled() -> Self {
        Self { engine: None }
    }

    pub fn new(engine: Arc<dyn FaceEngine>) -> Self {
        Self {
            engine: Some(engine),
        }
    }

    /// `disabled`, `loading`, `ready` or `unavailable` (the health check's `vision`).
    pub fn status(&self) -> &'static str {
        match &self.engine {
            None => "disabled",
            Some(e) => e.readiness().as_str(),
        }
    }

    /// Blocks until no model is loading any more, at most `timeout`; `true` when settled.
    pub fn wait_settled(&self, timeout: std::time::Duration) -> bool {
        self.engine.as_ref().is_none_or(|e| e.wait_settled(timeout))
    }

    /// The engine, unless it is off or failed to load (requests made while it loads wait).
    pub fn engine(&self) -> Result<&Arc<dyn FaceEngine>, ApiError> {
        match &self.engine {
            Some(e) if !matches!(e.readiness(), Readiness::Unavailable { .. }) => Ok(e),
            _ => Err(ApiError::new(
                ErrorCode::VisionUnavailable,
                "face recognition is not available on this server",
            )),
        }
    }
}
