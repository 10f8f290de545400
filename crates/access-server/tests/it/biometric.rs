//! Face endpoints with the real vision pipeline and real photos (read in place from
//! $FACE_DATA_DIR, default `<workspace>/../shared/data/faces`).

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestServer, Vision, case_b64, code_of, photo_b64 as photo, photo_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A server with the real models, loaded.
async fn vision_server() -> TestServer {
    let t = TestServer::builder().vision(Vision::Real).start().await;
    assert_eq!(
        t.vision_loaded().await,
        "ready",
        "vision failed to load: run scripts/setup.sh"
    );
    t
}

fn data(v: &Value) -> &Value {
    &v["data"]
}

/// Whether the webhook receiver heard an event of type `want` within 4 s.
async fn heard(types: &std::sync::Mutex<Vec<String>>, want: &str) -> bool {
    // Up to 10 s: deliveries queue behind the whole suite's work on a loaded machine.
    for _ in 0..500 {
        if types.lock().unwrap().iter().any(|t| t == want) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn enrol_verify_one_to_one_and_one_to_n() {
    let t = vision_server().await;
    let (pid, fid) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    let k = t.kiosk();

    // Enrol Obama.
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "obama", "project_id": pid, "face_image": photo("face_recognition_examples/obama/obama.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["quality"]["passed"], true);
    assert_eq!(data(&v)["samples"], 1);
    assert_eq!(data(&v)["status"], "pending");
    assert_eq!(data(&v)["model_id"], vision::EMBEDDER_MODEL_ID);
    let vid = data(&v)["validation_id"].as_str().unwrap().to_string();

    // Two people: refused, nothing stored.
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "pair", "project_id": pid, "face_image": photo("face_recognition_examples/multi_face/obama_and_biden.jpg")}))
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "MULTIPLE_FACES"),
        "{v}"
    );
    assert!(v["details"]["faces"].as_u64().unwrap() >= 2);
    // Not an image.
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "x", "project_id": pid, "face_image": STANDARD.encode(b"hello, I am not a picture")}))
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    assert!(
        ["IMAGE_CORRUPT", "IMAGE_UNSUPPORTED"].contains(&code_of(&v)),
        "{v}"
    );
    // 1:1, same person, on the enrolment's validation: validated with a token.
    let (s, v) = t
        .post("/biometric/verify-face", &k, json!({"user_id": "obama", "validation_id": vid, "face_image": photo("face_recognition_examples/obama/obama1.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], true, "{v}");
    assert!(data(&v)["match_score"].as_f64().unwrap() >= data(&v)["threshold"].as_f64().unwrap());
    assert_eq!(data(&v)["status"], "validated");
    let token = data(&v)["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let claims = t.access_claims(&token, &pid);
    assert_eq!(claims.sub, "obama");
    assert_eq!(claims.amr, vec!["face"]);
    // The validation is done.
    let (s, v) = t
        .post("/biometric/verify-face", &k, json!({"user_id": "obama", "validation_id": vid, "face_image": photo("face_recognition_examples/obama/obama1.jpg")}))
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "VALIDATION_NOT_PENDING"),
        "{v}"
    );

    // 1:1, other person: not matched, attempts counted.
    let (s, v) = t
        .post("/biometric/verify-face", &k, json!({"user_id": "obama", "project_id": pid, "face_image": photo("face_recognition_examples/biden/biden.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], false, "{v}");
    assert_eq!(data(&v)["status"], "pending");
    assert_eq!(data(&v)["attempts_remaining"], 2);
    assert!(data(&v).get("access_token").is_none());

    // 1:N.
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "biden", "project_id": pid, "face_image": photo("face_recognition_examples/biden/biden.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t
        .post("/biometric/verify-face", &k, json!({"project_id": pid, "face_image": photo("face_recognition_examples/biden/biden2.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], true, "{v}");
    assert_eq!(data(&v)["user_id"], "biden");
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": pid, "face_image": photo("face_api_js/amy/amy1.png")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], false, "{v}");
    assert!(
        data(&v).get("user_id").is_none(),
        "1:N does not name a near miss"
    );
    // Liveness on an unmatched 1:N validation: refused (liveness must be tied to a person).
    let anon = data(&v)["validation_id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(
            "/biometric/liveness-check",
            &k,
            json!({"validation_id": anon, "face_image": photo("silent_face/image_T1.jpg")}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "VALIDATION_NOT_PENDING"),
        "{v}"
    );
    // Not enrolled: a miss like any other (enrolled people are not told apart).
    let (s, v) = t
        .post("/biometric/verify-face", &k, json!({"user_id": "nobody", "project_id": pid, "face_image": photo("face_recognition_examples/obama/obama2.jpg")}))
        .await;
    assert_eq!(
        (s, &data(&v)["matched"]),
        (StatusCode::OK, &json!(false)),
        "{v}"
    );

    // The kiosk feed carries the templates.
    let (_, v) = t
        .get(&format!("/sync/templates?project_id={pid}"), &k)
        .await;
    let items = data(&v)["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["embedding"].as_array().unwrap().len(), 256);
    assert_eq!(items[0]["model_id"], vision::EMBEDDER_MODEL_ID);

    // Security settings apply to a 1:N match too.
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/project-flows/{fid}"),
            Some(&t.admin),
            Some(json!({"security": {"mode": "blacklist", "identifiers": ["biden"]}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": pid, "face_image": photo("face_recognition_examples/biden/biden2.jpg")}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::FORBIDDEN, "IDENTIFIER_NOT_ALLOWED"),
        "{v}"
    );

    // Deleting a user takes effect for matching at once (template cache invalidated).
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("/users/biden?project_id={pid}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": pid, "face_image": photo("face_recognition_examples/biden/biden2.jpg")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], false, "{v}");

    // Face off in the flow: clear code.
    t.call(
        Method::PATCH,
        &format!("/project-flows/{fid}"),
        Some(&t.admin),
        Some(json!({"login": {"face": false}})),
    )
    .await;
    let (s, v) = t
        .post("/biometric/verify-face", &k, json!({"project_id": pid, "face_image": photo("face_recognition_examples/biden/biden2.jpg")}))
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::CONFLICT, "METHOD_DISABLED"),
        "{v}"
    );
    t.stop().await;
}

#[tokio::test]
async fn liveness_gates_the_login_and_rate_limit_applies() {
    let t = vision_server().await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let k = t.kiosk();
    // Collect webhook event types (all events subscribed).
    let types = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let ty2 = types.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let ty = ty2.clone();
            async move {
                ty.lock()
                    .unwrap()
                    .push(v["type"].as_str().unwrap_or("").to_string());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let (s, _) = t
        .post(
            "/webhooks",
            &t.admin,
            json!({"project_id": pid, "url": format!("http://{hook_addr}/hook")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let real = photo("silent_face/image_T1.jpg");
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "t1", "project_id": pid, "face_image": real}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = data(&v)["validation_id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "t1", "validation_id": vid, "face_image": real}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // One upload, one pass: matched and live, validated with a face+liveness token.
    assert_eq!(data(&v)["matched"], true);
    assert_eq!(data(&v)["status"], "validated", "{v}");
    assert_eq!(data(&v)["passed"], true, "{v}");
    let token = data(&v)["access_token"].as_str().unwrap();
    let claims = t.access_claims(token, &pid);
    assert_eq!(claims.amr, vec!["face", "liveness"]);

    // Every state change was announced.
    for want in [
        "biometric_validation.created",
        "biometric_validation.liveness_passed",
        "biometric_validation.validated",
    ] {
        assert!(
            heard(&types, want).await,
            "{want} missing from {:?}",
            types.lock().unwrap()
        );
    }

    // 10 biometric calls per minute per user; the 11th is refused before any analysis.
    let small = photo("face_api_js/amy/amy1.png");
    for i in 0..10 {
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                &k,
                json!({"user_id": "rl", "project_id": pid, "face_image": small}),
            )
            .await;
        assert_ne!(s, StatusCode::TOO_MANY_REQUESTS, "call {i}: {v}");
    }
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "rl", "project_id": pid, "face_image": small}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        "{v}"
    );
    assert!(v["details"]["retry_after_s"].as_u64().unwrap() >= 1);
    // A biometric validation expires like any other (injected clock), with its event.
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "t1", "project_id": pid, "face_image": real}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let late = data(&v)["validation_id"].as_str().unwrap().to_string();
    t.clock.advance_ms(11 * 60 * 1000);
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "t1", "validation_id": late, "face_image": real}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::GONE, "VALIDATION_EXPIRED"),
        "{v}"
    );
    let (_, v) = t
        .post(
            "/biometric/liveness-check",
            &k,
            json!({"validation_id": late, "face_image": real}),
        )
        .await;
    assert_eq!(code_of(&v), "VALIDATION_EXPIRED", "{v}");
    assert!(
        heard(&types, "biometric_validation.expired").await,
        "expiry was committed and announced"
    );
    // A printed photo enrolled as its own person: matched, and liveness fails in the same
    // call; the seed's liveness-check on it fails too.
    // (In a project of its own: the liveness samples may be one person, and one face is
    // one person.)
    let print = photo("silent_face/image_F1.jpg");
    let (pid_f1, k_f1) = enrolled_alone(&t, "f1", "silent_face/image_F1.jpg").await;
    let (s, _) = t
        .post(
            "/webhooks",
            &t.admin,
            json!({"project_id": pid_f1, "url": format!("http://{hook_addr}/hook")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k_f1,
            json!({"user_id": "f1", "project_id": pid_f1, "face_image": print}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], true, "{v}");
    assert_eq!(data(&v)["status"], "pending", "{v}");
    assert!(data(&v).get("access_token").is_none());
    let vid = data(&v)["validation_id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(
            "/biometric/liveness-check",
            &k_f1,
            json!({"validation_id": vid, "face_image": print}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["passed"], false, "{v}");
    assert!(data(&v)["liveness_score"].as_f64().is_some());
    assert!(
        (data(&v)["min_score"].as_f64().unwrap() - vision::DEFAULT_LIVENESS_THRESHOLD as f64).abs()
            < 1e-6
    );
    assert!(data(&v).get("access_token").is_none());
    assert!(
        heard(&types, "biometric_validation.liveness_failed").await,
        "the spoof's liveness verdict was announced"
    );
    t.stop().await;
}

#[tokio::test]
async fn missing_models_mean_503_not_a_crash() {
    let nowhere = common::temp_dir().join("none-here");
    let t = TestServer::builder()
        .vision(Vision::Real)
        .configure(move |cfg| cfg.vision.models_dir = Some(nowhere))
        .start()
        .await;
    assert_eq!(t.vision_loaded().await, "unavailable");
    let (pid, _) = t.project_with_flow(json!({"face": true})).await;
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &t.kiosk(),
            json!({"user_id": "u", "project_id": pid, "face_image": photo("face_api_js/amy/amy1.png")}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::SERVICE_UNAVAILABLE, "VISION_UNAVAILABLE"),
        "{v}"
    );
    // Everything else still works.
    let (s, _) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "a@b.co", "project_id": pid}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "OTP login is unaffected (email is on by default)"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_retried_enrolment_with_the_same_idempotency_key_enrols_once() {
    let t = vision_server().await;
    let (pid, _) = t.project_with_flow(json!({"face": true})).await;
    let body = json!({"user_id": "obama", "project_id": pid,
                      "face_image": photo("face_recognition_examples/obama/obama.jpg")});
    let send = |key: &'static str| {
        t.client
            .post(t.url("/biometric/register-face"))
            .bearer_auth(t.kiosk())
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first: Value = send("sample-1").await.unwrap().json().await.unwrap();
    let again: Value = send("sample-1").await.unwrap().json().await.unwrap();
    assert_eq!(
        data(&first)["template_id"],
        data(&again)["template_id"],
        "{again}"
    );
    assert_eq!(data(&again)["samples"], 1);
    // Another key is another sample.
    let other: Value = send("sample-2").await.unwrap().json().await.unwrap();
    assert_ne!(data(&other)["template_id"], data(&first)["template_id"]);
    assert_eq!(data(&other)["samples"], 2);
}

#[tokio::test]
async fn photos_with_trailers_and_whole_camera_buffers_are_the_photos_they_hold() {
    let t = vision_server().await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    let k = t.kiosk();
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "obama", "project_id": pid, "face_image": case_b64("photo_with_trailer_after_eoi.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["quality"]["passed"], true, "{v}");
    for image in [
        case_b64("mjpeg_frame_in_full_v4l2_buffer.jpg"),
        case_b64("photo_with_trailer_after_eoi.jpg"),
    ] {
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                &k,
                json!({"project_id": pid, "face_image": image}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            (data(&v)["matched"].as_bool(), data(&v)["user_id"].as_str()),
            (Some(true), Some("obama")),
            "{v}"
        );
    }
    // Really cut short: refused, with the code.
    let whole = photo_bytes("face_recognition_examples/obama/obama2.jpg");
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"project_id": pid, "face_image": STANDARD.encode(&whole[..whole.len() / 2])}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IMAGE_CORRUPT"),
        "{v}"
    );
    t.stop().await;
}

/// A template made by another embedding model never matches, though its bytes are a real
/// face's: only the server's own model's templates are compared (the kiosk's rule too).
#[tokio::test]
async fn a_template_of_another_model_never_matches() {
    let t = vision_server().await;
    // Three projects: the administrator's token works on all of them.
    let k = t.admin.clone();
    let obama = |n: &str| photo(&format!("face_recognition_examples/obama/{n}"));
    // A real embedding of Obama, enrolled in one project.
    let (donor, _) = t.project_with_flow(json!({"face": true})).await;
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "obama", "project_id": donor, "face_image": obama("obama.jpg")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Stored straight into the database for two other projects: under another model, and
    // (the control) under the server's own.
    let (other, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    let (same, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    t.server()
        .state
        .db
        .blocking_tx(|c| {
            for (project, model) in [
                (&other, "another-model/v1"),
                (&same, vision::EMBEDDER_MODEL_ID),
            ] {
                c.execute(
                    "INSERT INTO templates(id, project_id, user_id, model_id, embedding, created_at, rev)
                     SELECT CAST(?1 AS TEXT) || id, ?1, user_id, ?2, embedding, created_at, 1000000 + rev
                     FROM templates WHERE project_id = ?3",
                    rusqlite::params![project, model, donor],
                )?;
            }
            Ok(())
        })
        .unwrap();
    let verify = |project: &str, user: Option<&str>| {
        let mut body = json!({"project_id": project, "face_image": obama("obama1.jpg")});
        if let Some(u) = user {
            body["user_id"] = json!(u);
        }
        t.post("/biometric/verify-face", &k, body)
    };
    // The control: the same bytes under the server's model match, 1:N and 1:1.
    for user in [None, Some("obama")] {
        let (s, v) = verify(&same, user).await;
        assert_eq!(
            (s, &data(&v)["matched"]),
            (StatusCode::OK, &json!(true)),
            "{v}"
        );
        assert_eq!(data(&v)["user_id"], "obama", "{v}");
    }
    // Under another model: nobody is enrolled; 1:N says so, 1:1 is a miss.
    let (s, v) = verify(&other, None).await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::NOT_FOUND, "NOT_ENROLLED"),
        "{v}"
    );
    let (s, v) = verify(&other, Some("obama")).await;
    assert_eq!(
        (s, &data(&v)["matched"]),
        (StatusCode::OK, &json!(false)),
        "{v}"
    );
    // Beside someone enrolled with the server's model: 1:N finds no match, not Obama.
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "biden", "project_id": other, "face_image": photo("face_recognition_examples/biden/biden.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = verify(&other, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["matched"], false, "{v}");
    assert!(data(&v).get("user_id").is_none(), "{v}");
    // The kiosk feed still carries it, with its model id: the kiosk applies the same rule.
    let (_, v) = t
        .get(&format!("/sync/templates?project_id={other}"), &k)
        .await;
    let mut models: Vec<&str> = data(&v)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["model_id"].as_str().unwrap())
        .collect();
    models.sort_unstable();
    assert_eq!(models, ["another-model/v1", vision::EMBEDDER_MODEL_ID]);
    t.stop().await;
}

/// An idempotency key is the caller's own for one request: reused with another person's
/// sample it is refused (the first answer is never handed out), and another token's same key
/// is another request.
#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let t = vision_server().await;
    let (pid, _) = t.project_with_flow(json!({"face": true})).await;
    let send = |token: &str, user: &str, image: &str| {
        t.client
            .post(t.url("/biometric/register-face"))
            .bearer_auth(token)
            .header("idempotency-key", "sample-1")
            .json(&json!({"user_id": user, "project_id": pid,
                          "face_image": photo(image)}))
            .send()
    };
    let kiosk = t.kiosk();
    let first = send(&kiosk, "obama", "face_recognition_examples/obama/obama.jpg")
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let other = send(&kiosk, "biden", "face_recognition_examples/biden/biden.jpg")
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = other.json().await.unwrap();
    assert_eq!(code_of(&v), "IDEMPOTENCY_KEY_REUSED", "{v}");
    assert!(
        !v.to_string().contains("validation_id"),
        "the first answer leaked: {v}"
    );
    // Another caller's same key is its own request.
    let admin = t.admin.clone();
    let theirs = send(&admin, "biden", "face_recognition_examples/biden/biden.jpg")
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);
}

/// 1:N is no oracle: a miss carries no score, and rapid probes from one kiosk hit 429.
#[tokio::test]
async fn one_to_n_probes_are_limited_and_misses_say_no_score() {
    let t = vision_server().await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    let k = t.kiosk();
    let (s, v) = t
        .post("/biometric/register-face", &k, json!({"user_id": "obama", "project_id": pid, "face_image": photo("face_recognition_examples/obama/obama.jpg")}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let stranger = photo("face_recognition_examples/biden/biden.jpg");
    let mut limited_at = None;
    for i in 1..=15 {
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                &k,
                json!({"project_id": pid, "face_image": stranger}),
            )
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(code_of(&v), "RATE_LIMITED", "{v}");
            limited_at = Some(i);
            break;
        }
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(data(&v)["matched"], false, "{v}");
        assert!(
            data(&v).get("match_score").is_none(),
            "a 1:N miss gave a score: {v}"
        );
        assert!(data(&v).get("user_id").is_none(), "{v}");
    }
    let at = limited_at.expect("15 rapid 1:N probes were all answered");
    assert!(at <= 13, "limited only at probe {at}");
}

/// A frame as the kiosk uploads it: the face and the context its liveness crops read
/// (`vision::liveness::upload_region` around the face the kiosk detected), as JPEG 90.
fn kiosk_upload(frame: &vision::Frame) -> String {
    static P: std::sync::OnceLock<std::sync::Mutex<vision::FacePipeline>> =
        std::sync::OnceLock::new();
    let p = P.get_or_init(|| {
        std::sync::Mutex::new(vision::FacePipeline::load(&Default::default()).unwrap())
    });
    let a = p
        .lock()
        .unwrap()
        .analyze_frame(frame, vision::MultiFace::Largest)
        .unwrap();
    let region = vision::liveness::upload_region(frame.width(), frame.height(), &a.face);
    STANDARD.encode(frame.cropped(region).to_jpeg(90).unwrap())
}

fn frame_b64(frame: &vision::Frame) -> String {
    STANDARD.encode(frame.to_jpeg(90).unwrap())
}

#[tokio::test]
async fn one_verify_face_matches_and_judges_liveness_in_one_pass() {
    let t = vision_server().await;
    // The live face, 1:1 and 1:N: one call, the token, its liveness score beside the match.
    let (pid, k) = enrolled_alone(&t, "t1", "silent_face/image_T1.jpg").await;
    let live = photo("silent_face/image_T1.jpg");
    for body in [
        json!({"user_id": "t1", "project_id": pid, "face_image": live}),
        json!({"project_id": pid, "face_image": live}),
    ] {
        let (s, v) = t.post("/biometric/verify-face", &k, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let d = data(&v);
        assert_eq!(
            (&d["matched"], &d["passed"]),
            (&json!(true), &json!(true)),
            "{v}"
        );
        assert_eq!(d["status"], "validated", "{v}");
        assert_eq!(d["user_id"], "t1", "{v}");
        assert!(d["liveness_score"].as_f64().unwrap() >= 0.6, "{v}");
        assert_eq!(d["liveness_passed"], true, "{v}");
        let claims = t.access_claims(d["access_token"].as_str().unwrap(), &pid);
        assert_eq!(claims.amr, vec!["face", "liveness"]);
    }
    // The attacks (liveness_labels.csv), each enrolled as its own person: matched, judged a
    // spoof in the same call, no token, and the validation is not validated.
    for rel in ["silent_face/image_F1.jpg", "silent_face/image_F2.jpg"] {
        let (pid, k) = enrolled_alone(&t, "spoof", rel).await;
        let (s, v) = t
            .post(
                "/biometric/verify-face",
                &k,
                json!({"user_id": "spoof", "project_id": pid, "face_image": photo(rel)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{rel}: {v}");
        let d = data(&v);
        assert_eq!(d["matched"], true, "{rel}: {v}");
        assert_eq!(d["passed"], false, "{rel}: {v}");
        assert_eq!(d["liveness_passed"], false, "{rel}: {v}");
        assert!(d["liveness_score"].as_f64().unwrap() < 0.6, "{rel}: {v}");
        assert!(d.get("access_token").is_none(), "{rel}: {v}");
        assert_eq!(d["status"], "pending", "{rel}: {v}");
        let id = d["validation_id"].as_str().unwrap();
        assert_eq!(
            t.count(&format!(
                "SELECT COUNT(*) FROM validations WHERE id = '{id}' AND status = 'validated'"
            )),
            0
        );
        // The seed's second call on the same spoof changes nothing.
        let (s, v) = t
            .post(
                "/biometric/liveness-check",
                &k,
                json!({"validation_id": id, "face_image": photo(rel)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{rel}: {v}");
        assert_eq!(data(&v)["passed"], false, "{rel}: {v}");
        assert!(data(&v).get("access_token").is_none(), "{rel}: {v}");
    }
    t.stop().await;
}

/// A new project whose liveness-required flow has `user` enrolled from `rel` (an operator's
/// file) and nobody else (the liveness samples may be one person), and its kiosk's token.
async fn enrolled_alone(t: &TestServer, user: &str, rel: &str) -> (String, String) {
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    t.post_ok(
        "/biometric/register-face",
        &t.admin,
        json!({"user_id": user, "project_id": pid, "face_image": photo(rel)}),
    )
    .await;
    (pid, t.kiosk())
}

#[tokio::test]
async fn the_kiosks_cropped_upload_decides_as_the_whole_frame() {
    let t = TestServer::builder()
        .vision(Vision::Real)
        .configure(|c| c.biometric_per_min = 1000)
        .start()
        .await;
    assert_eq!(t.vision_loaded().await, "ready");
    let samples = [
        "silent_face/image_T1.jpg",
        "silent_face/image_F1.jpg",
        "silent_face/image_F2.jpg",
        "face_recognition_examples/obama/obama.jpg",
        "face_recognition_examples/biden/biden.jpg",
        "face_recognition_examples/rose_leslie/img1.jpg",
        "face_recognition_examples/kit_harington/john1.jpeg",
        "skimage/astronaut.png",
        "face_recognition_examples/obama/obama1.jpg",
        "face_recognition_examples/obama/obama3.jpg",
        "face_recognition_examples/alex_lacamoire/alex_lacamoire1.jpg",
        "face_recognition_examples/rose_leslie/img2.jpg",
        "face_recognition_examples/lin_manuel_miranda/lin-manuel-miranda.png",
    ];
    // Each sample as a camera frame (640x480 at most), 1:1 against its person and 1:N.
    let mut compared = 0;
    for rel in samples {
        let (pid, k) = enrolled_alone(&t, "me", rel).await;
        let frame = test_support::photo(rel).fitted(640, 480).unwrap();
        let (whole, cropped) = (frame_b64(&frame), kiosk_upload(&frame));
        for user in [Some("me"), None] {
            let answer = |img: &str| {
                let mut body = json!({"project_id": pid, "face_image": img});
                if let Some(u) = user {
                    body["user_id"] = json!(u);
                }
                let (t, k) = (&t, k.clone());
                async move {
                    let (s, v) = t.post("/biometric/verify-face", &k, body).await;
                    let d = data(&v);
                    (
                        (
                            s,
                            code_of(&v).to_string(),
                            d["matched"].clone(),
                            d["liveness_passed"].clone(),
                            d["passed"].clone(),
                        ),
                        (d["match_score"].as_f64(), d["liveness_score"].as_f64()),
                    )
                }
            };
            let (a, b) = (answer(&whole).await, answer(&cropped).await);
            eprintln!(
                "{rel} {user:?}: whole {a:?} ({} B) cropped {b:?} ({} B)",
                whole.len(),
                cropped.len()
            );
            assert_eq!(a.0, b.0, "{rel} {user:?}");
            compared += 1;
        }
    }
    assert_eq!(compared, samples.len() * 2);
    t.stop().await;
}

#[tokio::test]
async fn a_face_too_far_for_liveness_is_asked_closer_never_failed() {
    let t = vision_server().await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let k = t.kiosk();
    t.post_ok(
        "/biometric/register-face",
        &t.admin,
        json!({"user_id": "t1", "project_id": pid,
               "face_image": photo("silent_face/image_T1.jpg")}),
    )
    .await;
    // The live sample moved back to 0.3x: a face of about 63 px, under the 100 px rule.
    let far = frame_b64(&test_support::farther("silent_face/image_T1.jpg", 0.3));
    let validations = t.count("SELECT COUNT(*) FROM validations");
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "t1", "project_id": pid, "face_image": far}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "FACE_QUALITY"),
        "{v}"
    );
    assert_eq!(v["details"]["issues"], json!(["FACE_TOO_SMALL"]), "{v}");
    assert_eq!(v["details"]["hint"], "Move closer", "{v}");
    assert_eq!(
        v["details"]["min_face_side"].as_f64(),
        Some(vision::MIN_LIVENESS_FACE_SIDE as f64)
    );
    assert!(v["details"]["face_side"].as_f64().unwrap() < 100.0, "{v}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM validations"),
        validations,
        "nothing counted"
    );
    // On a pending validation the seed's liveness-check refuses the same way: no verdict, no
    // attempt used.
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "t1", "project_id": pid,
                   "face_image": photo("silent_face/image_T1.jpg")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = data(&v)["validation_id"].as_str().unwrap().to_string();
    let (s, v) = t
        .post(
            "/biometric/liveness-check",
            &k,
            json!({"validation_id": vid, "face_image": far}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "FACE_QUALITY"),
        "{v}"
    );
    assert_eq!(
        t.count(&format!(
            "SELECT attempts FROM validations WHERE id = '{vid}' AND liveness_passed IS NULL"
        )),
        0
    );
    // Near, the same person passes in one call.
    let near = frame_b64(&test_support::farther("silent_face/image_T1.jpg", 1.0));
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &k,
            json!({"user_id": "t1", "project_id": pid, "face_image": near}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["passed"], true, "{v}");
    // Without liveness in the flow, the far face is matched as before (matching works on
    // smaller faces).
    let (pid2, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": false}))
        .await;
    t.post_ok(
        "/biometric/register-face",
        &t.admin,
        json!({"user_id": "t1", "project_id": pid2,
               "face_image": photo("silent_face/image_T1.jpg")}),
    )
    .await;
    let (s, v) = t
        .post(
            "/biometric/verify-face",
            &t.kiosk(),
            json!({"user_id": "t1", "project_id": pid2, "face_image": far}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(data(&v).get("liveness_score").is_none(), "{v}");
    t.stop().await;
}

#[tokio::test]
async fn an_operators_file_enrols_without_liveness_a_cameras_sample_needs_it() {
    let t = vision_server().await;
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let k = t.kiosk();
    let print = photo("silent_face/image_F1.jpg");
    // A camera's sample of a printed photo: refused, nothing stored.
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "f1", "project_id": pid, "face_image": print, "source": "camera"}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "LIVENESS_FAILED"),
        "{v}"
    );
    assert!(
        v["details"]["liveness_score"].as_f64().unwrap() < 0.6,
        "{v}"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'f1'"),
        0
    );
    // Too far for a verdict: asked closer, not refused as a spoof.
    let far = frame_b64(&test_support::farther("silent_face/image_T1.jpg", 0.3));
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "t1", "project_id": pid, "face_image": far, "source": "camera"}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "FACE_QUALITY"),
        "{v}"
    );
    assert_eq!(v["details"]["issues"], json!(["FACE_TOO_SMALL"]), "{v}");
    // The same print as an operator's trusted file (an admin token; unsaid means a file).
    for body in [
        json!({"user_id": "f1", "project_id": pid, "face_image": print, "source": "file"}),
        json!({"user_id": "f1", "project_id": pid,
               "face_image": photo("silent_face/image_F2.jpg")}),
    ] {
        let (s, v) = t.post("/biometric/register-face", &t.admin, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(data(&v)["source"], "file", "{v}");
        assert!(data(&v).get("liveness_score").is_none(), "{v}");
    }
    // A live camera sample: stored as the camera's, with its score (in a project of its own:
    // the liveness samples may be one person).
    let (pid, _) = t
        .project_with_flow(json!({"face": true, "liveness_required": true}))
        .await;
    let k = t.kiosk();
    let (s, v) = t
        .post(
            "/biometric/register-face",
            &k,
            json!({"user_id": "t1", "project_id": pid,
                   "face_image": photo("silent_face/image_T1.jpg"), "source": "camera"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(data(&v)["source"], "camera", "{v}");
    assert!(data(&v)["liveness_score"].as_f64().unwrap() >= 0.6, "{v}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 'f1' AND source = 'file'"),
        2
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM templates WHERE user_id = 't1' AND source = 'camera'"),
        1
    );
    t.stop().await;
}
