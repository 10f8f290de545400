//! Frame pacing for sources that are not clocked by hardware (replay): frames are due on a
//! fixed grid of deadlines, like a camera's shutter.

use std::time::{Duration, Instant};

/// Hands out the deadline of each frame at a set rate. A rate of 0 means unpaced: every
/// frame is due at once (tests, benchmarks).
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// `fps` <= 0 or not finite means unpaced.
    pub fn new(fps: f64) -> Self {
        Self {
            interval: frame_interval(fps),
            next: None,
        }
    }

    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// When the next frame is due, given the time now (the first frame is due at once).
    pub fn due(&self, now: Instant) -> Instant {
        match (self.interval, self.next) {
            (Some(_), Some(next)) => next,
            _ => now,
        }
    }

    /// Marks the frame due at `due` as delivered at `now` and schedules the next.
    pub fn delivered(&mut self, due: Instant, now: Instant) {
        if let Some(interval) = self.interval {
            self.next = Some(next_deadline(due, interval, now));
        }
    }
}

/// The interval between frames at `fps`, or None when unpaced.
pub fn frame_interval(fps: f64) -> Option<Duration> {
    // Below 0.001 fps (a frame every 16 minutes) is a mistake; treat as unpaced too.
    (fps.is_finite() && fps >= 0.001).then(|| Duration::from_secs_f64(1.0 / fps))
}

/// The deadline after `due`. Staying on the grid (`due + interval`, not `now + interval`)
/// keeps the average rate exact despite sleep jitter; but a consumer that fell more than a
/// whole interval behind restarts the grid from now rather than getting a burst of frames to
/// catch up, as a real camera would simply have dropped them.
pub fn next_deadline(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next + interval < now { now } else { next }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn intervals() {
        assert_eq!(frame_interval(10.0), Some(100 * MS));
        assert_eq!(frame_interval(0.5), Some(2000 * MS));
        assert_eq!(frame_interval(0.0), None);
        assert_eq!(frame_interval(-5.0), None);
        assert_eq!(frame_interval(f64::NAN), None);
        assert_eq!(frame_interval(f64::INFINITY), None);
    }

    #[test]
    fn deadlines_stay_on_the_grid_despite_jitter() {
        let t0 = Instant::now();
        // Delivered 7 ms late: the next is still due at t0 + 100 ms, not t0 + 107 ms.
        assert_eq!(next_deadline(t0, 100 * MS, t0 + 7 * MS), t0 + 100 * MS);
        // Late by most of an interval: still on the grid.
        assert_eq!(next_deadline(t0, 100 * MS, t0 + 190 * MS), t0 + 100 * MS);
    }

    #[test]
    fn a_stalled_consumer_restarts_the_grid_instead_of_bursting() {
        let t0 = Instant::now();
        let now = t0 + 1000 * MS;
        assert_eq!(next_deadline(t0, 100 * MS, now), now);
    }

    #[test]
    fn pacer_first_frame_at_once_then_every_interval() {
        let t0 = Instant::now();
        let mut p = Pacer::new(20.0);
        assert_eq!(p.due(t0), t0);
        p.delivered(t0, t0);
        assert_eq!(p.due(t0), t0 + 50 * MS);
        p.delivered(t0 + 50 * MS, t0 + 52 * MS);
        assert_eq!(p.due(t0 + 52 * MS), t0 + 100 * MS);
    }

    #[test]
    fn unpaced_is_always_due_now() {
        let t0 = Instant::now();
        let mut p = Pacer::new(0.0);
        p.delivered(t0, t0);
        assert_eq!(p.due(t0 + MS), t0 + MS);
        assert_eq!(p.interval(), None);
    }
}
