//! Erasure (`DELETE /biometric/users/{user_id}`, and the admin's `DELETE /users/{user_id}`)
//! and the kiosk's offline policy (`GET /sync/policy`), over HTTP on loopback with a real
//! SQLite file; faces on the fake engines.

use crate::common;

use common::fakes::face_jpeg;
use common::{FakeFaces, TestServer, Vision, b64, code_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn fake_server() -> TestServer {
    let t = TestServer::builder()
        .vision(Vision::Fake(FakeFaces::new()))
        .login_flow(json!({"face": true, "liveness_required": false}))
        .start()
        .await;
    assert_eq!(t.vision_loaded().await, "ready");
    t
}

async fn feed(t: &TestServer, cursor: &str) -> Value {
    let (s, v) = t
        .get(
            &format!("/sync/templates?project_id={}&cursor={cursor}", t.project()),
            &t.kiosk(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["data"].clone()
}

#[tokio::test]
async fn a_kiosk_erases_a_person_and_the_feed_carries_tombstones() {
    let t = fake_server().await;
    // Ada enrolled by the kiosk (it may erase her), Bob by an administrator.
    for v in 1..=2 {
        t.post_ok(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "ada", "project_id": t.project(), "face_image": b64(&face_jpeg(1, v))}),
        )
        .await;
    }
    t.enrol_images("bob", &[face_jpeg(2, 1)]).await;
    let before = feed(&t, "0").await;
    let cursor = before["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(before["items"].as_array().unwrap().len(), 3);

    let erase = |user: &'static str, token: String, project: String| {
        let t = &t;
        async move {
            t.call(
                Method::DELETE,
                &format!("/biometric/users/{user}?project_id={project}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    // A paired kiosk may erase in its own project the people it enrolled.
    let (s, v) = erase("ada", t.kiosk(), t.project().into()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["templates_deleted"], 2);
    // Her samples are gone from the server; bob's are not.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'ada' AND deleted_at IS NULL"),
        0
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'ada' AND length(embedding) > 0"),
        0,
        "the embedding bytes are cleared"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'bob' AND deleted_at IS NULL"),
        1
    );
    // The feed after the kiosk's cursor: two tombstones for her, nothing else.
    let after = feed(&t, &cursor).await;
    let items = after["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{after}");
    for i in items {
        assert_eq!(
            (i["op"].as_str(), i["user_id"].as_str()),
            (Some("delete"), Some("ada"))
        );
        assert!(i.get("embedding").is_none());
    }
    // 1:N no longer finds her.
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &t.kiosk(),
            json!({"project_id": t.project(), "face_image": b64(&face_jpeg(1, 3))}),
        )
        .await;
    assert!(
        v["data"]["matched"] == false || code_of(&v) == "NOT_ENROLLED",
        "{s} {v}"
    );

    // A retried erasure is not an error; erasing nobody erases nothing.
    let (s, v) = erase("ada", t.kiosk(), t.project().into()).await;
    assert_eq!(
        (s, v["data"]["templates_deleted"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    // Audited: who, which scope, how many.
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM erasures WHERE user_id = 'ada' AND scope = 'kiosk' AND actor = 'ksk_test'"
        ),
        2
    );
    assert_eq!(
        t.count("SELECT templates_deleted FROM erasures WHERE user_id = 'ada' ORDER BY id LIMIT 1"),
        2
    );
    // Another project than the kiosk's, an unknown project, no token: refused with their
    // codes.
    let (s, v) = erase("bob", t.kiosk(), "prj_nope".into()).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "PROJECT_FORBIDDEN")
    );
    let (s, v) = erase("bob", t.admin.clone(), "prj_nope".into()).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::NOT_FOUND, "PROJECT_NOT_FOUND")
    );
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("/biometric/users/bob?project_id={}", t.project()),
            None,
            None,
        )
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));

    // The admin's delete goes the same way (and keeps its 404 for nobody).
    let (s, _) = t
        .call(
            Method::DELETE,
            &format!("/users/bob?project_id={}", t.project()),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM erasures WHERE user_id = 'bob' AND scope = 'admin'"),
        1
    );
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("/users/bob?project_id={}", t.project()),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!((s, code_of(&v)), (StatusCode::NOT_FOUND, "USER_NOT_FOUND"));
    t.stop().await;
}

#[tokio::test]
async fn the_policy_says_the_flows_state_methods_and_lists_but_no_url() {
    let t = fake_server().await;
    let policy = || async {
        let (s, v) = t
            .get(
                &format!("/sync/policy?project_id={}", t.project()),
                &t.kiosk(),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"].clone()
    };
    let p = policy().await;
    assert_eq!(p["project_id"], t.project());
    assert_eq!(p["flow"]["id"], t.flow());
    assert_eq!(p["flow"]["status"], "active");
    assert_eq!(p["flow"]["login"]["face"], true);
    assert_eq!(p["flow"]["security_mode"], "none");

    let patch = |body: Value| async {
        let (s, v) = t
            .call(
                Method::PATCH,
                &format!("/project-flows/{}", t.flow()),
                Some(&t.admin),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    };
    patch(json!({"status": "paused",
                 "security": {"mode": "blacklist", "identifiers": ["ada"]}}))
    .await;
    let p = policy().await;
    assert_eq!(
        (
            p["flow"]["status"].as_str(),
            p["flow"]["security_mode"].as_str(),
            p["flow"]["identifiers"].clone()
        ),
        (Some("paused"), Some("blacklist"), json!(["ada"]))
    );
    // A customer URL is the server's to call: the kiosk learns the mode, never the address.
    patch(json!({"status": "active",
                 "security": {"mode": "url", "url": "http://127.0.0.1:9/check"}}))
    .await;
    let p = policy().await;
    assert_eq!(p["flow"]["security_mode"], "url");
    assert!(!p.to_string().contains("127.0.0.1:9"), "{p}");

    let (s, v) = t.get("/sync/policy?project_id=prj_nope", &t.kiosk()).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "PROJECT_FORBIDDEN")
    );
    let (s, v) = t.get("/sync/policy?project_id=prj_nope", &t.admin).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::NOT_FOUND, "PROJECT_NOT_FOUND")
    );
    t.stop().await;
}

/// A 1:N verification through `srv` of person `who`'s face: whether it matched.
async fn one_to_n(srv: &TestServer, project: &str, kiosk: &str, who: u8) -> bool {
    let body = json!({"project_id": project, "face_image": b64(&face_jpeg(who, 3))});
    let (_, v) = srv.post("/biometric/verify-face", kiosk, body).await;
    v["data"]["matched"] == true
}

/// Two servers on one database file: a person erased through one stops matching through the
/// other at once (its cached gallery checks the project's head revision on every search), and
/// one enrolled through one is found through the other.
#[tokio::test]
async fn an_erasure_through_one_server_ends_matches_through_another_on_the_same_database() {
    let a = fake_server().await;
    let b = TestServer::builder()
        .db(a.cfg.db.clone())
        .vision(Vision::Fake(FakeFaces::new()))
        .start()
        .await;
    assert_eq!(b.vision_loaded().await, "ready");
    a.enrol_images("ada", &[face_jpeg(1, 1)]).await;
    // B caches the gallery with her in it.
    assert!(
        one_to_n(&b, a.project(), &a.kiosk(), 1).await,
        "B finds ada"
    );
    let (s, v) = a
        .call(
            Method::DELETE,
            &format!("/biometric/users/ada?project_id={}", a.project()),
            Some(&a.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        !one_to_n(&b, a.project(), &a.kiosk(), 1).await,
        "B still matched an erased person"
    );
    // And the other way: enrolled through A, found through B.
    a.enrol_images("bob", &[face_jpeg(2, 1)]).await;
    assert!(
        one_to_n(&b, a.project(), &a.kiosk(), 2).await,
        "B did not see bob"
    );
}

/// A kiosk's upload that does not say where it came from counts as the camera's: on a flow
/// that requires liveness a spoof is refused, whatever the kiosk leaves out.
#[tokio::test]
async fn a_kiosk_upload_without_a_source_is_judged_as_a_camera_sample() {
    let fakes = FakeFaces::new();
    let t = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .login_flow(json!({"face": true, "liveness_required": true}))
        .start()
        .await;
    assert_eq!(t.vision_loaded().await, "ready");
    fakes.set_liveness(0.1);
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "eve", "project_id": t.project(), "face_image": b64(&face_jpeg(5, 1))}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "LIVENESS_FAILED"),
        "{v}"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'eve'"),
        0
    );
}
