//! Rebuilding derived state after a restore, and checking invariants.

use std::collections::{BTreeMap, BTreeSet};

use crate::deadline::{Deadlines, Timer};
use crate::log::MessageStore;

use super::keys::KeyQueues;
use super::*;

impl Group {
    /// Rebuilds the derived indexes from the slots after a restore, and
    /// re-arms the group's timers.
    pub fn rebuild_derived(
        &mut self,
        store: &MessageStore,
        at: GroupRef,
        deadlines: &mut Deadlines,
    ) {
        self.ready.clear();
        self.keys = KeyQueues::default();
        self.counts = Counts::default();
        let unsettled: Vec<u64> = self.unsettled_slots().map(|(index, _)| index).collect();
        for index in unsettled {
            let slot = self.slot(index).expect("listed above");
            let state = slot.state;
            let last = slot
                .last
                .as_ref()
                .map(|last| (last.token.0, last.expires_at_ms));
            let key = self.key_of(store, index);
            if let Some(key) = &key {
                self.keys.insert(key, index);
            }
            match state {
                SlotState::Available => self.counts.available += 1,
                SlotState::Leased => {
                    let (token, expires_at_ms) = last.expect("a leased slot has a lease");
                    self.counts.leased += 1;
                    deadlines.arm(
                        expires_at_ms,
                        Timer::LeaseExpiry {
                            group: at,
                            index,
                            token,
                        },
                    );
                }
                SlotState::Backoff { until_ms } => {
                    let (token, _) = last.expect("a slot in backoff had a lease");
                    self.counts.backoff += 1;
                    deadlines.arm(
                        until_ms,
                        Timer::BackoffEnd {
                            group: at,
                            index,
                            token,
                        },
                    );
                }
                SlotState::Processed | SlotState::Dead => unreachable!("filtered out"),
            }
            if let Some(key) = &key {
                if matches!(state, SlotState::Leased | SlotState::Backoff { .. }) {
                    self.keys.set_busy(key, index);
                }
            }
        }
        let eligible: Vec<u64> = self
            .unsettled_slots()
            .filter(|(index, slot)| {
                slot.state == SlotState::Available
                    && match self.key_of(store, *index) {
                        Some(key) => self.keys.head(&key) == Some(*index),
                        None => true,
                    }
            })
            .map(|(index, _)| index)
            .collect();
        self.ready.extend(eligible);
    }

    /// How many timers this group has armed: leases and backoffs.
    pub fn live_timers(&self) -> usize {
        (self.counts.leased + self.counts.backoff) as usize
    }

    /// Panics if a structural invariant is broken. Called after every
    /// command in debug builds, and by tests.
    pub fn check_invariants(&self, store: &MessageStore, next_token: u64) {
        let name = &self.name;
        assert!(
            self.start_index <= self.base_offset,
            "{name}: base_offset below start"
        );
        assert!(
            self.base_offset <= self.frontier,
            "{name}: frontier below base_offset"
        );
        assert!(
            self.frontier <= store.next_index(),
            "{name}: frontier past the log"
        );
        assert!(
            self.retention_floor() >= store.first_index(),
            "{name}: retention dropped a needed message"
        );
        assert_eq!(
            self.window.len() as u64,
            self.frontier - self.base_offset,
            "{name}: window length"
        );
        assert!(
            self.window
                .front()
                .is_none_or(|slot| !slot.state.is_terminal()),
            "{name}: base_offset {} held at a settled message",
            self.base_offset
        );
        for (&index, slot) in &self.redriven {
            assert!(
                index < self.base_offset,
                "{name}: redriven {index} inside the window"
            );
            assert!(
                !slot.state.is_terminal(),
                "{name}: redriven {index} settled but kept"
            );
        }
        let mut counts = Counts::default();
        let mut ready = BTreeSet::new();
        let mut busy_keys = BTreeMap::new();
        for (index, slot) in self.unsettled_slots() {
            match slot.state {
                SlotState::Available => counts.available += 1,
                SlotState::Leased => counts.leased += 1,
                SlotState::Backoff { .. } => counts.backoff += 1,
                SlotState::Processed | SlotState::Dead => unreachable!(),
            }
            let key = self.key_of(store, index);
            if slot.state == SlotState::Available
                && key
                    .as_ref()
                    .is_none_or(|key| self.keys.head(key) == Some(index))
            {
                ready.insert(index);
            }
            if let (Some(key), SlotState::Leased | SlotState::Backoff { .. }) = (&key, slot.state) {
                let previous = busy_keys.insert(key.clone(), index);
                assert!(
                    previous.is_none(),
                    "{name}: two messages of key {key:?} in flight"
                );
                assert_eq!(
                    self.keys.busy(key),
                    Some(index),
                    "{name}: key {key:?} busy marker"
                );
            }
            if let Some(lease) = slot.lease() {
                assert_eq!(
                    lease.attempt, slot.attempt,
                    "{name}: lease attempt of {index}"
                );
                assert!(lease.token.0 < next_token, "{name}: token from the future");
            }
        }
        assert_eq!(counts, self.counts, "{name}: state counts");
        assert_eq!(ready, self.ready, "{name}: ready set");
        if self.config.ordering == Ordering::Key {
            let keyed = self
                .unsettled_slots()
                .filter(|(index, _)| self.key_of(store, *index).is_some())
                .count();
            assert_eq!(keyed, self.keys.pending_len(), "{name}: key queues");
        }
        for &index in self.dead_letters.keys() {
            assert!(
                index >= store.first_index(),
                "{name}: dead letter {index} below retention"
            );
            if let Some(slot) = self.slot(index) {
                assert_eq!(
                    slot.state,
                    SlotState::Dead,
                    "{name}: dead letter {index} not dead"
                );
            }
        }
    }
}
