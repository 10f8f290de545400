//! The headless `kiosk` binary: evaluation of the face pipeline on labelled data and benchmarks.
//! Later issues add sign-in, enrolment and sync subcommands.

mod bench;
mod eval;
mod stats;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kiosk", version, about = "Access Kiosk, headless")]
struct Cli {
    #[command(flatten)]
    vision: VisionArgs,
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
    pub fn pipeline(&self) -> anyhow::Result<vision::FacePipeline> {
        let mut cfg = vision::PipelineConfig {
            models_dir: self.models_dir.clone(),
            ort_library: self.ort_library.clone(),
            intra_threads: self.threads,
            ..Default::default()
        };
        cfg.detector.max_side = self.detector_side;
        Ok(vision::FacePipeline::load(&cfg)?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Measure accuracy on labelled data.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Per-stage latency of the face pipeline and of 1:N matching.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(cmd) => eval::run(cmd, &cli.vision),
        Command::Bench(args) => bench::run(args, &cli.vision),
    };
    if let Err(err) = result {
        // Library errors carry a stable code; show it so scripts and people can act on it.
        match err.downcast_ref::<vision::VisionError>() {
            Some(v) => eprintln!("error [{}]: {v}", v.code()),
            None => eprintln!("error: {err:#}"),
        }
        std::process::exit(1);
    }
}
