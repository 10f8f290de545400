//! The kiosk's configuration, one loader for the app and the `kiosk` binary: each front end
//! only collects its flags into [`LoadOptions`] and calls [`Settings::load`], so both read
//! the same values on the same data dir.
//!
//! Layers, lowest first; each key takes the value of the highest layer that gives it:
//!
//! 1. **defaults** (camera `v4l:0`, locale `en`, idle reset 60 s, the vision thresholds, ...);
//! 2. **the config file** (TOML): `--config` (the CLI), else `$KIOSK_CONFIG`, else
//!    `$XDG_CONFIG_HOME/access-kiosk/kiosk.toml` (`~/.config/...`), else
//!    `/etc/access-kiosk/kiosk.toml`, else none. Keys: those of [`Partial`]; any other key
//!    is refused (`CONFIG_INVALID`, naming the key and the file). An installed app starts
//!    with no environment, so this is how it gets its token;
//! 3. **the administrator's saved settings** (`settings.json` in the data dir, written by
//!    the app's settings screen: `settings_file`): API URL, project, thresholds. A field
//!    saved empty clears the file's value (no API, no project);
//! 4. **the environment**: `KIOSK_API_URL`, `KIOSK_TOKEN`, `KIOSK_PROJECT`, `KIOSK_DATA_DIR`,
//!    `KIOSK_ADMIN_PIN`, `KIOSK_ID`, `KIOSK_CAMERA`, `KIOSK_LOCALE`, `KIOSK_IDLE_RESET_S`,
//!    `KIOSK_OFFLINE_MAX_HOURS`, `KIOSK_WEBKIT_DMABUF`, `KIOSK_ALLOW_INSECURE_HTTP` ([`ENV_VARS`]);
//!    a variable set empty counts as unset;
//! 5. **flags** (the CLI's `--api-url`, `--project`, `--match-threshold`, ...; the app has
//!    none). A flag given empty (`--project ""`) clears.
//!
//! The data dir itself comes from flags, environment, file, then
//! `$XDG_DATA_HOME/access-kiosk` (`~/.local/share/access-kiosk`): the saved settings live in
//! it, so they cannot move it. A damaged `settings.json` stops the load (`SETTINGS_READ`).

use std::path::{Path, PathBuf};

use config_layers::figment::Figment;
use config_layers::{FileError, Layer};
use serde::{Deserialize, Serialize};

pub use config_layers::Environment;

use crate::settings_file::{self, SettingsFile};
use crate::{KioskConfig, KioskError};

/// The environment variables and the keys they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("KIOSK_API_URL", "api_url"),
    ("KIOSK_TOKEN", "token"),
    ("KIOSK_PAIRING_CODE", "pairing_code"),
    ("KIOSK_PROJECT", "project"),
    ("KIOSK_DATA_DIR", "data_dir"),
    ("KIOSK_ADMIN_PIN", "admin_pin"),
    ("KIOSK_ID", "kiosk_id"),
    ("KIOSK_CAMERA", "camera"),
    ("KIOSK_LOCALE", "locale"),
    ("KIOSK_IDLE_RESET_S", "idle_reset_s"),
    ("KIOSK_OFFLINE_MAX_HOURS", "offline_max_hours"),
    ("KIOSK_WEBKIT_DMABUF", "webkit_dmabuf"),
    ("KIOSK_ALLOW_INSECURE_HTTP", "allow_insecure_http"),
];

/// The variables that say where the files are: the config file, and the XDG directories
/// with their `$HOME` fallback.
const LOCATION_VARS: &[&str] = &["KIOSK_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HOME"];

pub const DEFAULT_CAMERA: &str = "v4l:0";
pub const DEFAULT_LOCALE: &str = "en";
pub const DEFAULT_IDLE_RESET_S: u64 = 60;

/// Every key of the configuration, each optional: the config file's shape, and what flags
/// give (a `None` field was not given and keeps the value below). Each field's doc comment is
/// the settings reference (docs/settings/kiosk.md), the example `kiosk.toml` and
/// `kiosk config show` ([`reference`]).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// The Access API's root, e.g. `https://access.example.com/v2/access`; unset: the kiosk
    /// works offline only.
    pub api_url: Option<String>,
    /// A bearer token used as given (an administrator's, for tools); a paired kiosk needs
    /// none: it renews its own from its device key.
    #[schemars(extend("x-secret" = true))]
    pub token: Option<String>,
    /// A one-time pairing code (`access-server kiosks pair`): an unpaired kiosk pairs itself
    /// with it at its first sync (provisioning without a person at the screen).
    #[schemars(extend("x-secret" = true))]
    pub pairing_code: Option<String>,
    /// The project whose people sign in here (a paired kiosk takes its pairing's).
    pub project: Option<String>,
    /// Where the kiosk keeps its database, device key and log (mode 0700); unset:
    /// `$XDG_DATA_HOME/access-kiosk` (`~/.local/share/access-kiosk`).
    pub data_dir: Option<PathBuf>,
    /// The administrator PIN (6 to 12 digits) for commands that need one (enrol, delete,
    /// set a new PIN). Better in `KIOSK_ADMIN_PIN`: a flag is visible to every local user.
    #[schemars(extend("x-secret" = true))]
    pub admin_pin: Option<String>,
    /// This kiosk's name in its events and the audit log (a paired kiosk is known to the server
    /// by its pairing's id).
    pub kiosk_id: Option<String>,
    /// A floor (cosine similarity) under the flow's face thresholds on this kiosk: it can
    /// raise the bar the flow's error-rate targets set, never lower it.
    pub match_threshold: Option<f32>,
    /// The liveness score (0 to 1) a face must reach to count as a live person.
    pub liveness_threshold: Option<f32>,
    /// The app's camera (`v4l:0`, `replay:DIR@15`).
    pub camera: Option<String>,
    /// The app's first language (`en`, `es`).
    pub locale: Option<String>,
    /// Seconds without a touch before the app goes back home.
    pub idle_reset_s: Option<u64>,
    /// Hours since the last good sync during which the kiosk may still decide a face from
    /// its cache when the API cannot be reached (default 72; 0: never).
    pub offline_max_hours: Option<f64>,
    /// Let WebKitGTK use its DMABUF renderer (default false: it gives a blank window on some
    /// GPU drivers and virtual machines, and a kiosk screen gains nothing from it).
    pub webkit_dmabuf: Option<bool>,
    /// Accept an `http://` API URL to a host other than loopback (default false: only
    /// `https://`, or `http://` to `localhost`/`127.0.0.1`/`::1`, since anyone on the path
    /// could read and forge plain HTTP answers). For a development server on a LAN only.
    pub allow_insecure_http: Option<bool>,
}

/// What a front end hands the loader.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// The file named on the command line (`--config`), which must exist. Without it:
    /// `KIOSK_CONFIG`, else the first of [`default_locations`] that exists, else none.
    pub explicit_file: Option<PathBuf>,
    /// The flags given.
    pub flags: Partial,
    /// The environment: [`environment()`] in the binaries, a map in tests.
    pub env: Environment,
}

/// The configuration in force.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
pub struct Settings {
    #[serde(skip)]
    pub data_dir: PathBuf,
    pub api_url: Option<String>,
    pub token: Option<String>,
    pub pairing_code: Option<String>,
    pub project: Option<String>,
    pub admin_pin: Option<String>,
    pub kiosk_id: String,
    pub match_threshold: f32,
    pub liveness_threshold: f32,
    pub camera: String,
    pub locale: String,
    pub idle_reset_s: u64,
    pub offline_max_hours: f64,
    pub webkit_dmabuf: bool,
    pub allow_insecure_http: bool,
    /// The config file that was read, if any.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

// By hand, so the token and the PIN never reach a log line through `{:?}`.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("pairing_code", &self.pairing_code.as_ref().map(|_| "<set>"))
            .field("project", &self.project)
            .field("admin_pin", &self.admin_pin.as_ref().map(|_| "<set>"))
            .field("kiosk_id", &self.kiosk_id)
            .field("match_threshold", &self.match_threshold)
            .field("liveness_threshold", &self.liveness_threshold)
            .field("camera", &self.camera)
            .field("locale", &self.locale)
            .field("idle_reset_s", &self.idle_reset_s)
            .field("offline_max_hours", &self.offline_max_hours)
            .field("webkit_dmabuf", &self.webkit_dmabuf)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("file", &self.file)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("config file {}: unknown key `{key}` (the keys are {known})", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config_layers::Error),
    #[error("no data directory: set --data-dir or KIOSK_DATA_DIR")]
    NoDataDir,
    /// The saved settings cannot be read (`SETTINGS_READ`).
    #[error(transparent)]
    Saved(#[from] KioskError),
    /// The API URL breaks the rule (`API_URL_INSECURE`, `SETTINGS_INVALID`):
    /// [`crate::check_api_url`].
    #[error("{0}")]
    ApiUrl(KioskError),
}

impl From<config_layers::figment::Error> for ConfigError {
    fn from(e: config_layers::figment::Error) -> Self {
        Self::Invalid(Box::new(e))
    }
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Saved(e) | Self::ApiUrl(e) => e.code(),
            _ => "CONFIG_INVALID",
        }
    }
}

/// The process environment's values of the variables the loader reads.
pub fn environment() -> Environment {
    let names: Vec<&str> = ENV_VARS
        .iter()
        .map(|(name, _)| *name)
        .chain(LOCATION_VARS.iter().copied())
        .collect();
    Environment::process(&names)
}

/// `$XDG_...`-style directories, with their `$HOME` fallback.
fn xdg(env: &Environment, var: &str, fallback: &str) -> Option<PathBuf> {
    env.get(var)
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(fallback)))
}

/// Where the config file is looked for when none is named, in order.
pub fn default_locations(env: &Environment) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = xdg(env, "XDG_CONFIG_HOME", ".config")
        .map(|d| d.join("access-kiosk/kiosk.toml"))
        .into_iter()
        .collect();
    v.push(PathBuf::from("/etc/access-kiosk/kiosk.toml"));
    v
}

/// The config file's layer, its keys checked.
fn file_layer(path: &Path) -> Result<Layer, ConfigError> {
    let layer = Layer::toml_file(path)?;
    if let Err(e) = Figment::from(layer.clone()).extract_lossy::<Partial>() {
        return Err(match e.kind {
            config_layers::figment::error::Kind::UnknownField(key, known) => {
                ConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    key,
                    known: known.join(", "),
                }
            }
            _ => e.into(),
        });
    }
    Ok(layer)
}

fn defaults() -> Partial {
    let k = KioskConfig::new("");
    Partial {
        kiosk_id: Some(k.kiosk_id),
        match_threshold: Some(k.match_threshold),
        liveness_threshold: Some(k.liveness_threshold),
        camera: Some(DEFAULT_CAMERA.into()),
        locale: Some(DEFAULT_LOCALE.into()),
        idle_reset_s: Some(DEFAULT_IDLE_RESET_S),
        offline_max_hours: Some(k.offline_max_hours),
        webkit_dmabuf: Some(false),
        allow_insecure_http: Some(false),
        ..Partial::default()
    }
}

/// Text as given, trimmed; empty means none.
fn text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Every setting, from [`Partial`]'s doc comments: the settings page, the example file and
/// `kiosk config show` are made from it.
pub fn reference() -> config_layers::docs::Reference {
    let defaults = serde_json::to_value(defaults()).expect("the defaults serialise");
    config_layers::docs::Reference::new(&schemars::schema_for!(Partial), &defaults, ENV_VARS)
}

/// The commented `/etc/access-kiosk/kiosk.toml` the package ships.
pub fn example_toml() -> String {
    reference().example_toml(
        "/etc/access-kiosk/kiosk.toml: the kiosk's settings (the app and the `kiosk` command).\n\
         Generated from the kiosk's config struct (docs/settings/kiosk.md has the same text).\n\
         The package installs it root:access-kiosk 0640 (the kiosk's user in that group): it may\n\
         hold a token, a pairing code or the PIN.\n\
         Every key is optional: the commented-out lines show the default. Above this file come\n\
         the administrator's saved settings (settings.json in the data dir), the environment\n\
         (KIOSK_*) and the `kiosk` command's flags; `kiosk config show` prints what is in force\n\
         and where each value came from. An unknown key is an error.",
        &[],
    )
}

/// The settings reference page (docs/settings/kiosk.md).
pub fn settings_markdown() -> String {
    reference().markdown(
        "Kiosk settings",
        "Every setting of the kiosk app and the `kiosk` command, generated from their config \
         struct (`crates/kiosk-core/src/config.rs`); the shipped `/etc/access-kiosk/kiosk.toml` \
         carries the same text. Layers, lowest first: these defaults; the TOML file (`--config`, \
         else `$KIOSK_CONFIG`, else `$XDG_CONFIG_HOME/access-kiosk/kiosk.toml`, else \
         `/etc/access-kiosk/kiosk.toml`); the administrator's saved settings (`settings.json` \
         in the data dir: API URL, project, thresholds); the environment variables listed; the \
         `kiosk` command's flags of the same names (`--api-url`, `--project`, ...). An empty \
         variable counts as unset. An unknown key is an error. An installed app starts with no \
         environment: its settings go in the file. `kiosk config show` prints the \
         configuration in force and where each value came from, secrets hidden.",
    )
}

impl Settings {
    /// Defaults < config file < saved settings < environment < flags (see the module doc).
    pub fn load(opts: LoadOptions) -> Result<Self, ConfigError> {
        Ok(Self::load_with_sources(opts)?.0)
    }

    /// The effective configuration, each key with where its value came from, secrets hidden
    /// (`kiosk config show`).
    pub fn show(opts: LoadOptions) -> Result<String, ConfigError> {
        let (s, fig) = Self::load_with_sources(opts)?;
        let mut effective = serde_json::to_value(&s).map_err(|e| {
            ConfigError::Invalid(Box::new(config_layers::figment::Error::from(e.to_string())))
        })?;
        effective["data_dir"] = serde_json::Value::from(s.data_dir.display().to_string());
        let file = match &s.file {
            Some(f) => format!("# config file: {}\n", f.display()),
            None => "# config file: none found\n".to_string(),
        };
        Ok(file + &reference().show(&effective, &fig))
    }

    /// [`Settings::load`], with the layers it read (for each key's source).
    fn load_with_sources(opts: LoadOptions) -> Result<(Self, Figment), ConfigError> {
        let env = &opts.env;
        let file = match opts
            .explicit_file
            .or_else(|| env.get("KIOSK_CONFIG").map(PathBuf::from))
        {
            Some(p) => Some(p),
            None => default_locations(env).into_iter().find(|p| p.exists()),
        };
        let mut below = Figment::from(Layer::serialized("defaults", &defaults())?);
        if let Some(path) = &file {
            below = below.merge(file_layer(path)?);
        }
        let env_layer = Layer::env(env, ENV_VARS);
        let flags = Layer::serialized("command-line flags", &opts.flags)?;

        // The data dir first: the saved settings are in it.
        let given = below.clone().merge(env_layer.clone()).merge(flags.clone());
        let data_dir = match given.contains("data_dir") {
            true => Some(given.extract_inner_lossy::<PathBuf>("data_dir")?),
            false => None,
        }
        .filter(|d| !d.as_os_str().is_empty())
        .or_else(|| xdg(env, "XDG_DATA_HOME", ".local/share").map(|d| d.join("access-kiosk")))
        .ok_or(ConfigError::NoDataDir)?;

        let mut all = below;
        if let Some(saved) = SettingsFile::load(&settings_file::path(&data_dir))? {
            let saved = Partial {
                api_url: saved.api_url,
                project: saved.project_id,
                match_threshold: saved.match_threshold,
                liveness_threshold: saved.liveness_threshold,
                ..Partial::default()
            };
            all = all.merge(Layer::serialized(
                format!("saved settings ({})", settings_file::FILE_NAME),
                &saved,
            )?);
        }
        let all = all.merge(env_layer).merge(flags);
        let mut s: Settings = all.extract_lossy()?;
        s.data_dir = data_dir;
        s.file = file;
        s.api_url = text(s.api_url);
        s.token = text(s.token);
        s.pairing_code = text(s.pairing_code);
        s.project = text(s.project);
        s.admin_pin = text(s.admin_pin);
        if let Some(u) = &s.api_url {
            crate::check_api_url(u, s.allow_insecure_http).map_err(ConfigError::ApiUrl)?;
        }
        Ok((s, all))
    }

    /// The engine's configuration from these settings (its other fields at their defaults).
    pub fn kiosk_config(&self) -> KioskConfig {
        let mut k = KioskConfig::new(&self.data_dir);
        k.api_url = self.api_url.clone();
        k.token = self.token.clone();
        k.pairing_code = self.pairing_code.clone();
        k.project_id = self.project.clone();
        k.kiosk_id = self.kiosk_id.clone();
        k.match_threshold = self.match_threshold;
        k.liveness_threshold = self.liveness_threshold;
        k.offline_max_hours = self.offline_max_hours;
        k.locale = Some(self.locale.clone());
        k.allow_insecure_http = self.allow_insecure_http;
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LiveSettings;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiosk-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// An environment with no home: nothing is found by accident in the real XDG dirs.
    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn load(file: &Path, env_pairs: &[(&str, &str)], flags: Partial) -> Settings {
        Settings::load(LoadOptions {
            explicit_file: Some(file.to_path_buf()),
            flags,
            env: env(env_pairs),
        })
        .unwrap()
    }

    fn save(data: &Path, api_url: Option<&str>, project: Option<&str>, match_t: f32) {
        SettingsFile::save(
            &LiveSettings {
                api_url: api_url.map(String::from),
                project_id: project.map(String::from),
                match_threshold: match_t,
                liveness_threshold: 0.6,
            },
            &settings_file::path(data),
        )
        .unwrap();
    }

    /// The shipped example and the settings page are what the struct's doc comments make
    /// (`KIOSK_REGENERATE=1 cargo test -p kiosk-core --lib config` rewrites them).
    #[test]
    fn the_example_file_and_the_settings_page_come_from_the_struct() {
        let r = reference();
        assert!(
            r.undocumented().is_empty(),
            "no doc comment: {:?}",
            r.undocumented()
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let stale = config_layers::docs::stale_generated_files(
            &root,
            &[
                ("packaging/kiosk/kiosk.toml", example_toml()),
                ("docs/settings/kiosk.md", settings_markdown()),
            ],
            "KIOSK_REGENERATE",
        );
        assert!(
            stale.is_empty(),
            "{stale:?}: not what the config struct makes: run KIOSK_REGENERATE=1 cargo test -p kiosk-core --lib config"
        );
        // The example is a valid file, and sets nothing.
        let dir = temp_dir("example");
        let f = dir.join("kiosk.toml");
        std::fs::write(&f, example_toml()).unwrap();
        let s = load(&f, &[("HOME", dir.to_str().unwrap())], Partial::default());
        assert_eq!(s.camera, DEFAULT_CAMERA);
        assert!(s.api_url.is_none() && s.token.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn show_names_sources_and_hides_secrets() {
        let dir = temp_dir("show");
        let f = dir.join("kiosk.toml");
        std::fs::write(&f, "camera = \"v4l:1\"\ntoken = \"tok-secret\"\n").unwrap();
        let out = Settings::show(LoadOptions {
            explicit_file: Some(f.clone()),
            flags: Partial {
                project: Some("p-flag".into()),
                ..Partial::default()
            },
            env: env(&[
                ("KIOSK_ADMIN_PIN", "24681012"),
                ("KIOSK_LOCALE", "es"),
                ("KIOSK_DATA_DIR", dir.to_str().unwrap()),
            ]),
        })
        .unwrap();
        assert!(
            !out.contains("tok-secret") && !out.contains("24681012"),
            "{out}"
        );
        let line = |k: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("{k} =")))
                .unwrap_or_else(|| panic!("{k} in {out}"))
                .to_string()
        };
        assert!(
            line("camera").ends_with(&format!("# config file {}", f.display())),
            "{out}"
        );
        assert!(line("token").contains("(set, hidden)"), "{out}");
        assert!(
            line("admin_pin").ends_with("# environment variable KIOSK_ADMIN_PIN"),
            "{out}"
        );
        assert!(line("locale").contains("\"es\""), "{out}");
        assert!(line("project").ends_with("# command-line flags"), "{out}");
        assert!(line("idle_reset_s").ends_with("# default"), "{out}");
        assert!(line("data_dir").contains(dir.to_str().unwrap()), "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_apply_where_nothing_is_given() {
        let dir = temp_dir("defaults");
        let data = dir.join("data");
        let f = dir.join("kiosk.toml");
        std::fs::write(&f, "").unwrap();
        let s = load(
            &f,
            &[("XDG_DATA_HOME", dir.to_str().unwrap())],
            Partial::default(),
        );
        assert_eq!(s.data_dir, dir.join("access-kiosk"));
        assert_eq!((s.api_url, s.token, s.project), (None, None, None));
        assert_eq!(s.camera, DEFAULT_CAMERA);
        assert_eq!(s.locale, DEFAULT_LOCALE);
        assert_eq!(s.idle_reset_s, DEFAULT_IDLE_RESET_S);
        assert!(!s.webkit_dmabuf);
        let k = KioskConfig::new(&data);
        assert_eq!(s.kiosk_id, k.kiosk_id);
        assert_eq!(s.match_threshold, k.match_threshold);
        assert_eq!(s.liveness_threshold, k.liveness_threshold);
        // No data dir anywhere.
        let e = Settings::load(LoadOptions {
            explicit_file: Some(f.clone()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::NoDataDir), "{e}");
        assert_eq!(e.code(), "CONFIG_INVALID");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_then_saved_settings_then_env_then_flags() {
        let dir = temp_dir("precedence");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let f = dir.join("kiosk.toml");
        std::fs::write(
            &f,
            format!(
                "api_url = \"https://file:1\"\nproject = \"p-file\"\ndata_dir = {:?}\n\
                 match_threshold = 0.31\nliveness_threshold = 0.51\ncamera = \"v4l:1\"\n\
                 idle_reset_s = 90\nkiosk_id = \"k-file\"\ntoken = \"t-file\"\n",
                data.display()
            ),
        )
        .unwrap();

        // The file over the defaults.
        let s = load(&f, &[], Partial::default());
        assert_eq!(s.file.as_deref(), Some(f.as_path()));
        assert_eq!(s.data_dir, data);
        assert_eq!(s.api_url.as_deref(), Some("https://file:1"));
        assert_eq!(s.project.as_deref(), Some("p-file"));
        assert_eq!((s.match_threshold, s.liveness_threshold), (0.31, 0.51));
        assert_eq!((s.camera.as_str(), s.idle_reset_s), ("v4l:1", 90));
        assert_eq!(s.locale, DEFAULT_LOCALE);

        // What the administrator saved over the file, field by field.
        save(&data, Some("https://saved:2"), Some("p-saved"), 0.41);
        let s = load(&f, &[], Partial::default());
        assert_eq!(s.api_url.as_deref(), Some("https://saved:2"));
        assert_eq!(s.project.as_deref(), Some("p-saved"));
        assert_eq!((s.match_threshold, s.liveness_threshold), (0.41, 0.6));
        assert_eq!(s.token.as_deref(), Some("t-file"), "not in settings.json");
        assert_eq!(s.kiosk_id, "k-file");

        // The environment over the saved settings (and an empty variable is unset).
        let e = [
            ("KIOSK_PROJECT", "p-env"),
            ("KIOSK_API_URL", ""),
            ("KIOSK_TOKEN", "t-env"),
            ("KIOSK_ID", "k-env"),
            ("KIOSK_IDLE_RESET_S", "15"),
            ("KIOSK_WEBKIT_DMABUF", "on"),
            ("KIOSK_CAMERA", "replay:/x@5"),
            ("KIOSK_LOCALE", "es"),
        ];
        let s = load(&f, &e, Partial::default());
        assert_eq!(s.project.as_deref(), Some("p-env"));
        assert_eq!(s.api_url.as_deref(), Some("https://saved:2"));
        assert_eq!(s.token.as_deref(), Some("t-env"));
        assert_eq!(s.kiosk_id, "k-env");
        assert_eq!((s.idle_reset_s, s.webkit_dmabuf), (15, true));
        assert_eq!(
            (s.camera.as_str(), s.locale.as_str()),
            ("replay:/x@5", "es")
        );
        assert_eq!(s.match_threshold, 0.41);

        // Flags over everything.
        let flags = Partial {
            project: Some("p-flag".into()),
            match_threshold: Some(0.5),
            kiosk_id: Some("k-flag".into()),
            ..Partial::default()
        };
        let s = load(&f, &e, flags);
        assert_eq!(s.project.as_deref(), Some("p-flag"));
        assert_eq!(s.match_threshold, 0.5);
        assert_eq!(s.kiosk_id, "k-flag");
        assert_eq!(s.token.as_deref(), Some("t-env"));

        let k = s.kiosk_config();
        assert_eq!(k.data_dir, data);
        assert_eq!(k.project_id.as_deref(), Some("p-flag"));
        assert_eq!(k.api_url.as_deref(), Some("https://saved:2"));
        assert_eq!((k.kiosk_id.as_str(), k.match_threshold), ("k-flag", 0.5));
        assert!(
            !format!("{s:?}").contains("t-env"),
            "the token is never shown"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cleared_saved_field_clears_the_file_but_env_and_flags_still_win() {
        let dir = temp_dir("cleared");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let f = dir.join("kiosk.toml");
        std::fs::write(&f, "api_url = \"https://file:1\"\nproject = \"p-file\"\n").unwrap();
        save(&data, None, None, 0.36);
        let d = [("KIOSK_DATA_DIR", data.to_str().unwrap())];
        let s = load(&f, &d, Partial::default());
        assert_eq!((s.api_url, s.project), (None, None));
        let s = load(&f, &[d[0], ("KIOSK_PROJECT", "p-env")], Partial::default());
        assert_eq!(s.project.as_deref(), Some("p-env"));
        // A flag given empty clears too.
        let s = load(
            &f,
            &[d[0], ("KIOSK_PROJECT", "p-env")],
            Partial {
                project: Some(String::new()),
                ..Partial::default()
            },
        );
        assert_eq!(s.project, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_older_settings_file_naming_some_fields_keeps_the_rest() {
        let dir = temp_dir("older-saved");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let f = dir.join("kiosk.toml");
        std::fs::write(&f, "api_url = \"https://file:1\"\nmatch_threshold = 0.31\n").unwrap();
        std::fs::write(
            settings_file::path(&data),
            r#"{"project_id": " prj_saved ", "liveness_threshold": 0.7}"#,
        )
        .unwrap();
        let s = load(
            &f,
            &[("KIOSK_DATA_DIR", data.to_str().unwrap())],
            Partial::default(),
        );
        assert_eq!(s.api_url.as_deref(), Some("https://file:1"));
        assert_eq!(s.project.as_deref(), Some("prj_saved"));
        assert_eq!((s.match_threshold, s.liveness_threshold), (0.31, 0.7));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_data_dir_comes_from_flags_env_file_then_xdg() {
        let dir = temp_dir("data-dir");
        let f = dir.join("kiosk.toml");
        std::fs::write(&f, "data_dir = \"/from/file\"\n").unwrap();
        let xdg = [("XDG_DATA_HOME", "/from/xdg")];
        assert_eq!(
            load(&f, &xdg, Partial::default()).data_dir,
            Path::new("/from/file")
        );
        let e = [xdg[0], ("KIOSK_DATA_DIR", "/from/env")];
        assert_eq!(
            load(&f, &e, Partial::default()).data_dir,
            Path::new("/from/env")
        );
        let flags = Partial {
            data_dir: Some("/from/flag".into()),
            ..Partial::default()
        };
        assert_eq!(load(&f, &e, flags).data_dir, Path::new("/from/flag"));
        std::fs::write(&f, "").unwrap();
        assert_eq!(
            load(&f, &xdg, Partial::default()).data_dir,
            Path::new("/from/xdg/access-kiosk")
        );
        let home = [("HOME", "/home/k")];
        assert_eq!(
            load(&f, &home, Partial::default()).data_dir,
            Path::new("/home/k/.local/share/access-kiosk")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_is_found_by_flag_kiosk_config_then_xdg() {
        let dir = temp_dir("locations");
        let xdg = dir.join("xdg");
        std::fs::create_dir_all(xdg.join("access-kiosk")).unwrap();
        std::fs::write(xdg.join("access-kiosk/kiosk.toml"), "project = \"p-xdg\"\n").unwrap();
        let named = dir.join("named.toml");
        std::fs::write(&named, "project = \"p-named\"\n").unwrap();
        let data = dir.join("data");
        let base = [
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
            ("KIOSK_DATA_DIR", data.to_str().unwrap()),
        ];
        let load_with = |pairs: &[(&str, &str)], explicit: Option<&Path>| {
            Settings::load(LoadOptions {
                explicit_file: explicit.map(Path::to_path_buf),
                env: env(pairs),
                ..Default::default()
            })
        };
        let s = load_with(&base, None).unwrap();
        assert_eq!(s.project.as_deref(), Some("p-xdg"));
        let with_var = [base[0], base[1], ("KIOSK_CONFIG", named.to_str().unwrap())];
        assert_eq!(
            load_with(&with_var, None).unwrap().project.as_deref(),
            Some("p-named")
        );
        // --config over KIOSK_CONFIG; a named file must exist.
        let other = dir.join("other.toml");
        std::fs::write(&other, "project = \"p-flag-file\"\n").unwrap();
        assert_eq!(
            load_with(&with_var, Some(&other))
                .unwrap()
                .project
                .as_deref(),
            Some("p-flag-file")
        );
        let e = load_with(&base, Some(&dir.join("absent.toml"))).unwrap_err();
        assert!(
            matches!(e, ConfigError::File(FileError::Read { .. })),
            "{e}"
        );
        assert_eq!(e.code(), "CONFIG_INVALID");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_and_values_are_named() {
        let dir = temp_dir("bad");
        let f = dir.join("kiosk.toml");
        let data = [("KIOSK_DATA_DIR", "/nonexistent/kiosk-data")];
        let try_load = |pairs: &[(&str, &str)]| {
            Settings::load(LoadOptions {
                explicit_file: Some(f.clone()),
                env: env(pairs),
                ..Default::default()
            })
            .unwrap_err()
        };

        std::fs::write(&f, "api_ur = \"typo\"\n").unwrap();
        let e = try_load(&data);
        assert_eq!(e.code(), "CONFIG_INVALID");
        let msg = e.to_string();
        assert!(
            msg.contains("`api_ur`") && msg.contains("kiosk.toml") && msg.contains("api_url"),
            "{msg}"
        );

        std::fs::write(&f, "api_url = [not toml").unwrap();
        let msg = try_load(&data).to_string();
        assert!(
            msg.contains("kiosk.toml") && msg.contains("not valid"),
            "{msg}"
        );

        std::fs::write(&f, "idle_reset_s = \"soon\"\n").unwrap();
        let e = try_load(&data);
        assert_eq!(e.code(), "CONFIG_INVALID");
        let msg = e.to_string();
        assert!(
            msg.contains("idle_reset_s") && msg.contains("kiosk.toml"),
            "{msg}"
        );

        std::fs::write(&f, "").unwrap();
        let msg = try_load(&[data[0], ("KIOSK_IDLE_RESET_S", "soon")]).to_string();
        assert!(msg.contains("KIOSK_IDLE_RESET_S"), "{msg}");
        let msg = try_load(&[data[0], ("KIOSK_WEBKIT_DMABUF", "maybe")]).to_string();
        assert!(msg.contains("KIOSK_WEBKIT_DMABUF"), "{msg}");

        // Plain HTTP beyond loopback is refused at load, unless the dev setting allows it.
        std::fs::write(&f, "api_url = \"http://access.example.com/v2/access\"\n").unwrap();
        let e = try_load(&data);
        assert_eq!(e.code(), "API_URL_INSECURE");
        assert!(e.to_string().contains("allow_insecure_http"), "{e}");
        let dev = Settings::load(LoadOptions {
            explicit_file: Some(f.clone()),
            env: env(&[data[0], ("KIOSK_ALLOW_INSECURE_HTTP", "true")]),
            ..Default::default()
        })
        .unwrap();
        assert!(dev.kiosk_config().allow_insecure_http);

        // A damaged settings.json is SETTINGS_READ, as at the app's start.
        let d = dir.join("data");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(settings_file::path(&d), "{not json").unwrap();
        let e = try_load(&[("KIOSK_DATA_DIR", d.to_str().unwrap())]);
        assert_eq!(e.code(), "SETTINGS_READ");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
