//! Settings an administrator changes at the kiosk, kept in a JSON file in the data dir and
//! applied over the environment at start.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{UiError, UiResult};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    pub api_url: Option<String>,
    pub project_id: Option<String>,
    pub match_threshold: Option<f32>,
    pub liveness_threshold: Option<f32>,
}

impl Settings {
    pub fn current(k: &kiosk_core::Kiosk) -> Self {
        let c = k.config();
        Self {
            api_url: c.api_url.clone(),
            project_id: c.project_id.clone(),
            match_threshold: Some(c.match_threshold),
            liveness_threshold: Some(c.liveness_threshold),
        }
    }

    pub fn validate(&self) -> UiResult<()> {
        if let Some(u) = &self.api_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(UiError::new(
                "SETTINGS_INVALID",
                "The API URL must start with http:// or https://",
            ));
        }
        for t in [self.match_threshold, self.liveness_threshold]
            .into_iter()
            .flatten()
        {
            if !(0.0..=1.0).contains(&t) {
                return Err(UiError::new(
                    "SETTINGS_INVALID",
                    "Thresholds are between 0 and 1",
                ));
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a file.
    pub fn save(&self, path: &Path) -> UiResult<()> {
        let fail = |e: std::io::Error| UiError::new("SETTINGS_WRITE", e.to_string());
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default()).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}
