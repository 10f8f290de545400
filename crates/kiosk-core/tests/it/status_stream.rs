//! The status stream the UI watches (`Kiosk::status`): connectivity flips within seconds of
//! the server going or coming back (health probes between sync rounds, not the rounds' backoff),
//! and the counts change when the engine changes them, not at the next sync round. Against the
//! in-process server; faces on the fake engines.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fakes::face;
use common::*;
use kiosk_core::{AdminAuth, Decision, EnrolmentState, Mode, SyncStatus};
use tokio::sync::watch::Receiver;
use vision::Frame;

const ADMIN: AdminAuth<'static> = AdminAuth::Pin(PIN);

/// The app's round interval (src-tauri): rounds alone would take up to this long, and their
/// offline backoff up to a minute.
const APP_INTERVAL: Duration = Duration::from_secs(10);

/// Waits until the status satisfies `ok`, and says how long that took.
async fn until(
    rx: &mut Receiver<SyncStatus>,
    what: &str,
    ok: impl Fn(&SyncStatus) -> bool,
) -> Duration {
    let started = Instant::now();
    let waited = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| ok(s)))
        .await
        .map(|r| r.map(|_| ()));
    match waited {
        Ok(r) => r.expect("the kiosk keeps its status stream"),
        Err(_) => panic!("{what}: not within 60 s ({:?})", *rx.borrow()),
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_and_offline_flip_within_seconds_of_the_server() {
    let mut server = TestServer::builder()
        .login_flow(every_method())
        .start()
        .await;
    let k = Arc::new(kiosk(kiosk_config(&server, &temp_dir("status-flip"))));
    let mut rx = k.status();
    let _loop = kiosk_core::spawn_sync_loop(k.clone(), APP_INTERVAL);
    until(&mut rx, "online at start", |s| s.online).await;

    server.shutdown().await;
    let to_offline = until(&mut rx, "offline after shutdown", |s| !s.online).await;
    assert!(rx.borrow().last_error.is_some(), "{:?}", *rx.borrow());
    // Down long enough for the rounds' backoff to grow past the old recovery time.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let synced = rx.borrow().last_sync.clone();
    server.restart().await;
    let back = Instant::now();
    let to_online = until(&mut rx, "online after restart", |s| s.online).await;
    println!(
        "status flip: offline {:.1} s after the server went, online {:.1} s after it came back",
        to_offline.as_secs_f64(),
        to_online.as_secs_f64()
    );
    assert!(to_offline < Duration::from_secs(10), "{to_offline:?}");
    assert!(to_online < Duration::from_secs(10), "{to_online:?}");
    assert_eq!(rx.borrow().last_error, None);
    // Coming back starts a round at once: the last sync time follows within a moment.
    until(&mut rx, "a round after coming back", |s| {
        s.last_sync != synced
    })
    .await;
    assert!(back.elapsed() < Duration::from_secs(10));

    // A visitor's action asks at once; a kiosk with no API never claims to be online.
    server.shutdown().await;
    k.visitor_active();
    let on_touch = until(&mut rx, "offline on a visitor's action", |s| !s.online).await;
    assert!(on_touch < Duration::from_secs(3), "{on_touch:?}");
    server.restart().await;
    assert!(k.check_online().await);
    assert!(
        rx.borrow().online,
        "a successful probe is published at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_refused_by_the_server_is_not_online_because_the_server_is_healthy() {
    let server = TestServer::builder()
        .login_flow(every_method())
        .start()
        .await;
    let mut cfg = kiosk_config(&server, &temp_dir("status-refused"));
    cfg.pairing_code = None;
    cfg.token = Some("not-a-token".into());
    let k = Arc::new(kiosk(cfg));
    let mut rx = k.status();
    let _loop = kiosk_core::spawn_sync_loop(k.clone(), APP_INTERVAL);
    until(&mut rx, "the refusal reported", |s| s.last_error.is_some()).await;
    // Several probes later (the health check answers): still offline, the reason kept.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = rx.borrow().clone();
    assert!(!s.online && s.last_error.is_some(), "{s:?}");
}

/// Three photos of person `who`, for an enrolment.
fn samples(who: u8) -> Vec<Frame> {
    (1..=3).map(|v| face(who, v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_change_when_the_engine_changes_them_without_a_sync_round() {
    let fakes = FakeFaces::new();
    let mut server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(every_method())
        .start()
        .await;
    // No sync loop: nothing here runs a round unless the test says so.
    let k = fake_kiosk(kiosk_config(&server, &temp_dir("status-counts")), &fakes);
    let mut rx = k.status();
    let e = k
        .enroll(ADMIN, "ada", Some("Ada"), samples(1))
        .await
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Registered);
    assert_eq!(rx.borrow_and_update().templates, 3);

    server.shutdown().await;
    let offline = k.sign_in_face(vec![face(1, 9); 3], None).await.unwrap();
    assert_eq!(
        (offline.decision, offline.mode),
        (Decision::Accepted, Mode::Offline)
    );
    // The event was queued: the stream says so at once, and that the API did not answer.
    assert!(rx.has_changed().unwrap(), "nothing published");
    let s = rx.borrow_and_update().clone();
    assert_eq!((s.pending_events, s.online), (1, false), "{s:?}");

    // Deleting a person changes the cache at once too.
    assert!(k.delete_user(ADMIN, "ada").unwrap());
    assert_eq!(rx.borrow_and_update().templates, 0);

    server.restart().await;
    let r = k.sync_once().await.unwrap();
    assert_eq!((r.online, r.events_sent), (true, 1));
    let s = rx.borrow_and_update().clone();
    assert_eq!((s.pending_events, s.online), (0, true), "{s:?}");
}
