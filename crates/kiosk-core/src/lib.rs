//! The kiosk engine, without its window: face and code sign-in, administrator enrolment, the
//! local cache and the offline outbox, and the sync with the Access API. The Tauri app and the
//! headless `kiosk` binary both drive this crate; neither holds any logic of its own.

mod admin;
pub mod camera_check;
mod codes;
pub mod config;
pub mod draft;
mod enrol;
mod error;
mod error_code;
mod face;
mod gallery;
pub mod live;
pub mod outbox;
mod pairing;
pub mod session;
pub mod settings_file;
mod sync;
mod trust;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use access_client::{AccessClient, ClientError};
use kiosk_store::{AuditDecision, AuditEntry, AuditMethod, AuditMode, Store, StoreKey};
use ring::signature::Ed25519KeyPair;
use serde::Serialize;
use vision::PipelineConfig;

pub use access_types::EnrolSource;
pub use admin::AdminAuth;
pub use codes::OtpChannel;
pub use draft::{CapturedSample, EnrolmentDraft};
pub use enrol::{Enrolment, EnrolmentState, MAX_ENROL_SAMPLES, MIN_ENROL_SAMPLES, SampleCheck};
pub use error::{KioskError, Result};
pub use error_code::KioskCode;
pub use face::{Decision, FaceSignIn, Mode};
pub use gallery::Gallery;
pub use session::{Admin, AdminSession};
pub use settings_file::SettingsFile;
pub use sync::{SyncReport, SyncStatus, spawn_sync_loop};
pub use vision::VisionWorker;

/// How long a kiosk may decide faces on its own since its last good sync, by default.
pub const DEFAULT_OFFLINE_MAX_HOURS: f64 = 72.0;

/// Everything the engine needs to know; the CLI and the app build it from file, env and flags.
#[derive(Debug, Clone)]
pub struct KioskConfig {
    pub data_dir: PathBuf,
    pub api_url: Option<String>,
    /// A bearer token used as given; a paired kiosk needs none (see `pairing_code`).
    pub token: Option<String>,
    /// A one-time pairing code: an unpaired kiosk pairs with it at its first sync.
    pub pairing_code: Option<String>,
    pub project_id: Option<String>,
    /// This kiosk's name in the audit until it is paired (then the server's kiosk id).
    pub kiosk_id: String,
    /// A floor (cosine) under the thresholds the flow's error-rate targets give
    /// (`vision::decision`): this kiosk may raise the bar, never lower it.
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
    /// Hours since the last good sync (or, before the first, since this kiosk's store was
    /// made) during which a face may still be decided from the cache while the API cannot be
    /// reached; past that, face sign-in is refused with `OFFLINE_TOO_LONG`.
    pub offline_max_hours: f64,
    /// The language codes are sent in (BCP 47; the server falls back to the project's).
    pub locale: Option<String>,
    /// Allow an `http://` API URL to a host other than loopback (development only: anyone
    /// on the path could read and forge the API's answers).
    pub allow_insecure_http: bool,
}

impl KioskConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_url: None,
            token: None,
            pairing_code: None,
            project_id: None,
            kiosk_id: "kiosk".into(),
            match_threshold: vision::DEFAULT_MATCH_THRESHOLD,
            liveness_threshold: vision::DEFAULT_LIVENESS_THRESHOLD,
            min_liveness_frames: 3,
            lockout_after: 5,
            lockout_base_s: 30,
            api_timeout: Duration::from_secs(10),
            vision: PipelineConfig::default(),
            offline_max_hours: DEFAULT_OFFLINE_MAX_HOURS,
            locale: None,
            allow_insecure_http: false,
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

    fn validate(&self, allow_insecure_http: bool) -> Result<()> {
        if let Some(u) = &self.api_url {
            check_api_url(u, allow_insecure_http)?;
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

/// The API URL rule: `https://` to any host; `http://` only to loopback (`localhost`,
/// `127.0.0.0/8`, `::1`: the answer never crosses a network), or to any host when the
/// configuration says `allow_insecure_http` (development). No user name or password in it.
/// Anything else is `SETTINGS_INVALID`, and plain HTTP elsewhere `API_URL_INSECURE`.
pub fn check_api_url(u: &str, allow_insecure_http: bool) -> Result<()> {
    let invalid =
        || KioskError::InvalidSettings("the API URL must be an http:// or https:// address");
    let parsed = url::Url::parse(u.trim()).map_err(|_| invalid())?;
    let host = parsed.host().ok_or_else(invalid)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(KioskError::InvalidSettings(
            "the API URL may not carry a user name or password",
        ));
    }
    let loopback = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_insecure_http => Ok(()),
        "http" => Err(KioskError::InsecureApiUrl(u.trim().to_string())),
        _ => Err(invalid()),
    }
}

struct Live {
    settings: LiveSettings,
    client: Option<AccessClient>,
    /// The kiosk id the server gave at pairing (kept in the store).
    paired: Option<String>,
}

/// The kiosk's Ed25519 device key: signs its offline events and its token requests.
pub(crate) struct DeviceKey(Ed25519KeyPair);

impl access_client::DeviceSigner for DeviceKey {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).as_ref().to_vec()
    }
    fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.0.public_key().as_ref().to_vec()
    }
}

/// The store setting that holds the kiosk id this kiosk was paired as.
const PAIRED_KIOSK_KEY: &str = "paired_kiosk_id";
/// The API URL it was paired with: another server does not know this kiosk.
const PAIRED_URL_KEY: &str = "paired_api_url";

/// The client for these settings: a paired kiosk's device credentials (for the server it was
/// paired with), else a configured bearer token, else none.
fn build_client(
    settings: &LiveSettings,
    paired: Option<&str>,
    device: &std::sync::Arc<DeviceKey>,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Option<AccessClient>> {
    let Some(url) = &settings.api_url else {
        return Ok(None);
    };
    let credentials = match (paired, token) {
        (Some(kiosk_id), _) => access_client::Credentials::Device {
            kiosk_id: kiosk_id.to_string(),
            signer: device.clone(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        },
        (None, Some(t)) => access_client::Credentials::Bearer(t.to_string()),
        (None, None) => return Ok(None),
    };
    Ok(Some(AccessClient::with_credentials(
        url,
        credentials,
        timeout,
    )?))
}

/// Where the vision thread's pipeline comes from.
enum VisionSource {
    Models(PipelineConfig),
    Pipeline(Box<vision::FacePipeline>),
}

pub struct Kiosk {
    cfg: KioskConfig,
    store: Mutex<Store>,
    gallery: RwLock<Gallery>,
    /// Started on first use, from `vision_source`.
    vision: OnceLock<VisionWorker>,
    vision_source: Mutex<Option<VisionSource>>,
    /// The embedder's model id: which templates this kiosk can match.
    model_id: &'static str,
    /// What an administrator may change while the kiosk runs, and the client built from it.
    live: RwLock<Live>,
    device_key: std::sync::Arc<DeviceKey>,
    status: tokio::sync::watch::Sender<SyncStatus>,
    /// One sync at a time, even when the loop and a command both ask.
    sync_lock: tokio::sync::Mutex<()>,
    /// Wakes the sync loop to probe the API now (a visitor touched the screen).
    wake: tokio::sync::Notify,
    /// The last sync round was refused for a reason other than the network (a bad token, an
    /// unknown project): a healthy server alone does not make this kiosk online then.
    sync_refused: std::sync::atomic::AtomicBool,
}

/// The kiosk id this kiosk was paired as, when it was paired with `api_url`.
fn paired_for(store: &Store, api_url: Option<&str>) -> Result<Option<String>> {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    match (
        store.setting(PAIRED_KIOSK_KEY)?,
        store.setting(PAIRED_URL_KEY)?,
        api_url,
    ) {
        (Some(id), Some(paired_url), Some(url)) if same(&paired_url, url) => Ok(Some(id)),
        _ => Ok(None),
    }
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

/// The kiosk's database in `data_dir`: its presence says a kiosk lives there.
pub fn store_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("kiosk.db")
}

impl Kiosk {
    /// Opens the store (creating the data dir and keys on first run) and loads the models.
    /// The models are loaded when a face is first needed (or by [`Kiosk::load_models`]):
    /// `status`, `users list` or a PIN change never touch them.
    pub fn open(cfg: KioskConfig) -> Result<Self> {
        let models = cfg.vision.clone();
        Self::open_with(cfg, VisionSource::Models(models), vision::EMBEDDER_MODEL_ID)
    }

    /// [`Kiosk::open`] on a face pipeline built elsewhere (other engines, or test doubles)
    /// instead of the models `cfg.vision` names.
    pub fn open_with_pipeline(cfg: KioskConfig, pipeline: vision::FacePipeline) -> Result<Self> {
        let model_id = pipeline.embedder_model_id();
        Self::open_with(cfg, VisionSource::Pipeline(Box::new(pipeline)), model_id)
    }

    fn open_with(cfg: KioskConfig, source: VisionSource, model_id: &'static str) -> Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| KioskError::DeviceKey {
            path: cfg.data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let key = StoreKey::load_or_create(&cfg.data_dir.join("store.key"))?;
        let mut store = Store::open(&store_path(&cfg.data_dir), &key)?;
        let device_key =
            std::sync::Arc::new(DeviceKey(device_key(&cfg.data_dir.join("device.key"))?));
        let gallery = Gallery::rebuild(&store, model_id)?;
        // Before its first good sync, a kiosk's offline window counts from here.
        if store.setting(sync::FIRST_OPENED_KEY)?.is_none() {
            store.set_setting(sync::FIRST_OPENED_KEY, &kiosk_store::now_rfc3339())?;
        }
        let settings = LiveSettings::of(&cfg);
        settings.validate(cfg.allow_insecure_http)?;
        let paired = paired_for(&store, settings.api_url.as_deref())?;
        let client = build_client(
            &settings,
            paired.as_deref(),
            &device_key,
            cfg.token.as_deref(),
            cfg.api_timeout,
        )?;
        let status = SyncStatus {
            online: false,
            pending_events: store.pending_count()?,
            templates: store.template_count()?,
            last_sync: store.setting(sync::LAST_SYNC_KEY)?,
            last_error: None,
            revoked_at: store.setting(trust::REVOKED_KEY)?.filter(|s| !s.is_empty()),
        };
        Ok(Self {
            cfg,
            store: Mutex::new(store),
            gallery: RwLock::new(gallery),
            vision: OnceLock::new(),
            vision_source: Mutex::new(Some(source)),
            model_id,
            live: RwLock::new(Live {
                settings,
                client,
                paired,
            }),
            device_key,
            status: tokio::sync::watch::channel(status).0,
            sync_lock: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            sync_refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Loads the face models now (an app does, to be ready for its first visitor and to fail
    /// at start with `RUNTIME_LOAD` / `MODEL_MISSING` rather than at the first face).
    pub fn load_models(&self) -> Result<()> {
        self.vision().map(|_| ())
    }

    /// The vision thread, started on first use. A failed load is reported and tried again
    /// next time (an operator may fix the installation meanwhile).
    fn vision(&self) -> Result<VisionWorker> {
        if let Some(v) = self.vision.get() {
            return Ok(v.clone());
        }
        let mut source = self.vision_source.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = self.vision.get() {
            return Ok(v.clone());
        }
        let worker = match source.take() {
            Some(VisionSource::Models(cfg)) => match VisionWorker::load(cfg.clone()) {
                Ok(w) => w,
                Err(e) => {
                    *source = Some(VisionSource::Models(cfg));
                    return Err(e.into());
                }
            },
            Some(VisionSource::Pipeline(p)) => VisionWorker::start(*p),
            None => return Err(KioskError::EngineStopped),
        };
        Ok(self.vision.get_or_init(|| worker).clone())
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
        new.validate(self.cfg.allow_insecure_http)?;
        let paired = paired_for(&self.store(), new.api_url.as_deref())?;
        let client = build_client(
            &new,
            paired.as_deref(),
            &self.device_key,
            self.cfg.token.as_deref(),
            self.cfg.api_timeout,
        )?;
        let old = {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            let old = std::mem::replace(&mut live.settings, new.clone());
            live.client = client;
            live.paired = paired;
            old
        };
        if old.project_id != new.project_id {
            self.store().set_setting(sync::CURSOR_KEY, "0")?;
        }
        let mut e = self.entry(
            AuditMethod::Admin,
            AuditDecision::SettingsChanged,
            Mode::Offline,
        );
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
        live::LiveCamera::start(spec, self.vision()?, self.cfg.vision.quality)
    }

    /// Whether the configured API offers code sign-in at all (it may still be offline, or
    /// this kiosk not yet paired with its code).
    pub fn codes_configured(&self) -> bool {
        let live = self.live();
        live.settings.project_id.is_some()
            && live.settings.api_url.is_some()
            && (live.client.is_some() || self.cfg.pairing_code.is_some())
    }

    /// The client and project to ask the API with: pairs first with the configured one-time
    /// code when this kiosk is not paired yet (a pairing that fails leaves it unpaired: the
    /// call then goes as without an API, and the next one tries again).
    async fn api(&self) -> Option<(AccessClient, String)> {
        if let Err(e) = self.ensure_paired().await {
            tracing::warn!(code = e.code(), error = %e, "pairing with the configured code failed");
        }
        self.online_parts()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere while holding the lock leaves SQLite consistent (transactions),
        // so the data is still good to use.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rebuilds the in-memory index after the cached templates changed, and tells the status
    /// watchers the new count.
    fn refresh_gallery(&self) -> Result<()> {
        let g = Gallery::rebuild(&self.store(), self.model_id)?;
        *self.gallery.write().unwrap_or_else(|e| e.into_inner()) = g;
        self.publish_counts();
        Ok(())
    }

    /// Queues an item for the API and tells the status watchers the new pending count.
    fn enqueue(&self, item: &outbox::Queued) -> Result<()> {
        self.store().enqueue(item.kind(), &item.payload())?;
        self.publish_counts();
        Ok(())
    }

    fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store().audit(&entry) {
            tracing::error!(code = e.code(), "audit write failed: {e}");
        }
    }

    fn entry(&self, method: AuditMethod, decision: AuditDecision, mode: Mode) -> AuditEntry {
        AuditEntry {
            at: kiosk_store::now_rfc3339(),
            actor: Some(self.cfg.kiosk_id.clone()),
            user_id: None,
            method,
            decision,
            score: None,
            liveness: None,
            mode: match mode {
                Mode::Online => AuditMode::Online,
                Mode::Offline => AuditMode::Offline,
            },
            detail: None,
        }
    }

    /// The client and project when an Access API is configured (cloned: settings may change
    /// while a call is in flight).
    fn online_parts(&self) -> Option<(AccessClient, String)> {
        let live = self.live();
        Some((live.client.clone()?, live.settings.project_id.clone()?))
    }

    /// Asks the API whether it is reachable now (its health check), and publishes the answer
    /// on the status stream when it changes what the kiosk knew.
    pub async fn check_online(&self) -> bool {
        self.probe().await
    }

    /// Current sync state, as a stream the UI can watch.
    pub fn status(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    fn offline_or(&self, e: ClientError, what: &'static str) -> KioskError {
        if e.is_offline() {
            KioskError::UnavailableOffline(what)
        } else {
            KioskError::Api(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_api_url;

    #[test]
    fn api_urls_are_https_or_loopback_unless_the_dev_setting_allows_http() {
        let code = |u: &str, dev: bool| check_api_url(u, dev).err().map(|e| e.code());
        for ok in [
            "https://access.example.com/v2/access",
            "https://10.0.0.5:8443",
            "http://127.0.0.1:8080/v2/access",
            "http://127.8.9.10",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://[::1]:8080/",
        ] {
            assert_eq!(code(ok, false), None, "{ok}");
        }
        for insecure in [
            "http://access.example.com/v2/access",
            "http://10.0.0.5:8080",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://[::ffff:10.0.0.1]",
        ] {
            assert_eq!(
                code(insecure, false),
                Some("API_URL_INSECURE"),
                "{insecure}"
            );
            assert_eq!(code(insecure, true), None, "{insecure}");
        }
        for bad in [
            "ftp://127.0.0.1",
            "access.example.com",
            "",
            "https://",
            "http://127.0.0.1@evil.example",
            "https://user:pw@access.example.com",
        ] {
            assert_eq!(code(bad, true), Some("SETTINGS_INVALID"), "{bad}");
        }
    }
}
