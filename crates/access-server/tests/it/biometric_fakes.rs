//! The face endpoints on the fake face engines of `crates/test-support` (behind the same
//! `vision` traits as the real models, on the server's own vision thread): enrolment, 1:1 and
//! 1:N, the liveness gate. No ONNX Runtime and no model files; the
//! real-model flows are in `biometric.rs`.

use crate::common;

use common::fakes::{FAKE_MODEL_ID, LIVE, blank_frame, face_jpeg};
use common::{FakeFaces, TestServer, Vision, b64, code_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Person `who`'s photo number `variant`, as the API takes it.
fn photo(who: u8, variant: u32) -> String {
    b64(&face_jpeg(who, variant))
}

fn data(v: &Value) -> &Value {
    &v["data"]
}

async fn fake_server(fakes: &FakeFaces) -> TestServer {
    let t = TestServer::builder()
        .vision(Vision::Fake(fakes.clone()))
        .start()
        .await;
    assert_eq!(t.vision_loaded().await, "ready");
    t
}

#[tokio::test]
async fn enrol_verify_one_to_one_and_one_to_n() {
    let fakes = FakeFaces::new();
    let t = fake_server(&fakes).await;
    let (pid, fid) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    let k = t.kiosk();
    let register = |user: &str, image: String| {
        t.post(
            "/biometric/register-face",
            &k,
            json!({"user_id": user, "project_id": pid, "face_image": image}),
        )
    };

    let (s, v) = register("ada", photo(1, 1)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["quality"]["passed"], true, "{v}");
    assert_eq!(
        (data(&v)["samples"].as_u64(), data(&v)["model_id"].as_str()),
        (Some(1), Some(FAKE_MODEL_ID))
    );
    let vid = data(&v)["validation_id"].as_str().unwrap().to_string();

    // Refused samples store nothing: two people, nobody, not an image.
    fakes.set_faces(2);
    let (s, v) = register("pair", photo(2, 1)).await;
    assert_eq!(
        (s, code_of(&v), v["details"]["faces"].as_u64()),
        (StatusCode::UNPROCESSABLE_ENTITY, "MULTIPLE_FACES", Some(2)),
        "{v}"
    );
    fakes.set_faces(1);
    let blank = b64(&blank_frame().to_jpeg(92).unwrap());
    let (s, v) = register("nobody", blank).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "NO_FACE"),
        "{v}"
    );
    let (s, v) = register("x", b64(b"hello, I am not a picture")).await;
    assert!(s.is_client_error(), "{s} {v}");
    assert!(
        ["IMAGE_CORRUPT", "IMAGE_UNSUPPORTED"].contains(&code_of(&v)),
        "{v}"
    );

    // 1:1 on the enrolment's validation: validated, with a token for Ada.
    let verify = |body: Value| t.post("/biometric/verify-face", &k, body);
    let (s, v) =
        verify(json!({"user_id": "ada", "validation_id": vid, "face_image": photo(1, 2)})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (data(&v)["matched"].as_bool(), data(&v)["status"].as_str()),
        (Some(true), Some("validated")),
        "{v}"
    );
    let claims = t.access_claims(data(&v)["access_token"].as_str().unwrap(), &pid);
    assert_eq!(
        (claims.sub.as_str(), claims.amr),
        ("ada", vec!["face".into()])
    );
    let (s, v) =
        verify(json!({"user_id": "ada", "validation_id": vid, "face_image": photo(1, 2)})).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "VALIDATION_NOT_PENDING")
    );

    // 1:1, someone else: not matched, an attempt used, no token.
    let (s, v) =
        verify(json!({"user_id": "ada", "project_id": pid, "face_image": photo(2, 1)})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            data(&v)["matched"].as_bool(),
            data(&v)["attempts_remaining"].as_u64()
        ),
        (Some(false), Some(2)),
        "{v}"
    );
    assert!(data(&v).get("access_token").is_none());

    // 1:N finds the person, and names nobody for a stranger.
    let (s, _) = register("grace", photo(3, 1)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = verify(json!({"project_id": pid, "face_image": photo(3, 2)})).await;
    assert_eq!(
        (data(&v)["matched"].as_bool(), data(&v)["user_id"].as_str()),
        (Some(true), Some("grace")),
        "{v}"
    );
    let (_, v) = verify(json!({"project_id": pid, "face_image": photo(4, 1)})).await;
    assert_eq!(data(&v)["matched"], false, "{v}");
    assert!(data(&v).get("user_id").is_none(), "{v}");
    // Nobody enrolled under that id: a miss, as for an enrolled person's stranger.
    let (s, v) =
        verify(json!({"user_id": "nobody", "project_id": pid, "face_image": photo(1, 3)})).await;
    assert_eq!(
        (s, &data(&v)["matched"]),
        (StatusCode::OK, &json!(false)),
        "{v}"
    );

    // The kiosk feed carries both people's templates, in the fake model's space.
    let (_, v) = t
        .get(&format!("/sync/templates?project_id={pid}"), &k)
        .await;
    let items = data(&v)["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert!(items.iter().all(|i| i["model_id"] == FAKE_MODEL_ID
        && i["embedding"].as_array().unwrap().len() == vision::EMBEDDING_DIM));

    // Deleting a person takes effect for matching at once.
    let (s, _) = t
        .call(
            Method::DELETE,
            &format!("/users/grace?project_id={pid}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = verify(json!({"project_id": pid, "face_image": photo(3, 2)})).await;
    assert_eq!(data(&v)["matched"], false, "{v}");

    // Face off in the flow: a clear code.
    t.call(
        Method::PATCH,
        &format!("/project-flows/{fid}"),
        Some(&t.admin),
        Some(json!({"login": {"face": false}})),
    )
    .await;
    let (s, v) = verify(json!({"project_id": pid, "face_image": photo(1, 2)})).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "METHOD_DISABLED"),
        "{v}"
    );
    t.stop().await;
}

#[tokio::test]
async fn liveness_gates_the_login() {
    let fakes = FakeFaces::new();
    let t = fake_server(&fakes).await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let k = t.kiosk();
    let v = t
        .post_ok(
            "/biometric/register-face",
            &k,
            json!({"user_id": "ada", "project_id": pid, "face_image": photo(1, 1)}),
        )
        .await;
    let vid = data(&v)["validation_id"].as_str().unwrap().to_string();
    // A photo held up to the camera: matched, and judged a spoof in the same call.
    fakes.set_liveness(0.2);
    let v = t
        .post_ok(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "ada", "validation_id": vid, "face_image": photo(1, 2)}),
        )
        .await;
    assert_eq!(
        (data(&v)["matched"].as_bool(), data(&v)["status"].as_str()),
        (Some(true), Some("pending")),
        "liveness still required: {v}"
    );
    assert_eq!(data(&v)["passed"], false, "{v}");
    assert!(
        (data(&v)["liveness_score"].as_f64().unwrap() - 0.2).abs() < 1e-6,
        "{v}"
    );
    assert!(data(&v).get("access_token").is_none());

    // The seed's liveness-check on the same validation: the photo again fails...
    let check = || {
        t.post(
            "/biometric/liveness-check",
            &k,
            json!({"validation_id": vid, "face_image": photo(1, 2)}),
        )
    };
    let (s, v) = check().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["passed"], false, "{v}");
    let score = data(&v)["liveness_score"].as_f64().unwrap();
    assert!((score - 0.2).abs() < 1e-6, "{v}");
    assert!(data(&v).get("access_token").is_none());

    // ...the person passes, a face+liveness token.
    fakes.set_liveness(LIVE);
    let (s, v) = check().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (data(&v)["passed"].as_bool(), data(&v)["status"].as_str()),
        (Some(true), Some("validated")),
        "{v}"
    );
    let claims = t.access_claims(data(&v)["access_token"].as_str().unwrap(), &pid);
    assert_eq!(claims.amr, vec!["face", "liveness"]);
    t.stop().await;
}

#[tokio::test]
async fn one_verify_face_with_a_live_face_is_the_whole_login() {
    let fakes = FakeFaces::new();
    let t = fake_server(&fakes).await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let k = t.kiosk();
    t.post_ok(
        "/biometric/register-face",
        &k,
        json!({"user_id": "ada", "project_id": pid, "face_image": photo(1, 1)}),
    )
    .await;
    let v = t
        .post_ok(
            "/biometric/verify-face",
            &k,
            json!({"project_id": pid, "face_image": photo(1, 2)}),
        )
        .await;
    assert_eq!(
        (data(&v)["passed"].as_bool(), data(&v)["status"].as_str()),
        (Some(true), Some("validated")),
        "{v}"
    );
    assert!((data(&v)["liveness_score"].as_f64().unwrap() - LIVE as f64).abs() < 1e-6);
    let claims = t.access_claims(data(&v)["access_token"].as_str().unwrap(), &pid);
    assert_eq!(claims.amr, vec!["face", "liveness"]);
    t.stop().await;
}

#[tokio::test]
async fn the_people_list_shows_each_persons_last_sign_in_online_or_offline() {
    use access_server::Clock;
    let fakes = FakeFaces::new();
    let t = fake_server(&fakes).await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    let k = t.kiosk();
    for (who, n) in [("ada", 1), ("grace", 3), ("linus", 5)] {
        let (s, v) = t
            .post(
                "/biometric/register-face",
                &k,
                json!({"user_id": who, "project_id": pid, "face_image": photo(n, 1)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let people = || async {
        let (s, v) = t.get(&format!("/users?project_id={pid}"), &t.admin).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        data(&v)
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let last = p["last_sign_in_at"].as_str().map(str::to_string);
                (p["user_id"].as_str().unwrap().to_string(), last)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert!(people().await.values().all(Option::is_none));

    // Ada signs in online (1:N); a miss on Grace's name counts for nobody.
    let signed_in_at = t.clock.now_ms();
    let (_, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": pid, "face_image": photo(1, 2)}),
        )
        .await;
    assert_eq!(data(&v)["user_id"], "ada", "{v}");
    let answered_at = t.clock.now_ms();
    let (_, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "grace", "project_id": pid, "face_image": photo(4, 1)}),
        )
        .await;
    assert_eq!(data(&v)["matched"], false, "{v}");
    // Grace signs in at a kiosk that was offline, ten minutes later; it reports it when back,
    // with a time in another offset (compared as an instant).
    t.clock.advance_ms(600_000);
    let device = common::DeviceKey::generate();
    let (kiosk_id, token) = t.pair_device(&device, &pid).await;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.clock.now_ms() - 60_000) * 1_000_000,
    )
    .unwrap()
    .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
    let event = access_types::OfflineEvent {
        event_id: "evt_grace".into(),
        kind: "sign_in".into(),
        project_id: pid.clone(),
        occurred_at: at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        user_id: Some("grace".into()),
        payload: json!({"decision": "accepted", "score": 0.8}),
        signature: None,
    };
    let e = device.sign_event(&kiosk_id, event);
    let (s, v) = t.post("/sync/events", &token, json!({"events": [e]})).await;
    assert_eq!(
        data(&v)["accepted"].as_array().map(Vec::len),
        Some(1),
        "{s} {v}"
    );

    let seen = people().await;
    let at = |who: &str| access_server::clock::parse_rfc3339(seen[who].as_deref().unwrap());
    let ada = at("ada").unwrap();
    assert!((signed_in_at..=answered_at).contains(&ada), "{seen:?}");
    let grace = at("grace").unwrap();
    assert!(
        grace > answered_at + 500_000 && grace < t.clock.now_ms(),
        "{seen:?}"
    );
    assert_eq!(seen["linus"], None);
}
