//! Kiosk configuration: a TOML file (XDG config dir, or --config), then environment variables,
//! then flags; flags win.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Everything configurable from the command line (each also from env and the file).
#[derive(Args, Clone, Debug, Default)]
pub struct KioskArgs {
    /// Config file (default: $XDG_CONFIG_HOME/access-kiosk/kiosk.toml, else
    /// /etc/access-kiosk/kiosk.toml, if present).
    #[arg(long, global = true, env = "KIOSK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Access API root, e.g. http://127.0.0.1:8787/v2/access.
    #[arg(long, global = true, env = "KIOSK_API_URL")]
    pub api_url: Option<String>,
    /// Bearer token (kiosk scope) for the Access API.
    #[arg(long, global = true, env = "KIOSK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long, global = true, env = "KIOSK_PROJECT")]
    pub project: Option<String>,
    /// Where the kiosk keeps its database and keys (default: $XDG_DATA_HOME/access-kiosk).
    #[arg(long, global = true, env = "KIOSK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, global = true, env = "KIOSK_ADMIN_PIN", hide_env_values = true)]
    pub admin_pin: Option<String>,
    #[arg(long, global = true, env = "KIOSK_ID")]
    pub kiosk_id: Option<String>,
    #[arg(long, global = true)]
    pub match_threshold: Option<f32>,
    #[arg(long, global = true)]
    pub liveness_threshold: Option<f32>,
}

impl KioskArgs {
    /// Flags and env (already merged by clap) over the file over defaults.
    pub fn resolve(&self) -> anyhow::Result<ResolvedConfig> {
        let (file, _) = kiosk_core::config_file::load(self.config.as_deref())?;
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .or_else(|| {
                kiosk_core::config_file::xdg("XDG_DATA_HOME", ".local/share")
                    .map(|d| d.join("access-kiosk"))
            })
            .context("no data directory: set --data-dir or KIOSK_DATA_DIR")?;
        Ok(ResolvedConfig {
            api_url: self.api_url.clone().or(file.api_url),
            token: self.token.clone().or(file.token),
            project: self.project.clone().or(file.project),
            data_dir,
            admin_pin: self.admin_pin.clone().or(file.admin_pin),
            kiosk_id: self.kiosk_id.clone().or(file.kiosk_id),
            match_threshold: self.match_threshold.or(file.match_threshold),
            liveness_threshold: self.liveness_threshold.or(file.liveness_threshold),
        })
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    pub api_url: Option<String>,
    pub token: Option<String>,
    pub project: Option<String>,
    pub data_dir: PathBuf,
    pub admin_pin: Option<String>,
    pub kiosk_id: Option<String>,
    pub match_threshold: Option<f32>,
    pub liveness_threshold: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("kiosk-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("kiosk.toml");
        std::fs::write(
            &f,
            "api_url = \"http://file\"\nproject = \"p-file\"\ndata_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        let args = KioskArgs {
            config: Some(f.clone()),
            project: Some("p-flag".into()),
            ..Default::default()
        };
        let r = args.resolve().unwrap();
        assert_eq!(r.api_url.as_deref(), Some("http://file"));
        assert_eq!(r.project.as_deref(), Some("p-flag"));
        assert_eq!(r.data_dir, PathBuf::from("/tmp/x"));

        std::fs::write(&f, "api_url = [not toml").unwrap();
        let err = format!("{:#}", args.resolve().unwrap_err());
        assert!(
            err.contains("kiosk.toml") && err.contains("not valid"),
            "{err}"
        );
        std::fs::write(&f, "api_ur = \"typo\"").unwrap();
        assert!(args.resolve().is_err());
    }
}
