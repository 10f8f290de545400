//! `settings.json` in the data dir: what an administrator changed at the kiosk (API URL,
//! project, thresholds), applied to the running engine at once and kept for the next start.
//!
//! At start the saved file is one layer of the kiosk's configuration (`config`, for the app
//! and the `kiosk` binary alike): over the config file, under the environment and flags. A
//! field the file does not name keeps the value below it; an empty string clears it (no API,
//! no project).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{KioskError, Result};
use crate::{Kiosk, LiveSettings};

pub const FILE_NAME: &str = "settings.json";

/// Where a data dir keeps its saved settings.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The file's shape, and a change an administrator asks for: every field optional, so a file
/// written by an older version still loads and a change names only what it changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SettingsFile {
    pub api_url: Option<String>,
    pub project_id: Option<String>,
    pub match_threshold: Option<f32>,
    pub liveness_threshold: Option<f32>,
}

impl SettingsFile {
    /// These settings over `base`: a missing field keeps the base's, an empty string clears.
    pub fn over(self, base: LiveSettings) -> LiveSettings {
        let text = |v: Option<String>, old: Option<String>| match v {
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some(v.trim().to_string()),
            None => old,
        };
        LiveSettings {
            api_url: text(self.api_url, base.api_url),
            project_id: text(self.project_id, base.project_id),
            match_threshold: self.match_threshold.unwrap_or(base.match_threshold),
            liveness_threshold: self.liveness_threshold.unwrap_or(base.liveness_threshold),
        }
    }

    /// The saved settings, or None when nothing was saved; `SETTINGS_READ` for a file that
    /// cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let fail = |reason: String| KioskError::SettingsRead {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| fail(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Saves `s` whole, a cleared field as an empty string (so it stays cleared over the
    /// config file at the next start); written to a temporary file and renamed, so a crash
    /// never leaves half a file. `SETTINGS_WRITE` when it cannot be written.
    pub fn save(s: &LiveSettings, path: &Path) -> Result<()> {
        let fail = |source: std::io::Error| KioskError::SettingsWrite {
            path: path.to_path_buf(),
            source,
        };
        let file = Self {
            api_url: Some(s.api_url.clone().unwrap_or_default()),
            project_id: Some(s.project_id.clone().unwrap_or_default()),
            match_threshold: Some(s.match_threshold),
            liveness_threshold: Some(s.liveness_threshold),
        };
        let json = serde_json::to_vec_pretty(&file).expect("plain fields serialise");
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

/// An administrator's change: over the settings in force, applied to the running kiosk at
/// once (`Kiosk::apply_settings`: validated, audited), then saved for the next start. Returns
/// the settings now in force.
pub fn update(kiosk: &Kiosk, change: SettingsFile) -> Result<LiveSettings> {
    let new = change.over(kiosk.settings());
    kiosk.apply_settings(new.clone())?;
    SettingsFile::save(&new, &path(&kiosk.config().data_dir))?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LiveSettings {
        LiveSettings {
            api_url: Some("http://127.0.0.1:8787".into()),
            project_id: Some("prj_1".into()),
            match_threshold: 0.36,
            liveness_threshold: 0.6,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiosk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn empty_text_clears_and_missing_fields_keep_the_base() {
        let s = SettingsFile {
            api_url: Some("  ".into()),
            project_id: None,
            match_threshold: Some(0.4),
            liveness_threshold: None,
        }
        .over(base());
        assert_eq!(s.api_url, None);
        assert_eq!(s.project_id.as_deref(), Some("prj_1"));
        assert_eq!(s.match_threshold, 0.4);
        assert_eq!(s.liveness_threshold, 0.6);
    }

    #[test]
    fn a_saved_file_loads_back_the_same_settings() {
        let dir = temp_dir("settings-round-trip");
        let path = path(&dir);
        assert_eq!(SettingsFile::load(&path).unwrap(), None);
        SettingsFile::save(&base(), &path).unwrap();
        let back = SettingsFile::load(&path)
            .unwrap()
            .unwrap()
            .over(LiveSettings {
                api_url: None,
                project_id: None,
                match_threshold: 0.0,
                liveness_threshold: 0.0,
            });
        assert_eq!(back, base());
        assert!(!path.with_extension("json.tmp").exists());
        // Saved with no API: the cleared fields are saved as empty texts, which clear.
        let offline = LiveSettings {
            api_url: None,
            project_id: None,
            ..base()
        };
        SettingsFile::save(&offline, &path).unwrap();
        let back = SettingsFile::load(&path).unwrap().unwrap();
        assert_eq!(back.project_id.as_deref(), Some(""));
        assert_eq!(back.over(base()), offline);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_file_is_named_not_ignored() {
        let dir = temp_dir("settings-damaged");
        std::fs::write(path(&dir), "{not json").unwrap();
        let e = SettingsFile::load(&path(&dir)).unwrap_err();
        assert_eq!(e.code(), "SETTINGS_READ");
        assert!(e.to_string().contains(FILE_NAME), "{e}");
        let e = SettingsFile::save(&base(), &dir.join("absent/settings.json")).unwrap_err();
        assert_eq!(e.code(), "SETTINGS_WRITE");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
