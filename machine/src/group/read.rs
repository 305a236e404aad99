//! Read-only views of a group.

use crate::bugs::{planted, Bug};
use crate::log::MessageStore;
use crate::reply::{DeadLetter, GroupSummary, LeaseView};

use super::slot::Slot;
use super::*;

impl Group {
    pub fn summary(&self, store: &MessageStore) -> GroupSummary {
        let next_index = store.next_index();
        GroupSummary {
            group: self.name.clone(),
            config: self.config.clone(),
            base_offset: if planted(Bug::RedriveMovesBaseBackwards) {
                self.retention_floor()
            } else {
                self.base_offset
            },
            next_index,
            lag: next_index - self.base_offset,
            available: self.counts.available + (next_index - self.frontier),
            leased: self.counts.leased,
            backoff: self.counts.backoff,
            dead: self.dead_letters.len() as u64,
            processed: self.totals.processed,
            unsettled_window_used: self.frontier - self.base_offset,
            window_full: self.window_full(),
            redriven_pending: self.redriven.len() as u64,
            waiters: self.waiting.len() as u64,
            totals: self.totals.clone(),
        }
    }

    /// Dead letters with an index above `after`, ascending, at most `limit`.
    pub fn dead_letters(&self, after: Option<u64>, limit: usize) -> Vec<DeadLetter> {
        let from = after.map_or(0, |index| index.saturating_add(1));
        self.dead_letters
            .range(from..)
            .take(limit)
            .map(|(&index, record)| DeadLetter {
                index,
                attempts: record.attempts,
                reason: record.reason.clone(),
                dead_at_ms: record.dead_at_ms,
            })
            .collect()
    }

    /// Every attempt this group recorded for `index`, oldest first.
    pub fn attempts(&self, index: u64) -> Vec<crate::AttemptRecord> {
        self.slot(index)
            .or_else(|| self.dead_letters.get(&index)?.history.as_ref())
            .map(Slot::history)
            .unwrap_or_default()
    }

    /// Leases held now with an index above `after`, ascending, at most `limit`.
    pub fn leases(&self, after: Option<u64>, limit: usize) -> Vec<LeaseView> {
        self.unsettled_slots()
            .filter(|(index, _)| after.is_none_or(|after| *index > after))
            .filter_map(|(index, slot)| {
                let lease = slot.lease()?;
                Some(LeaseView {
                    index,
                    consumer: lease.consumer.clone(),
                    attempt: lease.attempt,
                    leased_at_ms: lease.leased_at_ms,
                    expires_at_ms: lease.expires_at_ms,
                })
            })
            .take(limit)
            .collect()
    }
}
