//! Email / SMS / WhatsApp one-time codes.

use crate::sql::{Connection, OptionalExtension};
use access_types::{
    Channel, Email, ErrorCode, OtpCode, OtpValidation, OtpVerification, PhoneE164, ProjectFlow,
    SendEmailOtpRequest, SendPhoneOtpRequest, ValidationStatus, VerifyEmailOtpRequest,
    VerifyPhoneOtpRequest,
};
use axum::extract::State;
use axum::response::Response;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::admin;
use crate::clock::rfc3339;
use crate::db::{exec, row};
use crate::delivery::OtpMessage;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Auth};
use crate::flows::{self, Method};
use crate::lockout;
use crate::messages::{self, Rendered};
use crate::rate::rate_limit;
use crate::state::AppState;
use crate::validation::{self, Attempt, Kind, Step, Validation};
use crate::{ids, ok};

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

#[utoipa::path(
    post,
    path = "/email/send-otp",
    tag = "codes",
    summary = "Send an email OTP (5/min per email; not an address: 400 INVALID_EMAIL)",
    request_body = access_types::SendEmailOtpRequest,
    responses((status = 200, description = "success", body = access_types::OtpValidation)),
    security(("bearer" = [])),
)]
pub async fn send_email(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<SendEmailOtpRequest>,
) -> ApiResult<Response> {
    // Parsed before anything else: a refused address costs nothing and is stored nowhere.
    let email = Email::parse(&req.email)?.into_string();
    send(
        &st,
        &auth,
        Kind::Email,
        Channel::Email,
        email,
        req.project_id,
        req.project_flow_id,
        req.locale,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/phone/send-sms",
    tag = "codes",
    summary = "Send an SMS OTP (3/min per phone; a number its plan lacks: 400 INVALID_PHONE, nothing sent)",
    request_body = access_types::SendPhoneOtpRequest,
    responses((status = 200, description = "success", body = access_types::OtpValidation)),
    security(("bearer" = [])),
)]
pub async fn send_sms(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<SendPhoneOtpRequest>,
) -> ApiResult<Response> {
    // Parsed before anything else: no SMS is paid for an impossible number.
    let phone = PhoneE164::parse(&req.phone)?.into_string();
    send(
        &st,
        &auth,
        Kind::Phone,
        Channel::Sms,
        phone,
        req.project_id,
        req.project_flow_id,
        req.locale,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/phone/send-whatsapp",
    tag = "codes",
    summary = "Send a WhatsApp OTP (3/min per phone; a number its plan lacks: 400 INVALID_PHONE, nothing sent)",
    request_body = access_types::SendPhoneOtpRequest,
    responses((status = 200, description = "success", body = access_types::OtpValidation)),
    security(("bearer" = [])),
)]
pub async fn send_whatsapp(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<SendPhoneOtpRequest>,
) -> ApiResult<Response> {
    // Parsed before anything else: no SMS is paid for an impossible number.
    let phone = PhoneE164::parse(&req.phone)?.into_string();
    send(
        &st,
        &auth,
        Kind::Phone,
        Channel::Whatsapp,
        phone,
        req.project_id,
        req.project_flow_id,
        req.locale,
    )
    .await
}

/// The caps on sends beyond the per-identifier limit (issue 11: SMS pumping, email bombing):
/// per caller and per project, per hour and per day, and a server-wide daily budget of paid
/// messages (SMS and WhatsApp). Each refusal is 429 with `Retry-After`.
#[derive(Clone)]
struct SendCaps {
    caller: String,
    per_hour_caller: u32,
    per_day_caller: u32,
    per_hour_project: u32,
    per_day_project: u32,
    /// Some for paid channels.
    paid_per_day: Option<u32>,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

impl SendCaps {
    fn of(cfg: &crate::config::ServerConfig, caller: &str, channel: Channel) -> Self {
        Self {
            caller: caller.to_string(),
            per_hour_caller: cfg.sends_per_hour_caller,
            per_day_caller: cfg.sends_per_day_caller,
            per_hour_project: cfg.sends_per_hour_project,
            per_day_project: cfg.sends_per_day_project,
            paid_per_day: (channel != Channel::Email).then_some(cfg.paid_messages_per_day),
        }
    }

    fn check(&self, tx: &Connection, project_id: &str, now: i64) -> ApiResult<()> {
        let c = &self.caller;
        rate_limit(
            tx,
            &format!("send-h:{c}"),
            self.per_hour_caller,
            HOUR_MS,
            now,
        )?;
        rate_limit(tx, &format!("send-d:{c}"), self.per_day_caller, DAY_MS, now)?;
        rate_limit(
            tx,
            &format!("send-h:p:{project_id}"),
            self.per_hour_project,
            HOUR_MS,
            now,
        )?;
        rate_limit(
            tx,
            &format!("send-d:p:{project_id}"),
            self.per_day_project,
            DAY_MS,
            now,
        )?;
        if let Some(budget) = self.paid_per_day {
            rate_limit(tx, "send-d:paid", budget, DAY_MS, now)?;
        }
        Ok(())
    }
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
    /// The person's language (a BCP 47 tag), if the send named one.
    locale: Option<String>,
    /// The code's lifetime, for the message.
    minutes: u64,
    whatsapp_defaults: std::collections::HashMap<String, String>,
    now: i64,
    ttl_ms: i64,
    max_attempts: u32,
    limit: u32,
    rl_key: String,
    caps: SendCaps,
    key: [u8; 32],
    /// Record in the dev outbox (same transaction).
    outbox: bool,
    /// A real transport exists for the channel.
    transport: bool,
}

enum SendOutcome {
    Done(OtpValidation, Rendered),
    /// The flow asks the customer's URL first; run again with `url_checked`.
    NeedsUrlCheck(ProjectFlow),
}

// The handlers' fields, one each: a struct for them would be built once and taken apart once.
#[allow(clippy::too_many_arguments)]
async fn send(
    st: &AppState,
    auth: &Auth,
    kind: Kind,
    channel: Channel,
    identifier: String,
    project_id: String,
    flow_id: Option<String>,
    locale: Option<String>,
) -> ApiResult<Response> {
    let method = match channel {
        Channel::Email => Method::Email,
        Channel::Sms => Method::Sms,
        Channel::Whatsapp => Method::Whatsapp,
    };
    auth.allow_project(&project_id)?;
    let code = ids::otp_code();
    let args = SendArgs {
        kind,
        channel,
        method,
        code,
        locale,
        minutes: st.cfg.otp_ttl_s / 60,
        whatsapp_defaults: st
            .cfg
            .sms
            .as_ref()
            .map(|s| s.whatsapp_templates.clone())
            .unwrap_or_default(),
        now: st.clock.now_ms(),
        ttl_ms: (st.cfg.otp_ttl_s as i64) * 1000,
        max_attempts: st.cfg.otp_max_attempts,
        limit: if kind == Kind::Email {
            st.cfg.email_sends_per_min
        } else {
            st.cfg.phone_sends_per_min
        },
        rl_key: format!("{}:{identifier}", kind.as_str()),
        caps: SendCaps::of(&st.cfg, &auth.caller_key(), channel),
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
    let SendOutcome::Done(validation, text) = outcome else {
        return Err(ApiError::internal());
    };
    st.webhook_wake.notify_one();

    if args.transport {
        let msg = OtpMessage {
            channel,
            to: args.identifier,
            subject: text.subject,
            body: text.body,
            whatsapp_template: text.whatsapp_template,
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
    st.metrics.code_sent(channel);
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
    // A locked identifier gets no new code (nor a call to the customer's URL).
    lockout::check(tx, &a.project_id, &a.identifier, a.now)?;
    // Every limit before the customer's URL is asked (a refused caller costs them nothing);
    // a send that asked it was counted by the first transaction, not again by the second.
    if !url_checked {
        rate_limit(tx, &a.rl_key, a.limit, 60_000, a.now)?;
        a.caps.check(tx, &a.project_id, a.now)?;
    }
    if flows::check_lists(&flow, &a.identifier)? && !url_checked {
        return Ok(SendOutcome::NeedsUrlCheck(flow));
    }
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
            let mut v = Validation::new(
                kind,
                a.identifier.clone(),
                a.project_id.clone(),
                flow.id.clone(),
                a.max_attempts,
                expires_at,
                Some(channel.as_str().to_string()),
            );
            v.code_hash = Some(
                code_mac(&a.key, &v.id, &a.code)
                    .finalize()
                    .into_bytes()
                    .to_vec(),
            );
            v.insert(tx, now)?;
            v.announce(
                tx,
                Step::Created,
                json!({ "expires_at": rfc3339(expires_at) }),
                now,
            )?;
            (v.id, 0, false)
        }
    };
    let text = messages::render(
        &admin::project_messages(tx, &a.project_id)?,
        a.locale.as_deref(),
        channel,
        &a.code,
        a.minutes,
        &a.whatsapp_defaults,
    );
    if a.outbox {
        crate::delivery::outbox_insert(tx, channel, &a.identifier, &text.body, &a.code, now)?;
    }
    let validation = OtpValidation {
        validation_id,
        status: ValidationStatus::Pending,
        expires_at: rfc3339(expires_at),
        channel,
        project_id: a.project_id.clone(),
        project_flow_id: flow.id,
        resent,
        attempts_remaining: a.max_attempts.saturating_sub(attempts),
    };
    Ok(SendOutcome::Done(validation, text))
}

#[utoipa::path(
    post,
    path = "/email/verify-otp",
    tag = "codes",
    summary = "Verify an email OTP (not 6 digits: 400 INVALID_OTP_FORMAT, no attempt used)",
    request_body = access_types::VerifyEmailOtpRequest,
    responses((status = 200, description = "success", body = access_types::OtpVerification)),
    security(("bearer" = [])),
)]
pub async fn verify_email(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<VerifyEmailOtpRequest>,
) -> ApiResult<Response> {
    let email = Email::parse(&req.email)?.into_string();
    let otp = OtpCode::parse(&req.otp)?;
    verify(&st, &auth, Kind::Email, email, otp, req.validation_id).await
}

#[utoipa::path(
    post,
    path = "/phone/verify-otp",
    tag = "codes",
    summary = "Verify a phone OTP (not 6 digits: 400 INVALID_OTP_FORMAT, no attempt used)",
    request_body = access_types::VerifyPhoneOtpRequest,
    responses((status = 200, description = "success", body = access_types::OtpVerification)),
    security(("bearer" = [])),
)]
pub async fn verify_phone(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<VerifyPhoneOtpRequest>,
) -> ApiResult<Response> {
    let phone = PhoneE164::parse(&req.phone)?.into_string();
    let otp = OtpCode::parse(&req.otp)?;
    verify(&st, &auth, Kind::Phone, phone, otp, req.validation_id).await
}

/// Compares `otp` with the validation's code: validated (with a token), or one attempt used.
async fn verify(
    st: &AppState,
    auth: &Auth,
    kind: Kind,
    identifier: String,
    // Already 6 ASCII digits: a code typed wrong in form was refused (INVALID_OTP_FORMAT)
    // before this point and used up no attempt.
    otp: OtpCode,
    validation_id: String,
) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let key = st.otp_key;
    let policy = lockout::Policy {
        failures_before_lock: st.cfg.code_failures_before_lock,
        base_lock_ms: st.cfg.code_lock_base_s as i64 * 1000,
    };
    let project_scope = (!auth.is_admin()).then(|| auth.0.project_id.clone());
    let outcome = st
        .db
        .tx(move |tx| {
            let mut v = Validation::load(tx, &validation_id, kind)?;
            // A validation of someone else (or of another project than the kiosk's) reads as
            // unknown: no oracle for ids.
            if v.identifier != identifier
                || project_scope
                    .as_ref()
                    .is_some_and(|p| p.as_deref() != Some(v.project_id.as_str()))
            {
                return Err(validation::not_found());
            }
            // Locked: not even the right code counts, and no attempt is used.
            lockout::check(tx, &v.project_id, &v.identifier, now)?;
            if let Err(refusal) = v.require_pending(tx, now)? {
                // Commit the expiry (and its event), then refuse.
                return Ok(Err(refusal));
            }
            // A paused flow stops logins without burning attempts.
            flows::resolve_login_flow(tx, &v.project_id, Some(&v.flow_id))?;
            let good = v
                .code_hash
                .as_deref()
                .is_some_and(|h| code_mac(&key, &v.id, otp.as_str()).verify_slice(h).is_ok());
            if good {
                lockout::reset(tx, &v.project_id, &v.identifier)?;
                // Another factor passed: face sign-in is open again for this identifier.
                crate::face_attempts::reset(tx, &v.project_id, &v.identifier)?;
                v.validate(tx, now)?;
                return Ok(Ok(v));
            }
            let after = lockout::record_failure(tx, &policy, &v.project_id, &v.identifier, now)?;
            let attempt = v.fail_attempt(tx, now)?;
            if let lockout::AfterFailure::Locked { until } = after {
                v.announce(
                    tx,
                    Step::Locked,
                    json!({ "locked_until": rfc3339(until) }),
                    now,
                )?;
                return Ok(Err(lockout::locked(until, now)));
            }
            Ok(Err(match attempt {
                Attempt::Remaining(n) => ApiError::new(ErrorCode::InvalidOtp, "Invalid OTP code")
                    .with_details(json!({ "attempts_remaining": n })),
                Attempt::Failed => validation::not_pending(kind, ValidationStatus::Failed),
            }))
        })
        .await?;
    st.webhook_wake.notify_one();
    let v = outcome?;
    let channel = v.channel.clone().unwrap_or_default();
    let (access_token, expires_in) = v.issue_token(st, &["otp", &channel], now)?;
    Ok(ok(
        OtpVerification {
            validation_id: v.id,
            status: ValidationStatus::Validated,
            expires_at: rfc3339(v.expires_at),
            project_id: v.project_id,
            project_flow_id: v.flow_id,
            access_token,
            token_type: "Bearer".into(),
            expires_in,
        },
        "OTP verified",
    ))
}
