//! Email / SMS / WhatsApp one-time codes.

use access_types::{
    Channel, Email, ErrorCode, OtpCode, OtpValidation, OtpVerification, PhoneE164, ProjectFlow,
    SendEmailOtpRequest, SendPhoneOtpRequest, ValidationStatus, VerifyEmailOtpRequest,
    VerifyPhoneOtpRequest,
};
use axum::extract::State;
use axum::response::Response;
use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;
use sha2::Sha256;

use crate::clock::rfc3339;
use crate::db::{exec, rate_limit, row};
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
    // Parsed before anything else: a refused address costs nothing and is stored nowhere.
    let email = Email::parse(&req.email)?.into_string();
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
    // Parsed before anything else: no SMS is paid for an impossible number.
    let phone = PhoneE164::parse(&req.phone)?.into_string();
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
    // Parsed before anything else: no SMS is paid for an impossible number.
    let phone = PhoneE164::parse(&req.phone)?.into_string();
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

/// Everything one send needs inside its transaction.
#[derive(Clone)]
struct SendArgs {
    kind: Kind,
    channel: Channel,
    method: Method,
    identifier: String,
    project_id: String,
    flow_id: Option<String>,
    code: String,
    body: String,
    now: i64,
    ttl_ms: i64,
    max_attempts: u32,
    limit: u32,
    rl_key: String,
    key: [u8; 32],
    /// Record in the dev outbox (same transaction).
    outbox: bool,
    /// A real transport exists for the channel.
    transport: bool,
}

enum SendOutcome {
    Done(OtpValidation),
    /// The flow asks the customer's URL first; run again with `url_checked`.
    NeedsUrlCheck(ProjectFlow),
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
    let code = ids::otp_code();
    let args = SendArgs {
        kind,
        channel,
        method,
        body: format!(
            "Your sign-in code is {code}. It expires in {} minutes. Never share it.",
            st.cfg.otp_ttl_s / 60
        ),
        code,
        now: st.clock.now_ms(),
        ttl_ms: (st.cfg.otp_ttl_s as i64) * 1000,
        max_attempts: st.cfg.otp_max_attempts,
        limit: match kind {
            Kind::Email => st.cfg.email_sends_per_min,
            Kind::Phone => st.cfg.phone_sends_per_min,
        },
        rl_key: format!("{}:{identifier}", kind.as_str()),
        key: st.otp_key,
        outbox: st.delivery.outbox.is_some(),
        transport: st.delivery.can_send_external(channel),
        identifier,
        project_id,
        flow_id,
    };
    // One round trip to the store in the common case; a customer security URL needs an HTTP
    // call between two.
    let a = args.clone();
    let mut outcome = st.db.tx(move |tx| send_tx(tx, &a, false)).await?;
    if let SendOutcome::NeedsUrlCheck(flow) = &outcome {
        flows::check_url(st, flow, &args.identifier, method).await?;
        let a = args.clone();
        outcome = st.db.tx(move |tx| send_tx(tx, &a, true)).await?;
    }
    let SendOutcome::Done(validation) = outcome else {
        return Err(ApiError::internal());
    };
    st.webhook_wake.notify_one();

    if args.transport {
        let msg = OtpMessage {
            channel,
            to: args.identifier,
            body: args.body,
            code: args.code,
        };
        if let Err(e) = st.delivery.send_external(&msg).await {
            tracing::warn!(channel = channel.as_str(), error = %e, "OTP delivery failed");
            return Err(ApiError::new(
                ErrorCode::DeliveryFailed,
                "the code could not be delivered",
            )
            .with_details(json!({ "validation_id": validation.validation_id })));
        }
    }
    Ok(ok(validation, "OTP sent"))
}

fn send_tx(tx: &Connection, a: &SendArgs, url_checked: bool) -> ApiResult<SendOutcome> {
    let flow = flows::resolve_login_flow(tx, &a.project_id, a.flow_id.as_deref())?;
    flows::require_method(&flow, a.method)?;
    if !a.transport && !a.outbox {
        return Err(ApiError::new(
            ErrorCode::ChannelNotConfigured,
            format!(
                "no {} provider is configured on this server",
                a.channel.as_str()
            ),
        ));
    }
    if flows::check_lists(&flow, &a.identifier)? && !url_checked {
        return Ok(SendOutcome::NeedsUrlCheck(flow));
    }
    rate_limit(tx, &a.rl_key, a.limit, 60_000, a.now)?;
    let (now, kind, channel) = (a.now, a.kind, a.channel);
    let expires_at = now + a.ttl_ms;
    let existing: Option<(String, u32)> = row(
        tx,
        "SELECT id, attempts FROM validations
             WHERE project_id = ?1 AND flow_id = ?2 AND kind = ?3 AND identifier = ?4
               AND status = 'pending' AND expires_at > ?5
             ORDER BY created_at DESC LIMIT 1",
        rusqlite::params![a.project_id, flow.id, kind.as_str(), a.identifier, now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?;
    let (validation_id, attempts, resent) = match existing {
        Some((id, attempts)) => {
            // A resend replaces the code; the attempt count carries over so resending cannot
            // be used to get more guesses.
            let hash = code_mac(&a.key, &id, &a.code)
                .finalize()
                .into_bytes()
                .to_vec();
            exec(
                tx,
                "UPDATE validations SET code_hash = ?1, expires_at = ?2, channel = ?3,
                 updated_at = ?4 WHERE id = ?5",
                rusqlite::params![hash, expires_at, channel.as_str(), now, id],
            )?;
            (id, attempts, true)
        }
        None => {
            let id = ids::new_id("val");
            let hash = code_mac(&a.key, &id, &a.code)
                .finalize()
                .into_bytes()
                .to_vec();
            exec(
                tx,
                "INSERT INTO validations(id, kind, channel, identifier, project_id, flow_id,
                   status, code_hash, attempts, max_attempts, expires_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, 0, ?8, ?9, ?10, ?10)",
                rusqlite::params![
                    id,
                    kind.as_str(),
                    channel.as_str(),
                    a.identifier,
                    a.project_id,
                    flow.id,
                    hash,
                    a.max_attempts,
                    expires_at,
                    now
                ],
            )?;
            webhooks::enqueue(
                tx,
                &a.project_id,
                &flow.id,
                &kind.event("created"),
                json!({
                    "validation_id": id, "channel": channel.as_str(),
                    "identifier": a.identifier, "project_id": a.project_id,
                    "project_flow_id": flow.id, "status": "pending",
                    "expires_at": rfc3339(expires_at),
                }),
                now,
            )?;
            (id, 0, false)
        }
    };
    if a.outbox {
        crate::delivery::outbox_insert(tx, channel, &a.identifier, &a.body, &a.code, now)?;
    }
    Ok(SendOutcome::Done(OtpValidation {
        validation_id,
        status: ValidationStatus::Pending,
        expires_at: rfc3339(expires_at),
        channel,
        project_id: a.project_id.clone(),
        project_flow_id: flow.id,
        resent,
        attempts_remaining: a.max_attempts.saturating_sub(attempts),
    }))
}

pub async fn verify_email(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<VerifyEmailOtpRequest>,
) -> ApiResult<Response> {
    let email = Email::parse(&req.email)?.into_string();
    let otp = OtpCode::parse(&req.otp)?;
    verify(&st, Kind::Email, email, otp, req.validation_id).await
}

pub async fn verify_phone(
    State(st): State<AppState>,
    _auth: Auth,
    ApiJson(req): ApiJson<VerifyPhoneOtpRequest>,
) -> ApiResult<Response> {
    let phone = PhoneE164::parse(&req.phone)?.into_string();
    let otp = OtpCode::parse(&req.otp)?;
    verify(&st, Kind::Phone, phone, otp, req.validation_id).await
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
        expires_at: i64,
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
    // Already 6 ASCII digits: a code typed wrong in form was refused (INVALID_OTP_FORMAT)
    // before this point and used up no attempt.
    otp: OtpCode,
    validation_id: String,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let key = st.otp_key;
    let (vid, ident) = (validation_id.clone(), identifier.clone());
    let outcome = st
        .db
        .tx(move |tx| {
            let row: Option<OtpRow> = row(
                tx,
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
                exec(
                    tx,
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
                .map(|h| code_mac(&key, &vid, otp.as_str()).verify_slice(&h).is_ok())
                .unwrap_or(false);
            if good {
                exec(
                    tx,
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
                    expires_at,
                });
            }
            let attempts = attempts + 1;
            if attempts >= max {
                exec(
                    tx,
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
                exec(
                    tx,
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
            expires_at,
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
                    expires_at: rfc3339(expires_at),
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
