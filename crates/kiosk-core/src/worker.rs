//! The face pipeline on its own thread: ORT sessions have one owner, and callers (async
//! tasks, the UI) reach it through a channel instead of sharing it.

use std::sync::mpsc;

use tokio::sync::oneshot;
use vision::{FacePipeline, PipelineConfig};

use crate::error::{KioskError, Result};

type Job = Box<dyn FnOnce(&mut FacePipeline) + Send>;

#[derive(Clone)]
pub struct VisionWorker {
    tx: mpsc::Sender<Job>,
    model_id: &'static str,
}

impl VisionWorker {
    /// Loads the models on a new thread; fails as loading fails.
    pub fn spawn(cfg: PipelineConfig) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("vision".into())
            .spawn(move || match FacePipeline::load(&cfg) {
                Ok(mut p) => {
                    let _ = ready_tx.send(Ok(p.embedder_model_id()));
                    while let Ok(job) = rx.recv() {
                        job(&mut p);
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|_| KioskError::EngineStopped)?;
        let model_id = ready_rx.recv().map_err(|_| KioskError::EngineStopped)??;
        Ok(Self { tx, model_id })
    }

    pub fn model_id(&self) -> &'static str {
        self.model_id
    }

    /// Runs `f` on the vision thread, blocking this (non-async) thread until it answers.
    pub fn run_blocking<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut FacePipeline) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Box::new(move |p| {
                let _ = tx.send(f(p));
            }))
            .map_err(|_| KioskError::EngineStopped)?;
        rx.recv().map_err(|_| KioskError::EngineStopped)
    }

    /// Runs `f` on the vision thread and waits for its answer.
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut FacePipeline) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move |p| {
                let _ = tx.send(f(p));
            }))
            .map_err(|_| KioskError::EngineStopped)?;
        rx.await.map_err(|_| KioskError::EngineStopped)
    }
}
