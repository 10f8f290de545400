//! What the window's commands share: the kiosk engine, the live camera (started on first use)
//! and the administrator's session (kiosk-core's, with its timeout and enrolment draft).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use kiosk_core::live::LiveCamera;
use kiosk_core::{AdminSession, Kiosk};

use crate::error::UiResult;

pub struct AppState {
    pub kiosk: Arc<Kiosk>,
    pub camera_spec: String,
    pub camera: Mutex<Option<Arc<LiveCamera>>>,
    /// Bumped by stop_preview: forwarders of older previews stop.
    pub preview_generation: Arc<AtomicU64>,
    pub admin: AdminSession,
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
}
