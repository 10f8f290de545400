//! The window's commands: each takes the state, makes one kiosk-core call, and answers with a
//! type from `boundary` (or kiosk-core's own), never free-form JSON.

use std::sync::atomic::Ordering;

use kiosk_core::live::PreviewFrame;
use kiosk_core::{CapturedSample, LiveSettings, SettingsFile, SyncStatus, settings_file};
use tauri::State;
use tauri::ipc::Channel;

use crate::boundary::{
    Deleted, EnrolSaved, FaceResult, Methods, OtpChannel, OtpSent, OtpVerified, Paired, UiConfig,
    UserRow,
};
use crate::error::UiResult;
use crate::state::AppState;

#[tauri::command(rename_all = "snake_case")]
pub async fn get_config(state: State<'_, AppState>) -> UiResult<UiConfig> {
    let codes = state.kiosk.codes_configured();
    Ok(UiConfig {
        methods: Methods {
            face: true,
            email: codes,
            sms: codes,
            whatsapp: codes,
        },
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

/// Decides on the last frames the camera saw. The access token stays in the shell:
/// `FaceResult` has no place for it.
#[tauri::command(rename_all = "snake_case")]
pub async fn sign_in_face(
    state: State<'_, AppState>,
    user_id: Option<String>,
) -> UiResult<FaceResult> {
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
    Ok(out.into())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn otp_send(
    state: State<'_, AppState>,
    channel: OtpChannel,
    to: String,
) -> UiResult<OtpSent> {
    let v = state.kiosk.otp_send(channel, &to).await?;
    Ok(OtpSent {
        validation_id: v.validation_id,
        status: v.status,
        expires_at: v.expires_at,
        channel,
        attempts_remaining: v.attempts_remaining,
        resent: v.resent,
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn otp_verify(
    state: State<'_, AppState>,
    channel: OtpChannel,
    to: String,
    code: String,
    validation_id: String,
) -> UiResult<OtpVerified> {
    let v = state
        .kiosk
        .otp_verify(channel, &to, &code, &validation_id)
        .await?;
    Ok(OtpVerified {
        validation_id: v.validation_id,
        status: v.status,
    })
}

/// Opens an administrator session (closed by admin_logout or after five idle minutes).
#[tauri::command(rename_all = "snake_case")]
pub fn admin_login(state: State<'_, AppState>, pin: String) -> UiResult<()> {
    Ok(state.admin.login(&state.kiosk, &pin)?)
}

/// Ends the session, and with it the enrolment draft.
#[tauri::command(rename_all = "snake_case")]
pub fn admin_logout(state: State<'_, AppState>) {
    state.admin.logout();
}

/// Takes the camera's latest frame into the session's draft if it is good enough.
#[tauri::command(rename_all = "snake_case")]
pub async fn enroll_capture(state: State<'_, AppState>) -> UiResult<CapturedSample> {
    let admin = state.admin.admin()?;
    let camera = state.camera()?;
    Ok(admin.draft().capture(&state.kiosk, &camera).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub fn enroll_reset(state: State<'_, AppState>) -> UiResult<()> {
    state.admin.admin()?.draft().clear();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn enroll_save(
    state: State<'_, AppState>,
    user_id: String,
    name: Option<String>,
) -> UiResult<EnrolSaved> {
    let admin = state.admin.admin()?;
    let e = admin
        .draft()
        .save(&state.kiosk, admin.auth(), &user_id, name.as_deref())
        .await?;
    Ok(e.into())
}

#[tauri::command(rename_all = "snake_case")]
pub fn users_list(state: State<'_, AppState>) -> UiResult<Vec<UserRow>> {
    state.admin.admin()?;
    Ok(state
        .kiosk
        .users()?
        .into_iter()
        .map(|u| UserRow {
            user_id: u.user_id,
            name: u.name,
            templates: u.templates,
            created_at: u.created_at,
        })
        .collect())
}

#[tauri::command(rename_all = "snake_case")]
pub fn users_delete(state: State<'_, AppState>, user_id: String) -> UiResult<Deleted> {
    let admin = state.admin.admin()?;
    let deleted = state.kiosk.delete_user(admin.auth(), &user_id)?;
    Ok(Deleted { deleted })
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
    state.admin.admin()?;
    Ok(state.kiosk.settings())
}

/// Applies a change to the running kiosk at once and saves it for the next start; a field the
/// change leaves out keeps its value, an empty text clears it.
#[tauri::command(rename_all = "snake_case")]
pub fn settings_set(state: State<'_, AppState>, change: SettingsFile) -> UiResult<LiveSettings> {
    state.admin.admin()?;
    Ok(settings_file::update(&state.kiosk, change)?)
}

/// Pairs this kiosk with the Access API at `api_url` using a one-time code an administrator
/// made (staff only): the API address and project become its settings, and from then on it
/// gets its own tokens from its device key.
#[tauri::command(rename_all = "snake_case")]
pub async fn kiosk_pair(
    state: State<'_, AppState>,
    api_url: String,
    code: String,
) -> UiResult<Paired> {
    state.admin.admin()?;
    Ok(state.kiosk.pair(&api_url, &code).await?.into())
}

/// The first set-up of a kiosk with no staff PIN: pair it with an administrator's one-time
/// code, then set the first PIN. Nobody walking up can set a PIN without such a code.
#[tauri::command(rename_all = "snake_case")]
pub async fn admin_first_setup(
    state: State<'_, AppState>,
    api_url: String,
    code: String,
    new_pin: String,
) -> UiResult<Paired> {
    Ok(state
        .kiosk
        .first_setup(&api_url, &code, &new_pin)
        .await?
        .into())
}

/// How bad a message from the webview is.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UiLogLevel {
    Warn,
    Error,
}

/// The longest message from the webview kept in the log (characters).
const UI_LOG_MAX_CHARS: usize = 2000;

/// The webview's own errors (uncaught exceptions, rejected promises, `console.error`) into
/// `kiosk.log`: otherwise a blank or stuck screen on a device leaves no trace. The text is
/// logged quoted and escaped (a newline in it cannot forge a log line) and cut to
/// [`UI_LOG_MAX_CHARS`]; the UI limits how many it sends (ui/src/lib/uilog.ts) and the log
/// file is rotated at 8 MB.
#[tauri::command]
pub fn ui_log(level: UiLogLevel, message: String) {
    let text: String = message.chars().take(UI_LOG_MAX_CHARS).collect();
    match level {
        UiLogLevel::Warn => tracing::warn!(target: "webview", "{text:?}"),
        UiLogLevel::Error => tracing::error!(target: "webview", "{text:?}"),
    }
}

/// A visitor touched the screen: the engine probes the API now, so a kiosk that was offline
/// shows the code methods again within a probe.
#[tauri::command]
pub fn visitor_active(state: State<'_, AppState>) {
    state.kiosk.visitor_active();
}
