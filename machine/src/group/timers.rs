//! Timers of a group: lease expiries and backoff ends.

use crate::log::MessageStore;
use crate::reply::SettleStatus;

use super::*;

impl Group {
    /// Ends the lease `token` on `index` as a failed attempt if it is still
    /// held and due at `at_ms` (it may have been settled or extended since
    /// the timer was armed). Returns the expired attempt and what became of
    /// the message.
    pub fn expire(
        &mut self,
        store: &MessageStore,
        index: u64,
        token: u64,
        at_ms: u64,
        cx: &mut Context,
    ) -> Option<(AttemptRecord, SettleStatus)> {
        let lease = self.slot(index)?.lease()?;
        if lease.token.0 != token || lease.expires_at_ms != at_ms {
            return None;
        }
        let lease = lease.clone();
        let status = self.fail_attempt(
            store,
            index,
            AttemptOutcome::Expired,
            Delay::Backoff,
            None,
            cx,
        );
        Some((lease, status))
    }

    /// Makes `index` available again if it still waits out the backoff after
    /// the attempt with lease `token`, due at `at_ms`.
    pub fn end_backoff(
        &mut self,
        store: &MessageStore,
        index: u64,
        token: u64,
        at_ms: u64,
    ) -> bool {
        let live = self.slot(index).is_some_and(|slot| {
            slot.state == SlotState::Backoff { until_ms: at_ms }
                && slot.last.as_ref().is_some_and(|last| last.token.0 == token)
        });
        if live {
            self.counts.backoff -= 1;
            self.make_available(store, index);
        }
        live
    }
}
