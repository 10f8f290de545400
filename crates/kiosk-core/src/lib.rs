//! The kiosk engine, without its window: face and code sign-in, administrator enrolment, the
//! local cache and the offline outbox, and the sync with the Access API. The Tauri app and the
//! headless `kiosk` binary both drive this crate; neither holds any logic of its own.

pub mod camera_check;
pub mod config_file;
pub mod draft;
mod error;
mod gallery;
pub mod live;
pub mod outbox;
pub mod session;
pub mod settings_file;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use access_client::{AccessClient, ClientError};
use access_types::{ErrorCode, LivenessCheckRequest, VerifyFaceRequest};
use base64::Engine as _;
use kiosk_store::{AuditEntry, Store, StoreKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Serialize;
use vision::{Frame, MultiFace, PipelineConfig, QualityIssue};

pub use draft::{CapturedSample, EnrolmentDraft};
pub use error::{KioskError, Result};
pub use gallery::Gallery;
use outbox::{FaceUpload, Queued, SignedEvent};
pub use session::{Admin, AdminSession};
pub use settings_file::SettingsFile;
pub use sync::{SyncReport, SyncStatus, spawn_sync_loop};
pub use vision::VisionWorker;

/// Everything the engine needs to know; the CLI and the app build it from file, env and flags.
#[derive(Debug, Clone)]
pub struct KioskConfig {
    pub data_dir: PathBuf,
    pub api_url: Option<String>,
    pub token: Option<String>,
    pub project_id: Option<String>,
    pub kiosk_id: String,
    pub match_threshold: f32,
    pub liveness_threshold: f32,
    /// Frames whose liveness is averaged before a decision.
    pub min_liveness_frames: usize,
    /// Failed face attempts before the lockout starts.
    pub lockout_after: u32,
    /// First lockout delay; doubles with each further failure (capped at an hour).
    pub lockout_base_s: i64,
    pub api_timeout: Duration,
    pub vision: PipelineConfig,
}

impl KioskConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_url: None,
            token: None,
            project_id: None,
            kiosk_id: "kiosk".into(),
            match_threshold: vision::DEFAULT_MATCH_THRESHOLD,
            liveness_threshold: vision::DEFAULT_LIVENESS_THRESHOLD,
            min_liveness_frames: 3,
            lockout_after: 5,
            lockout_base_s: 30,
            api_timeout: Duration::from_secs(10),
            vision: PipelineConfig::default(),
        }
    }

    fn lock_for(&self, failures: u32) -> i64 {
        if failures < self.lockout_after {
            return 0;
        }
        let extra = (failures - self.lockout_after).min(7);
        (self.lockout_base_s << extra).min(3600)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Online,
    Offline,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Online => "online",
            Mode::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accepted,
    Rejected,
    /// The frames were not good enough to decide; show the guidance and try again.
    Retry,
}

/// The answer to a face sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct FaceSignIn {
    pub decision: Decision,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub score: Option<f32>,
    pub liveness: Option<f32>,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Why it was rejected or must be retried: a quality hint code, `NO_MATCH`,
    /// `LIVENESS_FAILED`, `NOT_ENROLLED`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub guidance: Vec<QualityIssue>,
    pub frames: usize,
    /// Failed attempts so far, and whether the next failure locks.
    pub failures: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    pub user_id: String,
    pub samples: usize,
    pub template_ids: Vec<i64>,
    pub state: EnrolmentState,
}

/// Where a new enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentState {
    /// The API has it.
    Registered,
    /// Queued for the API: it waits for the network.
    Queued,
    /// No project is configured: this kiosk alone knows the person.
    Local,
}

/// Whether a frame would make a good enrolment sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleCheck {
    pub quality: f32,
    pub accepted: bool,
    pub guidance: Vec<String>,
}

/// How a one-time code travels: the API's own channel type.
pub use access_types::Channel as OtpChannel;

/// How an administrator proves who they are at the kiosk.
pub enum AdminAuth<'a> {
    Pin(&'a str),
}

/// Settings an administrator may change while the kiosk runs; they take effect at once.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LiveSettings {
    pub api_url: Option<String>,
    pub project_id: Option<String>,
    pub match_threshold: f32,
    pub liveness_threshold: f32,
}

impl LiveSettings {
    fn of(cfg: &KioskConfig) -> Self {
        Self {
            api_url: cfg.api_url.clone(),
            project_id: cfg.project_id.clone(),
            match_threshold: cfg.match_threshold,
            liveness_threshold: cfg.liveness_threshold,
        }
    }

    fn validate(&self) -> Result<()> {
        if let Some(u) = &self.api_url
            && !is_http_url(u)
        {
            return Err(KioskError::InvalidSettings(
                "the API URL must be an http:// or https:// address",
            ));
        }
        if self
            .project_id
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.len() > 128)
        {
            return Err(KioskError::InvalidSettings(
                "the project id must be 1 to 128 characters",
            ));
        }
        for t in [self.match_threshold, self.liveness_threshold] {
            if !(0.0..=1.0).contains(&t) {
                return Err(KioskError::InvalidSettings(
                    "thresholds are between 0 and 1",
                ));
            }
        }
        Ok(())
    }
}

/// `http://` or `https://` followed by a host.
fn is_http_url(u: &str) -> bool {
    let Some(rest) = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !host.contains(char::is_whitespace)
}

struct Live {
    settings: LiveSettings,
    client: Option<AccessClient>,
}

fn build_client(
    settings: &LiveSettings,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Option<AccessClient>> {
    Ok(match (&settings.api_url, token) {
        (Some(url), Some(token)) => Some(AccessClient::new(url, token, timeout)?),
        _ => None,
    })
}

pub const MIN_ENROL_SAMPLES: usize = 3;
pub const MAX_ENROL_SAMPLES: usize = 5;
const FACE_LOCK_SUBJECT: &str = "face";
const ADMIN_PIN_KEY: &str = "admin_pin_argon2";

pub struct Kiosk {
    cfg: KioskConfig,
    store: Mutex<Store>,
    gallery: RwLock<Gallery>,
    vision: VisionWorker,
    /// What an administrator may change while the kiosk runs, and the client built from it.
    live: RwLock<Live>,
    device_key: Ed25519KeyPair,
    status: tokio::sync::watch::Sender<SyncStatus>,
    /// One sync at a time, even when the loop and a command both ask.
    sync_lock: tokio::sync::Mutex<()>,
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Loads (or makes, 0600) the kiosk's Ed25519 key that signs offline events. Its mode is
/// checked at every load: a key others could have read is refused.
fn device_key(path: &Path) -> Result<Ed25519KeyPair> {
    let fail = |reason: String| KioskError::DeviceKey {
        path: path.display().to_string(),
        reason,
    };
    let pkcs8 = private_file::read_or_create(path, || {
        Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .unwrap_or_default()
    })
    .map_err(|e| fail(e.to_string()))?;
    Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| fail("not an Ed25519 PKCS#8 key".into()))
}

impl Kiosk {
    /// Opens the store (creating the data dir and keys on first run) and loads the models.
    pub fn open(cfg: KioskConfig) -> Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| KioskError::DeviceKey {
            path: cfg.data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let key = StoreKey::load_or_create(&cfg.data_dir.join("store.key"))?;
        let store = Store::open(&cfg.data_dir.join("kiosk.db"), &key)?;
        let device_key = device_key(&cfg.data_dir.join("device.key"))?;
        let vision = VisionWorker::load(cfg.vision.clone())?;
        let gallery = Gallery::rebuild(&store, vision.model_id())?;
        let settings = LiveSettings::of(&cfg);
        settings.validate()?;
        let client = build_client(&settings, cfg.token.as_deref(), cfg.api_timeout)?;
        let status = SyncStatus {
            online: false,
            pending_events: store.pending_count()?,
            templates: store.template_count()?,
            last_sync: store.setting(sync::LAST_SYNC_KEY)?,
            last_error: None,
        };
        Ok(Self {
            cfg,
            store: Mutex::new(store),
            gallery: RwLock::new(gallery),
            vision,
            live: RwLock::new(Live { settings, client }),
            device_key,
            status: tokio::sync::watch::channel(status).0,
            sync_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration the kiosk started with (see `settings` for what changed since).
    pub fn config(&self) -> &KioskConfig {
        &self.cfg
    }

    fn live(&self) -> std::sync::RwLockReadGuard<'_, Live> {
        self.live.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings in force now.
    pub fn settings(&self) -> LiveSettings {
        self.live().settings.clone()
    }

    /// Applies new settings at once: the next sign-in uses the new thresholds, the next API
    /// call the new address. A new project starts its template feed from the beginning.
    pub fn apply_settings(&self, new: LiveSettings) -> Result<()> {
        new.validate()?;
        let client = build_client(&new, self.cfg.token.as_deref(), self.cfg.api_timeout)?;
        let old = {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            let old = std::mem::replace(&mut live.settings, new.clone());
            live.client = client;
            old
        };
        if old.project_id != new.project_id {
            self.store().set_setting(sync::CURSOR_KEY, "0")?;
        }
        let mut e = self.entry("admin", "settings_changed", Mode::Offline);
        e.detail = Some(format!(
            "api_url={} project={} match={} liveness={}",
            new.api_url.as_deref().unwrap_or("-"),
            new.project_id.as_deref().unwrap_or("-"),
            new.match_threshold,
            new.liveness_threshold
        ));
        self.audit(e);
        Ok(())
    }

    /// Starts the live camera (`v4l:0`, `replay:DIR@15`, ...) on this kiosk's face engine.
    pub fn start_camera(&self, spec: &str) -> Result<live::LiveCamera> {
        live::LiveCamera::start(spec, self.vision.clone(), self.cfg.vision.quality)
    }

    /// Whether the configured API offers code sign-in at all (it may still be offline).
    pub fn codes_configured(&self) -> bool {
        self.online_parts().is_some()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere while holding the lock leaves SQLite consistent (transactions),
        // so the data is still good to use.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn refresh_gallery(&self) -> Result<()> {
        let g = Gallery::rebuild(&self.store(), self.vision.model_id())?;
        *self.gallery.write().unwrap_or_else(|e| e.into_inner()) = g;
        Ok(())
    }

    fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store().audit(&entry) {
            tracing::error!(code = e.code(), "audit write failed: {e}");
        }
    }

    fn entry(&self, method: &str, decision: &str, mode: Mode) -> AuditEntry {
        AuditEntry {
            at: kiosk_store::now_rfc3339(),
            actor: Some(self.cfg.kiosk_id.clone()),
            user_id: None,
            method: method.into(),
            decision: decision.into(),
            score: None,
            liveness: None,
            mode: mode.as_str().into(),
            detail: None,
        }
    }

    /// The client and project when an Access API is configured (cloned: settings may change
    /// while a call is in flight).
    fn online_parts(&self) -> Option<(AccessClient, String)> {
        let live = self.live();
        Some((live.client.clone()?, live.settings.project_id.clone()?))
    }

    /// Asks the API whether it is reachable (its public keys), without changing anything.
    pub async fn check_online(&self) -> bool {
        let client = self.live().client.clone();
        match client {
            Some(c) => c.jwks().await.is_ok(),
            None => false,
        }
    }

    /// Current sync state, as a stream the UI can watch.
    pub fn status(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    pub fn users(&self) -> Result<Vec<kiosk_store::UserSummary>> {
        Ok(self.store().users()?)
    }

    pub fn delete_user(&self, admin: AdminAuth<'_>, user_id: &str) -> Result<bool> {
        self.check_admin(admin)?;
        let deleted = self.store().delete_user(user_id)?;
        self.refresh_gallery()?;
        let mut e = self.entry(
            "admin",
            if deleted {
                "user_deleted"
            } else {
                "no_such_user"
            },
            Mode::Offline,
        );
        e.user_id = Some(user_id.into());
        self.audit(e);
        Ok(deleted)
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self.store().audit_log(limit)?)
    }

    // ---- administrators ----------------------------------------------------------------

    /// Sets the administrator PIN (stored as an Argon2id hash). When a PIN exists already, the
    /// current one is required.
    pub fn set_admin_pin(&self, current: Option<&str>, new_pin: &str) -> Result<()> {
        if !(4..=12).contains(&new_pin.len()) || !new_pin.chars().all(|c| c.is_ascii_digit()) {
            return Err(KioskError::AdminPinInvalid);
        }
        if self.store().setting(ADMIN_PIN_KEY)?.is_some() {
            self.check_admin(AdminAuth::Pin(current.unwrap_or("")))?;
        }
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(new_pin.as_bytes(), &salt)
            .map_err(|_| KioskError::AdminPinInvalid)?
            .to_string();
        self.store().set_setting(ADMIN_PIN_KEY, &hash)?;
        self.audit(self.entry("admin_pin", "changed", Mode::Offline));
        Ok(())
    }

    /// Checks an administrator; every refusal is audited.
    pub fn check_admin(&self, auth: AdminAuth<'_>) -> Result<()> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let AdminAuth::Pin(pin) = auth;
        let Some(stored) = self.store().setting(ADMIN_PIN_KEY)? else {
            return Err(KioskError::AdminPinNotSet);
        };
        let ok = PasswordHash::new(&stored)
            .map(|h| {
                argon2::Argon2::default()
                    .verify_password(pin.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            self.audit(self.entry("admin_pin", "refused", Mode::Offline));
            Err(KioskError::AdminRefused)
        }
    }

    // ---- face sign-in ------------------------------------------------------------------

    /// Decides on a burst of frames (a camera's, or still photos): best frame by quality,
    /// liveness averaged over the frames, match against the API when online, else against the
    /// local cache with a signed event queued for later.
    pub async fn sign_in_face(
        &self,
        frames: Vec<Frame>,
        user_id: Option<&str>,
    ) -> Result<FaceSignIn> {
        if frames.is_empty() {
            return Err(KioskError::NoFrames);
        }
        let failures = self.check_face_lock(user_id)?;
        let analysed = self
            .vision
            .run(move |p| {
                frames
                    .into_iter()
                    .map(|f| {
                        let a = p.analyze_frame(&f, MultiFace::Largest);
                        (f, a)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut frames = Vec::with_capacity(analysed.len());
        for (f, a) in analysed {
            match a {
                Ok(a) => frames.push((f, Some(a))),
                Err(vision::VisionError::NoFace) => frames.push((f, None)),
                Err(e) => return Err(e.into()),
            }
        }
        self.decide_face(frames, failures, user_id).await
    }

    /// Decides on the live camera's latest frames, which its vision thread has already
    /// analysed: only the best one is embedded here.
    pub async fn sign_in_live(
        &self,
        camera: &live::LiveCamera,
        user_id: Option<&str>,
    ) -> Result<FaceSignIn> {
        let failures = self.check_face_lock(user_id)?;
        let frames = camera
            .wait_for_analysed(self.cfg.min_liveness_frames.max(1), Duration::from_secs(3))
            .await;
        if frames.is_empty() {
            return Err(KioskError::NoFrames);
        }
        self.decide_face(frames, failures, user_id).await
    }

    /// Refuses while face sign-in is locked out; else the failures counted so far.
    fn check_face_lock(&self, user_id: Option<&str>) -> Result<u32> {
        let lock = self.store().lockout(FACE_LOCK_SUBJECT)?;
        let now = now_unix();
        if lock.locked_until > now {
            let mut e = self.entry("face", "locked_out", Mode::Offline);
            e.user_id = user_id.map(str::to_string);
            self.audit(e);
            return Err(KioskError::LockedOut {
                retry_after_s: (lock.locked_until - now) as u64,
            });
        }
        Ok(lock.failures)
    }

    async fn decide_face(
        &self,
        analysed: Vec<live::AnalysedFrame>,
        failures: u32,
        user_id: Option<&str>,
    ) -> Result<FaceSignIn> {
        let n = analysed.len();
        let qcfg = self.cfg.vision.quality;
        let mut with_face = Vec::new();
        let mut issues: Vec<QualityIssue> = Vec::new();
        for (frame, a) in analysed {
            if let Some(a) = a {
                issues.extend(a.quality.issues.iter().copied());
                with_face.push((frame, a));
            }
        }
        let retry = |reason: &str, guidance: Vec<QualityIssue>| FaceSignIn {
            decision: Decision::Retry,
            user_id: None,
            name: None,
            score: None,
            liveness: None,
            mode: Mode::Offline,
            access_token: None,
            reason: Some(reason.into()),
            guidance,
            frames: n,
            failures,
        };
        let needed = self.cfg.min_liveness_frames.min(n).max(1);
        if with_face.len() < needed {
            return Ok(retry("NO_FACE", issues));
        }
        let liveness =
            with_face.iter().map(|(_, a)| a.liveness).sum::<f32>() / with_face.len() as f32;
        let Some((best_frame, best)) = with_face
            .into_iter()
            .filter(|(_, a)| a.quality.passed)
            .max_by(|a, b| {
                let s = |x: &vision::FrameAnalysis| x.quality.score(&qcfg) * x.face.score;
                s(&a.1).total_cmp(&s(&b.1))
            })
        else {
            issues.sort_by_key(|i| *i as u8);
            issues.dedup();
            return Ok(retry(
                issues.first().map_or("FACE_QUALITY", |i| i.code()),
                issues,
            ));
        };

        // Every frame was checked; only the best one is embedded.
        let embedding = self.vision.run(move |p| p.embed_analysis(&best)).await??;
        let local = self
            .gallery
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .best(embedding.as_slice(), user_id)?;
        let live = liveness >= self.live().settings.liveness_threshold;

        // Online: the API decides and issues the token. Offline (or unreachable): the cache.
        let mut outcome = match self.online_parts() {
            Some((client, project)) => {
                match self
                    .verify_online(&client, &project, &best_frame, user_id)
                    .await
                {
                    Ok(o) => Some(o),
                    // Unreachable, or answering garbage: the kiosk keeps working from its cache.
                    Err(e) if e.is_offline() || matches!(e, ClientError::Protocol { .. }) => None,
                    // The server has never heard of this face (enrolled here, not yet synced):
                    // decide locally as if offline.
                    Err(ClientError::Api {
                        code: ErrorCode::NotEnrolled,
                        ..
                    }) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            None => None,
        };
        if let Some(o) = &mut outcome {
            o.liveness = Some(liveness);
            o.frames = n;
        }
        let mut out = match outcome {
            Some(o) => o,
            None => {
                let (user, score) = local.clone().unzip();
                let matched = score.is_some_and(|s| s >= self.live().settings.match_threshold);
                let decision = if matched && live {
                    Decision::Accepted
                } else {
                    Decision::Rejected
                };
                let reason = if !live {
                    Some("LIVENESS_FAILED".into())
                } else if !matched {
                    Some(
                        if local.is_none() {
                            "NOT_ENROLLED"
                        } else {
                            "NO_MATCH"
                        }
                        .into(),
                    )
                } else {
                    None
                };
                let out = FaceSignIn {
                    decision,
                    // A rejected attempt does not say whom it resembled.
                    user_id: if decision == Decision::Accepted {
                        user
                    } else {
                        None
                    },
                    name: None,
                    score,
                    liveness: Some(liveness),
                    mode: Mode::Offline,
                    access_token: None,
                    reason,
                    guidance: Vec::new(),
                    frames: n,
                    failures,
                };
                self.queue_signed_event(&out)?;
                out
            }
        };
        if let Some(u) = &out.user_id {
            out.name = self.store().user_name(u)?;
        }
        out.failures = match out.decision {
            Decision::Accepted => {
                self.store().clear_failures(FACE_LOCK_SUBJECT)?;
                0
            }
            _ => {
                self.store()
                    .record_failure(FACE_LOCK_SUBJECT, now_unix(), |f| self.cfg.lock_for(f))?
                    .failures
            }
        };
        let mut e = self.entry(
            "face",
            if out.decision == Decision::Accepted {
                "accepted"
            } else {
                "rejected"
            },
            out.mode,
        );
        e.user_id = out.user_id.clone().or(user_id.map(str::to_string));
        e.score = out.score;
        e.liveness = out.liveness;
        e.detail = out.reason.clone();
        self.audit(e);
        Ok(out)
    }

    async fn verify_online(
        &self,
        client: &AccessClient,
        project: &str,
        frame: &Frame,
        user_id: Option<&str>,
    ) -> std::result::Result<FaceSignIn, ClientError> {
        // Someone is waiting at the kiosk and the cache can decide: no retries here.
        let client = &client
            .clone()
            .with_retry(access_client::RetryPolicy::none());
        let jpeg = frame.to_jpeg(90).map_err(|e| ClientError::Protocol {
            status: 0,
            snippet: e.to_string(),
        })?;
        let image = base64::engine::general_purpose::STANDARD.encode(jpeg);
        let v = client
            .verify_face(&VerifyFaceRequest {
                user_id: user_id.map(str::to_string),
                face_image: image.clone(),
                validation_id: None,
                project_id: Some(project.to_string()),
            })
            .await?;
        let mut token = v.access_token.clone();
        let mut reason = (!v.matched).then(|| "NO_MATCH".to_string());
        let mut server_liveness = None;
        if v.matched && v.liveness_required && token.is_none() {
            let l = client
                .liveness_check(&LivenessCheckRequest {
                    face_image: image,
                    validation_id: v.validation_id.clone(),
                })
                .await?;
            server_liveness = Some(l.liveness_score);
            token = l.access_token;
            if !l.passed {
                reason = Some("LIVENESS_FAILED".into());
            }
        }
        let accepted = v.matched && reason.is_none();
        Ok(FaceSignIn {
            decision: if accepted {
                Decision::Accepted
            } else {
                Decision::Rejected
            },
            user_id: if v.matched { v.user_id } else { None },
            name: None,
            score: Some(v.match_score),
            liveness: server_liveness,
            mode: Mode::Online,
            access_token: if accepted { token } else { None },
            reason,
            guidance: Vec::new(),
            frames: 0,
            failures: 0,
        })
    }

    /// Queues an offline decision for the server, signed by the device key so the server can
    /// check later that this kiosk made it.
    fn queue_signed_event(&self, out: &FaceSignIn) -> Result<()> {
        let Some(project) = self.live().settings.project_id.clone() else {
            return Ok(());
        };
        let body = serde_json::json!({
            "decision": out.decision,
            "score": out.score,
            "liveness": out.liveness,
            "reason": out.reason,
            "kiosk_id": self.cfg.kiosk_id,
        });
        let occurred_at = kiosk_store::now_rfc3339();
        let kind = if out.decision == Decision::Accepted {
            "sign_in"
        } else {
            "sign_in_failed"
        };
        let signed =
            SignedEvent::signed_text(kind, &project, &occurred_at, out.user_id.as_deref(), &body);
        let sig = self.device_key.sign(signed.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        let item = Queued::Event(SignedEvent {
            kind: kind.to_string(),
            project_id: project,
            occurred_at,
            user_id: out.user_id.clone(),
            body,
            signature: b64.encode(sig.as_ref()),
            device_public_key: b64.encode(self.device_key.public_key().as_ref()),
        });
        self.store().enqueue(item.kind(), &item.payload())?;
        Ok(())
    }

    // ---- enrolment ---------------------------------------------------------------------

    /// Enrols a person from 3 to 5 photos: each quality-gated and liveness-checked, all of one
    /// person, not anyone already enrolled. Stored here at once; registered with the API now
    /// when online, else queued.
    pub async fn enroll(
        &self,
        admin: AdminAuth<'_>,
        user_id: &str,
        name: Option<&str>,
        samples: Vec<Frame>,
    ) -> Result<Enrolment> {
        self.check_admin(admin)?;
        // The server's rule (access_types::UserId), so an id one side takes the other takes.
        let user_id = access_types::UserId::parse(user_id)
            .map_err(|_| KioskError::InvalidUserId(user_id.into()))?;
        let user_id = user_id.as_str();
        if !(MIN_ENROL_SAMPLES..=MAX_ENROL_SAMPLES).contains(&samples.len()) {
            return Err(KioskError::EnrolSampleCount {
                min: MIN_ENROL_SAMPLES,
                max: MAX_ENROL_SAMPLES,
                got: samples.len(),
            });
        }
        let analysed = self
            .vision
            .run(move |p| {
                samples
                    .into_iter()
                    .map(|f| {
                        let a = p.analyze(&f, MultiFace::Refuse);
                        (f, a)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut good = Vec::new();
        for (i, (frame, a)) in analysed.into_iter().enumerate() {
            let sample = i + 1;
            let a = a.map_err(|source| KioskError::EnrolSample { sample, source })?;
            if !a.quality.passed {
                return Err(KioskError::EnrolQuality {
                    sample,
                    issues: a.quality.issues,
                });
            }
            if a.liveness < self.live().settings.liveness_threshold {
                return Err(KioskError::EnrolLiveness {
                    sample,
                    score: a.liveness,
                });
            }
            good.push((frame, a));
        }
        let embeddings: Vec<Vec<f32>> = good
            .iter()
            .map(|(_, a)| a.embedding.as_slice().to_vec())
            .collect();
        let mut min_score = f32::INFINITY;
        for i in 0..embeddings.len() {
            for j in i + 1..embeddings.len() {
                min_score = min_score.min(vision::cosine(&embeddings[i], &embeddings[j]));
            }
        }
        if min_score < self.live().settings.match_threshold {
            return Err(KioskError::EnrolInconsistent { min_score });
        }
        {
            let gallery = self.gallery.read().unwrap_or_else(|e| e.into_inner());
            for e in &embeddings {
                if let Some((other, score)) = gallery.best_other(e, user_id)?
                    && score >= self.live().settings.match_threshold
                {
                    drop(gallery);
                    let mut a = self.entry("enrolment", "refused_duplicate", Mode::Offline);
                    a.user_id = Some(user_id.into());
                    a.score = Some(score);
                    a.detail = Some(format!("already enrolled as {other}"));
                    self.audit(a);
                    return Err(KioskError::AlreadyEnrolled {
                        other_user: other,
                        score,
                    });
                }
            }
        }

        // Store and queue in one go per sample: the outbox item carries the local template id
        // so the server's id can be linked to it when the upload succeeds.
        let ids = self
            .store()
            .enroll(user_id, name, self.vision.model_id(), &embeddings)?;
        let project_id = self.live().settings.project_id.clone();
        if let Some(project) = &project_id {
            let b64 = base64::engine::general_purpose::STANDARD;
            for ((frame, _), id) in good.iter().zip(&ids) {
                let jpeg = frame.to_jpeg(92)?;
                let item = Queued::RegisterFace(FaceUpload {
                    user_id: user_id.to_string(),
                    project_id: project.clone(),
                    face_image: b64.encode(jpeg),
                    local_template_id: Some(*id),
                });
                self.store().enqueue(item.kind(), &item.payload())?;
            }
        }
        self.refresh_gallery()?;
        let mut a = self.entry("enrolment", "enrolled", Mode::Offline);
        a.user_id = Some(user_id.into());
        self.audit(a);

        // Try to deliver now; offline is fine, the sync loop will.
        let state = if project_id.is_none() {
            EnrolmentState::Local
        } else {
            match self.sync_once().await {
                Ok(r) if r.online && self.store().pending_count()? == 0 => {
                    EnrolmentState::Registered
                }
                _ => EnrolmentState::Queued,
            }
        };
        Ok(Enrolment {
            user_id: user_id.into(),
            samples: ids.len(),
            template_ids: ids,
            state,
        })
    }

    /// Checks a would-be enrolment sample as `enroll` will: exactly one face, quality,
    /// liveness. Returns the quality (0..1), hint codes, and whether it would be accepted.
    pub async fn assess_sample(&self, frame: Frame) -> Result<SampleCheck> {
        let qcfg = self.cfg.vision.quality;
        let a = self
            .vision
            .run(move |p| p.analyze_frame(&frame, MultiFace::Refuse))
            .await??;
        let live = a.liveness >= self.live().settings.liveness_threshold;
        let mut guidance: Vec<String> = a
            .quality
            .issues
            .iter()
            .map(|i| i.code().to_string())
            .collect();
        if !live {
            guidance.push("LIVENESS_FAILED".into());
        }
        Ok(SampleCheck {
            quality: a.quality.score(&qcfg),
            accepted: a.quality.passed && live,
            guidance,
        })
    }

    // ---- codes -------------------------------------------------------------------------

    pub async fn otp_send(
        &self,
        channel: OtpChannel,
        to: &str,
    ) -> Result<access_types::OtpValidation> {
        // Refused here, with the server's code, before the API is called (or found offline).
        let to = channel.identifier(to)?;
        let (client, project) = self.online_parts().ok_or(KioskError::NotConfigured)?;
        let r = match channel {
            OtpChannel::Email => client.send_email_otp(&to, &project).await,
            OtpChannel::Sms => client.send_phone_otp(&to, &project, false).await,
            OtpChannel::Whatsapp => client.send_phone_otp(&to, &project, true).await,
        };
        let r = r.map_err(|e| self.offline_or(e, "Sign-in by code"))?;
        self.audit(self.entry(channel.as_str(), "code_sent", Mode::Online));
        Ok(r)
    }

    pub async fn otp_verify(
        &self,
        channel: OtpChannel,
        to: &str,
        code: &str,
        validation_id: &str,
    ) -> Result<access_types::OtpVerification> {
        // A code typed in another form (`123 456`, full-width digits) is the same code; one that
        // is not 6 digits is refused here and costs no attempt on the server.
        let to = channel.identifier(to)?;
        let code = access_types::OtpCode::parse(code)?;
        let (client, _) = self.online_parts().ok_or(KioskError::NotConfigured)?;
        let r = match channel {
            OtpChannel::Email => {
                client
                    .verify_email_otp(&to, code.as_str(), validation_id)
                    .await
            }
            OtpChannel::Sms | OtpChannel::Whatsapp => {
                client
                    .verify_phone_otp(&to, code.as_str(), validation_id)
                    .await
            }
        };
        let mut e = self.entry(channel.as_str(), "accepted", Mode::Online);
        e.user_id = Some(to);
        match r {
            Ok(v) => {
                self.audit(e);
                Ok(v)
            }
            Err(err) => {
                e.decision = "rejected".into();
                e.detail = Some(err.code().into());
                self.audit(e);
                Err(self.offline_or(err, "Sign-in by code"))
            }
        }
    }

    fn offline_or(&self, e: ClientError, what: &'static str) -> KioskError {
        if e.is_offline() {
            KioskError::UnavailableOffline(what)
        } else {
            KioskError::Api(e)
        }
    }
}
