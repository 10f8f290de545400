//! A one-item mailbox that keeps only the newest value: a face pipeline slower than the
//! camera must see the latest frame, never a queue of stale ones.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) struct LatestSlot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    value: Option<T>,
    closed: bool,
    /// Values overwritten before anyone took them.
    replaced: u64,
}

pub(crate) enum TakeError {
    Timeout,
    Closed,
}

impl<T> LatestSlot<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                value: None,
                closed: false,
                replaced: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the state half-written (each update is
        // one assignment), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value`, replacing (dropping) any value not yet taken. Returns false once closed.
    pub(crate) fn put(&self, value: T) -> bool {
        let mut s = self.lock();
        if s.closed {
            return false;
        }
        if s.value.replace(value).is_some() {
            s.replaced += 1;
        }
        drop(s);
        self.ready.notify_all();
        true
    }

    /// Takes the value if there is one, without waiting.
    pub(crate) fn try_take(&self) -> Option<T> {
        self.lock().value.take()
    }

    /// Waits up to `timeout` for a value. A value put before closing is still handed out.
    pub(crate) fn take_timeout(&self, timeout: Duration) -> Result<T, TakeError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut s = self.lock();
        loop {
            if let Some(v) = s.value.take() {
                return Ok(v);
            }
            if s.closed {
                return Err(TakeError::Closed);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(TakeError::Timeout);
            }
            s = self
                .ready
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn replaced(&self) -> u64 {
        self.lock().replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keeps_only_the_latest() {
        let s = LatestSlot::new();
        assert!(s.put(1));
        assert!(s.put(2));
        assert!(s.put(3));
        assert_eq!(s.try_take(), Some(3));
        assert_eq!(s.try_take(), None);
        assert_eq!(s.replaced(), 2);
    }

    #[test]
    fn take_times_out_then_sees_close() {
        let s = LatestSlot::<u8>::new();
        assert!(matches!(
            s.take_timeout(Duration::from_millis(5)),
            Err(TakeError::Timeout)
        ));
        s.close();
        assert!(!s.put(1));
        assert!(matches!(
            s.take_timeout(Duration::MAX),
            Err(TakeError::Closed)
        ));
    }

    #[test]
    fn value_put_before_close_is_delivered_and_waiters_wake() {
        let s = Arc::new(LatestSlot::new());
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.take_timeout(Duration::from_secs(10)).ok());
        std::thread::sleep(Duration::from_millis(20));
        s.put(7);
        s.close();
        assert_eq!(t.join().unwrap(), Some(7));
    }
}
