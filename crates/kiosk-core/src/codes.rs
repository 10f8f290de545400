//! One-time codes by email, SMS or WhatsApp: only online (the API sends and checks them).

use crate::error::{KioskError, Result};
use crate::error_code::KioskCode;
use crate::{Kiosk, Mode};
use kiosk_store::{AuditDecision, AuditMethod};

/// How a one-time code travels: the API's own channel type.
pub use access_types::Channel as OtpChannel;

impl Kiosk {
    // ---- codes -------------------------------------------------------------------------

    pub async fn otp_send(
        &self,
        channel: OtpChannel,
        to: &str,
    ) -> Result<access_types::OtpValidation> {
        // Refused here, with the server's code, before the API is called (or found offline).
        let to = channel.identifier(to)?;
        self.refuse_if_revoked(audit_method(channel))?;
        let (client, project) = self.api().await.ok_or(KioskError::NotConfigured)?;
        // The message is written in the kiosk's language (the server falls back to the
        // project's default when it has no texts in it).
        let locale = self.cfg.locale.as_deref();
        let r = match channel {
            OtpChannel::Email => client.send_email_otp(&to, &project, locale).await,
            OtpChannel::Sms => client.send_phone_otp(&to, &project, false, locale).await,
            OtpChannel::Whatsapp => client.send_phone_otp(&to, &project, true, locale).await,
        };
        self.observe(&r);
        let r = r.map_err(|e| self.offline_or(e, "Sign-in by code"))?;
        self.audit(self.entry(audit_method(channel), AuditDecision::CodeSent, Mode::Online));
        Ok(r)
    }

    pub async fn otp_verify(
        &self,
        channel: OtpChannel,
        to: &str,
        code: &str,
        validation_id: &str,
    ) -> Result<access_types::OtpVerification> {
        // A code typed in another form (`123 456`, full-width digits) is the same code; one that
        // is not 6 digits is refused here and costs no attempt on the server.
        let to = channel.identifier(to)?;
        let code = access_types::OtpCode::parse(code)?;
        self.refuse_if_revoked(audit_method(channel))?;
        let (client, project) = self.api().await.ok_or(KioskError::NotConfigured)?;
        let r = match channel {
            OtpChannel::Email => {
                client
                    .verify_email_otp(&to, code.as_str(), validation_id)
                    .await
            }
            OtpChannel::Sms | OtpChannel::Whatsapp => {
                client
                    .verify_phone_otp(&to, code.as_str(), validation_id)
                    .await
            }
        };
        self.observe(&r);
        let mut e = self.entry(audit_method(channel), AuditDecision::Accepted, Mode::Online);
        e.user_id = Some(to.clone());
        match r {
            // Validated only with a token this kiosk verifies: a pinned key's, for its project,
            // naming the person who typed the code (see `trust`).
            Ok(v) => match self
                .verify_token_refreshing(&client, &v.access_token, &project, &to)
                .await
            {
                Ok(()) => {
                    self.audit(e);
                    Ok(v)
                }
                Err(why) => {
                    tracing::warn!(
                        "an answer of the API validated a code without a valid token: {why}"
                    );
                    e.decision = AuditDecision::Rejected;
                    e.detail = Some(KioskCode::AnswerUnverified.as_str().into());
                    self.audit(e);
                    Err(KioskError::AnswerUnverified(why))
                }
            },
            Err(err) => {
                e.decision = AuditDecision::Rejected;
                e.detail = Some(err.code().into());
                self.audit(e);
                Err(self.offline_or(err, "Sign-in by code"))
            }
        }
    }
}

impl Kiosk {
    /// What a visitor's call says of the network, published at once: an answer means the API
    /// is there, no answer that it is not (a refusal of the code says neither).
    fn observe<T>(&self, r: &std::result::Result<T, access_client::ClientError>) {
        match r {
            Ok(_) => self.publish_reachability(Ok(())),
            Err(e) if e.is_unreachable() => self.publish_reachability(Err(e.to_string())),
            Err(e) => self.note_api_error(e),
        }
    }
}

/// A code channel, as the audit names it.
fn audit_method(c: OtpChannel) -> AuditMethod {
    match c {
        OtpChannel::Email => AuditMethod::Email,
        OtpChannel::Sms => AuditMethod::Sms,
        OtpChannel::Whatsapp => AuditMethod::Whatsapp,
    }
}
