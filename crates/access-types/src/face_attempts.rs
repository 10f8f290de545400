//! How many failed face attempts a person may make in a row, the rule the server (across every
//! kiosk and replica) and a kiosk (offline) both count by.
//!
//! NIST SP 800-63B-4, 3.2.3: after 5 consecutive failed biometric attempts (10 when the
//! verifier runs presentation attack detection, here: the flow requires liveness) a delay of at
//! least 30 seconds before the next, growing with each further failure; after 50 (100) the
//! biometric is disabled for that person until they authenticate with another factor or an
//! operator resets it. A code sign-in is always offered instead.

/// Failures in a row before the first delay, without and with liveness (PAD).
pub const FREE_ATTEMPTS: [u32; 2] = [5, 10];
/// Failures in a row at which face sign-in is disabled, without and with liveness (PAD).
pub const DISABLED_AT: [u32; 2] = [50, 100];
/// The first delay, ms; it doubles with each further failure.
pub const BASE_DELAY_MS: i64 = 30_000;
/// The longest delay, whatever the count (a day).
pub const MAX_DELAY_MS: i64 = 24 * 3600 * 1000;

/// Where a person's failed face attempts leave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceAttemptState {
    /// Face sign-in is open.
    Open,
    /// Open again at `until` (ms since the epoch).
    Delayed { until: i64 },
    /// Until a sign-in by another factor or an operator's reset.
    Disabled,
}

/// The wait after `failures` consecutive failed attempts, ms: 0 while they are free, `None`
/// once face sign-in is disabled.
pub fn delay_ms(failures: u32, liveness_required: bool) -> Option<i64> {
    let i = usize::from(liveness_required);
    if failures >= DISABLED_AT[i] {
        return None;
    }
    if failures < FREE_ATTEMPTS[i] {
        return Some(0);
    }
    let doublings = (failures - FREE_ATTEMPTS[i]).min(30);
    Some(
        BASE_DELAY_MS
            .saturating_mul(1 << doublings)
            .min(MAX_DELAY_MS),
    )
}

/// The state after `failures` consecutive failed attempts, the last at `last_failed_at` (ms).
pub fn state(
    failures: u32,
    last_failed_at: i64,
    liveness_required: bool,
    now: i64,
) -> FaceAttemptState {
    let Some(delay) = delay_ms(failures, liveness_required) else {
        return FaceAttemptState::Disabled;
    };
    if delay == 0 {
        return FaceAttemptState::Open;
    }
    let until = last_failed_at.saturating_add(delay);
    if until > now {
        FaceAttemptState::Delayed { until }
    } else {
        FaceAttemptState::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_free_then_thirty_seconds_doubling_then_disabled() {
        let t = 1_000_000;
        for f in 0..5 {
            assert_eq!(state(f, t, false, t), FaceAttemptState::Open);
        }
        assert_eq!(
            state(5, t, false, t),
            FaceAttemptState::Delayed { until: t + 30_000 }
        );
        assert_eq!(state(5, t, false, t + 30_000), FaceAttemptState::Open);
        assert_eq!(
            state(6, t, false, t),
            FaceAttemptState::Delayed { until: t + 60_000 }
        );
        assert_eq!(
            state(49, t, false, t + 1),
            FaceAttemptState::Delayed {
                until: t + MAX_DELAY_MS
            }
        );
        assert_eq!(
            state(50, t, false, t + MAX_DELAY_MS * 10),
            FaceAttemptState::Disabled
        );
        // With liveness (PAD): 10 free, 100 to disable.
        assert_eq!(state(9, t, true, t), FaceAttemptState::Open);
        assert_eq!(
            state(10, t, true, t),
            FaceAttemptState::Delayed { until: t + 30_000 }
        );
        assert!(matches!(
            state(99, t, true, t),
            FaceAttemptState::Delayed { .. }
        ));
        assert_eq!(state(100, t, true, t), FaceAttemptState::Disabled);
    }
}
