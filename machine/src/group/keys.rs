//! Per-key queues of a key-ordered group.
//!
//! For each key, the unsettled messages that carry it, in index order, and
//! the one that is busy (leased or in backoff), if any. A key's messages go
//! out one at a time: only the lowest, and only while none is busy. The
//! queues are derived state: rebuilt from the slots after a restore.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
struct KeyQueue {
    /// Unsettled indices with this key, ascending.
    pending: VecDeque<u64>,
    /// The pending index that is leased or in backoff.
    busy: Option<u64>,
}

/// Only looked up by key, never iterated, so the hash map cannot leak its
/// order into the machine's output.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyQueues {
    queues: HashMap<Arc<str>, KeyQueue>,
}

impl KeyQueues {
    /// Adds an unsettled index: at the back for new messages, in place for
    /// redriven ones.
    pub fn insert(&mut self, key: &Arc<str>, index: u64) {
        let queue = self.queues.entry(key.clone()).or_default();
        match queue.pending.back() {
            Some(&last) if last > index => {
                let at = queue.pending.partition_point(|&i| i < index);
                queue.pending.insert(at, index);
            }
            _ => queue.pending.push_back(index),
        }
    }

    /// Removes an index that reached a terminal state.
    pub fn remove(&mut self, key: &Arc<str>, index: u64) {
        let queue = self
            .queues
            .get_mut(key)
            .expect("a settled keyed message is queued");
        if queue.busy == Some(index) {
            queue.busy = None;
        }
        let at = queue
            .pending
            .iter()
            .position(|&i| i == index)
            .expect("a settled keyed message is pending");
        queue.pending.remove(at);
        if queue.pending.is_empty() {
            self.queues.remove(key);
        }
    }

    pub fn set_busy(&mut self, key: &Arc<str>, index: u64) {
        let queue = self
            .queues
            .get_mut(key)
            .expect("a leased keyed message is queued");
        debug_assert!(queue.busy.is_none(), "key {key:?} already busy");
        queue.busy = Some(index);
    }

    pub fn clear_busy(&mut self, key: &Arc<str>, index: u64) {
        let queue = self.queues.get_mut(key).expect("a keyed message is queued");
        debug_assert_eq!(queue.busy, Some(index));
        queue.busy = None;
    }

    /// The index of this key that may be leased next: the lowest pending
    /// one, if no message of the key is busy. (Whether it is available is
    /// the caller's to check.)
    pub fn head(&self, key: &Arc<str>) -> Option<u64> {
        let queue = self.queues.get(key)?;
        match queue.busy {
            Some(_) => None,
            None => queue.pending.front().copied(),
        }
    }

    /// Whether the key has unsettled messages (so a new one waits behind them).
    pub fn contains(&self, key: &Arc<str>) -> bool {
        self.queues.contains_key(key)
    }

    pub fn busy(&self, key: &Arc<str>) -> Option<u64> {
        self.queues.get(key).and_then(|queue| queue.busy)
    }

    pub fn pending_len(&self) -> usize {
        self.queues.values().map(|queue| queue.pending.len()).sum()
    }
}
