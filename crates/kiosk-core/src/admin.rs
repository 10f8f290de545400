//! The administrator at the kiosk: the PIN, the people enrolled here, the audit log.

use kiosk_store::AuditEntry;

use crate::error::{KioskError, Result};
use crate::{Kiosk, Mode};
use kiosk_store::{AuditDecision, AuditMethod};

const ADMIN_PIN_KEY: &str = "admin_pin_argon2";

/// How an administrator proves who they are at the kiosk.
pub enum AdminAuth<'a> {
    Pin(&'a str),
}

impl Kiosk {
    pub fn users(&self) -> Result<Vec<kiosk_store::UserSummary>> {
        Ok(self.store().users()?)
    }

    pub fn delete_user(&self, admin: AdminAuth<'_>, user_id: &str) -> Result<bool> {
        self.check_admin(admin)?;
        let deleted = self.store().delete_user(user_id)?;
        self.refresh_gallery()?;
        let mut e = self.entry(
            AuditMethod::Admin,
            if deleted {
                AuditDecision::UserDeleted
            } else {
                AuditDecision::NoSuchUser
            },
            Mode::Offline,
        );
        e.user_id = Some(user_id.into());
        self.audit(e);
        Ok(deleted)
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self.store().audit_log(limit)?)
    }

    // ---- administrators ----------------------------------------------------------------

    /// Sets the administrator PIN (stored as an Argon2id hash). When a PIN exists already, the
    /// current one is required.
    pub fn set_admin_pin(&self, current: Option<&str>, new_pin: &str) -> Result<()> {
        if !(4..=12).contains(&new_pin.len()) || !new_pin.chars().all(|c| c.is_ascii_digit()) {
            return Err(KioskError::AdminPinInvalid);
        }
        if self.store().setting(ADMIN_PIN_KEY)?.is_some() {
            self.check_admin(AdminAuth::Pin(current.unwrap_or("")))?;
        }
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(new_pin.as_bytes(), &salt)
            .map_err(|_| KioskError::AdminPinInvalid)?
            .to_string();
        self.store().set_setting(ADMIN_PIN_KEY, &hash)?;
        self.audit(self.entry(AuditMethod::AdminPin, AuditDecision::Changed, Mode::Offline));
        Ok(())
    }

    /// Checks an administrator; every refusal is audited.
    pub fn check_admin(&self, auth: AdminAuth<'_>) -> Result<()> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let AdminAuth::Pin(pin) = auth;
        let Some(stored) = self.store().setting(ADMIN_PIN_KEY)? else {
            return Err(KioskError::AdminPinNotSet);
        };
        let ok = PasswordHash::new(&stored)
            .map(|h| {
                argon2::Argon2::default()
                    .verify_password(pin.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            self.audit(self.entry(AuditMethod::AdminPin, AuditDecision::Refused, Mode::Offline));
            Err(KioskError::AdminRefused)
        }
    }
}
