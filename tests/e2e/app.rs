//! The real app binary under Xvfb, driven through tauri-driver and WebKitWebDriver, against
//! the real access-server, with the replay camera on the shared photos. Every screen visited
//! is saved as a PNG under target/e2e-screens/<test>/.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use kiosk_e2e::{App, TestServer, faces_dir, server_knowing_obama};

const WAIT: Duration = Duration::from_secs(60);

/// One app at a time: each test runs a window, WebKit and the face pipeline, and five of them
/// at once on two cores would be testing the scheduler.
static ONE_APP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn temp(tag: &str) -> PathBuf {
    test_support::temp_dir(&format!("kiosk-e2e-{tag}"))
}

/// The kiosk in `dir`/kiosk, its camera a replay of obama's photos.
fn obama_camera_env(server: &TestServer, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    server.kiosk_env(
        &dir.join("kiosk"),
        &replay("face_recognition_examples/obama"),
    )
}

fn replay(folder: &str) -> String {
    format!("replay:{}@10", faces_dir().join(folder).display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_code_sign_in_with_the_code_from_the_outbox() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("email");
    let server = TestServer::for_kiosks().await;
    let env = server.kiosk_env(
        &dir.join("kiosk"),
        &replay("face_recognition_examples/obama"),
    );
    let mut app = App::launch("email_code_sign_in", &env).await?;
    app.wait("screen-home", WAIT).await?;
    app.wait("method-email", WAIT).await?;
    // Kiosk lockdown: no context menu, no reload or zoom keys, no way to another site, and
    // no Tauri API beyond the app's own commands (the window cannot be closed from the page).
    let blocked = app
        .execute(
            "const ev = (e) => { document.dispatchEvent(e); return e.defaultPrevented; }; \
             return [ev(new MouseEvent('contextmenu', {bubbles: true, cancelable: true})), \
                     ev(new KeyboardEvent('keydown', {key: 'F5', bubbles: true, cancelable: true})), \
                     ev(new KeyboardEvent('keydown', {key: 'r', ctrlKey: true, bubbles: true, cancelable: true})), \
                     ev(new KeyboardEvent('keydown', {key: '+', ctrlKey: true, bubbles: true, cancelable: true}))];",
        )
        .await?;
    assert_eq!(blocked, serde_json::json!([true, true, true, true]));
    let refused = app
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             window.__TAURI_INTERNALS__.invoke('plugin:window|close', {label: 'main'}) \
               .then(() => done('allowed'), (e) => done(String(e)));",
        )
        .await?;
    assert!(
        refused.as_str().is_some_and(|r| r.contains("not allowed")),
        "{refused}"
    );
    app.execute("window.location.href = 'https://example.org/'; return null")
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.wait("method-email", WAIT).await?;
    let url = app.execute("return location.href").await?;
    assert!(
        !url.as_str().unwrap_or_default().contains("example.org"),
        "{url}"
    );
    // A second copy on the same data refuses to start, D-Bus or not.
    let second =
        std::process::Command::new(kiosk_e2e::workspace().join("target/debug/access-kiosk"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("DISPLAY")
            .output()?;
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && said.contains("[ALREADY_RUNNING]"),
        "{:?}: {said}",
        second.status
    );
    app.screenshot("home").await?;
    app.click("method-email").await?;
    app.type_into("email-input", "ada@example.com").await?;
    app.screenshot("email").await?;
    app.click("send-code").await?;
    app.wait("screen-code", WAIT).await?;
    app.screenshot("code").await?;
    // The code screen counts down to expiry, and resending waits out the rate limit.
    let seconds = |v: String| v.parse::<u64>().unwrap_or(0);
    assert!(seconds(app.attribute("countdown", "data-seconds").await?) > 60);
    assert!(seconds(app.attribute("resend", "data-seconds").await?) > 0);
    assert!(
        app.attribute("resend", "disabled")
            .await
            .is_ok_and(|d| !d.is_empty() && d != "false")
    );
    let code = server.outbox_code("ada@example.com").await;
    // A wrong code first: the real server counts it, and the screen says how many remain.
    let wrong: String = code
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let before = app.attribute("attempts-remaining", "data-attempts").await?;
    app.type_into("code-box-0", &wrong).await?;
    app.click("verify-code").await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.text("code-error").await?.is_empty() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no error for a wrong code"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = app.attribute("attempts-remaining", "data-attempts").await?;
    assert_eq!(
        seconds(after.clone()) + 1,
        seconds(before.clone()),
        "{before} -> {after}"
    );
    app.screenshot("wrong-code").await?;
    app.type_into("code-box-0", &code).await?;
    app.click("verify-code").await?;
    app.wait("result-success", WAIT).await?;
    let who = app.text("screen-result").await?;
    assert!(
        who.contains("ada@example.com") || who.contains("ada"),
        "{who}"
    );
    app.screenshot("success").await?;
    app.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_sign_in_by_whatsapp_then_idle_reset_to_home() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("whatsapp");
    let server = TestServer::for_kiosks().await;
    let mut env = server.kiosk_env(
        &dir.join("kiosk"),
        &replay("face_recognition_examples/obama"),
    );
    env.push(("KIOSK_IDLE_RESET_S", "8".into()));
    let mut app = App::launch("phone_by_whatsapp", &env).await?;
    app.click("method-phone").await?;
    app.wait("screen-phone", WAIT).await?;
    app.click("country-34").await?;
    app.type_into("phone-input", "612345678").await?;
    app.click("channel-whatsapp").await?;
    app.screenshot("phone").await?;
    app.click("send-code").await?;
    app.wait("screen-code", WAIT).await?;
    app.screenshot("code").await?;
    let code = server.outbox_code("+34612345678").await;
    app.type_into("code-box-0", &code).await?;
    app.click("verify-code").await?;
    app.wait("result-success", WAIT).await?;
    app.screenshot("success").await?;

    // Someone walks away half way: the kiosk goes back home on its own after the idle time.
    app.click("result-done").await?;
    app.click("method-email").await?;
    app.wait("screen-email", WAIT).await?;
    let left_at = std::time::Instant::now();
    app.wait("screen-home", Duration::from_secs(30)).await?;
    let idle = left_at.elapsed();
    assert!(idle >= Duration::from_secs(7), "reset after only {idle:?}");
    app.screenshot("idle-reset-home").await?;
    app.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_sign_in_of_an_enrolled_person_and_a_stranger_refused() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("face");
    // Enrolled at the server (elsewhere); the kiosk's sync brings the templates.
    let server = server_knowing_obama().await;
    let mut app = App::launch("face_sign_in", &obama_camera_env(&server, &dir)).await?;
    app.wait("method-face", WAIT).await?;
    app.click("method-face").await?;
    app.wait("screen-face", WAIT).await?;
    app.screenshot("face-preview").await?;
    app.click("face-sign-in").await?;
    app.wait("screen-result", WAIT).await?;
    app.screenshot("result").await?;
    assert!(
        app.exists("result-success").await,
        "{}",
        app.text("screen-result").await?
    );
    assert!(app.text("screen-result").await?.contains("obama"));
    app.quit().await;

    // Someone not enrolled, in front of the same kiosk.
    let mut app = App::launch(
        "face_stranger_refused",
        &server.kiosk_env(
            &dir.join("kiosk2"),
            &replay("face_recognition_examples/biden"),
        ),
    )
    .await?;
    app.click("method-face").await?;
    app.wait("screen-face", WAIT).await?;
    app.click("face-sign-in").await?;
    app.wait("screen-result", WAIT).await?;
    app.screenshot("refused").await?;
    assert!(app.exists("result-failure").await);
    // The way out: a code instead.
    app.click("use-code-instead").await?;
    app.wait("screen-email", WAIT).await?;
    app.screenshot("use-a-code-instead").await?;
    app.quit().await;
    Ok(())
}

/// A kiosk whose camera is missing says so on the face screen, in plain words, and the code
/// methods still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_camera_is_explained_and_codes_still_work() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("nocamera");
    let server = TestServer::for_kiosks().await;
    let mut app = App::launch("no_camera", &server.kiosk_env(&dir.join("kiosk"), "v4l:99")).await?;
    app.click("method-face").await?;
    app.wait("screen-face", WAIT).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let said = loop {
        let t = app.text("face-error").await?;
        if !t.is_empty() {
            break t;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no word about the camera"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(said.contains("No camera"), "{said}");
    let guidance = app.text("face-guidance").await?;
    assert!(!guidance.contains("Starting"), "{guidance}");
    app.screenshot("face-without-camera").await?;
    app.click("face-use-code").await?;
    app.type_into("email-input", "ada@example.com").await?;
    app.click("send-code").await?;
    app.wait("screen-code", WAIT).await?;
    app.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_enrols_a_new_person_who_then_signs_in() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("enrol");
    let server = TestServer::for_kiosks().await;
    let data = dir.join("kiosk");
    // The kiosk's administrator PIN, set the way `kiosk admin set-pin` does.
    kiosk_core::Kiosk::open(kiosk_core::KioskConfig::new(&data))?.set_admin_pin(None, "2468")?;
    let mut app = App::launch(
        "admin_enrols_then_sign_in",
        &server.kiosk_env(&data, &replay("face_recognition_examples/alex_lacamoire")),
    )
    .await?;
    app.click("admin-open").await?;
    app.type_into("admin-pin-input", "2468").await?;
    app.screenshot("pin").await?;
    app.click("admin-login").await?;
    app.wait("screen-admin", WAIT).await?;
    app.click("admin-enroll").await?;
    app.type_into("enroll-user-id", "alex").await?;
    app.type_into("enroll-name", "Alex Lacamoire").await?;
    for n in 1..=3 {
        app.click("enroll-capture").await?;
        app.wait(&format!("enroll-thumb-{}", n - 1), WAIT).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.screenshot("samples").await?;
    app.click("enroll-save").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.screenshot("saved").await?;
    let info = app.text("enroll-info").await.unwrap_or_default();
    let err = app.text("enroll-error").await.unwrap_or_default();
    assert!(err.is_empty(), "enrolment failed: {err}");
    assert!(!info.is_empty(), "no confirmation shown");
    app.click("admin-close").await?;
    app.click("method-face").await?;
    app.wait("screen-face", WAIT).await?;
    app.click("face-sign-in").await?;
    app.wait("screen-result", WAIT).await?;
    app.screenshot("signed-in").await?;
    let result = app.text("screen-result").await?;
    assert!(app.exists("result-success").await, "{result}");
    assert!(result.contains("Alex"), "{result}");

    // The administrator finds the new person in the list and deletes them (two taps: the
    // first asks for confirmation).
    app.click("result-done").await?;
    app.click("admin-open").await?;
    app.type_into("admin-pin-input", "2468").await?;
    app.click("admin-login").await?;
    app.click("admin-users").await?;
    app.wait("user-row-alex", WAIT).await?;
    assert!(app.text("user-row-alex").await?.contains("Alex Lacamoire"));
    app.screenshot("people").await?;
    app.click("user-delete-alex").await?;
    assert_eq!(
        app.attribute("user-delete-alex", "data-confirming").await?,
        "true"
    );
    app.click("user-delete-alex").await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.exists("user-row-alex").await {
        anyhow::ensure!(std::time::Instant::now() < deadline, "alex is still listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.screenshot("people-after-delete").await?;
    app.quit().await;
    let left = kiosk_core::Kiosk::open(kiosk_core::KioskConfig::new(&data))?.users()?;
    assert!(left.iter().all(|u| u.user_id != "alex"), "{left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_shows_offline_face_still_works_and_the_event_syncs_later() -> anyhow::Result<()>
{
    let _one = ONE_APP.lock().await;
    let dir = temp("offline");
    let mut server = server_knowing_obama().await;
    let mut app = App::launch("offline_then_sync", &obama_camera_env(&server, &dir)).await?;
    app.wait("method-face", WAIT).await?;
    // The templates reach the kiosk's cache on its first sync round.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.shutdown().await;
    // The sync loop notices within its interval (10 s) and the banner appears.
    app.wait("offline-banner", Duration::from_secs(40)).await?;
    app.screenshot("offline-home").await?;
    app.click("method-face").await?;
    app.wait("screen-face", WAIT).await?;
    app.click("face-sign-in").await?;
    app.wait("screen-result", WAIT).await?;
    app.screenshot("offline-result").await?;
    let result = app.text("screen-result").await?;
    assert!(app.exists("result-success").await, "{result}");

    server.restart().await;
    // The queued, signed sign-in event arrives once the kiosk sees the server again.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        if server.count("SELECT COUNT(*) FROM sync_events") >= 1 {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the offline event never synced"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM sync_events"), 1);
    app.quit().await;
    Ok(())
}

/// Saves the screen and fails when it does not fit the display, has a control a screen
/// reader cannot name, or a touch target too small for a finger.
async fn fits(app: &mut App, name: &str) -> anyhow::Result<()> {
    app.screenshot(name).await?;
    if let Err(e) = app.layout_fits().await? {
        anyhow::bail!("{name}: {e}");
    }
    let issues = app.accessibility_issues().await?;
    anyhow::ensure!(issues.is_empty(), "{name}: {issues:#?}");
    Ok(())
}

/// Every screen a visitor and an administrator can reach, each checked to fit the display.
async fn visit_every_screen(app: &mut App, pin: &str) -> anyhow::Result<()> {
    app.wait("method-email", WAIT).await?;
    fits(app, "home").await?;
    for (method, screen) in [
        ("method-email", "screen-email"),
        ("method-phone", "screen-phone"),
        ("method-face", "screen-face"),
    ] {
        app.click(method).await?;
        app.wait(screen, WAIT).await?;
        if screen == "screen-face" {
            // Let the first camera frames reach the preview.
            app.wait("face-preview", WAIT).await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        fits(app, screen).await?;
        app.click("back").await?;
        app.wait("screen-home", WAIT).await?;
    }
    app.click("admin-open").await?;
    app.wait("screen-admin-login", WAIT).await?;
    fits(app, "admin-pin").await?;
    app.type_into("admin-pin-input", pin).await?;
    app.click("admin-login").await?;
    app.wait("screen-admin", WAIT).await?;
    for tab in ["admin-enroll", "admin-users", "admin-settings"] {
        app.click(tab).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        fits(app, tab).await?;
    }
    Ok(())
}

/// A Spanish-speaking visitor at a 1024x768 kiosk, full screen, with no mouse: the keyboard
/// reaches the email method, the on-screen keyboard types the address, and the code signs in.
/// Then every screen is checked to fit 1024x768.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spanish_at_1024x768_by_keyboard_and_on_screen_keys() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("spanish");
    let server = TestServer::for_kiosks().await;
    let data = dir.join("kiosk");
    kiosk_core::Kiosk::open(kiosk_core::KioskConfig::new(&data))?.set_admin_pin(None, "2468")?;
    let mut env = server.kiosk_env(&data, &replay("face_recognition_examples/obama"));
    env.push(("KIOSK_LOCALE", "es".into()));
    // Full screen, as deployed (the harness asks for a window otherwise).
    env.push(("KIOSK_WINDOWED", String::new()));
    let mut app = App::launch_on("1024x768", "spanish_1024x768_keyboard", &env).await?;
    app.wait("method-email", WAIT).await?;
    let size = app.execute("return [innerWidth, innerHeight]").await?;
    assert_eq!(size, serde_json::json!([1024, 768]), "not full screen");
    let home = app.text("screen-home").await?;
    assert!(home.contains("¿Cómo quiere identificarse?"), "{home}");
    assert_eq!(
        app.execute("return document.documentElement.lang").await?,
        "es"
    );

    // Keyboard only: Tab to the email method, Enter to open it.
    let mut tabs = 0;
    while app.focused().await? != "method-email" {
        anyhow::ensure!(tabs < 20, "Tab never reached the email method");
        app.press("\u{E004}").await?;
        tabs += 1;
    }
    fits(&mut app, "home-focus-on-email").await?;
    app.press("\u{E007}").await?;
    app.wait("screen-email", WAIT).await?;
    assert!(
        app.text("screen-email")
            .await?
            .contains("Acceda con su correo")
    );

    // The on-screen keyboard, as on a touch screen.
    for key in [
        "a", "d", "a", "at", "e", "x", "a", "m", "p", "l", "e", "dotcom",
    ] {
        app.click(&format!("keyboard-key-{key}")).await?;
    }
    let typed = app
        .execute("return document.querySelector('[data-testid=email-input]').value")
        .await?;
    assert_eq!(typed, "ada@example.com");
    fits(&mut app, "email-on-screen-keyboard").await?;
    app.click("send-code").await?;
    app.wait("screen-code", WAIT).await?;
    fits(&mut app, "code").await?;
    let code = server.outbox_code("ada@example.com").await;
    app.type_into("code-box-0", &code).await?;
    let mut tabs = 0;
    while app.focused().await? != "verify-code" {
        anyhow::ensure!(tabs < 20, "Tab never reached the verify button");
        app.press("\u{E004}").await?;
        tabs += 1;
    }
    app.press("\u{E007}").await?;
    app.wait("result-success", WAIT).await?;
    let result = app.text("screen-result").await?;
    assert!(result.contains("Ha iniciado sesión"), "{result}");
    fits(&mut app, "success").await?;
    app.click("result-done").await?;

    visit_every_screen(&mut app, "2468").await?;
    app.quit().await;
    Ok(())
}

/// Every screen at 1920x1080, full screen; and an administrator's settings take effect at
/// once: clearing the project turns the code methods off on the home screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_fits_1920x1080_and_settings_apply_at_once() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let dir = temp("fullhd");
    let server = TestServer::for_kiosks().await;
    let data = dir.join("kiosk");
    kiosk_core::Kiosk::open(kiosk_core::KioskConfig::new(&data))?.set_admin_pin(None, "2468")?;
    let mut env = server.kiosk_env(&data, &replay("face_recognition_examples/obama"));
    env.push(("KIOSK_WINDOWED", String::new()));
    let mut app = App::launch_on("1920x1080", "every_screen_1920x1080", &env).await?;
    app.wait("method-email", WAIT).await?;
    let size = app.execute("return [innerWidth, innerHeight]").await?;
    assert_eq!(size, serde_json::json!([1920, 1080]), "not full screen");
    visit_every_screen(&mut app, "2468").await?;

    // Still on the settings tab: clear the project and save.
    app.click("settings-project-id").await?;
    app.execute(
        "const i = document.querySelector('[data-testid=settings-project-id]'); \
         i.value = ''; i.dispatchEvent(new Event('input', {bubbles: true}));",
    )
    .await?;
    app.click("settings-save").await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.text("settings-saved").await?.is_empty() {
        let err = app.text("settings-error").await?;
        anyhow::ensure!(err.is_empty(), "settings refused: {err}");
        anyhow::ensure!(std::time::Instant::now() < deadline, "never saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fits(&mut app, "settings-saved").await?;
    app.click("admin-close").await?;
    app.wait("screen-home", WAIT).await?;
    assert!(app.exists("method-face").await);
    assert!(
        !app.exists("method-email").await && !app.exists("method-phone").await,
        "code methods still offered without a project"
    );
    fits(&mut app, "home-face-only").await?;
    app.quit().await;
    let saved = std::fs::read_to_string(data.join("settings.json"))?;
    // Saved as cleared (an empty text), so the environment's project does not come back at
    // the next start.
    assert!(saved.contains("\"project_id\": \"\""), "{saved}");
    Ok(())
}

/// The .deb that `scripts/test.sh` builds, unpacked as dpkg would lay it out: the app starts
/// on the models and ONNX Runtime it carries, not the workspace's, and signs a person in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deb_package_runs_on_the_models_it_carries() -> anyhow::Result<()> {
    let _one = ONE_APP.lock().await;
    let bundle = kiosk_e2e::workspace().join("target/debug/bundle/deb");
    let deb = std::fs::read_dir(&bundle)
        .ok()
        .and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
        })
        .with_context(|| {
            format!(
                "no .deb in {}: scripts/test.sh builds it before the tests",
                bundle.display()
            )
        })?;
    let dir = temp("deb");
    let root = dir.join("root");
    let status = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()?;
    anyhow::ensure!(status.success(), "dpkg-deb -x {}", deb.display());
    let resources = root.join("usr/lib/Access Kiosk");
    for m in vision::manifest() {
        anyhow::ensure!(
            resources.join("models").join(m.file).is_file(),
            "{} missing",
            m.file
        );
    }

    let server = server_knowing_obama().await;
    // Installed, the app has no environment to read: a config file tells it everything.
    let data = dir.join("kiosk");
    let config = dir.join("kiosk.toml");
    let toml_text = server
        .kiosk_env(&data, &replay("face_recognition_examples/obama"))
        .iter()
        .map(|(k, v)| {
            let key = k.trim_start_matches("KIOSK_").to_lowercase();
            format!("{key} = {v:?}\n")
        })
        .collect::<String>();
    std::fs::write(&config, toml_text)?;
    let mut app = App::launch_binary(
        &root.join("usr/bin/access-kiosk"),
        "1280x800",
        "deb_package",
        &[("KIOSK_CONFIG", config.display().to_string())],
    )
    .await?;
    app.click("method-face").await?;
    app.wait("screen-face", WAIT).await?;
    app.click("face-sign-in").await?;
    app.wait("result-success", WAIT).await?;
    app.screenshot("signed-in").await?;
    app.quit().await;
    let log = std::fs::read_to_string(data.join("kiosk.log"))?;
    let start = log
        .lines()
        .find(|l| l.contains("starting"))
        .context("no start line in the app's log")?;
    let carried = resources.display().to_string();
    assert!(
        start.contains(&format!("models={carried}/models"))
            && start.contains(&format!("onnxruntime={carried}/lib/")),
        "{start}"
    );
    // The renderer in use is logged (the harness allows DMABUF: see its launch).
    assert!(
        log.lines()
            .any(|l| l.contains("webkit renderer") && l.contains("DMABUF (webkit_dmabuf = true)")),
        "no renderer line in the app's log"
    );
    server.stop().await;
    // The unpacked package holds a debug binary of several hundred MB.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
