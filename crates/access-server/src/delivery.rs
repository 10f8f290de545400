//! OTP delivery: one trait, three real transports (SMTP, Twilio-shaped HTTP gateway for SMS and
//! WhatsApp) and the dev outbox.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use access_types::Channel;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmsGatewayConfig, SmtpConfig, SmtpSecurity};
use crate::db::{Db, exec};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("email build: {0}")]
    Email(#[from] lettre::error::Error),
    #[error("gateway request: {0}")]
    Http(#[from] reqwest::Error),
    #[error("gateway answered HTTP {0}")]
    Gateway(u16),
    #[error("outbox: {0}")]
    Outbox(String),
}

/// What to deliver. `Debug` leaves the code and body out so it can be logged.
#[derive(Clone)]
pub struct OtpMessage {
    pub channel: Channel,
    pub to: String,
    pub code: String,
    /// The email's subject (`messages.rs`).
    pub subject: String,
    pub body: String,
    /// WhatsApp: the approved template to send with the code as variable `1`, instead of
    /// `body`.
    pub whatsapp_template: Option<String>,
}

impl std::fmt::Debug for OtpMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpMessage")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait OtpSender: Send + Sync {
    fn send<'a>(&'a self, msg: &'a OtpMessage) -> BoxFut<'a, Result<(), DeliveryError>>;
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpSender {
    pub fn new(cfg: &SmtpConfig) -> Result<Self, DeliveryError> {
        let mut b = match cfg.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            }
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)?,
        }
        .port(cfg.port)
        .timeout(Some(Duration::from_millis(cfg.timeout_ms)));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let from = cfg
            .from
            .parse()
            .map_err(|_| DeliveryError::Address(cfg.from.clone()))?;
        Ok(Self {
            transport: b.build(),
            from,
        })
    }
}

impl OtpSender for SmtpSender {
    fn send<'a>(&'a self, msg: &'a OtpMessage) -> BoxFut<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let to = msg
                .to
                .parse()
                .map_err(|_| DeliveryError::Address(msg.to.clone()))?;
            let email = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(msg.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(msg.body.clone())?;
            self.transport.send(email).await?;
            Ok(())
        })
    }
}

/// SMS or WhatsApp through a Twilio-Messages-shaped gateway.
pub struct TwilioSender {
    client: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: String,
    from: String,
    whatsapp: bool,
}

impl TwilioSender {
    pub fn new(cfg: &SmsGatewayConfig, from: &str, whatsapp: bool) -> Result<Self, DeliveryError> {
        // No proxy from the environment: the gateway's Basic credentials and every code would
        // go through whatever HTTP_PROXY names (outbound.rs says the same for customer URLs).
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()?;
        Ok(Self {
            client,
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                cfg.base_url.trim_end_matches('/'),
                cfg.account_sid
            ),
            account_sid: cfg.account_sid.clone(),
            auth_token: cfg.auth_token.clone(),
            from: from.to_string(),
            whatsapp,
        })
    }
}

impl OtpSender for TwilioSender {
    fn send<'a>(&'a self, msg: &'a OtpMessage) -> BoxFut<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let (to, from) = if self.whatsapp {
                (
                    format!("whatsapp:{}", msg.to),
                    format!("whatsapp:{}", self.from),
                )
            } else {
                (msg.to.clone(), self.from.clone())
            };
            let mut form = vec![("To", to), ("From", from)];
            match (&msg.whatsapp_template, self.whatsapp) {
                // Twilio's Content API: the approved template and its variables as JSON.
                (Some(sid), true) => {
                    form.push(("ContentSid", sid.clone()));
                    form.push((
                        "ContentVariables",
                        serde_json::json!({ "1": msg.code }).to_string(),
                    ));
                }
                _ => form.push(("Body", msg.body.clone())),
            }
            let resp = self
                .client
                .post(&self.url)
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .form(&form)
                .send()
                .await?;
            if !resp.status().is_success() {
                return Err(DeliveryError::Gateway(resp.status().as_u16()));
            }
            Ok(())
        })
    }
}

/// Dev outbox: messages kept in the store, readable at `GET /dev/outbox`.
pub struct OutboxSender {
    db: Db,
    clock: Arc<dyn crate::clock::Clock>,
}

impl OutboxSender {
    pub fn new(db: Db, clock: Arc<dyn crate::clock::Clock>) -> Self {
        Self { db, clock }
    }
}

impl OtpSender for OutboxSender {
    fn send<'a>(&'a self, msg: &'a OtpMessage) -> BoxFut<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let m = msg.clone();
            let now = self.clock.now_ms();
            self.db
                .call(move |c| Ok(outbox_insert(c, m.channel, &m.to, &m.body, &m.code, now)?))
                .await
                .map_err(|e| DeliveryError::Outbox(e.message))
        })
    }
}

/// Record a message in the dev outbox (inside the caller's transaction when there is one).
pub fn outbox_insert(
    c: &crate::sql::Connection,
    channel: Channel,
    to: &str,
    body: &str,
    code: &str,
    now: i64,
) -> crate::sql::Result<()> {
    exec(
        c,
        "INSERT INTO outbox(channel, recipient, body, code, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![channel.as_str(), to, body, code, now],
    )?;
    Ok(())
}

/// Channel routing.
#[derive(Default)]
pub struct Delivery {
    pub email: Option<Arc<dyn OtpSender>>,
    pub sms: Option<Arc<dyn OtpSender>>,
    pub whatsapp: Option<Arc<dyn OtpSender>>,
    pub outbox: Option<Arc<dyn OtpSender>>,
}

impl Delivery {
    pub fn from_config(
        smtp: Option<&SmtpConfig>,
        sms: Option<&SmsGatewayConfig>,
        outbox: Option<OutboxSender>,
    ) -> Result<Self, DeliveryError> {
        let mut d = Delivery::default();
        if let Some(c) = smtp {
            d.email = Some(Arc::new(SmtpSender::new(c)?));
        }
        if let Some(c) = sms {
            if let Some(from) = &c.sms_from {
                d.sms = Some(Arc::new(TwilioSender::new(c, from, false)?));
            }
            if let Some(from) = &c.whatsapp_from {
                d.whatsapp = Some(Arc::new(TwilioSender::new(c, from, true)?));
            }
        }
        d.outbox = outbox.map(|o| Arc::new(o) as Arc<dyn OtpSender>);
        Ok(d)
    }

    fn transport(&self, channel: Channel) -> Option<&Arc<dyn OtpSender>> {
        match channel {
            Channel::Email => self.email.as_ref(),
            Channel::Sms => self.sms.as_ref(),
            Channel::Whatsapp => self.whatsapp.as_ref(),
        }
    }

    /// Whether a code for `channel` can reach anyone at all.
    pub fn can_send(&self, channel: Channel) -> bool {
        self.transport(channel).is_some() || self.outbox.is_some()
    }

    /// Whether a real (non-outbox) transport exists for `channel`.
    pub fn can_send_external(&self, channel: Channel) -> bool {
        self.transport(channel).is_some()
    }

    /// Hand to the real transport only (the caller recorded the outbox copy itself).
    pub async fn send_external(&self, msg: &OtpMessage) -> Result<(), DeliveryError> {
        match self.transport(msg.channel) {
            Some(t) => t.send(msg).await,
            None => Ok(()),
        }
    }

    /// Record in the dev outbox (if on), then hand to the real transport (if configured).
    pub async fn send(&self, msg: &OtpMessage) -> Result<(), DeliveryError> {
        if let Some(o) = &self.outbox {
            o.send(msg).await?;
        }
        if let Some(t) = self.transport(msg.channel) {
            t.send(msg).await?;
        }
        Ok(())
    }
}
