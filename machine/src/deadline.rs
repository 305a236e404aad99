//! The machine's timers: lease expiries, backoff ends and long-poll deadlines.
//!
//! Timers are grouped in buckets by due time. A bucket counts its live
//! timers; cancelling one only decrements the count (the entry stays, and is
//! recognised as stale when the bucket fires), and a bucket whose count drops
//! to zero is removed at once. Cancel is thus O(log buckets) with no search,
//! and memory stays proportional to live timers times the acquire batch size.

use std::collections::BTreeMap;

use crate::group::GroupRef;
use crate::WaiterId;

/// One thing due at a time. The derived order is the order in which timers
/// due at the same millisecond fire: it depends only on the timers, never on
/// when they were armed, so a machine restored from a snapshot (which re-arms
/// only live timers) fires exactly as the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The lease `token` on `index` runs out.
    LeaseExpiry {
        group: GroupRef,
        index: u64,
        token: u64,
    },
    /// The backoff after the attempt with lease `token` on `index` ends.
    BackoffEnd {
        group: GroupRef,
        index: u64,
        token: u64,
    },
    /// A long-poll waiter's wait ends.
    WaiterDeadline { waiter: WaiterId },
}

/// Entries a bucket may carry beyond twice its live timers before its
/// duplicates are folded. Folding sorts, so it is kept rare.
const STALE_SLACK: usize = 64;

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Sorted in reverse firing order while `sorted`, so the next is last.
    timers: Vec<Timer>,
    sorted: bool,
    live: usize,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Deadlines {
    buckets: BTreeMap<u64, Bucket>,
}

impl Deadlines {
    pub fn arm(&mut self, at_ms: u64, timer: Timer) {
        let bucket = self.buckets.entry(at_ms).or_default();
        bucket.timers.push(timer);
        bucket.sorted = false;
        bucket.live += 1;
        // Re-arming the same timer (a lease extended to the expiry it
        // already has, over and over) leaves identical entries; in a bucket
        // another live timer keeps alive they would pile up unboundedly.
        if bucket.timers.len() > 2 * bucket.live + STALE_SLACK {
            bucket.timers.sort_unstable_by(|a, b| b.cmp(a));
            bucket.timers.dedup();
            bucket.sorted = true;
        }
    }

    /// Forgets one live timer armed for `at_ms`; its entry stays and is
    /// skipped as stale when popped.
    pub fn cancel(&mut self, at_ms: u64) {
        let bucket = self
            .buckets
            .get_mut(&at_ms)
            .expect("a cancelled timer was armed and has neither fired nor been cancelled");
        bucket.live -= 1;
        if bucket.live == 0 {
            self.buckets.remove(&at_ms);
        }
    }

    /// Marks a popped timer as fired: the caller found it live and acted on it.
    pub fn fired(&mut self, at_ms: u64) {
        self.cancel(at_ms);
    }

    pub fn next_due_ms(&self) -> Option<u64> {
        self.buckets.keys().next().copied()
    }

    /// The next timer due by `now_ms`, in firing order, live or stale. The
    /// caller checks whether it is live and, if so, calls [`Self::fired`].
    pub fn pop_due(&mut self, now_ms: u64) -> Option<(u64, Timer)> {
        let mut entry = self.buckets.first_entry()?;
        let at_ms = *entry.key();
        if at_ms > now_ms {
            return None;
        }
        let bucket = entry.get_mut();
        if !bucket.sorted {
            bucket.timers.sort_unstable_by(|a, b| b.cmp(a));
            bucket.timers.dedup();
            bucket.sorted = true;
        }
        let timer = bucket
            .timers
            .pop()
            .expect("a bucket with live timers holds entries");
        Some((at_ms, timer))
    }

    /// How many timers are live: for invariant checks.
    pub fn live(&self) -> usize {
        self.buckets.values().map(|bucket| bucket.live).sum()
    }
}
