//! Acquire: leasing available messages, lowest index first.

use crate::bugs::{planted, Bug};
use crate::deadline::Timer;
use crate::log::MessageStore;
use crate::message::Message;
use crate::name::ConsumerName;
use crate::reply::Lease;

use super::slot::Slot;
use super::*;

impl Group {
    /// Leases up to `max` messages, lowest index first. It stops before the
    /// message that would take the bytes granted past
    /// `cx.acquire_bytes_max`, but the first message goes out whatever its
    /// size, so a large message never blocks its group.
    pub fn acquire(
        &mut self,
        store: &MessageStore,
        consumer: &ConsumerName,
        max: u32,
        lease_ms: u64,
        cx: &mut Context,
    ) -> Vec<Lease> {
        let mut leases = Vec::with_capacity((max as usize).min(128));
        let mut bytes = 0u64;
        while leases.len() < max as usize {
            let Some(index) = self.next_leasable(store) else {
                break;
            };
            let size_bytes = store.get(index).size_bytes();
            bytes = bytes.saturating_add(size_bytes);
            let over_budget = if planted(Bug::AcquireBudgetOffByOne) {
                bytes >= cx.acquire_bytes_max
            } else {
                bytes > cx.acquire_bytes_max
            };
            if !leases.is_empty() && over_budget {
                break;
            }
            self.take_leasable(store, index);
            leases.push(self.lease(store, index, consumer, lease_ms, cx));
        }
        leases
    }

    /// The lowest index that may be leased now, left in place so that an
    /// acquire over its byte budget can stop without a trace. Keyed
    /// messages waiting behind their key join the window on the way.
    fn next_leasable(&mut self, store: &MessageStore) -> Option<u64> {
        loop {
            if let Some(&index) = self.ready.first() {
                return Some(index);
            }
            if self.frontier >= store.next_index() || self.window_full() {
                return None;
            }
            match self.key_of(store, self.frontier) {
                // A key with unsettled messages holds this later one back.
                Some(key) if self.keys.contains(&key) => self.extend_window(store),
                _ => return Some(self.frontier),
            }
        }
    }

    /// Takes `index`, just returned by [`Self::next_leasable`], out of the
    /// leasable messages: from `ready`, or from the frontier.
    fn take_leasable(&mut self, store: &MessageStore, index: u64) {
        if self.ready.remove(&index) {
            return;
        }
        debug_assert_eq!(index, self.frontier, "leasable is ready or the frontier");
        self.extend_window(store);
        // A keyed message became its key's head, so it went into `ready`.
        self.ready.remove(&index);
    }

    /// Moves the frontier past one message, which joins the window as
    /// available.
    fn extend_window(&mut self, store: &MessageStore) {
        let index = self.frontier;
        self.frontier += 1;
        self.window.push_back(Slot::available());
        self.counts.available += 1;
        if let Some(key) = self.key_of(store, index) {
            // The update puts it in `ready` if it is its key's head.
            self.update_key(&key, |keys| keys.insert(&key, index));
        }
    }

    fn lease(
        &mut self,
        store: &MessageStore,
        index: u64,
        consumer: &ConsumerName,
        lease_ms: u64,
        cx: &mut Context,
    ) -> Lease {
        let token = LeaseToken(*cx.next_token);
        *cx.next_token += 1;
        let expires_at_ms = cx.now_ms.saturating_add(lease_ms);
        let slot = self.slot_mut(index);
        let attempt = slot.attempt + 1;
        slot.begin_attempt(AttemptRecord {
            attempt,
            token,
            consumer: consumer.clone(),
            leased_at_ms: cx.now_ms,
            expires_at_ms,
            ended_at_ms: None,
            outcome: None,
            reason: None,
        });
        self.counts.available -= 1;
        self.counts.leased += 1;
        if let Some(key) = self.key_of(store, index) {
            self.update_key(&key, |keys| keys.set_busy(&key, index));
        }
        arm_expiry(cx, index, token, expires_at_ms);
        Lease {
            index,
            token,
            attempt,
            expires_at_ms,
            message: Message::new(index, store.get(index).clone()),
        }
    }
}

/// Arms the timer that ends lease `token` on `index` at `expires_at_ms`.
pub(super) fn arm_expiry(cx: &mut Context, index: u64, token: LeaseToken, expires_at_ms: u64) {
    let timer = Timer::LeaseExpiry {
        group: cx.at,
        index,
        token: token.0,
    };
    cx.deadlines.arm(expires_at_ms, timer);
}
