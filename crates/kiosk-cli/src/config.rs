//! The kiosk's flags. The configuration itself is `kiosk_core::config`'s, the same loader the
//! app uses: defaults < config file < the administrator's saved settings (`settings.json` in
//! the data dir) < environment < these flags.

use std::path::PathBuf;

use clap::Args;
use kiosk_core::config::{LoadOptions, Partial, Settings};

/// Everything configurable from the command line (each also from the config file; the
/// environment variable named is read by the loader, under the flag).
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Kiosk settings (any command; also from kiosk.toml and KIOSK_*)")]
pub struct KioskArgs {
    /// Config file [env: KIOSK_CONFIG] (default: $XDG_CONFIG_HOME/access-kiosk/kiosk.toml,
    /// else /etc/access-kiosk/kiosk.toml, if present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Access API root, e.g. http://127.0.0.1:8787/v2/access [env: KIOSK_API_URL].
    #[arg(long, global = true)]
    pub api_url: Option<String>,
    /// A bearer token used as given [env: KIOSK_TOKEN]; a paired kiosk needs none. Prefer the
    /// variable or the config file: a flag is visible to every local user in `ps`.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// One-time pairing code: an unpaired kiosk pairs with it before it first talks to the
    /// API [env: KIOSK_PAIRING_CODE].
    #[arg(long, global = true)]
    pub pairing_code: Option<String>,
    /// The project whose people sign in here [env: KIOSK_PROJECT].
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// Where the kiosk keeps its database and keys [env: KIOSK_DATA_DIR] (default:
    /// $XDG_DATA_HOME/access-kiosk).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// The administrator PIN, for commands that need one [env: KIOSK_ADMIN_PIN]. Prefer the
    /// variable: a flag is visible to every local user in `ps`.
    #[arg(long, global = true)]
    pub admin_pin: Option<String>,
    /// This kiosk's name in events and the audit log [env: KIOSK_ID].
    #[arg(long, global = true)]
    pub kiosk_id: Option<String>,
    /// A floor (cosine) under the flow's face thresholds on this kiosk: it can raise the bar
    /// the flow's error-rate targets set, never lower it.
    #[arg(long, global = true)]
    pub match_threshold: Option<f32>,
    /// The liveness score (0 to 1) a face must reach to count as a live person.
    #[arg(long, global = true)]
    pub liveness_threshold: Option<f32>,
    /// Make the data dir and its database when there are none. Without it a mistyped
    /// --data-dir is an error, not a new kiosk with a new device key (`pair`, and a
    /// configured pairing code, always may create).
    #[arg(long, global = true)]
    pub create: bool,
}

impl KioskArgs {
    /// What the loader needs: the flags given, and the environment.
    pub fn load_options(&self, env: kiosk_core::config::Environment) -> LoadOptions {
        LoadOptions {
            explicit_file: self.config.clone(),
            flags: Partial {
                api_url: self.api_url.clone(),
                token: self.token.clone(),
                pairing_code: self.pairing_code.clone(),
                project: self.project.clone(),
                data_dir: self.data_dir.clone(),
                admin_pin: self.admin_pin.clone(),
                kiosk_id: self.kiosk_id.clone(),
                match_threshold: self.match_threshold,
                liveness_threshold: self.liveness_threshold,
                ..Partial::default()
            },
            env,
        }
    }

    /// The configuration in force for these flags and the process environment.
    pub fn resolve(&self) -> Result<Settings, kiosk_core::config::ConfigError> {
        Settings::load(self.load_options(kiosk_core::config::environment()))
    }

    /// `kiosk config show`: the configuration in force, each value's source, secrets hidden.
    pub fn show(&self) -> Result<String, kiosk_core::config::ConfigError> {
        Settings::show(self.load_options(kiosk_core::config::environment()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_core::config::Environment;
    use std::path::Path;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiosk-cli-cfg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn flags_win_over_the_file_and_bad_files_are_named() {
        let dir = temp_dir("flags");
        let f = dir.join("kiosk.toml");
        std::fs::write(
            &f,
            "api_url = \"https://file\"\nproject = \"p-file\"\ndata_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        let args = KioskArgs {
            config: Some(f.clone()),
            project: Some("p-flag".into()),
            ..Default::default()
        };
        let load = |args: &KioskArgs| Settings::load(args.load_options(Environment::default()));
        let r = load(&args).unwrap();
        assert_eq!(r.api_url.as_deref(), Some("https://file"));
        assert_eq!(r.project.as_deref(), Some("p-flag"));
        assert_eq!(r.data_dir, PathBuf::from("/tmp/x"));

        std::fs::write(&f, "api_url = [not toml").unwrap();
        let err = load(&args).unwrap_err();
        assert_eq!(err.code(), "CONFIG_INVALID");
        let err = err.to_string();
        assert!(
            err.contains("kiosk.toml") && err.contains("not valid"),
            "{err}"
        );
        std::fs::write(&f, "api_ur = \"typo\"").unwrap();
        let err = load(&args).unwrap_err().to_string();
        assert!(
            err.contains("api_ur") && err.contains("kiosk.toml"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The CLI on the app's data dir sees what the administrator saved in the app, unless the
    /// environment or a flag says otherwise.
    #[test]
    fn the_cli_sees_the_settings_saved_in_the_app() {
        let dir = temp_dir("saved");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let f = dir.join("kiosk.toml");
        std::fs::write(
            &f,
            "api_url = \"https://file:1\"\nproject = \"p-file\"\nmatch_threshold = 0.3\n",
        )
        .unwrap();
        // As the app's settings screen saves it.
        std::fs::write(
            kiosk_core::settings_file::path(&data),
            r#"{"api_url": "https://saved:2", "project_id": "p-saved", "match_threshold": 0.42}"#,
        )
        .unwrap();
        let args = KioskArgs {
            config: Some(f.clone()),
            data_dir: Some(data.clone()),
            ..Default::default()
        };
        let load = |args: &KioskArgs, env: &[(&str, &str)]| {
            Settings::load(args.load_options(Environment::from_pairs(env.iter().copied()))).unwrap()
        };
        let s = load(&args, &[]);
        assert_eq!(s.api_url.as_deref(), Some("https://saved:2"));
        assert_eq!(s.project.as_deref(), Some("p-saved"));
        assert_eq!(s.match_threshold, 0.42);
        let k = s.kiosk_config();
        assert_eq!(
            (k.project_id.as_deref(), k.match_threshold),
            (Some("p-saved"), 0.42)
        );

        let s = load(&args, &[("KIOSK_PROJECT", "p-env")]);
        assert_eq!(s.project.as_deref(), Some("p-env"));
        assert_eq!(s.api_url.as_deref(), Some("https://saved:2"));

        let flagged = KioskArgs {
            project: Some("p-flag".into()),
            match_threshold: Some(0.5),
            ..args.clone()
        };
        let s = load(&flagged, &[("KIOSK_PROJECT", "p-env")]);
        assert_eq!(s.project.as_deref(), Some("p-flag"));
        assert_eq!(s.match_threshold, 0.5);
        assert_eq!(s.data_dir, data);
        assert!(Path::new(&s.data_dir).is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
