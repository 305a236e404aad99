//! Coverage marks: interesting events a seed range must hit at least once,
//! or the run fails (a checker that never sees an event checks nothing).

/// An event class worth seeing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    LeaseExpired,
    StaleSettleRejected,
    LateSettleRejected,
    BrokerCrash,
    TornTailRecovered,
    UnsyncedTailLost,
    SnapshotRestored,
    Redrive,
    RedriveAfterDead,
    LongPollServed,
    LongPollTimeout,
    ExpiryDuringLongPoll,
    KeyOrderingWait,
    Backoff,
    CrashDuringBatch,
    DuplicateAppendRecognised,
    RetentionDropped,
    WindowFull,
    ClockJump,
    BadRequestRefused,
    Released,
    AcquireBudgetCut,
    /// An acquire that changed nothing, left out of the log.
    EmptyPollNotLogged,
    /// Timers leased messages to waiters, and a `Tick` logged their time.
    TimerLeasesLogged,
}

impl Mark {
    pub const ALL: [Mark; 24] = [
        Mark::LeaseExpired,
        Mark::StaleSettleRejected,
        Mark::LateSettleRejected,
        Mark::BrokerCrash,
        Mark::TornTailRecovered,
        Mark::UnsyncedTailLost,
        Mark::SnapshotRestored,
        Mark::Redrive,
        Mark::RedriveAfterDead,
        Mark::LongPollServed,
        Mark::LongPollTimeout,
        Mark::ExpiryDuringLongPoll,
        Mark::KeyOrderingWait,
        Mark::Backoff,
        Mark::CrashDuringBatch,
        Mark::DuplicateAppendRecognised,
        Mark::RetentionDropped,
        Mark::WindowFull,
        Mark::ClockJump,
        Mark::BadRequestRefused,
        Mark::Released,
        Mark::AcquireBudgetCut,
        Mark::EmptyPollNotLogged,
        Mark::TimerLeasesLogged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mark::LeaseExpired => "lease_expired",
            Mark::StaleSettleRejected => "stale_settle_rejected",
            Mark::LateSettleRejected => "late_settle_rejected",
            Mark::BrokerCrash => "broker_crash",
            Mark::TornTailRecovered => "torn_tail_recovered",
            Mark::UnsyncedTailLost => "unsynced_tail_lost",
            Mark::SnapshotRestored => "snapshot_restored",
            Mark::Redrive => "redrive",
            Mark::RedriveAfterDead => "redrive_after_dead_settled_again",
            Mark::LongPollServed => "long_poll_served",
            Mark::LongPollTimeout => "long_poll_timeout",
            Mark::ExpiryDuringLongPoll => "expiry_during_long_poll",
            Mark::KeyOrderingWait => "key_ordering_wait",
            Mark::Backoff => "backoff",
            Mark::CrashDuringBatch => "crash_during_batch",
            Mark::DuplicateAppendRecognised => "duplicate_append_recognised",
            Mark::RetentionDropped => "retention_dropped",
            Mark::WindowFull => "window_full",
            Mark::ClockJump => "clock_jump",
            Mark::BadRequestRefused => "bad_request_refused",
            Mark::Released => "release_on_leave",
            Mark::AcquireBudgetCut => "acquire_budget_cut",
            Mark::EmptyPollNotLogged => "empty_poll_not_logged",
            Mark::TimerLeasesLogged => "timer_leases_logged",
        }
    }
}

/// How often each mark was hit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    counts: [u64; Mark::ALL.len()],
}

impl Coverage {
    pub fn hit(&mut self, mark: Mark) {
        self.hit_times(mark, 1);
    }

    pub fn hit_times(&mut self, mark: Mark, times: u64) {
        self.counts[mark as usize] += times;
    }

    pub fn count(&self, mark: Mark) -> u64 {
        self.counts[mark as usize]
    }

    pub fn add(&mut self, other: &Coverage) {
        for (total, count) in self.counts.iter_mut().zip(other.counts) {
            *total += count;
        }
    }

    pub fn missing(&self) -> Vec<Mark> {
        Mark::ALL
            .into_iter()
            .filter(|&mark| self.count(mark) == 0)
            .collect()
    }
}
