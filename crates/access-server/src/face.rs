//! Face analysis behind a small async interface, so handlers never touch the pipeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use access_types::ErrorCode;

use crate::delivery::BoxFut;
use crate::error::ApiError;

/// What the server needs from one image.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub embedding: Vec<f32>,
    /// Probability the face is real (0..1).
    pub liveness: f32,
    pub face_score: f32,
    pub quality_passed: bool,
    pub issues: Vec<String>,
}

pub trait FaceEngine: Send + Sync {
    /// Analyse an encoded image. `enrol`: refuse several faces (never store the wrong person);
    /// otherwise the largest face is used (the person in front of the kiosk).
    fn analyze(&self, image: Vec<u8>, enrol: bool) -> BoxFut<'_, Result<FaceAnalysis, ApiError>>;
    fn model_id(&self) -> &str;
}

pub const STATUS_DISABLED: u8 = 0;
pub const STATUS_LOADING: u8 = 1;
pub const STATUS_READY: u8 = 2;
pub const STATUS_UNAVAILABLE: u8 = 3;

#[derive(Clone)]
pub struct FaceService {
    engine: Option<Arc<dyn FaceEngine>>,
    status: Arc<AtomicU8>,
}

impl FaceService {
    pub fn disabled() -> Self {
        Self {
            engine: None,
            status: Arc::new(AtomicU8::new(STATUS_DISABLED)),
        }
    }

    pub fn new(engine: Arc<dyn FaceEngine>, status: Arc<AtomicU8>) -> Self {
        Self {
            engine: Some(engine),
            status,
        }
    }

    pub fn status(&self) -> &'static str {
        match self.status.load(Ordering::Relaxed) {
            STATUS_DISABLED => "disabled",
            STATUS_LOADING => "loading",
            STATUS_READY => "ready",
            _ => "unavailable",
        }
    }

    pub fn engine(&self) -> Result<&Arc<dyn FaceEngine>, ApiError> {
        match (&self.engine, self.status.load(Ordering::Relaxed)) {
            (Some(e), STATUS_READY | STATUS_LOADING) => Ok(e),
            _ => Err(ApiError::new(
                ErrorCode::VisionUnavailable,
                "face recognition is not available on this server",
            )),
        }
    }
}
