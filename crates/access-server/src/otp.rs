//! Email / SMS / WhatsApp one-time codes.

use access_types::{
    Channel, ErrorCode, OtpValidation, OtpVerification, SendEmailOtpRequest, SendPhoneOtpRequest,
    ValidationStatus, VerifyEmailOtpRequest, VerifyPhoneOtpRequest,
};
use axum::extract::State;
use axum::response::Response;
use hmac::{Hmac, Mac};
use rusqlite::OptionalExtension;
use serde_json::json;
use sha2::Sha256;

use crate::clock::rfc3339;
use crate::db::rate_limit;
use crate::delivery::OtpMessage;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Auth};
use crate::flows::{self, Method};
use crate::state::AppState;
use crate::{ids, ok, webhooks};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
        }
    }
    fn event(self, what: &str) -> String {
        format!("{}_validation.{what}", self.as_str())
    }
}

/// HMAC-SHA256(server key, validation_id ":" code): bound to the validation so a hash can't be
/// replayed onto another row.
fn code_mac(key: &[u8], validation_id: &str, code: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(validation_id.as_bytes());
    mac.update(b":");
    mac.update(code.as_bytes());
    mac
}

pub async fn send_email(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<SendEmailOtpRequest>,
) -> ApiResult<Response> {
    let email = flows::normalize_email(&req.email)?;
    send(
        &st,
        Kind::Email,
        Channel::Email,
        email,
        req.project_id,
        req.project_flow_id,
    )
    .await
}

pub async fn send_sms(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<SendPhoneOtpRequest>,
) -> ApiResult<Response> {
    let phone = flows::normalize_phone(&req.phone)?;
    send(
        &st,
        Kind::Phone,
        Channel::Sms,
        phone,
        req.project_id,
        req.project_flow_id,
    )
    .await
}

pub async fn send_whatsapp(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<SendPhoneOtpRequest>,
) -> ApiResult<Response> {
    let phone = flows::normalize_phone(&req.phone)?;
    send(
        &st,
        Kind::Phone,
        Channel::Whatsapp,
        phone,
        req.project_id,
        req.project_flow_id,
    )
    .await
}

async fn send(
    st: &AppState,
    kind: Kind,
    channel: Channel,
    identifier: String,
    project_id: String,
    flow_id: Option<String>,
) -> ApiResult<Response> {
    let method = match channel {
        Channel::Email => Method::Email,
        Channel::Sms => Method::Sms,
        Channel::Whatsapp => Method::Whatsapp,
    };
    let flow = {
        let (p, f) = (project_id.clone(), flow_id.clone());
        st.db
            .call(move |c| flows::resolve_login_flow(c, &p, f.as_deref()))
            .await?
    };
    flows::require_method(&flow, method)?;
    if !st.delivery.can_send(channel) {
        return Err(ApiError::new(
            ErrorCode::ChannelNotConfigured,
            format!(
                "no {} provider is configured on this server",
                channel.as_str()
            ),
        ));
    }
    flows::check_identifier(st, &flow, &identifier, method).await?;

    let code = ids::otp_code();
    let now = st.clock.now_ms();
    let ttl_ms = (st.cfg.otp_ttl_s as i64) * 1000;
    let max_attempts = st.cfg.otp_max_attempts;
    let (limit, rl_key) = match kind {
        Kind::Email => (st.cfg.email_sends_per_min, format!("email:{identifier}")),
        Kind::Phone => (st.cfg.phone_sends_per_min, format!("phone:{identifier}")),
    };
    let key = st.otp_key;
    let validation = {
        let (code, identifier, flow_id) = (code.clone(), identifier.clone(), flow.id.clone());
        st.db
            .tx(move |tx| {
                // Re-check inside the transaction: the flow may have been paused meanwhile.
                let flow = flows::resolve_login_flow(tx, &project_id, Some(&flow_id))?;
                rate_limit(tx, &rl_key, limit, 60_000, now)?;
                let expires_at = now + ttl_ms;
                let existing: Option<(String, u32)> = tx
                    .query_row(
                        "SELECT id, attempts FROM validations
                         WHERE project_id = ?1 AND flow_id = ?2 AND kind = ?3 AND identifier = ?4
                           AND status = 'pending' AND expires_at > ?5
                         ORDER BY created_at DESC LIMIT 1",
                        rusqlite::params![project_id, flow.id, kind.as_str(), identifier, now],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let (validation_id, attempts, resent) = match existing {
                    Some((id, attempts)) => {
                        // A resend replaces the code; the attempt count carries over so
                        // resending cannot be used to get more guesses.
                        let hash = code_mac(&key, &id, &code).finalize().into_bytes().to_vec();
                        tx.execute(
                            "UPDATE validations SET code_hash = ?1, expires_at = ?2, channel = ?3,
                             updated_at = ?4 WHERE id = ?5",
                            rusqlite::params![hash, expires_at, channel.as_str(), now, id],
                        )?;
                        (id, attempts, true)
                    }
                    None => {
                        let id = ids::new_id("val");
                        let hash = code_mac(&key, &id, &code).finalize().into_bytes().to_vec();
                        tx.execute(
                            "INSERT INTO validations(id, kind, channel, identifier, project_id,
                               flow_id, status, code_hash, attempts, max_attempts, expires_at,
                               created_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, 0, ?8, ?9, ?10, ?10)",
                            rusqlite::params![
                                id,
                                kind.as_str(),
                                channel.as_str(),
                                identifier,
                                project_id,
                                flow.id,
                                hash,
                                max_attempts,
                                expires_at,
                                now
                            ],
                        )?;
                        webhooks::enqueue(
                            tx,
                            &project_id,
                            &flow.id,
                            &kind.event("created"),
                            json!({
                                "validation_id": id, "channel": channel.as_str(),
                                "identifier": identifier, "project_id": project_id,
                                "project_flow_id": flow.id, "status": "pending",
                                "expires_at": rfc3339(expires_at),
                            }),
                            now,
                        )?;
                        (id, 0, false)
                    }
                };
                Ok(OtpValidation {
                    validation_id,
                    status: ValidationStatus::Pending,
                    expires_at: rfc3339(expires_at),
                    channel,
                    project_id,
                    project_flow_id: flow.id,
                    resent,
                    attempts_remaining: max_attempts.saturating_sub(attempts),
                })
            })
            .await?
    };
    st.webhook_wake.notify_one();

    let msg = OtpMessage {
        channel,
        to: identifier,
        body: format!(
            "Your sign-in code is {code}. It expires in {} minutes. Never share it.",
            st.cfg.otp_ttl_s / 60
        ),
        code,
    };
    if let Err(e) = st.delivery.send(&msg).await {
        tracing::warn!(channel = channel.as_str(), error = %e, "OTP delivery failed");
        return Err(
            ApiError::new(ErrorCode::DeliveryFailed, "the code could not be delivered")
                .with_details(json!({ "validation_id": validation.validation_id })),
        );
    }
    Ok(ok(validation, "OTP sent"))
}

pub async fn verify_email(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<VerifyEmailOtpRequest>,
) -> ApiResult<Response> {
    let email = flows::normalize_email(&req.email)?;
    verify(&st, Kind::Email, email, req.otp, req.validation_id).await
}

pub async fn verify_phone(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<VerifyPhoneOtpRequest>,
) -> ApiResult<Response> {
    let phone = flows::normalize_phone(&req.phone)?;
    verify(&st, Kind::Phone, phone, req.otp, req.validation_id).await
}

/// identifier, project, flow, status, code hash, attempts, max attempts, expires_at, channel
type OtpRow = (
    String,
    String,
    String,
    String,
    Option<Vec<u8>>,
    u32,
    u32,
    i64,
    String,
);

enum Outcome {
    Validated {
        project_id: String,
        flow_id: String,
        channel: String,
    },
    Invalid {
        remaining: u32,
    },
    MaxAttempts,
    Expired,
    AlreadyUsed,
}

async fn verify(
    st: &AppState,
    kind: Kind,
    identifier: String,
    otp: String,
    validation_id: String,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let key = st.otp_key;
    let (vid, ident) = (validation_id.clone(), identifier.clone());
    let outcome = st
        .db
        .tx(move |tx| {
            let row: Option<OtpRow> = tx
                .query_row(
                    "SELECT identifier, project_id, flow_id, status, code_hash, attempts,
                            max_attempts, expires_at, COALESCE(channel, '')
                     FROM validations WHERE id = ?1 AND kind = ?2",
                    rusqlite::params![vid, kind.as_str()],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    },
                )
                .optional()?;
            // A validation of someone else reads as unknown: no oracle for ids.
            let Some((
                row_ident,
                project_id,
                flow_id,
                status,
                hash,
                attempts,
                max,
                expires_at,
                channel,
            )) = row.filter(|r| r.0 == ident)
            else {
                return Err(ApiError::new(
                    ErrorCode::ValidationNotFound,
                    "unknown validation_id",
                ));
            };
            match ValidationStatus::parse(&status) {
                Some(ValidationStatus::Pending) => {}
                Some(ValidationStatus::Validated) => return Ok(Outcome::AlreadyUsed),
                Some(ValidationStatus::Failed) => return Ok(Outcome::MaxAttempts),
                Some(ValidationStatus::Expired) | None => return Ok(Outcome::Expired),
            }
            let event_data = |status: &str, attempts: u32| {
                json!({
                    "validation_id": vid, "channel": channel, "identifier": row_ident,
                    "project_id": project_id, "project_flow_id": flow_id, "status": status,
                    "attempts": attempts,
                })
            };
            if now >= expires_at {
                tx.execute(
                    "UPDATE validations SET status = 'expired', updated_at = ?1 WHERE id = ?2",
                    rusqlite::params![now, vid],
                )?;
                webhooks::enqueue(
                    tx,
                    &project_id,
                    &flow_id,
                    &kind.event("expired"),
                    event_data("expired", attempts),
                    now,
                )?;
                return Ok(Outcome::Expired);
            }
            // A paused flow stops logins without burning attempts.
            flows::resolve_login_flow(tx, &project_id, Some(&flow_id))?;
            let good = hash
                .map(|h| code_mac(&key, &vid, otp.trim()).verify_slice(&h).is_ok())
                .unwrap_or(false);
            if good {
                tx.execute(
                    "UPDATE validations SET status = 'validated', validated_at = ?1,
                     updated_at = ?1, code_hash = NULL WHERE id = ?2",
                    rusqlite::params![now, vid],
                )?;
                webhooks::enqueue(
                    tx,
                    &project_id,
                    &flow_id,
                    &kind.event("validated"),
                    event_data("validated", attempts),
                    now,
                )?;
                return Ok(Outcome::Validated {
                    project_id,
                    flow_id,
                    channel,
                });
            }
            let attempts = attempts + 1;
            if attempts >= max {
                tx.execute(
                    "UPDATE validations SET status = 'failed', attempts = ?1, updated_at = ?2,
                     code_hash = NULL WHERE id = ?3",
                    rusqlite::params![attempts, now, vid],
                )?;
                webhooks::enqueue(
                    tx,
                    &project_id,
                    &flow_id,
                    &kind.event("failed"),
                    event_data("failed", attempts),
                    now,
                )?;
                Ok(Outcome::MaxAttempts)
            } else {
                tx.execute(
                    "UPDATE validations SET attempts = ?1, updated_at = ?2 WHERE id = ?3",
                    rusqlite::params![attempts, now, vid],
                )?;
                Ok(Outcome::Invalid {
                    remaining: max - attempts,
                })
            }
        })
        .await?;
    st.webhook_wake.notify_one();
    match outcome {
        Outcome::Validated {
            project_id,
            flow_id,
            channel,
        } => {
            let ttl = st.cfg.access_token_ttl_s;
            let token = st
                .keys
                .issue_access_token(
                    &identifier,
                    &project_id,
                    &flow_id,
                    &validation_id,
                    &["otp", &channel],
                    ttl,
                    now,
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "token signing failed");
                    ApiError::internal()
                })?;
            Ok(ok(
                OtpVerification {
                    validation_id,
                    status: ValidationStatus::Validated,
                    project_id,
                    project_flow_id: flow_id,
                    access_token: token,
                    token_type: "Bearer".into(),
                    expires_in: ttl,
                },
                "OTP verified",
            ))
        }
        Outcome::Invalid { remaining } => {
            Err(ApiError::new(ErrorCode::InvalidOtp, "Invalid OTP code")
                .with_details(json!({ "attempts_remaining": remaining })))
        }
        Outcome::MaxAttempts => Err(ApiError::new(
            ErrorCode::MaxAttemptsExceeded,
            "too many wrong codes; request a new one",
        )
        .with_details(json!({ "attempts_remaining": 0, "status": "failed" }))),
        Outcome::Expired => Err(ApiError::new(
            ErrorCode::OtpExpired,
            "the code has expired; request a new one",
        )
        .with_details(json!({ "status": "expired" }))),
        Outcome::AlreadyUsed => Err(ApiError::new(
            ErrorCode::OtpAlreadyUsed,
            "this code was already used",
        )
        .with_details(json!({ "status": "validated" }))),
    }
}
