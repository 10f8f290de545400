//! Generates the permissions for exactly the commands the UI uses; the capability file grants
//! them to the main window and nothing else.

const COMMANDS: &[&str] = &[
    "get_config",
    "start_preview",
    "stop_preview",
    "sign_in_face",
    "otp_send",
    "otp_verify",
    "admin_login",
    "admin_logout",
    "enroll_capture",
    "enroll_reset",
    "enroll_save",
    "users_list",
    "users_delete",
    "watch_status",
    "visitor_active",
    "settings_get",
    "settings_set",
    "kiosk_pair",
    "admin_first_setup",
    "ui_log",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script");
}
