//! The kiosk's configuration file, shared by the app and the `kiosk` binary: TOML at
//! `$KIOSK_CONFIG`, else `$XDG_CONFIG_HOME/access-kiosk/kiosk.toml`, else
//! `/etc/access-kiosk/kiosk.toml` (an installed kiosk has no environment to set: the .deb's
//! launcher starts the app bare). Environment variables and flags win over it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub api_url: Option<String>,
    pub token: Option<String>,
    pub project: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub admin_pin: Option<String>,
    pub kiosk_id: Option<String>,
    pub match_threshold: Option<f32>,
    pub liveness_threshold: Option<f32>,
    /// The app's camera (`v4l:0`, `replay:DIR@15`).
    pub camera: Option<String>,
    /// The app's first language (`en`, `es`).
    pub locale: Option<String>,
    /// Seconds without a touch before the app goes back home.
    pub idle_reset_s: Option<u64>,
    /// Let WebKitGTK use its DMABUF renderer (default false: it gives a blank window on some
    /// GPU drivers and virtual machines, and a kiosk screen gains nothing from it).
    pub webkit_dmabuf: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        "CONFIG_INVALID"
    }
}

/// `$XDG_DATA_HOME`-style directories, with their `$HOME` fallback.
pub fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
}

/// Where the file is looked for when none is named, in order.
pub fn default_locations() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = xdg("XDG_CONFIG_HOME", ".config")
        .map(|d| d.join("access-kiosk/kiosk.toml"))
        .into_iter()
        .collect();
    v.push(PathBuf::from("/etc/access-kiosk/kiosk.toml"));
    v
}

/// Reads `explicit` (which must exist), else the first default location that exists, else
/// an empty configuration.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => default_locations().into_iter().find(|p| p.exists()),
    };
    let Some(path) = path else {
        return Ok((FileConfig::default(), None));
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let file = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: shown,
        source: Box::new(e),
    })?;
    Ok((file, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_named_file_and_names_a_bad_one() {
        let dir = std::env::temp_dir().join(format!("kiosk-cfgfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("kiosk.toml");
        std::fs::write(
            &f,
            "api_url = \"http://127.0.0.1:8787/v2/access\"\ncamera = \"v4l:1\"\nidle_reset_s = 90\n",
        )
        .unwrap();
        let (c, at) = load(Some(&f)).unwrap();
        assert_eq!(at.as_deref(), Some(f.as_path()));
        assert_eq!(c.camera.as_deref(), Some("v4l:1"));
        assert_eq!(c.idle_reset_s, Some(90));

        std::fs::write(&f, "api_url = [not toml").unwrap();
        let e = load(Some(&f)).unwrap_err();
        assert_eq!(e.code(), "CONFIG_INVALID");
        assert!(e.to_string().contains("kiosk.toml"), "{e}");
        std::fs::write(&f, "api_ur = \"typo\"").unwrap();
        assert!(load(Some(&f)).unwrap_err().to_string().contains("api_ur"));
        let missing = dir.join("absent.toml");
        assert!(matches!(
            load(Some(&missing)),
            Err(ConfigError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
