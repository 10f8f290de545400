//! Shared application state.

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::Keys;
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::db::Db;
use crate::delivery::Delivery;
use crate::face::FaceService;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: ServerConfig,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub keys: Keys,
    /// HMAC key for OTP hashes; never leaves the process except in the store.
    pub otp_key: [u8; 32],
    pub delivery: Delivery,
    /// Wakes the webhook worker after new events were queued.
    pub webhook_wake: Notify,
    /// Whether any enabled webhook exists; when none does the worker need not touch the
    /// store on every wake-up (it did, on every login, doubling database work under load).
    pub hooks_exist: std::sync::atomic::AtomicBool,
    /// For security-URL checks: built by `outbound`, so internal addresses are unreachable.
    pub http: reqwest::Client,
    /// The check for customer-configured URLs (webhooks, security URL).
    pub outbound: crate::outbound::OutboundGuard,
    pub face: FaceService,
    pub templates: crate::templates::TemplateCache,
    /// Revoked kiosks and admin tokens, looked up per request through a short cache.
    pub revocations: crate::revocation::Revocations,
    /// Answers of customer security URLs, kept briefly (`flows::check_url`).
    pub security_answers: crate::flows::SecurityAnswers,
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
