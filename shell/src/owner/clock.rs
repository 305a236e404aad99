//! Logical time: wall-clock milliseconds that never go back, also across
//! restarts (the machine would read an earlier `now_ms` as its own latest
//! time anyway, but the WAL must log the time the machine really used).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct Clock {
    last_ms: u64,
}

impl Clock {
    /// A clock that starts no earlier than `floor_ms` (the recovered time).
    pub fn new(floor_ms: u64) -> Self {
        Clock { last_ms: floor_ms }
    }

    pub fn now_ms(&mut self) -> u64 {
        self.last_ms = self.last_ms.max(wall_ms());
        self.last_ms
    }

    /// The instant at which logical time reaches `at_ms`.
    pub fn instant_at(&self, at_ms: u64) -> Instant {
        let wait_ms = at_ms.saturating_sub(self.last_ms.max(wall_ms()));
        Instant::now() + Duration::from_millis(wait_ms)
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
