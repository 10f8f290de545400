//! The administrator's session at a kiosk: opened by the PIN, closed by logout or by
//! [`ADMIN_IDLE`] without an administrator action (each action keeps it open). What the
//! session is working on, the enrolment draft, lives and ends with it: a new session starts
//! with an empty draft.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::draft::EnrolmentDraft;
use crate::error::{KioskError, Result};
use crate::{AdminAuth, Kiosk};

/// A session ends after this long without an administrator action.
pub const ADMIN_IDLE: Duration = Duration::from_secs(300);

/// Where the session reads the time: `Instant::now` but in tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

pub struct AdminSession {
    idle: Duration,
    clock: Clock,
    open: Mutex<Option<Open>>,
}

struct Open {
    /// Kept for the calls that check the administrator again (enrol, delete).
    pin: String,
    last_used: Instant,
    draft: Arc<EnrolmentDraft>,
}

/// An open session, lent to one administrator action.
pub struct Admin {
    pin: String,
    draft: Arc<EnrolmentDraft>,
}

impl Admin {
    /// The proof the engine's administrator calls ask for.
    pub fn auth(&self) -> AdminAuth<'_> {
        AdminAuth::Pin(&self.pin)
    }

    /// The samples this session has captured so far.
    pub fn draft(&self) -> &EnrolmentDraft {
        &self.draft
    }
}

impl Default for AdminSession {
    fn default() -> Self {
        Self::new(ADMIN_IDLE)
    }
}

impl AdminSession {
    pub fn new(idle: Duration) -> Self {
        Self::with_clock(idle, Arc::new(Instant::now))
    }

    pub fn with_clock(idle: Duration, clock: Clock) -> Self {
        Self {
            idle,
            clock,
            open: Mutex::new(None),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Open>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the PIN (a refusal is audited by the engine) and opens a new session with an
    /// empty draft. A refused PIN leaves an open session as it was.
    pub fn login(&self, kiosk: &Kiosk, pin: &str) -> Result<()> {
        kiosk.check_admin(AdminAuth::Pin(pin))?;
        self.open(pin);
        Ok(())
    }

    /// Opens a session for a PIN already checked.
    fn open(&self, pin: &str) {
        *self.slot() = Some(Open {
            pin: pin.to_string(),
            last_used: (self.clock)(),
            draft: Arc::new(EnrolmentDraft::new()),
        });
    }

    /// Ends the session and drops its draft.
    pub fn logout(&self) {
        *self.slot() = None;
    }

    /// The open session, kept open for another `idle`; `ADMIN_REQUIRED` when there is none
    /// or it has timed out (which ends it).
    pub fn admin(&self) -> Result<Admin> {
        let now = (self.clock)();
        let mut slot = self.slot();
        match slot.as_mut() {
            Some(open) if now.saturating_duration_since(open.last_used) < self.idle => {
                open.last_used = now;
                Ok(Admin {
                    pin: open.pin.clone(),
                    draft: open.draft.clone(),
                })
            }
            _ => {
                *slot = None;
                Err(KioskError::AdminRequired)
            }
        }
    }

    /// Whether a session is open now, without counting as an action.
    pub fn is_open(&self) -> bool {
        let now = (self.clock)();
        self.slot()
            .as_ref()
            .is_some_and(|o| now.saturating_duration_since(o.last_used) < self.idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    fn manual_clock() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = now.clone();
        (Arc::new(move || *read.lock().unwrap()), now)
    }

    fn advance(now: &Mutex<Instant>, secs: u64) {
        *now.lock().unwrap() += Duration::from_secs(secs);
    }

    fn code(r: Result<Admin>) -> &'static str {
        r.err().map_or("OK", |e| e.code())
    }

    #[test]
    fn no_session_until_login() {
        let s = AdminSession::default();
        assert!(!s.is_open());
        assert_eq!(code(s.admin()), "ADMIN_REQUIRED");
    }

    #[test]
    fn each_action_keeps_it_open_and_idleness_ends_it() {
        let (clock, now) = manual_clock();
        let s = AdminSession::with_clock(Duration::from_secs(300), clock);
        s.open("246810");
        advance(&now, 299);
        let a = s.admin().unwrap();
        assert!(matches!(a.auth(), AdminAuth::Pin("246810")));
        // 598 s since login, but only 299 s since the last action.
        advance(&now, 299);
        assert_eq!(code(s.admin()), "OK");
        advance(&now, 300);
        assert!(!s.is_open());
        assert_eq!(code(s.admin()), "ADMIN_REQUIRED");
        // Timed out is closed: winding the clock back does not reopen it.
        *now.lock().unwrap() -= Duration::from_secs(300);
        assert_eq!(code(s.admin()), "ADMIN_REQUIRED");
    }

    #[test]
    fn is_open_does_not_count_as_an_action() {
        let (clock, now) = manual_clock();
        let s = AdminSession::with_clock(Duration::from_secs(10), clock);
        s.open("246810");
        advance(&now, 6);
        assert!(s.is_open());
        advance(&now, 6);
        assert!(!s.is_open());
    }

    #[test]
    fn the_draft_ends_with_the_session() {
        let s = AdminSession::default();
        s.open("246810");
        let a = s.admin().unwrap();
        a.draft().push(crate::draft::tests::frame()).unwrap();
        assert_eq!(s.admin().unwrap().draft().len(), 1);
        s.logout();
        assert_eq!(code(s.admin()), "ADMIN_REQUIRED");
        s.open("246810");
        assert_eq!(s.admin().unwrap().draft().len(), 0);
    }
}
