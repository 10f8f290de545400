//! Access Kiosk, the app: a full-screen Tauri window over kiosk-core. This is the only crate
//! that knows Tauri; every command is one call into the engine.
//!
//! Configuration is `kiosk_core::config`'s, the loader the `kiosk` binary uses too: defaults <
//! config file < the administrator's saved settings (`settings.json`) < environment (the app
//! takes no flags).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod boundary;
mod commands;
mod error;
mod log;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use kiosk_core::config::{LoadOptions, Settings};
use kiosk_core::{Kiosk, KioskConfig};
use tauri::{WebviewUrl, WebviewWindowBuilder};

use state::AppState;

/// Blocks the browser behaviours a public kiosk must not offer: context menu, reload, zoom,
/// back/forward, find, print, new windows.
const KIOSK_SCRIPT: &str = r#"
document.addEventListener('contextmenu', (e) => e.preventDefault());
document.addEventListener('keydown', (e) => {
  const k = e.key.toLowerCase();
  if (k === 'f5' || k === 'f11' || k === 'f12' || (e.ctrlKey && 'rpfnwo+-=0'.includes(k)) ||
      (e.altKey && (k === 'arrowleft' || k === 'arrowright'))) { e.preventDefault(); }
}, true);
"#;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What the app starts with (see `kiosk_core::config`).
struct Startup {
    kiosk: KioskConfig,
    camera: String,
    locale: String,
    idle_reset_s: u64,
    webkit_dmabuf: bool,
}

fn config() -> anyhow::Result<Startup> {
    let s = Settings::load(LoadOptions {
        env: kiosk_core::config::environment(),
        ..LoadOptions::default()
    })?;
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating {}", s.data_dir.display()))?;
    let mut cfg = s.kiosk_config();
    // Kiosk camera frames have near faces: the cheaper detector size suits them.
    cfg.vision.detector.max_side = 320;
    Ok(Startup {
        kiosk: cfg,
        camera: s.camera,
        locale: s.locale,
        idle_reset_s: s.idle_reset_s,
        webkit_dmabuf: s.webkit_dmabuf,
    })
}

/// WebKitGTK's DMABUF renderer draws a blank window on some GPU drivers and in virtual
/// machines; unless the config asks for it (`webkit_dmabuf = true`) or the environment
/// already decides (`WEBKIT_DISABLE_DMABUF_RENDERER`), it is turned off before the webview
/// starts. Returns what is in use, for the log.
/// Reads WebKit's own inspector switch (`enable-developer-extras`, what `.devtools(true)` and
/// Tauri's debug default turn on), logs what it found, and pins it off: whatever the build or
/// the builder says, the kiosk's window has no inspector (right-click "Inspect Element", the
/// inspector shortcut). The log line is what the end-to-end test checks.
fn no_inspector(window: &tauri::WebviewWindow) -> tauri::Result<()> {
    #[cfg(target_os = "linux")]
    window.with_webview(|webview| {
        use webkit2gtk::{SettingsExt as _, WebViewExt as _};
        let Some(settings) = webview.inner().settings() else {
            return tracing::error!("webview inspector: the WebKit settings are unreadable");
        };
        let was_on = settings.enables_developer_extras();
        settings.set_enable_developer_extras(false);
        let now_on = settings.enables_developer_extras();
        if was_on {
            tracing::warn!(
                now_on,
                "webview inspector: was on in this build; turned off"
            );
        } else {
            tracing::info!(now_on, "webview inspector: off");
        }
    })?;
    Ok(())
}

fn choose_webkit_renderer(dmabuf: bool) -> &'static str {
    let (disable, said) = webkit_renderer(
        dmabuf,
        std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_some(),
    );
    if disable {
        // SAFETY: called from `run` before any other thread of this process exists (logging,
        // the engine and Tauri all start after it), so nothing reads the environment meanwhile.
        unsafe { std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1") };
    }
    said
}

/// Whether to turn DMABUF off, and what to log: the environment's word first, then the config.
fn webkit_renderer(dmabuf: bool, env_decides: bool) -> (bool, &'static str) {
    if env_decides {
        (
            false,
            "as WEBKIT_DISABLE_DMABUF_RENDERER in the environment says",
        )
    } else if dmabuf {
        (false, "DMABUF (webkit_dmabuf = true)")
    } else {
        (
            true,
            "without DMABUF (WEBKIT_DISABLE_DMABUF_RENDERER=1; webkit_dmabuf = true turns it on)",
        )
    }
}

#[cfg(test)]
mod renderer_tests {
    #[test]
    fn dmabuf_is_off_unless_the_config_or_the_environment_says() {
        assert!(super::webkit_renderer(false, false).0, "off by default");
        assert!(
            !super::webkit_renderer(true, false).0,
            "webkit_dmabuf = true"
        );
        assert!(
            !super::webkit_renderer(false, true).0,
            "the environment decides"
        );
    }
}

/// Logs to stderr and to `kiosk.log` in the data directory (8 MB, then one previous file).
fn init_logging(data_dir: &std::path::Path) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let file = log::RotatingFile::open(&data_dir.join("kiosk.log"), 8 << 20)
        .ok()
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Mutex::new(f))
        });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,ort=warn".into()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // No colour codes where stderr is journald or a file.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(file)
        .init();
}

fn main() {
    if let Err(e) = run() {
        let code = if e.is::<AlreadyRunning>() {
            "ALREADY_RUNNING"
        } else if let Some(c) = e.downcast_ref::<kiosk_core::config::ConfigError>() {
            c.code()
        } else {
            e.downcast_ref::<kiosk_core::KioskError>()
                .map(|k| k.code())
                .unwrap_or("START_FAILED")
        };
        eprintln!("access-kiosk: error [{code}]: {e:#}");
        std::process::exit(1);
    }
}

/// An installed app (.deb) finds the models and ONNX Runtime in Tauri's resource dir,
/// `/usr/lib/<productName>` = `/usr/lib/access-kiosk` (`scripts/kiosk-deb.sh` puts them there);
/// a build in the workspace finds them where `scripts/setup.sh` put them. `MODELS_DIR` and
/// `ORT_DYLIB_PATH` override both.
fn use_bundled_engine(cfg: &mut KioskConfig, context: &tauri::Context<tauri::Wry>) {
    let Ok(dir) =
        tauri::utils::platform::resource_dir(context.package_info(), &tauri::Env::default())
    else {
        return;
    };
    let models = dir.join("models");
    if env("MODELS_DIR").is_none()
        && vision::manifest()
            .iter()
            .all(|m| models.join(m.file).is_file())
    {
        cfg.vision.models_dir = Some(models);
    }
    let ort = dir.join("lib").join("libonnxruntime.so.1.32.0");
    if env("ORT_DYLIB_PATH").is_none() && ort.is_file() {
        cfg.vision.ort_library = Some(ort);
    }
}

/// Whether the window may go to `url`: the app's own origin (`tauri://localhost`, or
/// `http://tauri.localhost` where WebKit serves custom schemes so), or the dev server's exact
/// origin in a build without the embedded UI. Anything else, another port of localhost
/// included, is refused.
fn own_origin(url: &tauri::Url, dev_url: Option<&tauri::Url>) -> bool {
    let app = match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => url.host_str() == Some("tauri.localhost"),
        _ => false,
    };
    let dev = dev_url.is_some_and(|d| d.origin() == url.origin());
    (app && url.port().is_none() && url.username().is_empty() && url.password().is_none()) || dev
}

#[cfg(test)]
mod navigation_tests {
    use super::own_origin;

    #[test]
    fn only_the_apps_own_origin_is_reachable() {
        let u = |s: &str| tauri::Url::parse(s).unwrap();
        for ok in [
            "tauri://localhost/index.html",
            "tauri://localhost/#/admin",
            "http://tauri.localhost/index.html",
        ] {
            assert!(own_origin(&u(ok), None), "{ok}");
        }
        for no in [
            "http://localhost:1420/",
            "http://localhost:8080/v2/access",
            "http://127.0.0.1/",
            "tauri://localhost:9/x",
            "https://evil.example/",
            "tauri://evil/",
            "file:///etc/passwd",
            "http://tauri.localhost.evil.example/",
            "http://user@tauri.localhost/",
        ] {
            assert!(!own_origin(&u(no), None), "{no}");
        }
        // The dev server, only in a dev build and only its own origin.
        let dev = u("http://localhost:1420");
        assert!(own_origin(&u("http://localhost:1420/#/x"), Some(&dev)));
        assert!(!own_origin(&u("http://localhost:1421/"), Some(&dev)));
    }
}

/// One app per data directory, with or without a D-Bus session (a bare kiosk X session may
/// have none, so no D-Bus single-instance plugin). The lock lives as long as the process.
fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("app.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(AlreadyRunning(data_dir.to_path_buf()).into())
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("locking {}", path.display())))
        }
    }
}

#[derive(Debug)]
struct AlreadyRunning(PathBuf);

impl std::fmt::Display for AlreadyRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Access Kiosk is already running on {}", self.0.display())
    }
}

impl std::error::Error for AlreadyRunning {}

fn run() -> anyhow::Result<()> {
    let context = tauri::generate_context!();
    let Startup {
        kiosk: mut cfg,
        camera,
        locale,
        idle_reset_s,
        webkit_dmabuf,
    } = config()?;
    let renderer = choose_webkit_renderer(webkit_dmabuf);
    let _one_app = lock_data_dir(&cfg.data_dir)?;
    init_logging(&cfg.data_dir);
    tracing::info!(renderer, "webkit renderer");
    use_bundled_engine(&mut cfg, &context);
    let shown = |p: &Option<PathBuf>| {
        p.as_deref()
            .map_or("default".into(), |p| p.display().to_string())
    };
    tracing::info!(
        models = %shown(&cfg.vision.models_dir),
        onnxruntime = %shown(&cfg.vision.ort_library),
        "starting"
    );
    let kiosk = Arc::new(Kiosk::open(cfg)?);
    // Ready for the first visitor; a broken engine stops the app here with its code.
    kiosk.load_models()?;
    let state = AppState {
        kiosk: kiosk.clone(),
        camera_spec: camera,
        camera: Mutex::new(None),
        preview_generation: Arc::new(AtomicU64::new(0)),
        admin: kiosk_core::AdminSession::default(),
        idle_reset_s,
        locale,
    };
    // A build without the embedded UI (`tauri dev`) loads it from the dev server.
    let dev_url = tauri::is_dev()
        .then(|| context.config().build.dev_url.clone())
        .flatten();
    tauri::Builder::default()
        .manage(state)
        .setup(move |app| {
            let sync = kiosk.clone();
            tauri::async_runtime::spawn(async move {
                kiosk_core::spawn_sync_loop(sync, Duration::from_secs(10));
            });
            let debug = cfg!(debug_assertions);
            let full_screen = !debug || env("KIOSK_WINDOWED").is_none();
            let window =
                WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                    .title("Access Kiosk")
                    .fullscreen(full_screen)
                    .decorations(false)
                    .resizable(debug)
                    .inner_size(1280.0, 800.0)
                    .initialization_script(KIOSK_SCRIPT)
                    // Never an inspector, even in the debug build the e2e .deb carries (the
                    // e2e tests drive the window through WebDriver, not devtools).
                    .devtools(false)
                    // Only the app's own origin: no other site, no other local port.
                    .on_navigation(move |url| own_origin(url, dev_url.as_ref()))
                    .build()?;
            no_inspector(&window)?;
            if full_screen {
                // Kiosks often run X with no window manager, which ignores the full-screen
                // request: cover the whole monitor by hand as well.
                if let Some(m) = window.current_monitor()?.or(window.primary_monitor()?) {
                    window.set_position(*m.position())?;
                    window.set_size(*m.size())?;
                }
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_config,
            commands::start_preview,
            commands::stop_preview,
            commands::sign_in_face,
            commands::otp_send,
            commands::otp_verify,
            commands::admin_login,
            commands::admin_logout,
            commands::enroll_capture,
            commands::enroll_reset,
            commands::enroll_save,
            commands::users_list,
            commands::users_delete,
            commands::watch_status,
            commands::visitor_active,
            commands::settings_get,
            commands::settings_set,
            commands::kiosk_pair,
            commands::admin_first_setup,
            commands::ui_log,
        ])
        .run(context)
        .context("running the window")?;
    Ok(())
}
