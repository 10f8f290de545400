//! The headless `kiosk` binary: sign-in, enrolment, codes and sync without a window, plus
//! evaluation of the face pipeline on labelled data and benchmarks.

mod bench;
mod camera_cmd;
mod commands;
mod config;
mod eval;
mod report;
mod stats;

use cli_output::errln;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kiosk", version, about = "Access Kiosk, headless")]
struct Cli {
    #[command(flatten)]
    vision: VisionArgs,
    #[command(flatten)]
    kiosk: config::KioskArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the models and the runtime are, and how many threads inference uses.
#[derive(Args, Clone)]
pub struct VisionArgs {
    /// Folder with the model files (default: $MODELS_DIR, then the workspace's models/).
    #[arg(long, global = true, env = "MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// ONNX Runtime shared library (default: $ORT_DYLIB_PATH, then .local/onnxruntime/).
    #[arg(long, global = true, env = "ORT_DYLIB_PATH")]
    ort_library: Option<PathBuf>,
    /// Intra-op threads per model.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Long side the detector sees (640 for photos; 320 suits a kiosk camera's near faces).
    #[arg(long, global = true, default_value_t = 640)]
    detector_side: u32,
}

impl VisionArgs {
    pub fn pipeline_config(&self) -> vision::PipelineConfig {
        let mut cfg = vision::PipelineConfig {
            models_dir: self.models_dir.clone(),
            ort_library: self.ort_library.clone(),
            intra_threads: self.threads,
            ..Default::default()
        };
        cfg.detector.max_side = self.detector_side;
        cfg
    }

    pub fn pipeline(&self) -> anyhow::Result<vision::FacePipeline> {
        Ok(vision::FacePipeline::load(&self.pipeline_config())?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Measure accuracy on labelled data.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Per-stage latency of the face pipeline and of 1:N matching.
    Bench(bench::BenchArgs),
    /// List the cameras, or check one before going live.
    #[command(subcommand)]
    Camera(camera_cmd::CameraCommand),
    #[command(flatten)]
    Kiosk(commands::KioskCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(cmd) => eval::run(cmd, &cli.vision).map(|()| 0),
        Command::Bench(args) => bench::run(args, &cli.vision).map(|()| 0),
        Command::Camera(cmd) => camera_cmd::run(cmd, &cli.vision).map(|()| 0),
        Command::Kiosk(cmd) => commands::run(cmd, &cli.kiosk, &cli.vision),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            // Library errors carry a stable code; show it so scripts and people can act on it.
            let code = err
                .downcast_ref::<kiosk_core::KioskError>()
                .map(|e| e.code())
                .or_else(|| err.downcast_ref::<vision::VisionError>().map(|e| e.code()))
                .or_else(|| err.downcast_ref::<camera::CameraError>().map(|e| e.code()))
                .or_else(|| {
                    err.downcast_ref::<kiosk_core::config::ConfigError>()
                        .map(|e| e.code())
                });
            match code {
                Some(code) => errln!("error [{code}]: {err:#}"),
                None => errln!("error: {err:#}"),
            }
            std::process::exit(1);
        }
    }
}
