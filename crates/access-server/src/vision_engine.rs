//! The `vision` pipeline on its own thread. `FacePipeline` methods take `&mut self` (ORT
//! sessions), so exactly one thread owns it and requests reach it through a bounded channel.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use access_types::ErrorCode;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use vision::{DecodeLimits, FacePipeline, MultiFace, PipelineConfig, VisionError};

use crate::config::VisionConfig;
use crate::delivery::BoxFut;
use crate::error::ApiError;
use crate::face::{
    FaceAnalysis, FaceEngine, FaceService, STATUS_LOADING, STATUS_READY, STATUS_UNAVAILABLE,
};

struct Job {
    image: Vec<u8>,
    policy: MultiFace,
    reply: oneshot::Sender<Result<FaceAnalysis, ApiError>>,
}

pub struct VisionEngine {
    tx: mpsc::Sender<Job>,
}

/// Map a pipeline error to the API: input problems are the caller's (4xx), the rest is ours.
pub fn map_error(e: &VisionError) -> ApiError {
    let code = match e {
        VisionError::ImageEmpty => ErrorCode::ImageEmpty,
        VisionError::ImageCorrupt(_) | VisionError::FrameSize { .. } => ErrorCode::ImageCorrupt,
        VisionError::ImageUnsupported => ErrorCode::ImageUnsupported,
        VisionError::ImageTooLarge { .. } => ErrorCode::ImageTooLarge,
        VisionError::NoFace => ErrorCode::NoFace,
        VisionError::MultipleFaces { .. } => ErrorCode::MultipleFaces,
        _ => {
            tracing::error!(error = %e, "face pipeline failure");
            return ApiError::new(
                ErrorCode::VisionUnavailable,
                "face analysis failed on the server",
            );
        }
    };
    let mut err = ApiError::new(code, e.to_string());
    if let VisionError::MultipleFaces { count } = e {
        err = err.with_details(json!({ "faces": count }));
    }
    err
}

fn run_job(
    p: &mut FacePipeline,
    limits: &DecodeLimits,
    job: &Job,
) -> Result<FaceAnalysis, ApiError> {
    let frame = vision::decode_image(&job.image, limits).map_err(|e| map_error(&e))?;
    let a = p.analyze(&frame, job.policy).map_err(|e| map_error(&e))?;
    Ok(FaceAnalysis {
        embedding: a.embedding.as_slice().to_vec(),
        liveness: a.liveness,
        face_score: a.face.score,
        quality_passed: a.quality.passed,
        issues: a
            .quality
            .issues
            .iter()
            .map(|i| i.code().to_string())
            .collect(),
    })
}

/// Start the vision thread; models load in the background (health says `loading`).
pub fn spawn(cfg: &VisionConfig) -> FaceService {
    let status = Arc::new(AtomicU8::new(STATUS_LOADING));
    let (tx, mut rx) = mpsc::channel::<Job>(32);
    let pc = PipelineConfig {
        models_dir: cfg.models_dir.clone(),
        ort_library: cfg.ort_library.clone(),
        intra_threads: cfg.intra_threads.max(1),
        ..Default::default()
    };
    let st = status.clone();
    let spawned = std::thread::Builder::new()
        .name("vision".into())
        .spawn(move || {
            let mut pipeline = match FacePipeline::load(&pc) {
                Ok(p) => {
                    st.store(STATUS_READY, Ordering::SeqCst);
                    tracing::info!(model = vision::EMBEDDER_MODEL_ID, "face pipeline ready");
                    Some(p)
                }
                Err(e) => {
                    st.store(STATUS_UNAVAILABLE, Ordering::SeqCst);
                    tracing::error!(error = %e, "face pipeline unavailable");
                    None
                }
            };
            let limits = DecodeLimits::default();
            while let Some(job) = rx.blocking_recv() {
                let result = match pipeline.as_mut() {
                    None => Err(ApiError::new(
                        ErrorCode::VisionUnavailable,
                        "face models are not loaded",
                    )),
                    // A panic in one image must not take face login down for everyone.
                    Some(p) => {
                        std::panic::catch_unwind(AssertUnwindSafe(|| run_job(p, &limits, &job)))
                            .unwrap_or_else(|_| {
                                tracing::error!("face pipeline panicked on an image");
                                Err(ApiError::new(
                                    ErrorCode::ImageCorrupt,
                                    "the image could not be analysed",
                                ))
                            })
                    }
                };
                let _ = job.reply.send(result);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the vision thread");
        status.store(STATUS_UNAVAILABLE, Ordering::SeqCst);
    }
    FaceService::new(Arc::new(VisionEngine { tx }), status)
}

impl FaceEngine for VisionEngine {
    fn analyze(&self, image: Vec<u8>, enrol: bool) -> BoxFut<'_, Result<FaceAnalysis, ApiError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            let policy = if enrol {
                MultiFace::Refuse
            } else {
                MultiFace::Largest
            };
            let unavailable =
                || ApiError::new(ErrorCode::VisionUnavailable, "face analysis is not running");
            self.tx
                .send(Job {
                    image,
                    policy,
                    reply,
                })
                .await
                .map_err(|_| unavailable())?;
            rx.await.map_err(|_| unavailable())?
        })
    }

    fn model_id(&self) -> &str {
        vision::EMBEDDER_MODEL_ID
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flow_defaults_follow_the_models() {
        let d = access_types::LoginSettings::default();
        assert_eq!(d.match_min_score, vision::DEFAULT_MATCH_THRESHOLD);
        assert_eq!(d.liveness_min_score, vision::DEFAULT_LIVENESS_THRESHOLD);
    }
}
