//! Logical time: milliseconds that never go back, also across restarts.
//!
//! It starts at the later of the wall clock and the recovered machine's
//! time, then advances with the monotonic clock, so a wall-clock step
//! (NTP, an operator) neither stalls timers nor fires them early. The WAL
//! logs the times this clock gave, so replay sees exactly what ran.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct Clock {
    start_ms: u64,
    started: Instant,
}

impl Clock {
    /// A clock that starts no earlier than `floor_ms` (the recovered time).
    pub fn new(floor_ms: u64) -> Self {
        Clock {
            start_ms: floor_ms.max(wall_ms()),
            started: Instant::now(),
        }
    }

    pub fn now_ms(&mut self) -> u64 {
        self.start_ms + self.started.elapsed().as_millis() as u64
    }

    /// The instant at which logical time reaches `at_ms`.
    pub fn instant_at(&self, at_ms: u64) -> Instant {
        self.started + Duration::from_millis(at_ms.saturating_sub(self.start_ms))
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_starts_at_the_floor_and_never_goes_back() {
        let far_future_ms = wall_ms() + 3_600_000;
        let mut clock = Clock::new(far_future_ms);
        let first = clock.now_ms();
        assert!(first >= far_future_ms);
        assert!(clock.now_ms() >= first);
        assert!(clock.instant_at(first + 5) >= clock.instant_at(first));
    }
}
