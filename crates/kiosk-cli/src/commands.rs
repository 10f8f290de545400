//! The kiosk's own subcommands: sign-in, enrolment, codes, sync, status, users, admin.
//! Each builds the engine from the resolved configuration and makes one call into kiosk-core.

use cli_output::{errln, outln};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kiosk_core::config::Settings;
use kiosk_core::{AdminAuth, Decision, EnrolSource, Kiosk, OtpChannel};
use serde_json::json;

use crate::VisionArgs;
use crate::config::KioskArgs;
use crate::eval::load_frame;

#[derive(Subcommand)]
pub enum KioskCommand {
    /// Enrol a person from 3 to 5 trusted photo files (administrator PIN required; recorded as
    /// `source: file`, not asked for liveness).
    Enroll {
        /// The person's id in the project.
        #[arg(long)]
        user: String,
        /// Their display name.
        #[arg(long)]
        name: Option<String>,
        /// 3 to 5 photo files (JPEG or PNG) of the person's face.
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
    },
    /// Sign in by face: from photos (each one frame), or from a camera.
    SignIn(SignInArgs),
    /// One-time codes by email, SMS or WhatsApp.
    #[command(subcommand)]
    Otp(OtpCommand),
    /// Push queued events and enrolments, pull the templates.
    Sync {
        /// One round, then exit (default: keep syncing).
        #[arg(long)]
        once: bool,
        /// Seconds between rounds while online.
        #[arg(long, default_value_t = 10)]
        interval: u64,
    },
    /// Pair this kiosk with the Access API (--api-url) using a one-time code an administrator
    /// made (`access-server kiosks pair`): it registers the kiosk's device key, and from then
    /// on the kiosk gets its own short-lived tokens. No token is ever copied onto a kiosk.
    Pair {
        /// The one-time code (`ABCD-EFGH-JKMN`), valid 10 minutes.
        #[arg(long)]
        code: String,
    },
    /// Connectivity, queue and cache.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Face visible to decision, over photos (each shown as a still burst), and the process's
    /// memory: the kiosk's end-to-end benchmark, offline or against the configured API.
    BenchSignIn {
        /// Folder of photos (searched recursively).
        #[arg(long)]
        images: PathBuf,
        /// Frames per decision.
        #[arg(long, default_value_t = 3)]
        frames: usize,
        /// Passes over the photos.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The people enrolled on this kiosk.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The administrator PIN and the audit log.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Args)]
pub struct SignInArgs {
    /// Photos to decide on (each counts as one camera frame).
    #[arg(long, num_args = 1.., conflicts_with = "camera")]
    face: Vec<PathBuf>,
    /// A frame source: `v4l:0`, `v4l:/dev/video0@640x480:30`, `replay:DIR@15`.
    #[arg(long)]
    camera: Option<String>,
    /// Frames to take from the camera.
    #[arg(long, default_value_t = 5)]
    frames: usize,
    /// 1:1 against this user; without it, 1:N over everyone enrolled.
    #[arg(long)]
    user: Option<String>,
}

#[derive(Subcommand)]
pub enum OtpCommand {
    /// Send a code; prints the validation (its id is needed to verify).
    Send {
        /// email, sms or whatsapp.
        #[arg(long)]
        channel: OtpChannel,
        /// Email address or E.164 phone number.
        #[arg(long)]
        to: String,
    },
    /// Check a code the person received; prints the validation.
    Verify {
        /// email, sms or whatsapp.
        #[arg(long)]
        channel: OtpChannel,
        /// The email address or E.164 phone number the code was sent to.
        #[arg(long)]
        to: String,
        /// The code (six digits).
        #[arg(long)]
        code: String,
        /// The validation `otp send` printed (`val_…`).
        #[arg(long)]
        validation_id: String,
    },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List the people enrolled here (JSON).
    List,
    /// Delete a person and their templates from this kiosk (administrator PIN required).
    Delete {
        /// The person's id.
        user: String,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Set the administrator PIN (6 to 12 digits); the current one (KIOSK_ADMIN_PIN) is needed
    /// to change it. The new PIN comes from KIOSK_NEW_PIN, else the first line of standard input.
    SetPin {
        /// The new PIN. Prefer KIOSK_NEW_PIN or standard input: a flag is visible to every
        /// local user in `ps`.
        #[arg(long, env = "KIOSK_NEW_PIN", hide_env_values = true)]
        new_pin: Option<String>,
    },
    /// The audit log, newest first.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// Exit code for a sign-in that was not accepted (not an error: a decision).
pub const EXIT_NOT_ACCEPTED: i32 = 3;

/// The refusals of the command line itself, with their codes.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no kiosk database in {0}: check --data-dir or KIOSK_DATA_DIR (or pass --create to make a new kiosk there)"
    )]
    NoKiosk(String),
}

impl CliError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoKiosk(_) => "NO_KIOSK_DATA",
        }
    }
}

/// The kiosk on the configured data dir. `create`: it may be made there; otherwise a data
/// dir without a kiosk database is refused (a mistyped path would make a new kiosk).
fn open(cfg: &Settings, vision: &VisionArgs, create: bool) -> anyhow::Result<Kiosk> {
    if !create && !kiosk_core::store_path(&cfg.data_dir).exists() {
        return Err(CliError::NoKiosk(cfg.data_dir.display().to_string()).into());
    }
    let mut k = cfg.kiosk_config();
    k.vision = vision.pipeline_config();
    Ok(Kiosk::open(k)?)
}

/// [`open`], then pairs with the configured one-time code if this kiosk is not paired yet
/// (`KIOSK_PAIRING_CODE`): what the commands that talk to the API use. A server that cannot
/// be reached is the command's own business (it decides offline, or says so).
async fn open_online(cfg: &Settings, vision: &VisionArgs, create: bool) -> anyhow::Result<Kiosk> {
    let k = open(cfg, vision, create)?;
    match k.ensure_paired().await {
        Err(kiosk_core::KioskError::Api(e)) if e.is_unreachable() => {
            errln!("not paired yet: {e}");
        }
        other => other?,
    }
    Ok(k)
}

fn pin(cfg: &Settings) -> anyhow::Result<&str> {
    cfg.admin_pin
        .as_deref()
        .context("this needs the administrator PIN: --admin-pin or KIOSK_ADMIN_PIN")
}

fn print(v: &serde_json::Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs one kiosk subcommand; returns the process exit code.
pub fn run(cmd: KioskCommand, args: &KioskArgs, vision: &VisionArgs) -> anyhow::Result<i32> {
    let cfg = args.resolve()?;
    // A configured pairing code provisions a new kiosk: it may create one, as `pair` does.
    let may_create = args.create || cfg.pairing_code.is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            KioskCommand::Enroll { user, name, images } => {
                let k = open_online(&cfg, vision, may_create).await?;
                let frames = images
                    .iter()
                    .map(|p| load_frame(p))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let e = k
                    .enroll_from(
                        AdminAuth::Pin(pin(&cfg)?),
                        &user,
                        name.as_deref(),
                        frames,
                        EnrolSource::File,
                    )
                    .await?;
                print(&serde_json::to_value(e)?)?;
                Ok(0)
            }
            KioskCommand::SignIn(a) => {
                let k = open_online(&cfg, vision, may_create).await?;
                let frames = match (&a.camera, a.face.is_empty()) {
                    (Some(spec), _) => camera_frames(spec, a.frames)?,
                    (None, false) => a
                        .face
                        .iter()
                        .map(|p| load_frame(p))
                        .collect::<anyhow::Result<Vec<_>>>()?,
                    (None, true) => bail!("give --face IMAGE... or --camera SPEC"),
                };
                let out = k.sign_in_face(frames, a.user.as_deref()).await?;
                print(&serde_json::to_value(&out)?)?;
                Ok(if out.decision == Decision::Accepted {
                    0
                } else {
                    EXIT_NOT_ACCEPTED
                })
            }
            KioskCommand::Otp(OtpCommand::Send { channel, to }) => {
                let k = open_online(&cfg, vision, may_create).await?;
                print(&serde_json::to_value(k.otp_send(channel, &to).await?)?)?;
                Ok(0)
            }
            KioskCommand::Otp(OtpCommand::Verify {
                channel,
                to,
                code,
                validation_id,
            }) => {
                let k = open_online(&cfg, vision, may_create).await?;
                let v = k.otp_verify(channel, &to, &code, &validation_id).await?;
                print(&serde_json::to_value(v)?)?;
                Ok(0)
            }
            KioskCommand::Sync { once, interval } => {
                let k = Arc::new(open_online(&cfg, vision, may_create).await?);
                if once {
                    let r = k.sync_once().await?;
                    print(&serde_json::to_value(&r)?)?;
                    return Ok(if r.online { 0 } else { 1 });
                }
                let mut status = k.status();
                let _task = kiosk_core::spawn_sync_loop(k.clone(), Duration::from_secs(interval));
                loop {
                    errln!("{}", serde_json::to_string(&*status.borrow_and_update())?);
                    tokio::select! {
                        changed = status.changed() => if changed.is_err() { return Ok(0) },
                        _ = tokio::signal::ctrl_c() => return Ok(0),
                    }
                }
            }
            KioskCommand::Pair { code } => {
                let k = open(&cfg, vision, true)?;
                let Some(url) = cfg.api_url.as_deref() else {
                    bail!("pairing needs the API's address: --api-url or KIOSK_API_URL");
                };
                let paired = k.pair(url, &code).await?;
                print(&serde_json::to_value(paired)?)?;
                Ok(0)
            }
            KioskCommand::Status { json } => {
                let k = open_online(&cfg, vision, may_create).await?;
                let online = k.check_online().await;
                let s = k.status().borrow().clone();
                let v = json!({
                    "online": online,
                    "pending_events": s.pending_events,
                    "templates": s.templates,
                    "last_sync": s.last_sync,
                    "api_url": cfg.api_url,
                    "project": k.settings().project_id,
                    "kiosk_id": k.paired_kiosk_id(),
                    "data_dir": cfg.data_dir,
                    "revoked": s.revoked_at.is_some(),
                    "revoked_at": s.revoked_at,
                });
                if json {
                    print(&v)?;
                } else {
                    outln!("online          {online}");
                    outln!("pending events  {}", s.pending_events);
                    outln!("templates       {}", s.templates);
                    outln!(
                        "last sync       {}",
                        s.last_sync.as_deref().unwrap_or("never")
                    );
                    if let Some(at) = &s.revoked_at {
                        outln!("revoked         {at} (KIOSK_REVOKED: pair this kiosk again)");
                    }
                }
                Ok(0)
            }
            KioskCommand::BenchSignIn {
                images,
                frames,
                rounds,
                json,
            } => {
                let k = open(&cfg, vision, may_create)?;
                let report = bench_sign_in(&k, &images, frames, rounds).await?;
                if json {
                    print(&report)?;
                } else {
                    outln!("{}", serde_json::to_string_pretty(&report)?);
                }
                Ok(0)
            }
            KioskCommand::Users(UsersCommand::List) => {
                let k = open(&cfg, vision, may_create)?;
                print(&serde_json::to_value(k.users()?)?)?;
                Ok(0)
            }
            KioskCommand::Users(UsersCommand::Delete { user }) => {
                let k = open(&cfg, vision, may_create)?;
                let deleted = k.delete_user(AdminAuth::Pin(pin(&cfg)?), &user)?;
                print(&json!({"user_id": user, "deleted": deleted}))?;
                Ok(if deleted { 0 } else { 1 })
            }
            KioskCommand::Admin(AdminCommand::SetPin { new_pin }) => {
                let new_pin = match new_pin {
                    Some(p) => p,
                    None => {
                        let mut line = String::new();
                        std::io::stdin()
                            .read_line(&mut line)
                            .context("reading the new PIN from standard input")?;
                        line.trim().to_string()
                    }
                };
                let k = open(&cfg, vision, may_create)?;
                k.set_admin_pin(cfg.admin_pin.as_deref(), &new_pin)?;
                print(&json!({"admin_pin": "set"}))?;
                Ok(0)
            }
            KioskCommand::Admin(AdminCommand::Audit { limit }) => {
                let k = open(&cfg, vision, may_create)?;
                print(&serde_json::to_value(k.audit_log(limit)?)?)?;
                Ok(0)
            }
        }
    })
}

/// Takes `n` consecutive frames from a camera or replay source, on its capture thread.
fn camera_frames(spec: &str, n: usize) -> anyhow::Result<Vec<vision::Frame>> {
    let source = camera::open_str(spec)?;
    let capture = camera::spawn_capture(source, camera::CaptureOptions::default())?;
    (0..n.max(1))
        .map(|_| Ok(capture.recv_timeout(Duration::from_secs(5))?.frame))
        .collect()
}

/// Resident and peak memory of this process, from /proc (kB).
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn bench_sign_in(
    k: &Kiosk,
    dir: &std::path::Path,
    frames: usize,
    rounds: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut files = Vec::new();
    crate::bench::collect_images(dir, &mut files)?;
    let photos = files
        .iter()
        .map(|p| load_frame(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (rss_start, _) = memory_kb();
    let mut ms = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..rounds {
        for photo in &photos {
            let burst = vec![photo.clone(); frames.max(1)];
            let t = std::time::Instant::now();
            let key = match k.sign_in_face(burst, None).await {
                Ok(out) => format!("{:?}/{:?}", out.decision, out.mode).to_lowercase(),
                Err(e) => e.code().to_string(),
            };
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            *outcomes.entry(key).or_default() += 1;
        }
    }
    let (rss_end, rss_peak) = memory_kb();
    Ok(json!({
        "photos": photos.len(),
        "decisions": ms.len(),
        "frames_per_decision": frames,
        "p50_ms": crate::stats::percentile(&ms, 0.5),
        "p95_ms": crate::stats::percentile(&ms, 0.95),
        "outcomes": outcomes,
        "rss_mb_start": rss_start / 1024,
        "rss_mb_end": rss_end / 1024,
        "rss_mb_peak": rss_peak / 1024,
    }))
}
