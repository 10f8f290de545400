//! The kiosk's decisions on the fake face engines of `crates/test-support` (through the same
//! `vision` traits as the real models): face sign-in, lockout, enrolment, and online against a
//! server on the same fakes. No ONNX Runtime and no model files; the real-model flows are in
//! `sign_in_and_sync.rs`.

use crate::common;

use std::time::Duration;

use common::fakes::{FAKE_MODEL_ID, LIVE, blank_frame, face, face_jpeg};
use common::*;
use kiosk_core::{AdminAuth, Decision, EnrolSource, EnrolmentState, KioskConfig, KioskError, Mode};
use vision::Frame;

const ADMIN: AdminAuth<'static> = AdminAuth::Pin(PIN);
const EVENTS: &str = "SELECT COUNT(*) FROM sync_events";

/// Three photos of person `who`, for an enrolment.
fn samples(who: u8) -> Vec<Frame> {
    (1..=3).map(|v| face(who, v)).collect()
}

/// Person `who` in front of the camera: a burst of three frames of another photo.
fn looks(who: u8) -> Vec<Frame> {
    vec![face(who, 9); 3]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_accepts_the_person_enrolled_and_nobody_else() {
    let fakes = FakeFaces::new();
    let k = fake_kiosk(KioskConfig::new(temp_dir("fake-sign-in")), &fakes);
    let none_yet = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (none_yet.decision, none_yet.reason.as_deref()),
        (Decision::Rejected, Some("NOT_ENROLLED"))
    );

    let e = k
        .enroll(ADMIN, "ada", Some("Ada"), samples(1))
        .await
        .unwrap();
    assert_eq!((e.samples, e.state), (3, EnrolmentState::Local));
    let ok = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (ok.decision, ok.mode),
        (Decision::Accepted, Mode::Offline),
        "{ok:?}"
    );
    assert_eq!(
        (ok.user_id.as_deref(), ok.name.as_deref()),
        (Some("ada"), Some("Ada"))
    );
    assert!(ok.score.unwrap() > 0.9, "{ok:?}");
    assert_eq!((ok.failures, ok.frames), (0, 3));

    // A stranger, and a stranger claiming to be Ada: refused, naming nobody.
    for claim in [None, Some("ada")] {
        let no = k.sign_in_face(looks(2), claim).await.unwrap();
        assert_eq!(
            (no.decision, no.reason.as_deref(), no.user_id.as_deref()),
            (Decision::Rejected, Some("NO_MATCH"), None),
            "{no:?}"
        );
    }
    // Ada's photo held up to the camera.
    fakes.set_liveness(0.2);
    let spoof = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (spoof.decision, spoof.reason.as_deref()),
        (Decision::Rejected, Some("LIVENESS_FAILED"))
    );
    fakes.set_liveness(LIVE);
    // Nobody in front of the camera: try again, and no failure counted.
    let empty = k.sign_in_face(vec![blank_frame(); 3], None).await.unwrap();
    assert_eq!(
        (empty.decision, empty.reason.as_deref(), empty.failures),
        (Decision::Retry, Some("NO_FACE"), spoof.failures)
    );
    // A success clears the failures.
    let ok = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!((ok.decision, ok.failures), (Decision::Accepted, 0));
    let log = k.audit_log(1).unwrap();
    assert_eq!(
        (log[0].method.as_str(), log[0].decision.as_str()),
        ("face", "accepted")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_faces_lock_out_and_each_further_failure_doubles_the_delay() {
    let fakes = FakeFaces::new();
    let mut cfg = KioskConfig::new(temp_dir("fake-lockout"));
    cfg.lockout_base_s = 1;
    let k = fake_kiosk(cfg, &fakes);
    k.enroll(ADMIN, "ada", None, samples(1)).await.unwrap();
    for i in 1..=5 {
        let r = k.sign_in_face(looks(2), None).await.unwrap();
        assert_eq!((r.decision, r.failures), (Decision::Rejected, i));
    }
    // Locked: even the right face waits, and the attempt is audited.
    let locked = |e: KioskError| match e {
        KioskError::LockedOut { retry_after_s } => retry_after_s,
        other => panic!("expected a lockout, got {other:?}"),
    };
    assert!(locked(k.sign_in_face(looks(1), None).await.unwrap_err()) <= 1);
    assert_eq!(k.audit_log(1).unwrap()[0].decision.as_str(), "locked_out");

    // Once the second is over, one more wrong face locks for twice as long.
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let mut waited = Duration::ZERO;
    let (sixth, before) = loop {
        let before = unix_now();
        match k.sign_in_face(looks(2), None).await {
            Ok(r) => break (r, before),
            Err(e) => {
                locked(e);
                assert!(waited < Duration::from_secs(5), "the lock never ended");
                tokio::time::sleep(Duration::from_millis(100)).await;
                waited += Duration::from_millis(100);
            }
        }
    };
    assert_eq!((sixth.decision, sixth.failures), (Decision::Rejected, 6));
    let retry_after = locked(k.sign_in_face(looks(1), None).await.unwrap_err());
    // 2 s, or 1 s left of them when a second boundary passed meanwhile.
    assert!(
        retry_after == 2 || (retry_after == 1 && unix_now() > before),
        "{retry_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_refuses_bad_samples_with_clear_codes_and_stores_nothing() {
    let fakes = FakeFaces::new();
    let k = fake_kiosk(KioskConfig::new(temp_dir("fake-enrol")), &fakes);
    let code = |r: kiosk_core::Result<kiosk_core::Enrolment>| r.unwrap_err().code();

    assert_eq!(
        code(
            k.enroll(AdminAuth::Pin("0000"), "ada", None, samples(1))
                .await
        ),
        "ADMIN_REFUSED"
    );
    assert_eq!(
        code(k.enroll(ADMIN, "ada", None, samples(1)[..2].to_vec()).await),
        "ENROL_SAMPLE_COUNT"
    );
    let mut mixed = samples(1);
    mixed[2] = face(2, 1);
    assert_eq!(
        code(k.enroll(ADMIN, "ada", None, mixed).await),
        "ENROL_INCONSISTENT"
    );
    let mut empty = samples(1);
    empty[1] = blank_frame();
    assert_eq!(code(k.enroll(ADMIN, "ada", None, empty).await), "NO_FACE");
    fakes.set_faces(2);
    assert_eq!(
        code(k.enroll(ADMIN, "ada", None, samples(1)).await),
        "MULTIPLE_FACES"
    );
    fakes.set_faces(1);
    fakes.set_liveness(0.2);
    assert_eq!(
        code(k.enroll(ADMIN, "ada", None, samples(1)).await),
        "LIVENESS_FAILED"
    );
    fakes.set_liveness(LIVE);
    assert_eq!(
        code(k.enroll(ADMIN, "bad\u{7}id", None, samples(1)).await),
        "INVALID_USER_ID"
    );
    assert!(k.users().unwrap().is_empty());

    // The same face under another name is refused, naming its owner.
    k.enroll(ADMIN, "ada", None, samples(1)).await.unwrap();
    let err = k
        .enroll(ADMIN, "not-ada", None, samples(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ALREADY_ENROLLED");
    assert!(err.to_string().contains("ada"), "{err}");
    let users: Vec<(String, u32)> = k
        .users()
        .unwrap()
        .into_iter()
        .map(|u| (u.user_id, u.templates))
        .collect();
    assert_eq!(users, [("ada".to_string(), 3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_the_server_decides_on_the_same_fakes_and_offline_the_cache_does() {
    let fakes = FakeFaces::new();
    let mut server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(every_method())
        .start()
        .await;
    let k = fake_kiosk(kiosk_config(&server, &temp_dir("fake-online")), &fakes);

    let e = k
        .enroll(ADMIN, "ada", Some("Ada"), samples(1))
        .await
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Registered);
    assert_eq!(
        server.count(&format!(
            "SELECT COUNT(*) FROM templates WHERE user_id = 'ada' AND model_id = '{FAKE_MODEL_ID}'"
        )),
        3
    );
    let ok = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (ok.decision, ok.mode),
        (Decision::Accepted, Mode::Online),
        "{ok:?}"
    );
    assert_eq!(ok.user_id.as_deref(), Some("ada"));
    assert!(ok.access_token.is_some());
    let no = k.sign_in_face(looks(2), None).await.unwrap();
    assert_eq!((no.decision, no.mode), (Decision::Rejected, Mode::Online));
    assert!(no.access_token.is_none());
    // The server's liveness check turns a held-up photo away.
    fakes.set_liveness(0.2);
    let spoof = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (spoof.decision, spoof.mode, spoof.reason.as_deref()),
        (Decision::Rejected, Mode::Online, Some("LIVENESS_FAILED"))
    );
    fakes.set_liveness(LIVE);

    // Someone is enrolled at another kiosk while this one is offline.
    server.shutdown().await;
    let off = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (off.decision, off.mode),
        (Decision::Accepted, Mode::Offline)
    );
    server.restart().await;
    let grace: Vec<Vec<u8>> = (1..=3).map(|v| face_jpeg(3, v)).collect();
    server.enrol_images("grace", &grace).await;

    // Back online: the event reaches the server once, the new person reaches the kiosk.
    let r = k.sync_once().await.unwrap();
    assert_eq!((r.online, r.events_sent, r.pending), (true, 1, 0), "{r:?}");
    assert_eq!(k.sync_once().await.unwrap().events_sent, 0);
    assert_eq!(server.count(EVENTS), 1);
    server.shutdown().await;
    let g = k.sign_in_face(looks(3), None).await.unwrap();
    assert_eq!(
        (g.decision, g.mode, g.user_id.as_deref()),
        (Decision::Accepted, Mode::Offline, Some("grace")),
        "{g:?}"
    );
}

/// A kiosk joining a project of several pages of templates reads the feed a page at a time
/// into its store; the next round learns "nothing new" from a 304 (no page read); a change
/// after that arrives alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_kiosk_catches_up_page_by_page_then_asks_only_whats_new() {
    let fakes = FakeFaces::new();
    let server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(every_method())
        .start()
        .await;
    // 450 people enrolled elsewhere: three pages of the kiosk's 200.
    let project = server.project().to_string();
    server
        .server()
        .state
        .db
        .blocking_tx(|c| {
            for i in 0..450usize {
                c.execute(
                    "INSERT INTO counters(name, value) VALUES ('template_rev', 1)
                     ON CONFLICT(name) DO UPDATE SET value = value + 1",
                    [],
                )?;
                let mut v = vec![0.01f32; 256];
                v[i % 256] = 1.0;
                c.execute(
                    "INSERT INTO templates(id, project_id, user_id, model_id, embedding,
                       created_at, rev)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0,
                       (SELECT value FROM counters WHERE name = 'template_rev'))",
                    rusqlite::params![
                        format!("tpl_{i}"),
                        project,
                        format!("p{i}"),
                        FAKE_MODEL_ID,
                        vision::Embedding::values_to_le_bytes(&v)
                    ],
                )?;
            }
            Ok(())
        })
        .unwrap();
    let k = fake_kiosk(kiosk_config(&server, &temp_dir("fake-catch-up")), &fakes);
    let r = k.sync_once().await.unwrap();
    assert_eq!(
        (r.online, r.templates_pulled, r.feed_pages),
        (true, 450, 3),
        "{r:?}"
    );
    assert_eq!(k.status().borrow().templates, 450);
    let r = k.sync_once().await.unwrap();
    assert_eq!((r.templates_pulled, r.feed_pages), (0, 0), "a 304: {r:?}");
    server.enrol_images("grace", &[face_jpeg(3, 1)]).await;
    let r = k.sync_once().await.unwrap();
    assert_eq!((r.templates_pulled, r.feed_pages), (1, 1), "{r:?}");
    assert_eq!(k.status().borrow().templates, 451);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_files_enrol_without_liveness_only_where_the_flow_does_not_require_it() {
    let fakes = FakeFaces::new();
    let mut login = every_method();
    login["liveness_required"] = serde_json::json!(false);
    let server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(login)
        .start()
        .await;
    let k = fake_kiosk(kiosk_config(&server, &temp_dir("fake-source")), &fakes);
    k.sync_once().await.unwrap();
    // Photos that the liveness model would call a print: refused from the camera...
    fakes.set_liveness(0.2);
    assert_eq!(
        k.enroll(ADMIN, "ada", None, samples(1))
            .await
            .unwrap_err()
            .code(),
        "LIVENESS_FAILED"
    );
    // ...taken from an operator's files, and said so at the kiosk and at the server.
    let e = k
        .enroll_from(ADMIN, "ada", None, samples(1), EnrolSource::File)
        .await
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Registered);
    fakes.set_liveness(LIVE);
    let e = k.enroll(ADMIN, "bob", None, samples(2)).await.unwrap();
    assert_eq!(e.state, EnrolmentState::Registered);
    for (user, source) in [("ada", "file"), ("bob", "camera")] {
        assert_eq!(
            server.count(&format!(
                "SELECT COUNT(*) FROM templates WHERE user_id = '{user}' AND source = '{source}'"
            )),
            3,
            "{user}"
        );
        let audited = k.audit_log(50).unwrap().into_iter().any(|a| {
            a.user_id.as_deref() == Some(user)
                && a.detail.as_deref() == Some(&format!("source: {source}"))
        });
        assert!(audited, "{user}: the audit says {source}");
    }
    // Where the flow requires liveness a kiosk's file would skip it: the kiosk says so before
    // taking anything (the server would refuse it, FILE_SOURCE_NEEDS_ADMIN).
    let (s, v) = server
        .call(
            common::Method::PATCH,
            &format!("/project-flows/{}", server.flow()),
            Some(&server.admin),
            Some(serde_json::json!({"login": {"liveness_required": true}})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    k.sync_once().await.unwrap();
    let err = k
        .enroll_from(ADMIN, "cy", None, samples(3), EnrolSource::File)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FILE_SOURCE_NEEDS_ADMIN");
    assert!(k.users().unwrap().iter().all(|u| u.user_id != "cy"));
    assert_eq!(
        server.count("SELECT COUNT(*) FROM templates WHERE user_id = 'cy'"),
        0
    );
    server.stop().await;
}

/// A kiosk erases only people it enrolled itself (the server's people rules): erasing
/// someone an administrator enrolled is refused at the next sync, audited, and the person
/// comes back to this kiosk from the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_the_server_refuses_brings_the_person_back() {
    let fakes = FakeFaces::new();
    let server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(every_method())
        .start()
        .await;
    server.enrol_images("grace", &[face_jpeg(3, 1)]).await;
    let k = fake_kiosk(
        kiosk_config(&server, &temp_dir("fake-erase-refused")),
        &fakes,
    );
    k.sync_once().await.unwrap();
    let has_grace = |k: &kiosk_core::Kiosk| k.users().unwrap().iter().any(|u| u.user_id == "grace");
    assert!(has_grace(&k));
    assert!(k.delete_user(ADMIN, "grace").unwrap());
    assert!(!has_grace(&k));
    let r = k.sync_once().await.unwrap();
    assert!(r.online, "{r:?}");
    assert!(has_grace(&k), "the feed brought her back: {r:?}");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM templates WHERE user_id = 'grace' AND deleted_at IS NULL"),
        1
    );
    let refused = k.audit_log(50).unwrap().into_iter().any(|a| {
        a.detail
            .as_deref()
            .is_some_and(|d| d.contains("ERASURE_NEEDS_ADMIN"))
    });
    assert!(refused, "the refusal is in the kiosk's audit log");
    server.stop().await;
}

/// Where 1:N cannot hold the flow's targets (the policy the kiosk last synced says so), the
/// offline cache names nobody from a face alone and no failure is counted; a claim then 1:1
/// decides, and a refused claim reaches the server under the person claimed, where it counts
/// against their failed face attempts (NIST SP 800-63B-4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_one_to_n_off_asks_for_a_claim_and_a_refused_claim_counts_for_that_person() {
    let fakes = FakeFaces::new();
    let mut login = every_method();
    login["target_fpir"] = serde_json::json!(1e-12);
    let mut server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(login)
        .start()
        .await;
    let mut cfg = kiosk_config(&server, &temp_dir("fake-claim"));
    // The kiosk-wide lockout (5 of anyone's) aside: this test counts one person's.
    cfg.lockout_after = 1000;
    let k = fake_kiosk(cfg, &fakes);
    k.enroll(ADMIN, "ada", Some("Ada"), samples(1))
        .await
        .unwrap();
    assert!(k.sync_once().await.unwrap().online);
    // Online, the server says it too.
    let online = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (online.decision, online.mode, online.reason.as_deref()),
        (
            Decision::Rejected,
            Mode::Online,
            Some("IDENTIFICATION_UNAVAILABLE")
        ),
        "{online:?}"
    );
    server.shutdown().await;
    let off = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (
            off.decision,
            off.mode,
            off.reason.as_deref(),
            off.user_id.as_deref()
        ),
        (
            Decision::Rejected,
            Mode::Offline,
            Some("IDENTIFICATION_UNAVAILABLE"),
            None
        ),
        "{off:?}"
    );
    assert_eq!(off.failures, 0, "asking who it is is no failed attempt");
    let yes = k.sign_in_face(looks(1), Some("ada")).await.unwrap();
    assert_eq!(
        (yes.decision, yes.mode, yes.user_id.as_deref()),
        (Decision::Accepted, Mode::Offline, Some("ada")),
        "{yes:?}"
    );
    // Ten refused claims in a row (the flow requires liveness: 10 free, NIST SP 800-63B-4)
    // hold Ada's face back at this kiosk, even her own face, counted here while offline.
    for _ in 0..10 {
        let no = k.sign_in_face(looks(2), Some("ada")).await.unwrap();
        assert_eq!(
            (no.decision, no.reason.as_deref(), no.user_id),
            (Decision::Rejected, Some("NO_MATCH"), None)
        );
    }
    let held = k.sign_in_face(looks(1), Some("ada")).await.unwrap();
    assert_eq!(
        (held.decision, held.reason.as_deref()),
        (Decision::Rejected, Some("FACE_ATTEMPTS_LOCKED")),
        "{held:?}"
    );
    server.restart().await;
    let r = k.sync_once().await.unwrap();
    assert!(r.online && r.pending == 0, "{r:?}");
    // The server counts the same ten from the events (the held-back try is no failure).
    assert_eq!(
        server.count("SELECT COUNT(*) FROM face_attempts WHERE user_id = 'ada' AND failures = 10"),
        1
    );
}

/// A saved offline policy that cannot be read refuses faces from the cache (fail closed),
/// with its code, audited: the refusals it held must not silently vanish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_offline_policy_refuses_faces_from_the_cache() {
    let fakes = FakeFaces::new();
    let dir = temp_dir("fake-policy-unreadable");
    let cfg = || {
        let mut cfg = KioskConfig::new(&dir);
        // Nothing listens there: every face is the cache's to decide.
        cfg.api_url = Some("http://127.0.0.1:9/v2/access".into());
        cfg.token = Some("t".into());
        cfg.project_id = Some("p".into());
        cfg
    };
    let k = fake_kiosk(cfg(), &fakes);
    k.enroll(ADMIN, "ada", None, samples(1)).await.unwrap();
    let ok = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!((ok.decision, ok.mode), (Decision::Accepted, Mode::Offline));
    drop(k);
    let db = rusqlite::Connection::open(dir.join("kiosk.db")).unwrap();
    db.execute(
        "INSERT INTO settings(key, value) VALUES ('offline_policy', '{\"project_id\": \"p\", \"flow\": 7')
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [],
    )
    .unwrap();
    drop(db);
    let k = kiosk_core::Kiosk::open_with_pipeline(cfg(), fakes.pipeline()).unwrap();
    let e = k.sign_in_face(looks(1), None).await.unwrap_err();
    assert_eq!(e.code(), "OFFLINE_POLICY_UNREADABLE", "{e}");
    let log = k.audit_log(1).unwrap();
    assert_eq!(
        (log[0].decision.as_str(), log[0].detail.as_deref()),
        ("rejected", Some("OFFLINE_POLICY_UNREADABLE"))
    );
}

/// The server rotates its signing key: the kiosk's next face comes with a token of a key it
/// has not pinned, and it learns the new key from the policy feed, where the old (pinned) key
/// signed it, then accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_reaches_the_kiosk_signed_by_the_pinned_one() {
    let fakes = FakeFaces::new();
    let server = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(every_method())
        .start()
        .await;
    let k = fake_kiosk(kiosk_config(&server, &temp_dir("fake-rotation")), &fakes);
    k.enroll(ADMIN, "ada", None, samples(1)).await.unwrap();
    let before = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (before.decision, before.mode),
        (Decision::Accepted, Mode::Online)
    );
    let old_kid = server.server().state.keys.signing_kid();
    server
        .post_ok("/keys/rotate", &server.admin, serde_json::json!({}))
        .await;
    assert_ne!(server.server().state.keys.signing_kid(), old_kid);
    let after = k.sign_in_face(looks(1), None).await.unwrap();
    assert_eq!(
        (after.decision, after.mode, after.user_id.as_deref()),
        (Decision::Accepted, Mode::Online, Some("ada")),
        "{after:?}"
    );
    assert!(after.access_token.is_some());
}
