//! Whole flows against the real access-server over loopback, real SQLite files and the real
//! models on the shared photos.

use crate::common;

use common::*;
use kiosk_core::{AdminAuth, Decision, EnrolmentState, Kiosk, KioskConfig, Mode, OtpChannel};

/// The server's own table of offline events.
const EVENTS: &str = "SELECT COUNT(*) FROM sync_events";

const PIN: AdminAuth<'static> = AdminAuth::Pin(common::PIN);

/// A kiosk pointed at `url` with a token and project the far side will not check.
fn api_config(dir: &std::path::Path, url: String) -> KioskConfig {
    let mut cfg = KioskConfig::new(dir);
    cfg.api_url = Some(url);
    cfg.token = Some("t".into());
    cfg.project_id = Some("p".into());
    cfg
}

/// An HTTP peer on loopback that answers every request with the same raw bytes.
async fn canned_http(response: &'static [u8]) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            // The whole request first: answering while a large upload is still coming makes
            // the close a reset, which the client rightly takes for a network failure.
            let mut got = Vec::new();
            let mut buf = [0u8; 16384];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = s.write_all(response).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_enrolment_then_sign_in_with_a_valid_token_and_a_stranger_refused() {
    let server = TestServer::for_kiosks().await;
    let dir = temp_dir("online");
    let k = kiosk(kiosk_config(&server, &dir));

    let e = k
        .enroll(PIN, "obama", Some("Barack"), frames(&OBAMA_ENROL))
        .await
        .unwrap();
    assert_eq!((e.samples, e.state), (3, EnrolmentState::Registered));

    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(out.decision, Decision::Accepted, "{out:?}");
    assert_eq!(out.mode, Mode::Online);
    assert_eq!(out.user_id.as_deref(), Some("obama"));
    assert_eq!(out.name.as_deref(), Some("Barack"));
    let token = out.access_token.expect("online sign-in returns a token");

    // The token verifies against the server's published keys.
    let client = access_client::AccessClient::new(
        &server.base_url(),
        &server.kiosk(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let jwks = client.jwks().await.unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk_json = serde_json::to_value(&jwks.keys[0]).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk_json).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[server.project()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "obama");

    let stranger = k.sign_in_face(burst(BIDEN, 3), None).await.unwrap();
    assert_eq!(stranger.decision, Decision::Rejected, "{stranger:?}");
    assert!(stranger.access_token.is_none());

    // Enrolling the same face under another name is refused, naming the owner.
    let err = k
        .enroll(PIN, "not-obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ALREADY_ENROLLED");
    assert!(err.to_string().contains("obama"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sign_in_and_enrolment_are_kept_and_synced_exactly_once() {
    let mut server = TestServer::for_kiosks().await;
    let dir = temp_dir("offline");
    let k = kiosk(kiosk_config(&server, &dir));
    k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    assert_eq!(k.sync_once().await.unwrap().pending, 0);

    server.shutdown().await;
    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(
        (out.decision, out.mode),
        (Decision::Accepted, Mode::Offline),
        "{out:?}"
    );
    assert_eq!(out.user_id.as_deref(), Some("obama"));
    let refused = k.sign_in_face(burst(BIDEN, 3), None).await.unwrap();
    assert_eq!(
        (refused.decision, refused.mode),
        (Decision::Rejected, Mode::Offline)
    );
    assert_eq!(
        k.otp_send(OtpChannel::Email, "a@example.com")
            .await
            .unwrap_err()
            .code(),
        "UNAVAILABLE_OFFLINE"
    );
    let queued = k
        .enroll(PIN, "alex", None, frames(&ALEX_ENROL))
        .await
        .unwrap();
    assert_eq!(queued.state, EnrolmentState::Queued);
    let r = k.sync_once().await.unwrap();
    assert!(!r.online);
    assert_eq!(
        r.pending,
        2 + 3,
        "two sign-in events and three samples wait"
    );
    assert!(!k.status().borrow().online);

    // Someone enrolled elsewhere while this kiosk was offline.
    server.restart().await;
    server
        .enrol_at_server("rose", &["face_recognition_examples/rose_leslie/img1.jpg"])
        .await;

    let r = k.sync_once().await.unwrap();
    assert!(r.online);
    assert_eq!(
        (r.events_sent, r.enrolments_sent, r.pending),
        (2, 3, 0),
        "{r:?}"
    );
    assert_eq!(server.count(EVENTS), 2);
    // A second sync sends nothing again.
    let again = k.sync_once().await.unwrap();
    assert_eq!((again.events_sent, again.enrolments_sent), (0, 0));
    assert_eq!(server.count(EVENTS), 2);
    let users: Vec<String> = k.users().unwrap().into_iter().map(|u| u.user_id).collect();
    assert!(users.contains(&"rose".to_string()), "{users:?}");
    assert!(k.status().borrow().online);

    // Alex's queued samples reached the server: he signs in online now.
    let alex = k
        .sign_in_face(
            burst("face_recognition_examples/alex_lacamoire/img1.jpg", 3),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (alex.decision, alex.mode),
        (Decision::Accepted, Mode::Online),
        "{alex:?}"
    );

    // And Rose, enrolled elsewhere, signs in from the cache (another photo) while offline.
    server.shutdown().await;
    let rose = k
        .sign_in_face(
            burst("face_recognition_examples/rose_leslie/img2.jpg", 3),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (rose.decision, rose.mode),
        (Decision::Accepted, Mode::Offline),
        "{rose:?}"
    );
    assert_eq!(rose.user_id.as_deref(), Some("rose"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_faces_lock_out_with_a_growing_delay() {
    let dir = temp_dir("lockout");
    let k = kiosk(KioskConfig::new(&dir));
    k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    for i in 1..=5 {
        let r = k.sign_in_face(burst(BIDEN, 3), None).await.unwrap();
        assert_eq!(r.decision, Decision::Rejected);
        assert_eq!(r.failures, i);
    }
    let err = k
        .sign_in_face(burst(OBAMA_PROBE, 3), None)
        .await
        .unwrap_err();
    match err {
        kiosk_core::KioskError::LockedOut { retry_after_s } => {
            assert!((29..=30).contains(&retry_after_s))
        }
        other => panic!("expected a lockout, got {other:?}"),
    }
    let log = k.audit_log(1).unwrap();
    assert_eq!(log[0].decision.as_str(), "locked_out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_pin_is_refused_and_audited() {
    let dir = temp_dir("pin");
    let k = kiosk(KioskConfig::new(&dir));
    let err = k
        .enroll(AdminAuth::Pin("0000"), "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ADMIN_REFUSED");
    let log = k.audit_log(5).unwrap();
    assert_eq!(
        (log[0].method.as_str(), log[0].decision.as_str()),
        ("admin_pin", "refused")
    );
    assert!(k.users().unwrap().is_empty());
    assert_eq!(
        k.set_admin_pin(Some("111111"), "555555")
            .unwrap_err()
            .code(),
        "ADMIN_REFUSED"
    );
    k.set_admin_pin(Some("246810"), "555555").unwrap();
    assert_eq!(
        k.set_admin_pin(None, "12").unwrap_err().code(),
        "ADMIN_PIN_INVALID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_refuses_bad_samples_with_clear_codes() {
    let dir = temp_dir("badenrol");
    let k = kiosk(KioskConfig::new(&dir));
    let two = frames(&OBAMA_ENROL[..2]);
    assert_eq!(
        k.enroll(PIN, "obama", None, two).await.unwrap_err().code(),
        "ENROL_SAMPLE_COUNT"
    );
    let mut group = frames(&OBAMA_ENROL[..2]);
    group.push(photo(
        "face_recognition_examples/multi_face/obama_and_biden.jpg",
    ));
    assert_eq!(
        k.enroll(PIN, "obama", None, group)
            .await
            .unwrap_err()
            .code(),
        "MULTIPLE_FACES"
    );
    let mut mixed = frames(&OBAMA_ENROL[..2]);
    mixed.push(photo(BIDEN));
    assert_eq!(
        k.enroll(PIN, "obama", None, mixed)
            .await
            .unwrap_err()
            .code(),
        "ENROL_INCONSISTENT"
    );
    // A printed photo held up to the camera.
    let mut spoof = frames(&OBAMA_ENROL[..2]);
    spoof.push(photo("silent_face/image_F1.jpg"));
    let code = k
        .enroll(PIN, "obama", None, spoof)
        .await
        .unwrap_err()
        .code();
    assert!(
        code == "LIVENESS_FAILED" || code == "ENROL_INCONSISTENT",
        "{code}"
    );
    // The server's user id rule: a control character or nothing at all is refused.
    for bad in ["bad\u{7}id", "   "] {
        assert_eq!(
            k.enroll(PIN, bad, None, frames(&OBAMA_ENROL))
                .await
                .unwrap_err()
                .code(),
            "INVALID_USER_ID"
        );
    }
    assert!(k.users().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_networks_and_tokens_lose_nothing() {
    // Nothing listens on this port: everything face-related keeps working.
    let dir = temp_dir("unreachable");
    let cfg = api_config(&dir, "http://127.0.0.1:9/v2/access".into());
    let k = kiosk(cfg);
    assert_eq!(
        k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
            .await
            .unwrap()
            .state,
        EnrolmentState::Queued
    );
    let r = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!((r.decision, r.mode), (Decision::Accepted, Mode::Offline));
    assert_eq!(
        k.otp_send(OtpChannel::Sms, "+14155550123")
            .await
            .unwrap_err()
            .code(),
        "UNAVAILABLE_OFFLINE"
    );
    let pending = k.sync_once().await.unwrap().pending;
    assert_eq!(pending, 4);
    drop(k);

    // A server that answers garbage: a protocol error, and the queue is intact.
    let addr = canned_http(
        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nhello world",
    )
    .await;
    let cfg = api_config(&dir, format!("http://{addr}"));
    let k = Kiosk::open(cfg).unwrap();
    assert_eq!(
        k.otp_send(OtpChannel::Email, "a@example.com")
            .await
            .unwrap_err()
            .code(),
        "API_PROTOCOL"
    );
    assert!(k.sync_once().await.is_err());
    // An answer that is not the API's decides nothing: not a sign-in from the cache either
    // (only an unreachable API lets the cache decide).
    let e = k
        .sign_in_face(burst(OBAMA_PROBE, 3), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "API_PROTOCOL");
    drop(k);

    // A server failing with 500: treated as unavailable, the queue kept for later.
    let failing_addr = canned_http(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops",
    )
    .await;
    let cfg = api_config(&dir, format!("http://{failing_addr}"));
    let k = Kiosk::open(cfg).unwrap();
    let r = k.sync_once().await.unwrap();
    assert!(!r.online);
    // The garbage-answering server decided nothing, so no offline event was queued there.
    assert_eq!(r.pending, 4);
    assert_eq!(
        k.otp_send(OtpChannel::Email, "a@example.com")
            .await
            .unwrap_err()
            .code(),
        "UNAVAILABLE_OFFLINE"
    );
    drop(k);

    // A token the server does not accept (signed by another server): refused, nothing lost.
    let server = TestServer::for_kiosks().await;
    let other = TestServer::for_kiosks().await;
    let mut cfg = kiosk_config(&server, &dir);
    cfg.pairing_code = None;
    cfg.token = Some(other.kiosk());
    let k = Kiosk::open(cfg).unwrap();
    let err = k.sync_once().await.unwrap_err();
    assert_eq!(err.code(), "UNAUTHORIZED", "{err}");
    assert_eq!(k.status().borrow().pending_events, 4);
    assert_eq!(server.count(EVENTS), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_alone_reveals_no_template_and_a_newer_schema_is_refused() {
    let dir = temp_dir("atrest");
    let k = kiosk(KioskConfig::new(&dir));
    k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    drop(k);
    // The embedding the kiosk stored, recomputed: none of its bytes appear in the files.
    let mut p = vision::FacePipeline::load(&Default::default()).unwrap();
    let (_, e) = p
        .embed_frame(&photo(OBAMA_ENROL[0]), vision::MultiFace::Largest)
        .unwrap();
    let needle: Vec<u8> = e.as_slice()[..4]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    for f in ["kiosk.db", "kiosk.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(f)) {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{f}");
        }
    }
    let c = rusqlite::Connection::open(dir.join("kiosk.db")).unwrap();
    c.pragma_update(None, "user_version", 42).unwrap();
    drop(c);
    let err = Kiosk::open(KioskConfig::new(&dir)).err().unwrap();
    assert_eq!(err.code(), "STORE_SCHEMA_TOO_NEW");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_apply_at_once_and_bad_settings_change_nothing() {
    let server = TestServer::for_kiosks().await;
    let dir = temp_dir("settings");
    // The token is installed, but no API address or project yet: a kiosk on its own.
    let mut cfg = kiosk_config(&server, &dir);
    cfg.api_url = None;
    cfg.project_id = None;
    let k = kiosk(cfg);
    assert!(!k.codes_configured());
    let e = k
        .enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Local);
    let before = k.settings();
    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(out.decision, Decision::Accepted, "{out:?}");
    let score = out.score.unwrap();

    // A stricter match threshold than this person's score: refused at once, no restart.
    let mut strict = before.clone();
    strict.match_threshold = (score + 0.01).min(1.0);
    k.apply_settings(strict.clone()).unwrap();
    assert_eq!(k.settings(), strict);
    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(out.decision, Decision::Rejected, "{out:?}");
    assert_eq!(out.reason.as_deref(), Some("NO_MATCH"));

    // Refused settings leave the ones in force alone.
    for bad in [
        kiosk_core::LiveSettings {
            match_threshold: 1.5,
            ..before.clone()
        },
        kiosk_core::LiveSettings {
            api_url: Some("ftp://example.org".into()),
            ..before.clone()
        },
        kiosk_core::LiveSettings {
            project_id: Some(String::new()),
            ..before.clone()
        },
    ] {
        let err = k.apply_settings(bad).unwrap_err();
        assert_eq!(err.code(), "SETTINGS_INVALID");
        assert_eq!(k.settings(), strict);
    }

    // Pointing the kiosk at the API turns code sign-in and sync on, still without a restart.
    k.apply_settings(kiosk_core::LiveSettings {
        api_url: Some(server.base_url()),
        project_id: Some(server.project().to_string()),
        ..before.clone()
    })
    .unwrap();
    assert!(k.codes_configured());
    let r = k.sync_once().await.unwrap();
    assert!(r.online, "{r:?}");
    k.otp_send(OtpChannel::Email, "ana@example.org")
        .await
        .unwrap();
    // Online, the API decides: obama was enrolled here while no project was set, so the API
    // has never seen him, and its refusal stands over the cache.
    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(
        (out.decision, out.mode, out.reason.as_deref()),
        (Decision::Rejected, Mode::Online, Some("NOT_ENROLLED")),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_camera_decides_on_the_frames_it_already_analysed() {
    let dir = temp_dir("live");
    let k = kiosk(KioskConfig::new(&dir));
    k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    let replay = |who: &str| {
        format!(
            "replay:{}@15",
            faces_dir()
                .join("face_recognition_examples")
                .join(who)
                .display()
        )
    };
    let camera = k.start_camera(&replay("obama")).unwrap();
    let out = k.sign_in_live(&camera, None).await.unwrap();
    assert_eq!(out.decision, Decision::Accepted, "{out:?}");
    assert_eq!(out.user_id.as_deref(), Some("obama"));
    assert_eq!(out.frames, 3);
    drop(camera);

    // A stranger near enough for liveness (biden.jpg framed at 640x480 is a face of 75 px:
    // "Move closer", see the test below).
    let camera = k.start_camera(&replay("rose_leslie")).unwrap();
    let out = k.sign_in_live(&camera, None).await.unwrap();
    assert_eq!(out.decision, Decision::Rejected, "{out:?}");
    assert_eq!(out.user_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_identifiers_and_codes_follow_the_servers_rules_before_any_call() {
    // Nothing listens here: a call would answer UNAVAILABLE_OFFLINE, so these codes show that
    // the kiosk refused the input itself, with the server's codes.
    let dir = temp_dir("typed-offline");
    let k = Kiosk::open(api_config(&dir, "http://127.0.0.1:9/v2/access".into())).unwrap();
    for (channel, to, code) in [
        (OtpChannel::Email, "ana@example", "INVALID_EMAIL"),
        (OtpChannel::Email, "ana lopez@example.org", "INVALID_EMAIL"),
        (OtpChannel::Sms, "+1 123", "INVALID_PHONE"),
        (OtpChannel::Whatsapp, "+99 12345678", "INVALID_PHONE"),
        (OtpChannel::Sms, "415 555 0199", "INVALID_PHONE"),
    ] {
        let err = k.otp_send(channel, to).await.unwrap_err();
        assert_eq!(err.code(), code, "{to:?}: {err}");
    }
    for (channel, to, otp, code) in [
        (
            OtpChannel::Email,
            "ana@example.org",
            "12345",
            "INVALID_OTP_FORMAT",
        ),
        (
            OtpChannel::Sms,
            "+14155550199",
            "12345a",
            "INVALID_OTP_FORMAT",
        ),
        (OtpChannel::Sms, "+1 123", "123456", "INVALID_PHONE"),
    ] {
        let err = k.otp_verify(channel, to, otp, "val_x").await.unwrap_err();
        assert_eq!(err.code(), code, "{to:?} {otp:?}: {err}");
    }
    assert_eq!(
        k.otp_send(OtpChannel::Sms, "+1 415-555-0199")
            .await
            .unwrap_err()
            .code(),
        "UNAVAILABLE_OFFLINE",
        "a good number does go to the API"
    );
    drop(k);

    // Against the real server: one person and one code, however they are typed.
    let server = TestServer::for_kiosks().await;
    let dir = temp_dir("typed");
    let k = Kiosk::open(kiosk_config(&server, &dir)).unwrap();
    let sent = k
        .otp_send(OtpChannel::Email, " Ana@Example.ORG ")
        .await
        .unwrap();
    assert_eq!(sent.attempts_remaining, 3);
    let err = k
        .otp_verify(
            OtpChannel::Email,
            "ana@example.org",
            "12 345",
            &sent.validation_id,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_OTP_FORMAT");
    let again = k
        .otp_send(OtpChannel::Email, "ANA@example.org")
        .await
        .unwrap();
    assert_eq!(
        (
            again.validation_id.as_str(),
            again.resent,
            again.attempts_remaining
        ),
        (sent.validation_id.as_str(), true, 3),
        "same person, no attempt used"
    );
    let code = server.outbox_code("ana@example.org").await;
    let full_width = digits_in(&code, '\u{FF10}');
    let typed = format!("{} {}", &full_width[..9], &full_width[9..]);
    let ok = k
        .otp_verify(
            OtpChannel::Email,
            "ana@EXAMPLE.org",
            &typed,
            &sent.validation_id,
        )
        .await
        .unwrap();
    assert_eq!(ok.status, access_types::ValidationStatus::Validated);

    let sent = k
        .otp_send(OtpChannel::Sms, "+1 (415) 555-0199")
        .await
        .unwrap();
    let code = server.outbox_code("+14155550199").await;
    let ok = k
        .otp_verify(
            OtpChannel::Sms,
            "+1 415 555 0199",
            &format!("{}-{}", &code[..3], &code[3..]),
            &sent.validation_id,
        )
        .await
        .unwrap();
    assert_eq!(ok.status, access_types::ValidationStatus::Validated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_face_too_far_for_liveness_is_asked_closer_never_called_a_spoof() {
    let dir = temp_dir("far");
    let k = kiosk(KioskConfig::new(&dir));
    k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    // The real sample (liveness 0.99 near) at 0.3x: a face of about 63 px.
    let far = k
        .sign_in_face(vec![farther("silent_face/image_T1.jpg", 0.3); 3], None)
        .await
        .unwrap();
    assert_eq!(far.decision, Decision::Retry, "{far:?}");
    assert_eq!(far.reason.as_deref(), Some("FACE_TOO_SMALL"), "{far:?}");
    assert_eq!(far.guidance[0].hint(), "Move closer");
    // Near, the same sample is live (it is not enrolled, so it is not let in either).
    let near = k
        .sign_in_face(vec![farther("silent_face/image_T1.jpg", 1.0); 3], None)
        .await
        .unwrap();
    assert_ne!(near.reason.as_deref(), Some("FACE_TOO_SMALL"), "{near:?}");
    assert_ne!(near.reason.as_deref(), Some("LIVENESS_FAILED"), "{near:?}");
    assert!(near.liveness.unwrap() >= 0.6, "{near:?}");
    // An enrolled person far away: neither let in on an untrusted score nor refused.
    let obama = k
        .sign_in_face(vec![farther(OBAMA_PROBE, 0.25); 3], None)
        .await
        .unwrap();
    assert_eq!(
        (obama.decision, obama.reason.as_deref()),
        (Decision::Retry, Some("FACE_TOO_SMALL")),
        "{obama:?}"
    );
}

/// A kiosk whose token the server no longer takes when it comes back (here: the server's
/// signing key was rotated out while the kiosk was offline, as after a token's hour ran out)
/// gets a new one from its device key by itself; nobody re-pairs or re-mints anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_back_from_offline_renews_its_own_token() {
    let mut server = TestServer::for_kiosks().await;
    let dir = temp_dir("renew");
    let k = kiosk(kiosk_config(&server, &dir));
    k.enroll(PIN, "obama", None, frames(&OBAMA_ENROL))
        .await
        .unwrap();
    assert!(k.sync_once().await.unwrap().online);
    assert!(k.paired_kiosk_id().is_some());

    server.shutdown().await;
    server.rotate_keys_now();
    server.restart().await;

    let r = k.sync_once().await.unwrap();
    assert!(r.online, "{r:?}");
    // Every old key was retired at once (an emergency rotation): the new key set is signed
    // by no key this kiosk pinned, so its tokens are not believed until it is paired again.
    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(
        (out.decision, out.mode, out.reason.as_deref()),
        (Decision::Rejected, Mode::Online, Some("ANSWER_UNVERIFIED")),
        "{out:?}"
    );
    let code = server.new_pairing_code(server.project());
    k.pair(&server.base_url(), &code).await.unwrap();
    let out = k.sign_in_face(burst(OBAMA_PROBE, 3), None).await.unwrap();
    assert_eq!(
        (out.decision, out.mode),
        (Decision::Accepted, Mode::Online),
        "{out:?}"
    );
    server.stop().await;
}

/// A kiosk with no staff PIN is set up only with an administrator's one-time pairing code:
/// no code, no PIN; a PIN of the wrong form does not use the code up; once set, the set-up is
/// closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_staff_pin_needs_a_pairing_code() {
    let server = TestServer::for_kiosks().await;
    let mut cfg = KioskConfig::new(temp_dir("first-setup"));
    cfg.api_timeout = std::time::Duration::from_secs(5);
    let k = Kiosk::open(cfg).unwrap();
    let url = server.base_url();
    assert_eq!(
        k.check_admin(AdminAuth::Pin("135790")).unwrap_err().code(),
        "ADMIN_PIN_NOT_SET"
    );
    let err = k
        .first_setup(&url, "AAAA-BBBB-CCCC", "135790")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PAIRING_CODE_INVALID");
    assert!(!k.admin_pin_set().unwrap());
    let code = server.new_pairing_code(server.project());
    let err = k.first_setup(&url, &code, "1234").await.unwrap_err();
    assert_eq!(err.code(), "ADMIN_PIN_INVALID");
    let paired = k.first_setup(&url, &code, "135790").await.unwrap();
    assert_eq!(paired.project_id, server.project());
    assert_eq!(k.paired_kiosk_id(), Some(paired.kiosk_id));
    k.check_admin(AdminAuth::Pin("135790")).unwrap();
    let again = server.new_pairing_code(server.project());
    assert_eq!(
        k.first_setup(&url, &again, "246802")
            .await
            .unwrap_err()
            .code(),
        "ADMIN_REQUIRED"
    );
    assert!(k.sync_once().await.unwrap().online);
    server.stop().await;
}

/// Erased at the server while a kiosk that enrolled the person offline was away: when it comes
/// back its queued samples are refused (`PERSON_ERASED`) and the person leaves it too; the
/// erasure is not undone. Enrolled again after the erasure, they are welcome back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_is_not_undone_by_a_kiosk_that_enrolled_offline() {
    let mut server = TestServer::for_kiosks().await;
    let k = kiosk(kiosk_config(&server, &temp_dir("erased-offline")));
    assert!(k.sync_once().await.unwrap().online);
    server.shutdown().await;
    let e = k
        .enroll(PIN, "alex", None, frames(&ALEX_ENROL))
        .await
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Queued);
    server.restart().await;
    let url = server.url(&format!(
        "/biometric/users/alex?project_id={}",
        server.project()
    ));
    let r = server
        .client
        .delete(url)
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let report = k.sync_once().await.unwrap();
    assert!(report.online);
    assert_eq!(report.enrolments_refused, 3, "{report:?}");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM templates WHERE user_id = 'alex'"),
        0
    );
    assert!(k.users().unwrap().iter().all(|u| u.user_id != "alex"));
    let again = k
        .enroll(PIN, "alex", None, frames(&ALEX_ENROL))
        .await
        .unwrap();
    assert_eq!(again.state, EnrolmentState::Registered);
    server.stop().await;
}
