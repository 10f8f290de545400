//! The face pipeline on its own thread, the one way multi-threaded programs (the kiosk, the
//! server) use it. ORT sessions take `&mut self`, so exactly one thread owns the
//! [`FacePipeline`] and callers send it closures through a channel.
//!
//! The queue is a `crossbeam_channel` (std's receiver cannot be shared by a pool's threads):
//! pipeline threads are plain threads and need no async runtime. Answers come back on a std channel for [`VisionWorker::run_blocking`] (camera
//! threads), and on a `tokio::sync::oneshot` for the async [`VisionWorker::run`] (feature
//! `async`): awaiting a std channel would block an executor thread, and polling one through
//! `spawn_blocking` would hold a blocking thread per waiting request. tokio's `sync` module is
//! executor-agnostic and small, and both callers already run on tokio.
//!
//! Loading takes seconds, so [`VisionWorker::spawn`] returns at once and loads on the thread;
//! [`VisionWorker::readiness`] says `loading`, `ready` or `unavailable` (a server's health
//! check), and jobs sent meanwhile wait for the load. [`VisionWorker::load`] waits instead.
//! A panic inside one job is that job's error ([`WorkerError::Panicked`]); the thread goes on.
//!
//! A pool ([`VisionWorker::spawn_pool`], the server) is several such threads taking jobs from
//! one channel, each loading and owning its own pipeline (its own ORT sessions, so its own
//! copy of the models in memory): a job goes to whichever thread is free. It is ready once one
//! thread is, and unavailable only when every thread failed to load. The kiosk runs one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use crossbeam_channel as channel;

use crate::embed::EMBEDDER_MODEL_ID;
use crate::error::{Result, VisionError};
use crate::pipeline::{FacePipeline, PipelineConfig};

type Job = Box<dyn FnOnce(&mut FacePipeline) + Send>;
type Loader = Box<dyn FnOnce() -> Result<FacePipeline> + Send>;

/// Whether the pipeline can take work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Loading the models; jobs wait.
    Loading,
    Ready,
    /// Loading failed (`code` is the `VisionError` code, e.g. `MODEL_MISSING`); jobs fail.
    Unavailable {
        code: &'static str,
        reason: String,
    },
}

impl Readiness {
    /// `loading`, `ready` or `unavailable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Ready => "ready",
            Self::Unavailable { .. } => "unavailable",
        }
    }
}

/// Why a job got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    #[error("the face pipeline could not be loaded ({code}): {reason}")]
    Unavailable { code: &'static str, reason: String },
    #[error("the face pipeline thread has stopped")]
    Stopped,
    #[error("the face pipeline panicked on this input")]
    Panicked,
}

impl WorkerError {
    /// Stable code; callers may map these to their own (the kiosk's `ENGINE_STOPPED`, the
    /// server's `VISION_UNAVAILABLE`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "ENGINE_UNAVAILABLE",
            Self::Stopped => "ENGINE_STOPPED",
            Self::Panicked => "ENGINE_PANICKED",
        }
    }
}

struct Shared {
    readiness: Mutex<Readiness>,
    changed: Condvar,
    /// Threads whose load has not failed yet; the last to fail makes the pool unavailable.
    alive: Mutex<usize>,
    /// Threads still loading, and the signal of each load's end: a process must not exit
    /// while ORT is building a session on another thread (it reports its own teardown as a
    /// failed initialisation).
    loading: Mutex<usize>,
    settled: Condvar,
}

impl Shared {
    /// One thread's load has ended, however it ended.
    fn loaded(&self) {
        let mut n = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.settled.notify_all();
    }

    fn set(&self, r: Readiness) {
        *self.readiness.lock().unwrap_or_else(|e| e.into_inner()) = r;
        self.changed.notify_all();
    }

    /// The first thread ready makes the pool ready.
    fn ready(&self) {
        let mut r = self.readiness.lock().unwrap_or_else(|e| e.into_inner());
        if *r == Readiness::Loading {
            *r = Readiness::Ready;
            self.changed.notify_all();
        }
    }

    /// One thread could not load; the pool is unavailable once none is left.
    fn failed(&self, code: &'static str, reason: String) {
        let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        *alive = alive.saturating_sub(1);
        if *alive == 0 {
            self.set(Readiness::Unavailable { code, reason });
        }
    }
}

/// A handle to the pipeline thread; clones share it. The thread ends when the last handle
/// is dropped.
#[derive(Clone)]
pub struct VisionWorker {
    tx: channel::Sender<Job>,
    shared: Arc<Shared>,
    model_id: &'static str,
    threads: usize,
}

/// One pipeline thread: load, then take jobs until every handle is dropped.
fn run_thread(model_id: &'static str, load: Loader, sh: &Shared, rx: &channel::Receiver<Job>) {
    let loaded = catch_unwind(AssertUnwindSafe(load)).unwrap_or_else(|_| {
        Err(VisionError::Inference {
            model: "pipeline",
            reason: "loading panicked".into(),
        })
    });
    sh.loaded();
    let mut pipeline = match loaded {
        Ok(p) if p.embedder_model_id() == model_id => p,
        Ok(p) => {
            let reason = format!(
                "the pipeline embeds with {}, not {model_id}",
                p.embedder_model_id()
            );
            return sh.failed("MODEL_MISMATCH", reason);
        }
        Err(e) => return sh.failed(e.code(), e.to_string()),
    };
    sh.ready();
    while let Ok(job) = rx.recv() {
        job(&mut pipeline);
    }
}

impl VisionWorker {
    /// Starts the thread and loads the real models on it; returns at once ([`Readiness::Loading`]).
    pub fn spawn(config: PipelineConfig) -> Self {
        Self::spawn_with(EMBEDDER_MODEL_ID, move || FacePipeline::load(&config))
    }

    /// Loads the real models, then starts the thread: fails as loading fails.
    pub fn load(config: PipelineConfig) -> Result<Self> {
        Ok(Self::start(FacePipeline::load(&config)?))
    }

    /// Starts the thread with a pipeline already loaded.
    pub fn start(pipeline: FacePipeline) -> Self {
        let model_id = pipeline.embedder_model_id();
        Self::spawn_with(model_id, move || Ok(pipeline))
    }

    /// Starts the thread and builds the pipeline on it with `load` (another model, a test
    /// double). `model_id` is the embedder the pipeline will have; a pipeline with another
    /// embedder is refused (`unavailable`), so [`VisionWorker::model_id`] is always true.
    pub fn spawn_with<L>(model_id: &'static str, load: L) -> Self
    where
        L: FnOnce() -> Result<FacePipeline> + Send + 'static,
    {
        Self::spawn_threads(model_id, vec![Box::new(load)])
    }

    /// Starts `threads` pipeline threads (at least one), each building its own pipeline with
    /// `load` and taking jobs from one queue, so jobs run on as many cores. Memory grows with
    /// each thread by one pipeline (its models and ORT sessions).
    pub fn spawn_pool<L>(model_id: &'static str, threads: usize, load: L) -> Self
    where
        L: Fn() -> Result<FacePipeline> + Send + Sync + 'static,
    {
        let load = Arc::new(load);
        let loaders = (0..threads.max(1))
            .map(|_| {
                let load = load.clone();
                Box::new(move || load()) as Loader
            })
            .collect();
        Self::spawn_threads(model_id, loaders)
    }

    /// How many pipeline threads serve this worker's queue.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn spawn_threads(model_id: &'static str, loaders: Vec<Loader>) -> Self {
        let (tx, rx) = channel::unbounded::<Job>();
        let threads = loaders.len();
        let shared = Arc::new(Shared {
            readiness: Mutex::new(Readiness::Loading),
            changed: Condvar::new(),
            alive: Mutex::new(threads),
            loading: Mutex::new(threads),
            settled: Condvar::new(),
        });
        for (i, load) in loaders.into_iter().enumerate() {
            let (sh, rx) = (shared.clone(), rx.clone());
            let name = if threads == 1 {
                "vision".to_string()
            } else {
                format!("vision-{i}")
            };
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || run_thread(model_id, load, &sh, &rx));
            if let Err(e) = spawned {
                shared.loaded();
                shared.failed(
                    "ENGINE_STOPPED",
                    format!("cannot start the vision thread: {e}"),
                );
            }
        }
        // Only the threads hold the receiver: when every one has ended (all loads failed),
        // sending fails and each waiting job is answered `Unavailable`.
        drop(rx);
        Self {
            tx,
            shared,
            model_id,
            threads,
        }
    }

    /// The embedder's model id: templates made with another model must not be compared with
    /// this worker's embeddings.
    pub fn model_id(&self) -> &'static str {
        self.model_id
    }

    pub fn readiness(&self) -> Readiness {
        self.shared
            .readiness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Blocks until loading has finished (ready or unavailable).
    pub fn wait_loaded(&self) -> Readiness {
        let mut r = self
            .shared
            .readiness
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while *r == Readiness::Loading {
            r = self
                .shared
                .changed
                .wait(r)
                .unwrap_or_else(|e| e.into_inner());
        }
        r.clone()
    }

    /// Blocks until no thread of this worker is loading any more, or `timeout` has passed;
    /// `true` when none is. A process calls it before exiting: models load in the background
    /// and ORT must not be torn down while another thread builds a session.
    pub fn wait_settled(&self, timeout: std::time::Duration) -> bool {
        let n = self
            .shared
            .loading
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (n, _) = self
            .shared
            .settled
            .wait_timeout_while(n, timeout, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *n == 0
    }

    /// Runs `f` on the vision thread, blocking this (non-async) thread until it answers.
    pub fn run_blocking<R, F>(&self, f: F) -> Result<R, WorkerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut FacePipeline) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().unwrap_or_else(|_| Err(self.gone()))
    }

    /// Runs `f` on the vision thread and waits for its answer.
    #[cfg(feature = "async")]
    pub async fn run<R, F>(&self, f: F) -> Result<R, WorkerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut FacePipeline) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// Queues `f`; `reply` gets its result, or `Panicked`. A job dropped unanswered (the
    /// thread ended) drops `reply`, which the caller sees as a closed channel.
    fn submit<R, F, A>(&self, f: F, reply: A) -> Result<(), WorkerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut FacePipeline) -> R + Send + 'static,
        A: FnOnce(Result<R, WorkerError>) + Send + 'static,
    {
        self.tx
            .send(Box::new(move |p| {
                reply(catch_unwind(AssertUnwindSafe(|| f(p))).map_err(|_| WorkerError::Panicked))
            }))
            .map_err(|_| self.gone())
    }

    /// The error for a job the thread will never answer.
    fn gone(&self) -> WorkerError {
        match self.readiness() {
            Readiness::Unavailable { code, reason } => WorkerError::Unavailable { code, reason },
            _ => WorkerError::Stopped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::AlignedFace;
    use crate::detect::{Face, FaceDetector};
    use crate::embed::{Embedding, FaceEmbedder};
    use crate::frame::Frame;
    use crate::liveness::LivenessModel;
    use crate::quality::QualityConfig;

    struct NoFaces;
    impl FaceDetector for NoFaces {
        fn detect(&mut self, _: &Frame) -> Result<Vec<Face>> {
            Ok(Vec::new())
        }
    }
    struct Embedder(&'static str);
    impl FaceEmbedder for Embedder {
        fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Embedding>> {
            Ok(faces
                .iter()
                .map(|_| Embedding::from_raw(vec![1.0]))
                .collect())
        }
        fn model_id(&self) -> &'static str {
            self.0
        }
    }
    struct Live;
    impl LivenessModel for Live {
        fn score(&mut self, _: &Frame, _: &Face) -> Result<f32> {
            Ok(1.0)
        }
    }

    fn fake(model: &'static str) -> FacePipeline {
        FacePipeline::from_engines(
            Box::new(NoFaces),
            Box::new(Embedder(model)),
            Box::new(Live),
            QualityConfig::default(),
        )
    }

    #[test]
    fn jobs_wait_for_the_load_and_run_in_order() {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let w = VisionWorker::spawn_with("fake", move || {
            go_rx.recv().unwrap();
            Ok(fake("fake"))
        });
        assert_eq!(w.readiness(), Readiness::Loading);
        let w2 = w.clone();
        let early = std::thread::spawn(move || w2.run_blocking(|p| p.embedder_model_id()));
        go_tx.send(()).unwrap();
        assert_eq!(early.join().unwrap(), Ok("fake"));
        assert_eq!(w.wait_loaded(), Readiness::Ready);
        assert_eq!(w.readiness().as_str(), "ready");
        assert_eq!(w.model_id(), "fake");
    }

    #[test]
    fn a_panicking_job_fails_alone() {
        let w = VisionWorker::start(fake("fake"));
        let r: Result<(), _> = w.run_blocking(|_| panic!("bad input"));
        assert_eq!(r, Err(WorkerError::Panicked));
        assert_eq!(w.run_blocking(|_| 7), Ok(7));
    }

    #[test]
    fn a_failed_load_is_unavailable_with_its_code() {
        let w = VisionWorker::spawn_with("fake", || {
            Err(VisionError::ModelMissing {
                path: "nowhere.onnx".into(),
            })
        });
        let r = w.wait_loaded();
        assert_eq!(r.as_str(), "unavailable");
        assert!(matches!(
            r,
            Readiness::Unavailable {
                code: "MODEL_MISSING",
                ..
            }
        ));
        let err = w.run_blocking(|_| ()).unwrap_err();
        assert_eq!(err.code(), "ENGINE_UNAVAILABLE");
        // A pipeline with another embedder than promised is refused too.
        let w = VisionWorker::spawn_with("fake", || Ok(fake("other")));
        assert!(matches!(
            w.wait_loaded(),
            Readiness::Unavailable {
                code: "MODEL_MISMATCH",
                ..
            }
        ));
    }

    #[test]
    fn missing_models_fail_load_at_once() {
        let cfg = PipelineConfig {
            models_dir: Some("/nonexistent/models".into()),
            ..Default::default()
        };
        assert!(VisionWorker::load(cfg.clone()).is_err());
        let w = VisionWorker::spawn(cfg);
        assert_eq!(w.wait_loaded().as_str(), "unavailable");
    }

    #[test]
    fn a_pool_runs_jobs_on_several_threads_at_once() {
        let w = VisionWorker::spawn_pool("fake", 2, || Ok(fake("fake")));
        assert_eq!((w.wait_loaded(), w.threads()), (Readiness::Ready, 2));
        // Two jobs that each wait for the other can only finish on two threads.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let jobs: Vec<_> = (0..2)
            .map(|_| {
                let (w, b) = (w.clone(), barrier.clone());
                std::thread::spawn(move || {
                    w.run_blocking(move |_| {
                        b.wait();
                        std::thread::current().name().map(str::to_string)
                    })
                })
            })
            .collect();
        let mut names: Vec<_> = jobs
            .into_iter()
            .map(|j| j.join().unwrap().unwrap().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["vision-0", "vision-1"]);
    }

    #[test]
    fn a_pool_is_unavailable_only_when_every_thread_failed() {
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = VisionWorker::spawn_pool("fake", 2, move || {
            // The first load fails, the second succeeds.
            if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err(VisionError::ModelMissing {
                    path: "nowhere.onnx".into(),
                })
            } else {
                Ok(fake("fake"))
            }
        });
        assert_eq!(w.wait_loaded(), Readiness::Ready);
        assert_eq!(w.run_blocking(|_| 7), Ok(7));
        let w = VisionWorker::spawn_pool("fake", 2, || Ok(fake("other")));
        assert!(matches!(
            w.wait_loaded(),
            Readiness::Unavailable {
                code: "MODEL_MISMATCH",
                ..
            }
        ));
        assert_eq!(
            w.run_blocking(|_| ()).unwrap_err().code(),
            "ENGINE_UNAVAILABLE"
        );
    }

    #[test]
    fn a_pool_is_ready_with_one_thread_and_settled_only_when_every_load_has_ended() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let n = std::sync::atomic::AtomicUsize::new(0);
        let w = VisionWorker::spawn_pool("fake", 2, move || {
            // The second load waits until the test lets it go.
            if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                let _ = gate.lock().unwrap().recv();
            }
            Ok(fake("fake"))
        });
        assert_eq!(w.wait_loaded(), Readiness::Ready);
        assert!(!w.wait_settled(std::time::Duration::from_millis(20)));
        release.send(()).unwrap();
        assert!(w.wait_settled(std::time::Duration::from_secs(10)));
    }

    #[cfg(feature = "async")]
    #[test]
    fn run_answers_asynchronously() {
        let w = VisionWorker::start(fake("fake"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(w.run(|p| p.embedder_model_id().len()));
        assert_eq!(got, Ok(4));
        let panicked: Result<(), _> = rt.block_on(w.run(|_| panic!("bad input")));
        assert_eq!(panicked, Err(WorkerError::Panicked));
    }
}
