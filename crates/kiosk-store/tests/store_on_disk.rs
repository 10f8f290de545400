//! The store on real SQLite files: encryption at rest, migrations, outbox order and
//! idempotency, the server delta feed, lockouts.

use std::path::PathBuf;

use kiosk_store::{
    AuditDecision, AuditEntry, AuditMethod, AuditMode, ServerChange, Store, StoreKey,
};

// Not `test_support::temp_dir`: test-support depends on kiosk-store (through kiosk-core), so
// using it here would build a second kiosk-store for these tests.
fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiosk-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("kiosk.db")
}

fn embedding(seed: f32) -> Vec<f32> {
    (0..256)
        .map(|i| ((i as f32 + seed) * 0.37).sin() / 8.0)
        .collect()
}

#[test]
fn templates_survive_reopen_and_are_not_in_the_file_in_the_clear() {
    let db = temp_db("clear");
    let key = StoreKey::generate();
    let e = embedding(1.0);
    {
        let mut s = Store::open(&db, &key).unwrap();
        s.enroll("alice", Some("Alice"), "m1", &[e.clone(), embedding(2.0)])
            .unwrap();
    }
    let s = Store::open(&db, &key).unwrap();
    let t = s.templates().unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].embedding, e);
    assert_eq!(s.users().unwrap()[0].templates, 2);
    assert_eq!(s.user_name("alice").unwrap().as_deref(), Some("Alice"));
    drop(s);

    // Any 16 consecutive bytes of the embedding would betray it; look in the db and its WAL.
    let needle: Vec<u8> = e[10..14].iter().flat_map(|x| x.to_le_bytes()).collect();
    for f in [db.clone(), db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&f) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds a template in the clear",
                f.display()
            );
        }
    }

    // The database alone, with another key, reveals nothing and says why.
    let other = Store::open(&db, &StoreKey::generate()).unwrap();
    assert_eq!(
        other.templates().unwrap_err().code(),
        "STORE_DECRYPT_FAILED"
    );
}

#[test]
fn a_database_from_a_newer_schema_is_refused_clearly() {
    let db = temp_db("newer");
    let key = StoreKey::generate();
    drop(Store::open(&db, &key).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&db, &key).err().unwrap();
    assert_eq!(err.code(), "STORE_SCHEMA_TOO_NEW");
    assert!(err.to_string().contains("99"));
}

#[test]
fn outbox_keeps_order_is_idempotent_and_encrypted() {
    let db = temp_db("outbox");
    let key = StoreKey::generate();
    let mut s = Store::open(&db, &key).unwrap();
    let a = s
        .enqueue(
            "sign_in",
            &serde_json::json!({"user": "alice", "secret": "s3cr3t-payload"}),
        )
        .unwrap();
    let b = s
        .enqueue("sign_in", &serde_json::json!({"user": "bob"}))
        .unwrap();
    let again = s
        .enqueue_with_id(
            &a.client_id,
            "sign_in",
            &serde_json::json!({"user": "alice"}),
        )
        .unwrap();
    assert_eq!(again.seq, a.seq);
    let pending = s.pending(10).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| p.client_id.clone())
            .collect::<Vec<_>>(),
        vec![a.client_id.clone(), b.client_id.clone()]
    );
    assert_eq!(pending[0].payload["secret"], "s3cr3t-payload");
    s.mark_attempt_failed(&a.client_id, "offline").unwrap();
    s.mark_sent(std::slice::from_ref(&a.client_id)).unwrap();
    assert_eq!(s.pending_count().unwrap(), 1);
    assert_eq!(s.pending(10).unwrap()[0].client_id, b.client_id);
    drop(s);
    let bytes = std::fs::read(&db).unwrap();
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    for f in [bytes, wal] {
        assert!(!f.windows(14).any(|w| w == b"s3cr3t-payload"));
    }
}

#[test]
fn server_feed_upserts_deletes_and_keeps_the_cursor_atomically() {
    let db = temp_db("feed");
    let mut s = Store::open(&db, &StoreKey::generate()).unwrap();
    let up = |id: &str, user: &str, seed: f32| ServerChange::Upsert {
        server_id: id.into(),
        user_id: user.into(),
        model_id: "m1".into(),
        embedding: embedding(seed),
    };
    s.apply_server_changes(
        &[up("t1", "carol", 1.0), up("t2", "dave", 2.0)],
        "cursor",
        "2",
    )
    .unwrap();
    // The same page again (a retried pull) changes nothing.
    s.apply_server_changes(
        &[up("t1", "carol", 1.0), up("t2", "dave", 2.0)],
        "cursor",
        "2",
    )
    .unwrap();
    assert_eq!(s.template_count().unwrap(), 2);
    s.apply_server_changes(
        &[ServerChange::Delete {
            server_id: "t1".into(),
        }],
        "cursor",
        "3",
    )
    .unwrap();
    let users: Vec<String> = s.users().unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(users, vec!["dave".to_string()]);
    assert_eq!(s.setting("cursor").unwrap().as_deref(), Some("3"));

    // A local template later acknowledged by the server, then also seen in the feed: one row.
    let ids = s.enroll("erin", None, "m1", &[embedding(5.0)]).unwrap();
    s.link_server_id(ids[0], "t9").unwrap();
    s.apply_server_changes(&[up("t9", "erin", 5.0)], "cursor", "4")
        .unwrap();
    assert_eq!(
        s.templates()
            .unwrap()
            .iter()
            .filter(|t| t.user_id == "erin")
            .count(),
        1
    );
    assert!(s.delete_user("erin").unwrap());
    assert!(!s.delete_user("erin").unwrap());
}

#[test]
fn lockouts_count_and_clear_and_audit_is_newest_first() {
    let db = temp_db("lock");
    let mut s = Store::open(&db, &StoreKey::generate()).unwrap();
    for i in 1..=4 {
        let l = s
            .record_failure("kiosk", 1000, |n| if n >= 5 { 30 } else { 0 })
            .unwrap();
        assert_eq!((l.failures, l.locked_until), (i, 0));
    }
    let l = s
        .record_failure("kiosk", 1000, |n| if n >= 5 { 30 } else { 0 })
        .unwrap();
    assert_eq!(l.locked_until, 1030);
    assert_eq!(s.lockout("kiosk").unwrap(), l);
    s.clear_failures("kiosk").unwrap();
    assert_eq!(s.lockout("kiosk").unwrap().failures, 0);

    for d in [AuditDecision::Accepted, AuditDecision::Rejected] {
        s.audit(&AuditEntry {
            at: kiosk_store::now_rfc3339(),
            actor: None,
            user_id: Some("alice".into()),
            method: AuditMethod::Face,
            decision: d,
            score: Some(0.5),
            liveness: Some(0.9),
            mode: AuditMode::Offline,
            detail: None,
        })
        .unwrap();
    }
    let log = s.audit_log(10).unwrap();
    assert_eq!(log[0].decision, AuditDecision::Rejected);
    assert_eq!(log.len(), 2);
}

#[test]
fn erasing_a_person_drops_their_templates_and_named_uploads_and_queues_one_item() {
    let db = temp_db("erase");
    let key = StoreKey::generate();
    let mut s = Store::open(&db, &key).unwrap();
    s.enroll("ada", Some("Ada"), "m1", &[embedding(1.0), embedding(2.0)])
        .unwrap();
    s.enroll("bob", None, "m1", &[embedding(3.0)]).unwrap();
    let ada1 = s
        .enqueue("register_face", &serde_json::json!({"user_id": "ada"}))
        .unwrap();
    let bob1 = s
        .enqueue("register_face", &serde_json::json!({"user_id": "bob"}))
        .unwrap();
    let ada2 = s
        .enqueue("register_face", &serde_json::json!({"user_id": "ada"}))
        .unwrap();
    let erasure = serde_json::json!({"user_id": "ada", "project_id": "p"});
    assert!(
        s.erase_user(
            "ada",
            &[ada1.client_id.clone(), ada2.client_id.clone()],
            Some(("erase_user", &erasure))
        )
        .unwrap()
    );
    drop(s);
    // Reopened: what the transaction wrote is on disk.
    let s = Store::open(&db, &key).unwrap();
    let users: Vec<String> = s.users().unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(users, ["bob"]);
    assert_eq!(s.template_count().unwrap(), 1);
    let pending = s.pending(10).unwrap();
    let kinds: Vec<(&str, &str)> = pending
        .iter()
        .map(|i| (i.client_id.as_str(), i.kind.as_str()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0], (bob1.client_id.as_str(), "register_face"));
    assert_eq!(kinds[1].1, "erase_user");
    assert_eq!(pending[1].payload, erasure);
}
