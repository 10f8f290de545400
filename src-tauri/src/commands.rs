//! The window's commands: each takes the state, makes one kiosk-core call, returns.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kiosk_core::live::PreviewFrame;
use kiosk_core::{AdminAuth, LiveSettings, OtpChannel, SyncStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tauri::State;
use tauri::ipc::Channel;

use crate::error::{UiError, UiResult};
use crate::settings::Settings;
use crate::state::AppState;

#[derive(Serialize)]
pub struct UiConfig {
    methods: Value,
    online: bool,
    kiosk_id: String,
    idle_reset_s: u64,
    locale: String,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_config(state: State<'_, AppState>) -> UiResult<UiConfig> {
    let codes = state.kiosk.codes_configured();
    Ok(UiConfig {
        methods: json!({"face": true, "email": codes, "sms": codes, "whatsapp": codes}),
        online: state.kiosk.check_online().await,
        kiosk_id: state.kiosk.config().kiosk_id.clone(),
        idle_reset_s: state.idle_reset_s,
        locale: state.locale.clone(),
    })
}

/// Streams analysed camera frames to the UI until stop_preview or a newer preview.
#[tauri::command(rename_all = "snake_case")]
pub async fn start_preview(
    state: State<'_, AppState>,
    on_frame: Channel<PreviewFrame>,
) -> UiResult<()> {
    let camera = state.camera()?;
    let generations = state.preview_generation.clone();
    let mine = generations.fetch_add(1, Ordering::SeqCst) + 1;
    let mut rx = camera.preview();
    tauri::async_runtime::spawn(async move {
        while rx.changed().await.is_ok() && generations.load(Ordering::SeqCst) == mine {
            let frame = rx.borrow_and_update().clone();
            if let Some(f) = frame
                && on_frame.send(f).is_err()
            {
                break;
            }
        }
    });
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub fn stop_preview(state: State<'_, AppState>) {
    state.preview_generation.fetch_add(1, Ordering::SeqCst);
}

/// Decides on the last frames the camera saw. The access token stays in the shell.
#[tauri::command(rename_all = "snake_case")]
pub async fn sign_in_face(state: State<'_, AppState>, user_id: Option<String>) -> UiResult<Value> {
    let started = std::time::Instant::now();
    let camera = state.camera()?;
    let out = state
        .kiosk
        .sign_in_live(&camera, user_id.as_deref())
        .await?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        decision = ?out.decision,
        reason = out.reason.as_deref().unwrap_or(""),
        mode = ?out.mode,
        frames = out.frames,
        "face sign-in"
    );
    let mut v = serde_json::to_value(&out).map_err(|e| UiError::new("INTERNAL", e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        m.remove("access_token");
    }
    Ok(v)
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum UiChannel {
    Email,
    Sms,
    Whatsapp,
}

impl From<UiChannel> for OtpChannel {
    fn from(c: UiChannel) -> Self {
        match c {
            UiChannel::Email => OtpChannel::Email,
            UiChannel::Sms => OtpChannel::Sms,
            UiChannel::Whatsapp => OtpChannel::Whatsapp,
        }
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn otp_send(
    state: State<'_, AppState>,
    channel: UiChannel,
    to: String,
) -> UiResult<Value> {
    let v = state.kiosk.otp_send(channel.into(), &to).await?;
    Ok(json!({
        "validation_id": v.validation_id, "status": v.status, "expires_at": v.expires_at,
        "channel": v.channel, "attempts_remaining": v.attempts_remaining, "resent": v.resent,
    }))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn otp_verify(
    state: State<'_, AppState>,
    channel: UiChannel,
    to: String,
    code: String,
    validation_id: String,
) -> UiResult<Value> {
    let v = state
        .kiosk
        .otp_verify(channel.into(), &to, &code, &validation_id)
        .await?;
    Ok(json!({"validation_id": v.validation_id, "status": v.status}))
}

#[tauri::command(rename_all = "snake_case")]
pub fn admin_login(state: State<'_, AppState>, pin: String) -> UiResult<Value> {
    state.kiosk.check_admin(AdminAuth::Pin(&pin))?;
    *state.admin.lock().unwrap_or_else(|e| e.into_inner()) = Some((pin, std::time::Instant::now()));
    Ok(json!({"ok": true}))
}

#[tauri::command(rename_all = "snake_case")]
pub fn admin_logout(state: State<'_, AppState>) {
    *state.admin.lock().unwrap_or_else(|e| e.into_inner()) = None;
    state
        .samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// Takes the camera's latest frame as an enrolment sample if it is good enough.
#[tauri::command(rename_all = "snake_case")]
pub async fn enroll_capture(state: State<'_, AppState>) -> UiResult<Value> {
    state.admin_pin()?;
    let camera = state.camera()?;
    let frame = camera
        .wait_for_frames(1, Duration::from_secs(3))
        .await
        .pop()
        .ok_or_else(|| UiError::new("NO_FRAMES", "The camera has not delivered a frame"))?;
    let check = state.kiosk.assess_sample(frame.clone()).await?;
    if !check.accepted {
        return Err(UiError {
            code: "FACE_QUALITY".into(),
            message: "This sample is not good enough".into(),
            details: json!({"guidance": check.guidance, "quality": check.quality}),
        });
    }
    let thumb = frame
        .fitted(160, 120)
        .and_then(|t| t.to_jpeg(75))
        .map_err(kiosk_core::KioskError::from)?;
    let mut samples = state.samples.lock().unwrap_or_else(|e| e.into_inner());
    if samples.len() >= kiosk_core::MAX_ENROL_SAMPLES {
        return Err(UiError::new(
            "ENROL_SAMPLE_COUNT",
            "Five samples is the most",
        ));
    }
    samples.push(frame);
    use base64::Engine as _;
    Ok(json!({
        "index": samples.len() - 1,
        "thumbnail_jpeg_b64": base64::engine::general_purpose::STANDARD.encode(thumb),
        "quality": check.quality,
        "guidance": check.guidance,
    }))
}

#[tauri::command(rename_all = "snake_case")]
pub fn enroll_reset(state: State<'_, AppState>) {
    state
        .samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

#[tauri::command(rename_all = "snake_case")]
pub async fn enroll_save(
    state: State<'_, AppState>,
    user_id: String,
    name: Option<String>,
) -> UiResult<Value> {
    let pin = state.admin_pin()?;
    let samples = state
        .samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let name = name.filter(|n| !n.trim().is_empty());
    let e = state
        .kiosk
        .enroll(AdminAuth::Pin(&pin), &user_id, name.as_deref(), samples)
        .await?;
    state
        .samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    Ok(json!({"user_id": e.user_id, "samples": e.samples, "state": e.state}))
}

#[tauri::command(rename_all = "snake_case")]
pub fn users_list(state: State<'_, AppState>) -> UiResult<Value> {
    state.admin_pin()?;
    Ok(serde_json::to_value(state.kiosk.users()?).unwrap_or_default())
}

#[tauri::command(rename_all = "snake_case")]
pub fn users_delete(state: State<'_, AppState>, user_id: String) -> UiResult<Value> {
    let pin = state.admin_pin()?;
    let deleted = state.kiosk.delete_user(AdminAuth::Pin(&pin), &user_id)?;
    Ok(json!({"deleted": deleted}))
}

/// Streams connectivity, pending count and cache size to the UI.
#[tauri::command(rename_all = "snake_case")]
pub fn watch_status(state: State<'_, AppState>, on_status: Channel<SyncStatus>) {
    let mut rx = state.kiosk.status();
    tauri::async_runtime::spawn(async move {
        loop {
            let s = rx.borrow_and_update().clone();
            if on_status.send(s).is_err() || rx.changed().await.is_err() {
                break;
            }
        }
    });
}

#[tauri::command(rename_all = "snake_case")]
pub fn settings_get(state: State<'_, AppState>) -> UiResult<LiveSettings> {
    state.admin_pin()?;
    Ok(state.kiosk.settings())
}

/// Applies the settings to the running kiosk at once and saves them for the next start.
#[tauri::command(rename_all = "snake_case")]
pub fn settings_set(
    state: State<'_, AppState>,
    api_url: Option<String>,
    project_id: Option<String>,
    match_threshold: Option<f32>,
    liveness_threshold: Option<f32>,
) -> UiResult<LiveSettings> {
    state.admin_pin()?;
    let new = Settings {
        api_url,
        project_id,
        match_threshold,
        liveness_threshold,
    }
    .over(state.kiosk.settings());
    state.kiosk.apply_settings(new.clone())?;
    Settings::save(&new, &state.settings_file)?;
    Ok(new)
}
