//! Real transports: an SMTP conversation with a tiny in-test SMTP server, and SMS / WhatsApp
//! through a local Twilio-shaped HTTP gateway that checks the request.

use crate::common;

use std::sync::{Arc, Mutex};

use access_server::config::{SmsGatewayConfig, SmtpConfig, SmtpSecurity};
use axum::Router;
use axum::extract::{Form, Path};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use base64::Engine;
use common::{TestServer, code_of};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Minimal SMTP responder: records (MAIL FROM, RCPT TO, DATA) per message.
type Mails = Arc<Mutex<Vec<(String, String, String)>>>;

async fn smtp_server(fail_rcpt: bool) -> (u16, Mails) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = l.accept().await else {
                return;
            };
            let g = g.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 test ESMTP ready\r\n").await.unwrap();
                let (mut from, mut to) = (String::new(), String::new());
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        w.write_all(b"250-test\r\n250 8BITMIME\r\n").await.unwrap();
                    } else if cmd.starts_with("MAIL FROM:") {
                        from = line.trim_end()[10..].to_string();
                        w.write_all(b"250 ok\r\n").await.unwrap();
                    } else if cmd.starts_with("RCPT TO:") {
                        to = line.trim_end()[8..].to_string();
                        if fail_rcpt {
                            w.write_all(b"550 no such user\r\n").await.unwrap();
                        } else {
                            w.write_all(b"250 ok\r\n").await.unwrap();
                        }
                    } else if cmd == "DATA" {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        g.lock().unwrap().push((from.clone(), to.clone(), data));
                        w.write_all(b"250 queued\r\n").await.unwrap();
                    } else if cmd == "QUIT" {
                        w.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        w.write_all(b"250 ok\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (port, got)
}

fn six_digits_after(text: &str, marker: &str) -> String {
    let i = text.find(marker).expect("marker present") + marker.len();
    text[i..].chars().take(6).collect()
}

#[tokio::test]
async fn email_otp_goes_through_a_real_smtp_conversation() {
    let (port, got) = smtp_server(false).await;
    let t = TestServer::builder()
        .configure(move |cfg| {
            cfg.dev_outbox = false; // the code must come from the mail itself
            cfg.smtp = Some(SmtpConfig {
                host: "127.0.0.1".into(),
                port,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                from: "Kiosk <kiosk@example.com>".into(),
                timeout_ms: 5_000,
            });
        })
        .start()
        .await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "mail@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
    let (from, to, data) = got
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a message was sent");
    assert_eq!(from, "<kiosk@example.com>");
    assert_eq!(to, "<mail@example.com>");
    assert!(data.contains("Subject: Your sign-in code"), "{data}");
    let code = six_digits_after(&data, "code is ");
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{data}");
    let (s, v) = t
        .post(
            "/email/verify-otp",
            &t.kiosk(),
            json!({"email": "mail@example.com", "otp": code, "validation_id": vid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.stop().await;

    // A refusing SMTP server gives 502 DELIVERY_FAILED.
    let (port, _) = smtp_server(true).await;
    let t = TestServer::builder()
        .configure(move |cfg| {
            cfg.dev_outbox = false;
            cfg.smtp = Some(SmtpConfig {
                host: "127.0.0.1".into(),
                port,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                from: "kiosk@example.com".into(),
                timeout_ms: 5_000,
            });
        })
        .start()
        .await;
    let (pid, _) = t.project_with_flow(json!({"email": true})).await;
    let (s, v) = t
        .post(
            "/email/send-otp",
            &t.kiosk(),
            json!({"email": "mail@example.com", "project_id": pid}),
        )
        .await;
    assert_eq!(
        (s, code_of(&v)),
        (StatusCode::BAD_GATEWAY, "DELIVERY_FAILED"),
        "{v}"
    );
    t.stop().await;
}

type FormFields = std::collections::HashMap<String, String>;

#[derive(Clone, Default)]
struct Gateway {
    got: Arc<Mutex<Vec<(String, FormFields)>>>,
}

/// A Twilio-shaped gateway on loopback that checks the account and the credentials and
/// records each message's form.
async fn twilio_gateway() -> (std::net::SocketAddr, Gateway) {
    let gw = Gateway::default();
    let g = gw.clone();
    let app = Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        post(
            move |Path(sid): Path<String>,
                  headers: HeaderMap,
                  Form(form): Form<std::collections::HashMap<String, String>>| {
                let g = g.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let expected = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode("AC123:secret-token")
                    );
                    if sid != "AC123" || auth != expected {
                        return (AxStatus::UNAUTHORIZED, "{}".to_string());
                    }
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    assert!(ct.starts_with("application/x-www-form-urlencoded"));
                    g.got.lock().unwrap().push((sid, form));
                    (
                        AxStatus::CREATED,
                        r#"{"sid":"SM1","status":"queued"}"#.to_string(),
                    )
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, gw)
}

/// The gateway config for [`twilio_gateway`] at `addr`.
fn gateway_config(addr: std::net::SocketAddr) -> SmsGatewayConfig {
    SmsGatewayConfig {
        base_url: format!("http://{addr}"),
        account_sid: "AC123".into(),
        auth_token: "secret-token".into(),
        sms_from: Some("+15005550006".into()),
        whatsapp_from: Some("+14155238886".into()),
        whatsapp_templates: Default::default(),
        timeout_ms: 5_000,
    }
}

#[tokio::test]
async fn sms_and_whatsapp_go_through_a_twilio_shaped_gateway() {
    let (addr, gw) = twilio_gateway().await;

    let t = TestServer::builder()
        .configure(move |cfg| {
            cfg.dev_outbox = false;
            cfg.sms = Some(gateway_config(addr));
        })
        .start()
        .await;
    let (pid, _) = t
        .project_with_flow(json!({"sms": true, "whatsapp": true}))
        .await;
    // Typed formatted: the gateway is given E.164.
    let (s, v) = t
        .post(
            "/phone/send-sms",
            &t.kiosk(),
            json!({"phone": "+1 (415) 555-0199", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v2) = t
        .post(
            "/phone/send-whatsapp",
            &t.kiosk(),
            json!({"phone": "+14155550199", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(
        v2["data"]["validation_id"], v["data"]["validation_id"],
        "resend on another channel"
    );
    // An impossible number is refused before the gateway is asked: no message paid for.
    for bad in ["+1 123", "+99 12345678", "+1 415 555 CALL"] {
        let (s, v) = t
            .post(
                "/phone/send-sms",
                &t.kiosk(),
                json!({"phone": bad, "project_id": pid}),
            )
            .await;
        assert_eq!(
            (s, code_of(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_PHONE"),
            "{v}"
        );
    }
    let got = gw.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1["To"], "+14155550199");
    assert_eq!(got[0].1["From"], "+15005550006");
    assert_eq!(got[1].1["To"], "whatsapp:+14155550199");
    assert_eq!(got[1].1["From"], "whatsapp:+14155238886");
    let code = six_digits_after(&got[1].1["Body"], "code is ");
    let (s, r) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+14155550199", "otp": code, "validation_id": v["data"]["validation_id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["data"]["status"], "validated");
    t.stop().await;
}

#[tokio::test]
async fn codes_are_written_in_the_persons_language_and_the_projects_own_words() {
    let t = TestServer::builder()
        .login_flow(common::every_method())
        .start()
        .await;
    let send = |email: &'static str, locale: Option<&'static str>| {
        let t = &t;
        async move {
            let mut body = json!({ "email": email, "project_id": t.project() });
            if let Some(l) = locale {
                body["locale"] = json!(l);
            }
            let (s, v) = t.post("/email/send-otp", &t.kiosk(), body).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let m = t.outbox(email).await;
            m[0]["body"].as_str().unwrap().to_string()
        }
    };
    // Built-in texts: the send's language when the server has it, else English.
    assert!(
        send("a@example.com", None)
            .await
            .starts_with("Your sign-in code is")
    );
    assert!(
        send("b@example.com", Some("es-MX"))
            .await
            .starts_with("Tu código de acceso es")
    );
    assert!(
        send("c@example.com", Some("fr"))
            .await
            .starts_with("Your sign-in code is")
    );

    // The project speaks Spanish by default, in its own words.
    let path = format!("/projects/{}", t.project());
    let messages = json!({
        "default_locale": "es",
        "templates": { "es": { "email_body": "Hola. Tu código: {code} (vale {minutes} min)." } }
    });
    let (s, v) = t
        .call(
            Method::PATCH,
            &path,
            Some(&t.admin),
            Some(json!({ "messages": messages })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["messages"]["default_locale"], "es");
    let body = send("d@example.com", Some("fr")).await;
    let code = t.outbox_code("d@example.com").await;
    assert_eq!(body, format!("Hola. Tu código: {code} (vale 10 min)."));
    assert!(
        send("e@example.com", Some("en"))
            .await
            .starts_with("Your sign-in code is")
    );

    // Words that could not be sent are refused, and the project keeps its own.
    for bad in [
        json!({ "templates": { "es": { "sms": "sin código" } } }),
        json!({ "templates": { "fr": { "sms": "{code}" } } }),
        json!({ "default_locale": "fr" }),
    ] {
        let (s, v) = t
            .call(
                Method::PATCH,
                &path,
                Some(&t.admin),
                Some(json!({ "messages": bad })),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    assert!(
        send("f@example.com", None)
            .await
            .starts_with("Hola. Tu código")
    );
}

#[tokio::test]
async fn whatsapp_outside_a_session_sends_the_approved_template_with_the_code() {
    let (addr, gw) = twilio_gateway().await;
    let t = TestServer::builder()
        .configure(move |cfg| {
            cfg.sms = Some(SmsGatewayConfig {
                whatsapp_templates: [("es".to_string(), "HXes0001".to_string())].into(),
                ..gateway_config(addr)
            });
        })
        .start()
        .await;
    let (pid, _) = t
        .project_with_flow(json!({"sms": true, "whatsapp": true}))
        .await;
    let send = |path: &'static str, phone: &'static str, locale: &'static str| {
        let t = &t;
        let pid = pid.clone();
        async move {
            let (s, v) = t
                .post(
                    path,
                    &t.kiosk(),
                    json!({"phone": phone, "project_id": pid, "locale": locale}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
    };
    send("/phone/send-whatsapp", "+14155550101", "es").await;
    send("/phone/send-whatsapp", "+14155550102", "en").await;
    send("/phone/send-sms", "+14155550103", "es").await;
    let got = gw.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    // Spanish has an approved template: its id and the code as variable 1, no free text.
    let es = &got[0].1;
    assert_eq!(es["ContentSid"], "HXes0001");
    assert!(!es.contains_key("Body"));
    let vars: serde_json::Value = serde_json::from_str(&es["ContentVariables"]).unwrap();
    let code = vars["1"].as_str().unwrap();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{vars}"
    );
    // English has none: the text, inside a session.
    assert!(got[1].1["Body"].starts_with("Your sign-in code is"));
    assert!(!got[1].1.contains_key("ContentSid"));
    // SMS is always text, in the person's language.
    assert!(got[2].1["Body"].starts_with("Tu código de acceso es"));
    // The code in the template is the one that verifies.
    let validation = t
        .post_ok(
            "/phone/send-whatsapp",
            &t.kiosk(),
            json!({"phone": "+14155550104", "project_id": pid, "locale": "es"}),
        )
        .await;
    let form = gw.got.lock().unwrap().last().unwrap().1.clone();
    let vars: serde_json::Value = serde_json::from_str(&form["ContentVariables"]).unwrap();
    let (s, r) = t
        .post(
            "/phone/verify-otp",
            &t.kiosk(),
            json!({"phone": "+14155550104", "otp": vars["1"], "validation_id": validation["data"]["validation_id"]}),
        )
        .await;
    assert_eq!(
        (s, r["data"]["status"].as_str()),
        (StatusCode::OK, Some("validated")),
        "{r}"
    );
}
