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
use reqwest::StatusCode;
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

#[tokio::test]
async fn sms_and_whatsapp_go_through_a_twilio_shaped_gateway() {
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

    let t = TestServer::builder()
        .configure(move |cfg| {
            cfg.dev_outbox = false;
            cfg.sms = Some(SmsGatewayConfig {
                base_url: format!("http://{addr}"),
                account_sid: "AC123".into(),
                auth_token: "secret-token".into(),
                sms_from: Some("+15005550006".into()),
                whatsapp_from: Some("+14155238886".into()),
                timeout_ms: 5_000,
            });
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
