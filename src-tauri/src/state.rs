//! What the window's commands share: the kiosk engine, the live camera (started on first use),
//! the administrator session and the enrolment samples being captured.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_core::Kiosk;
use kiosk_core::live::LiveCamera;
use vision::Frame;

use crate::error::{UiError, UiResult};

/// An administrator session ends after this long without an admin action.
pub const ADMIN_IDLE: Duration = Duration::from_secs(300);

pub struct AppState {
    pub kiosk: Arc<Kiosk>,
    pub camera_spec: String,
    pub camera: Mutex<Option<Arc<LiveCamera>>>,
    /// Bumped by stop_preview: forwarders of older previews stop.
    pub preview_generation: Arc<AtomicU64>,
    pub admin: Mutex<Option<(String, Instant)>>,
    pub samples: Mutex<Vec<Frame>>,
    pub settings_file: PathBuf,
    pub idle_reset_s: u64,
    pub locale: String,
}

impl AppState {
    pub fn camera(&self) -> UiResult<Arc<LiveCamera>> {
        let mut slot = self.camera.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cam = Arc::new(self.kiosk.start_camera(&self.camera_spec)?);
        *slot = Some(cam.clone());
        Ok(cam)
    }

    /// The PIN of the open administrator session, refreshed by each use.
    pub fn admin_pin(&self) -> UiResult<String> {
        let mut s = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        match s.as_mut() {
            Some((pin, at)) if at.elapsed() < ADMIN_IDLE => {
                *at = Instant::now();
                Ok(pin.clone())
            }
            _ => {
                *s = None;
                Err(UiError::new(
                    "ADMIN_REQUIRED",
                    "An administrator must sign in first",
                ))
            }
        }
    }
}
