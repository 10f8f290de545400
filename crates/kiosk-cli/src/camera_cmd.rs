//! `kiosk camera list` and `kiosk camera test`: what an operator runs before going live.

use std::path::PathBuf;

use clap::Subcommand;

use crate::VisionArgs;
use cli_output::outln;

#[derive(Subcommand)]
pub enum CameraCommand {
    /// The cameras on this machine, with the formats, sizes and rates each offers.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Open a camera and report, per second: frames, face found, quality and liveness; then
    /// write a snapshot PNG of the best frame.
    Test {
        /// A frame source: `v4l:0`, `v4l:/dev/video2@640x400:30:grey`, `replay:DIR@15`
        /// (default: the configured camera, else `v4l:0`).
        #[arg(long, env = "KIOSK_CAMERA")]
        camera: Option<String>,
        /// How long to watch the camera (seconds).
        #[arg(long, default_value_t = 5)]
        seconds: u32,
        /// Where to write the snapshot.
        #[arg(long, default_value = "camera-test.png")]
        snapshot: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: CameraCommand, vision: &VisionArgs) -> anyhow::Result<()> {
    match cmd {
        CameraCommand::List { json } => {
            let devices = camera::list_devices()?;
            if json {
                let v: Vec<_> = devices
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "index": d.index,
                            "path": d.path,
                            "name": d.name,
                            "modes": d.modes.iter().map(|m| serde_json::json!({
                                "format": m.fourcc_str(),
                                "width": m.width,
                                "height": m.height,
                                "fps": m.fps,
                                "decodable": m.decodable().is_some(),
                            })).collect::<Vec<_>>(),
                            "error": d.error,
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            if devices.is_empty() {
                outln!("no cameras found (looked for /dev/video*)");
            }
            for d in &devices {
                outln!("{}  {}", d.path.display(), d.name);
                if let Some(e) = &d.error {
                    outln!("    cannot be asked: {e}");
                }
                for m in &d.modes {
                    let note = if m.decodable().is_some() {
                        ""
                    } else {
                        "  (not supported)"
                    };
                    outln!("    {m}{note}");
                }
            }
            Ok(())
        }
        CameraCommand::Test {
            camera,
            seconds,
            snapshot,
            json,
        } => {
            let spec = camera.unwrap_or_else(|| "v4l:0".into());
            let mut pipeline = vision.pipeline()?;
            let mut header = false;
            let report = kiosk_core::camera_check::check_camera(
                &spec,
                seconds,
                &mut pipeline,
                Some(&snapshot),
                |s| {
                    if !json {
                        if !header {
                            header = true;
                            outln!(
                                "second  frames  analysed  face  quality  passed  liveness  guidance"
                            );
                        }
                        let pct = |v: Option<f32>| {
                            v.map_or("-".to_string(), |v| format!("{:.0}%", v * 100.0))
                        };
                        outln!(
                            "{:>6}  {:>6}  {:>8}  {:>4}  {:>7}  {:>6}  {:>8}  {}",
                            s.second,
                            s.frames,
                            s.analysed,
                            s.with_face,
                            pct(s.quality),
                            s.quality_passed,
                            s.liveness.map_or("-".to_string(), |v| format!("{v:.2}")),
                            s.guidance.as_deref().unwrap_or("-"),
                        );
                    }
                },
            )?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!(
                    "{}: {} {}x{}, {:.1} fps delivered",
                    report.source,
                    report.input_format,
                    report.width,
                    report.height,
                    report.fps
                );
                if let Some(p) = &report.snapshot {
                    outln!("snapshot: {}", p.display());
                }
            }
            Ok(())
        }
    }
}
