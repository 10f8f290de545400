//! The administrator at the kiosk: the PIN, the people enrolled here, the audit log.

use kiosk_store::AuditEntry;

use crate::error::{KioskError, Result};
use crate::outbox::{Erasure, Queued};
use crate::{Kiosk, Mode, now_unix};
use kiosk_store::{AuditDecision, AuditMethod};

const ADMIN_PIN_KEY: &str = "admin_pin_argon2";
/// The lockout's subject in the store for wrong PINs.
const PIN_LOCK_SUBJECT: &str = "admin_pin";
/// A PIN is 6 to 12 digits.
pub const MIN_PIN_DIGITS: usize = 6;
pub const MAX_PIN_DIGITS: usize = 12;
/// Wrong PINs in a row before each further one costs a delay.
pub const PIN_FREE_ATTEMPTS: u32 = 5;
/// The delay the fifth wrong PIN imposes; it doubles with each further one.
pub const PIN_FIRST_DELAY_S: i64 = 30;

/// How an administrator proves who they are at the kiosk.
pub enum AdminAuth<'a> {
    Pin(&'a str),
}

impl Kiosk {
    pub fn users(&self) -> Result<Vec<kiosk_store::UserSummary>> {
        Ok(self.store().users()?)
    }

    /// Erases a person at this kiosk (after the admin PIN): their templates, and their
    /// enrolment samples still waiting in the outbox, which would otherwise bring them back at
    /// the next sync; and, when the kiosk has a project, queues the erasure for the server,
    /// all in one transaction. Audited. False when the person was not known here (the
    /// erasure is queued all the same: they may be enrolled elsewhere).
    pub fn delete_user(&self, admin: AdminAuth<'_>, user_id: &str) -> Result<bool> {
        self.check_admin(admin)?;
        let uploads: Vec<String> = self
            .store()
            .pending(usize::MAX >> 1)?
            .into_iter()
            .filter(|i| {
                matches!(Queued::read(&i.kind, &i.payload),
                    Ok(Queued::RegisterFace(u)) if u.user_id == user_id)
            })
            .map(|i| i.client_id)
            .collect();
        let erasure = self.live().settings.project_id.clone().map(|project_id| {
            Queued::EraseUser(Erasure {
                user_id: user_id.to_string(),
                project_id,
                erased_at: kiosk_store::now_rfc3339(),
            })
        });
        let payload = erasure.as_ref().map(|q| (q.kind(), q.payload()));
        let deleted =
            self.store()
                .erase_user(user_id, &uploads, payload.as_ref().map(|(k, p)| (*k, p)))?;
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
        e.detail = Some(format!(
            "uploads_dropped={} erasure_queued={}",
            uploads.len(),
            erasure.is_some()
        ));
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
        check_pin_form(new_pin)?;
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

    /// Whether a staff PIN is set on this kiosk.
    pub fn admin_pin_set(&self) -> Result<bool> {
        Ok(self.store().setting(ADMIN_PIN_KEY)?.is_some())
    }

    /// The first set-up of a kiosk that has no staff PIN yet: pairs it with the Access API
    /// using a one-time code an administrator made (the code is the proof that whoever stands
    /// here may set up this kiosk), then sets the first PIN. Never for a kiosk that has a PIN
    /// (`ADMIN_REQUIRED`: change it from the staff screen), and a PIN of the wrong form is
    /// refused before the code is used.
    pub async fn first_setup(
        &self,
        api_url: &str,
        code: &str,
        new_pin: &str,
    ) -> Result<access_types::kiosk_identity::PairedKiosk> {
        if self.admin_pin_set()? {
            return Err(KioskError::AdminRequired);
        }
        check_pin_form(new_pin)?;
        let paired = self.pair(api_url, code).await?;
        self.set_admin_pin(None, new_pin)?;
        Ok(paired)
    }

    /// Checks an administrator; every refusal is audited. Wrong PINs are counted in the
    /// store (so a restart forgets nothing): from the [`PIN_FREE_ATTEMPTS`]th in a row on, each
    /// imposes a delay ([`pin_delay_s`]) during which every PIN, the right one too, is refused
    /// with `ADMIN_PIN_LOCKED` and the seconds left. The right PIN clears the count.
    pub fn check_admin(&self, auth: AdminAuth<'_>) -> Result<()> {
        self.check_admin_at(auth, now_unix())
    }

    pub(crate) fn check_admin_at(&self, auth: AdminAuth<'_>, now: i64) -> Result<()> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let AdminAuth::Pin(pin) = auth;
        let Some(stored) = self.store().setting(ADMIN_PIN_KEY)? else {
            return Err(KioskError::AdminPinNotSet);
        };
        let lock = self.store().lockout(PIN_LOCK_SUBJECT)?;
        if lock.locked_until > now {
            let retry_after_s = (lock.locked_until - now) as u64;
            let mut e = self.entry(
                AuditMethod::AdminPin,
                AuditDecision::LockedOut,
                Mode::Offline,
            );
            e.detail = Some(format!("retry_after_s={retry_after_s}"));
            self.audit(e);
            return Err(KioskError::AdminPinLocked { retry_after_s });
        }
        let ok = PasswordHash::new(&stored)
            .map(|h| {
                argon2::Argon2::default()
                    .verify_password(pin.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if ok {
            if lock.failures > 0 {
                self.store().clear_failures(PIN_LOCK_SUBJECT)?;
            }
            return Ok(());
        }
        let lock = self
            .store()
            .record_failure(PIN_LOCK_SUBJECT, now, pin_delay_s)?;
        let mut e = self.entry(AuditMethod::AdminPin, AuditDecision::Refused, Mode::Offline);
        e.detail = Some(format!("failures={}", lock.failures));
        self.audit(e);
        if lock.locked_until > now {
            Err(KioskError::AdminPinLocked {
                retry_after_s: (lock.locked_until - now) as u64,
            })
        } else {
            Err(KioskError::AdminRefused)
        }
    }
}

/// The delay, in seconds, that the `failures`th wrong PIN in a row imposes: none for the first
/// four, 30 s at the fifth, doubling with each further one, a day at most.
pub fn pin_delay_s(failures: u32) -> i64 {
    if failures < PIN_FREE_ATTEMPTS {
        return 0;
    }
    let doublings = (failures - PIN_FREE_ATTEMPTS).min(12);
    (PIN_FIRST_DELAY_S << doublings).min(86_400)
}

/// A PIN is 6 to 12 digits.
fn check_pin_form(pin: &str) -> Result<()> {
    if !(MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&pin.len())
        || !pin.chars().all(|c| c.is_ascii_digit())
    {
        return Err(KioskError::AdminPinInvalid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_pins_cost_a_growing_delay_from_the_fifth() {
        let delays: Vec<i64> = (1..=8).map(pin_delay_s).collect();
        assert_eq!(delays, [0, 0, 0, 0, 30, 60, 120, 240]);
        assert_eq!(pin_delay_s(40), 86_400);
    }

    #[test]
    fn the_delay_is_kept_in_the_store_and_holds_even_the_right_pin() {
        let dir = std::env::temp_dir().join(format!("kiosk-pin-delay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let open = || Kiosk::open(crate::KioskConfig::new(&dir)).unwrap();
        let k = open();
        assert_eq!(
            k.set_admin_pin(None, "12345").unwrap_err().code(),
            "ADMIN_PIN_INVALID"
        );
        k.set_admin_pin(None, "246810").unwrap();
        let t0 = 1_000_000;
        let wrong = |k: &Kiosk, at| k.check_admin_at(AdminAuth::Pin("000000"), at).unwrap_err();
        for _ in 0..4 {
            assert_eq!(wrong(&k, t0).code(), "ADMIN_REFUSED");
        }
        let fifth = wrong(&k, t0);
        assert_eq!(fifth.code(), "ADMIN_PIN_LOCKED");
        assert_eq!(fifth.details().unwrap()["retry_after_s"], 30);
        drop(k);
        // A restart forgets nothing; during the delay the right PIN is refused too.
        let k = open();
        let held = k
            .check_admin_at(AdminAuth::Pin("246810"), t0 + 29)
            .unwrap_err();
        assert_eq!(
            (
                held.code(),
                held.details().unwrap()["retry_after_s"].as_u64()
            ),
            ("ADMIN_PIN_LOCKED", Some(1))
        );
        // After it, the sixth wrong PIN doubles the delay.
        let sixth = wrong(&k, t0 + 30);
        assert_eq!(sixth.details().unwrap()["retry_after_s"], 60);
        k.check_admin_at(AdminAuth::Pin("246810"), t0 + 90).unwrap();
        // The right PIN starts the count again.
        assert_eq!(wrong(&k, t0 + 91).code(), "ADMIN_REFUSED");
        let audit = k.audit_log(50).unwrap();
        let count = |d| {
            audit
                .iter()
                .filter(|e| e.method == AuditMethod::AdminPin && e.decision == d)
                .count()
        };
        assert_eq!(
            (
                count(AuditDecision::Refused),
                count(AuditDecision::LockedOut)
            ),
            (7, 1)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
