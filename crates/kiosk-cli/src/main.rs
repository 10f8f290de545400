//! The headless `kiosk` binary: sign-in, enrolment, codes and sync without a window, plus
//! evaluation of the face pipeline on labelled data and benchmarks.

mod bench;
mod camera_cmd;
mod commands;
mod config;
mod eval;
mod report;
mod stats;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

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
#[command(next_help_heading = "Models (any command)")]
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
    /// The configuration: `config show` prints what is in force and where each value came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (section 1) into DIR.
    #[command(hide = true)]
    Man {
        /// The folder to write `kiosk*.1` into.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration for these flags and this environment: each key with
    /// its value and where it came from (default, config file, saved settings, environment
    /// variable, flag); secrets show only whether they are set.
    Show,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(cmd) => eval::run(cmd, &cli.vision).map(|()| 0),
        Command::Bench(args) => bench::run(args, &cli.vision).map(|()| 0),
        Command::Camera(cmd) => camera_cmd::run(cmd, &cli.vision).map(|()| 0),
        Command::Kiosk(cmd) => commands::run(cmd, &cli.kiosk, &cli.vision),
        Command::Config(ConfigCommand::Show) => cli.kiosk.show().map_err(Into::into).map(|text| {
            cli_output::outln!("{}", text.trim_end());
            0
        }),
        Command::Completions { shell } => {
            cli_output::print_completions(shell, Cli::command());
            Ok(0)
        }
        Command::Man { dir } => cli_output::write_man_pages(Cli::command(), &dir)
            .map_err(Into::into)
            .map(|pages| {
                for page in pages {
                    cli_output::outln!("{}", page.display());
                }
                0
            }),
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
                })
                .or_else(|| err.downcast_ref::<commands::CliError>().map(|e| e.code()));
            cli_output::print_error(code.unwrap_or("ERROR"), err.as_ref());
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_and_subcommand_says_what_it_does() {
        let missing =
            cli_output::undescribed_args(&<super::Cli as clap::CommandFactory>::command());
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
