//! Settings an administrator changes at the kiosk: applied to the running engine at once and
//! kept in a JSON file in the data dir, applied over the environment at the next start.

use std::path::Path;

use kiosk_core::LiveSettings;
use serde::{Deserialize, Serialize};

use crate::error::{UiError, UiResult};

/// The file's shape: every field optional, so a file written by an older version still loads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    pub api_url: Option<String>,
    pub project_id: Option<String>,
    pub match_threshold: Option<f32>,
    pub liveness_threshold: Option<f32>,
}

impl Settings {
    /// These settings over `base`; empty strings clear a field.
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

    pub fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a file.
    pub fn save(s: &LiveSettings, path: &Path) -> UiResult<()> {
        let fail = |e: std::io::Error| UiError::new("SETTINGS_WRITE", e.to_string());
        let file = Self {
            api_url: s.api_url.clone(),
            project_id: s.project_id.clone(),
            match_threshold: Some(s.match_threshold),
            liveness_threshold: Some(s.liveness_threshold),
        };
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&file).unwrap_or_default()).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
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

    #[test]
    fn empty_text_clears_and_missing_fields_keep_the_base() {
        let s = Settings {
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
        let dir = std::env::temp_dir().join(format!("kiosk-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("settings.json");
        Settings::save(&base(), &path).unwrap();
        let back = Settings::load(&path).unwrap().unwrap().over(LiveSettings {
            api_url: None,
            project_id: None,
            match_threshold: 0.0,
            liveness_threshold: 0.0,
        });
        assert_eq!(back, base());
        assert!(!path.with_extension("json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
