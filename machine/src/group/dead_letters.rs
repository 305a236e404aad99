//! Dead letters: recording, redriving, forgetting.

use crate::log::MessageStore;
use crate::reply::Redriven;

use super::slot::Slot;
use super::*;

impl Group {
    /// Makes dead messages available again to this group, attempts reset.
    /// `indices: None` redrives every dead letter.
    pub fn redrive(&mut self, store: &MessageStore, indices: Option<Vec<u64>>) -> Redriven {
        let (targets, not_dead) = match indices {
            None => (self.dead_letters.keys().copied().collect(), Vec::new()),
            Some(indices) => indices
                .into_iter()
                .partition(|index| self.dead_letters.contains_key(index)),
        };
        let mut count = 0;
        for index in targets {
            // A repeated index was redriven by its first mention.
            let Some(record) = self.dead_letters.remove(&index) else {
                continue;
            };
            if index >= self.base_offset {
                let slot = self.slot_mut(index);
                debug_assert_eq!(slot.state, SlotState::Dead);
                slot.attempt = 0;
            } else {
                let mut slot = record.history.unwrap_or_else(Slot::available);
                slot.attempt = 0;
                self.redriven.insert(index, slot);
            }
            self.slot_mut(index).state = SlotState::Available;
            self.counts.available += 1;
            match self.key_of(store, index) {
                Some(key) => self.update_key(&key, |keys| keys.insert(&key, index)),
                None => {
                    self.ready.insert(index);
                }
            }
            self.totals.redriven += 1;
            count += 1;
        }
        Redriven { count, not_dead }
    }

    /// Forgets dead letters whose messages retention dropped: they can no
    /// longer be redriven.
    pub fn forget_below(&mut self, first_index: u64) {
        debug_assert!(self.retention_floor() >= first_index);
        self.dead_letters = self.dead_letters.split_off(&first_index);
    }
}
