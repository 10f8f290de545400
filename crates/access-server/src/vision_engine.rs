//! The `FaceEngine` the server runs: a `vision::VisionWorker` pool (`face_workers` pipeline
//! threads, one per core by default, each with its own ORT sessions; models loading in the
//! background), with the pipeline's errors mapped to the API's.

use access_types::ErrorCode;
use serde_json::json;
use tokio::sync::Semaphore;
use vision::{
    DecodeLimits, FacePipeline, MultiFace, PipelineConfig, Readiness, VisionError, VisionWorker,
    WorkerError,
};

use crate::config::VisionConfig;
use crate::delivery::BoxFut;
use crate::error::ApiError;
use crate::face::{FaceAnalysis, FaceEngine, FaceService};

/// Images waiting per vision thread at most; further requests wait their turn here.
const QUEUE_PER_THREAD: usize = 32;

pub struct VisionEngine {
    worker: VisionWorker,
    queue: Semaphore,
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

fn map_worker_error(e: &WorkerError) -> ApiError {
    match e {
        // A panic in one image must not take face login down for everyone: the worker goes on.
        WorkerError::Panicked => {
            tracing::error!("face pipeline panicked on an image");
            ApiError::new(ErrorCode::ImageCorrupt, "the image could not be analysed")
        }
        WorkerError::Unavailable { .. } => {
            ApiError::new(ErrorCode::VisionUnavailable, "face models are not loaded")
        }
        WorkerError::Stopped => {
            ApiError::new(ErrorCode::VisionUnavailable, "face analysis is not running")
        }
    }
}

fn analyze_image(
    p: &mut FacePipeline,
    image: &[u8],
    policy: MultiFace,
) -> Result<FaceAnalysis, VisionError> {
    let frame = vision::decode_image(image, &DecodeLimits::default())?;
    let a = p.analyze(&frame, policy)?;
    Ok(FaceAnalysis {
        embedding: a.embedding,
        liveness: a.liveness,
        face_score: a.face.score,
        quality_passed: a.quality.passed,
        issues: a
            .quality
            .issues
            .iter()
            .map(|i| i.code().to_string())
            .collect(),
        liveness_issue: a.quality.liveness_issue,
        face_side: a.quality.metrics.face_side,
    })
}

/// Start the vision threads; models load in the background (health says `loading` until the
/// first thread is ready).
pub fn spawn(cfg: &VisionConfig) -> FaceService {
    let pc = PipelineConfig {
        models_dir: cfg.models_dir.clone(),
        ort_library: cfg.ort_library.clone(),
        intra_threads: cfg.intra_threads.max(1),
        ..Default::default()
    };
    let threads = cfg.workers();
    tracing::info!(face_workers = threads, "starting the face pipelines");
    let worker = VisionWorker::spawn_pool(vision::EMBEDDER_MODEL_ID, threads, move || {
        let loaded = FacePipeline::load(&pc);
        match &loaded {
            Ok(_) => tracing::info!(model = vision::EMBEDDER_MODEL_ID, "face pipeline ready"),
            Err(e) => tracing::error!(error = %e, "face pipeline unavailable"),
        }
        loaded
    });
    service(worker)
}

/// Start the vision thread on a pipeline built elsewhere (other engines, or test doubles).
pub fn start(pipeline: FacePipeline) -> FaceService {
    service(VisionWorker::start(pipeline))
}

fn service(worker: VisionWorker) -> FaceService {
    let queue = Semaphore::new(QUEUE_PER_THREAD * worker.threads());
    FaceService::new(std::sync::Arc::new(VisionEngine { worker, queue }))
}

impl FaceEngine for VisionEngine {
    fn analyze(&self, image: Vec<u8>, enrol: bool) -> BoxFut<'_, Result<FaceAnalysis, ApiError>> {
        Box::pin(async move {
            let policy = if enrol {
                MultiFace::Refuse
            } else {
                MultiFace::Largest
            };
            let _turn = self.queue.acquire().await.map_err(|_| {
                ApiError::new(ErrorCode::VisionUnavailable, "face analysis is not running")
            })?;
            self.worker
                .run(move |p| analyze_image(p, &image, policy))
                .await
                .map_err(|e| map_worker_error(&e))?
                .map_err(|e| map_error(&e))
        })
    }

    fn model_id(&self) -> &str {
        self.worker.model_id()
    }

    fn readiness(&self) -> Readiness {
        self.worker.readiness()
    }

    fn wait_settled(&self, timeout: std::time::Duration) -> bool {
        self.worker.wait_settled(timeout)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flow_defaults_follow_the_models() {
        let d = access_types::LoginSettings::default();
        assert_eq!(d.match_min_score, None);
        let t = crate::face::targets(&d);
        assert_eq!(
            (t.target_fmr, t.target_fpir, t.fnir_ceiling),
            (
                vision::decision::DEFAULT_TARGET_FMR,
                vision::decision::DEFAULT_TARGET_FPIR,
                vision::decision::DEFAULT_FNIR_CEILING
            )
        );
        assert_eq!(d.liveness_min_score, vision::DEFAULT_LIVENESS_THRESHOLD);
    }
}
