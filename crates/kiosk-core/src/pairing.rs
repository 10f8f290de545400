//! Pairing: this kiosk registers its device key with the Access API using a one-time code an
//! administrator made (`access-server kiosks pair`), and from then on gets its own short-lived
//! tokens from that key (`access_client::Credentials::Device`). Nobody types or copies a
//! long-lived token onto a kiosk.

use access_types::kiosk_identity::PairedKiosk;
use kiosk_store::{AuditDecision, AuditMethod};

use crate::error::Result;
use crate::face::Mode;
use crate::settings_file::{self, SettingsFile};
use crate::{Kiosk, PAIRED_KIOSK_KEY, PAIRED_URL_KEY, check_api_url};

impl Kiosk {
    /// Pairs with the Access API at `api_url` using a one-time `code`: the kiosk id and
    /// project the server gave are kept, the API address and project become this kiosk's
    /// settings (saved), and every later call uses tokens of the device key. Refused codes
    /// are `PAIRING_CODE_INVALID` (unknown, used, or older than 10 minutes).
    pub async fn pair(&self, api_url: &str, code: &str) -> Result<PairedKiosk> {
        let api_url = api_url.trim();
        check_api_url(api_url, self.cfg.allow_insecure_http)?;
        let paired = access_client::AccessClient::pair(
            api_url,
            code,
            &*self.device_key,
            Some(env!("CARGO_PKG_VERSION").to_string()),
            self.cfg.api_timeout,
        )
        .await?;
        {
            let mut store = self.store();
            store.set_setting(PAIRED_KIOSK_KEY, &paired.kiosk_id)?;
            store.set_setting(PAIRED_URL_KEY, api_url)?;
            // A new pairing is a new trust: its keys replace the old ones, and a revocation
            // of the old pairing is over.
            store.set_setting(crate::trust::REVOKED_KEY, "")?;
        }
        self.pin_keys(paired.signing_keys.as_ref())?;
        self.status
            .send_if_modified(|s| s.revoked_at.take().is_some());
        settings_file::update(
            self,
            SettingsFile {
                api_url: Some(api_url.to_string()),
                project_id: Some(paired.project_id.clone()),
                ..SettingsFile::default()
            },
        )?;
        self.sync_refused
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let mut a = self.entry(AuditMethod::Admin, AuditDecision::Paired, Mode::Online);
        a.detail = Some(format!(
            "kiosk {} of project {} at {api_url}",
            paired.kiosk_id, paired.project_id
        ));
        self.audit(a);
        self.wake.notify_one();
        Ok(paired)
    }

    /// The kiosk id this kiosk was paired as (for its current API), if it was.
    pub fn paired_kiosk_id(&self) -> Option<String> {
        self.live().paired.clone()
    }

    /// Pairs with the configured one-time code (`KIOSK_PAIRING_CODE`) if this kiosk is not
    /// paired yet and knows its API: provisioning without anyone at the screen. Nothing to do
    /// otherwise.
    pub async fn ensure_paired(&self) -> Result<()> {
        if self.live().paired.is_some() {
            return Ok(());
        }
        let (Some(code), Some(url)) = (
            self.cfg.pairing_code.clone(),
            self.live().settings.api_url.clone(),
        ) else {
            return Ok(());
        };
        self.pair(&url, &code).await.map(|_| ())
    }

    /// This kiosk's id: the server's once paired, else the configured name.
    pub(crate) fn kiosk_id(&self) -> String {
        self.live()
            .paired
            .clone()
            .unwrap_or_else(|| self.cfg.kiosk_id.clone())
    }
}
