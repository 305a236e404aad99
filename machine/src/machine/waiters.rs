//! Long-poll waiters: parked acquires, served first come first served.

use crate::bugs::{planted, Bug};
use crate::command::WaiterId;
use crate::deadline::Timer;
use crate::event::Event;
use crate::group::GroupRef;
use crate::name::ConsumerName;

use super::{Machine, Waiter};

impl Machine {
    /// Parks an acquire that found nothing; the caller checked capacity and
    /// that the id is free.
    pub(super) fn park(
        &mut self,
        waiter: WaiterId,
        group: GroupRef,
        consumer: ConsumerName,
        max: u32,
        lease_ms: u64,
        wait_ms: u64,
    ) {
        let deadline_ms = self.now_ms.saturating_add(wait_ms);
        self.deadlines
            .arm(deadline_ms, Timer::WaiterDeadline { waiter });
        self.logs[group.log as usize].groups[group.group as usize]
            .waiting
            .push_back(waiter);
        let parked = Waiter {
            group,
            consumer,
            max,
            lease_ms,
            deadline_ms,
        };
        self.waiters.insert(waiter, parked);
    }

    /// Drops a parked waiter; returns whether it was parked.
    pub(super) fn cancel_waiter(&mut self, waiter: WaiterId) -> bool {
        let Some(parked) = self.waiters.remove(&waiter) else {
            return false;
        };
        self.deadlines.cancel(parked.deadline_ms);
        let waiting =
            &mut self.logs[parked.group.log as usize].groups[parked.group.group as usize].waiting;
        let position = waiting
            .iter()
            .position(|&id| id == waiter)
            .expect("a parked waiter is queued on its group");
        waiting.remove(position);
        true
    }

    /// Hands available messages to the group's waiters, oldest first, until
    /// either runs out. Called after anything that may make a message
    /// available: an append, a settle, an expiry, a backoff end, a release,
    /// a redrive.
    pub(super) fn serve_waiters(&mut self, at: GroupRef) {
        loop {
            let parts = self.group_parts(at);
            let Some(&waiter) = (if planted(Bug::WaiterServedOutOfOrder) {
                parts.group.waiting.back()
            } else {
                parts.group.waiting.front()
            }) else {
                return;
            };
            if !parts.group.has_leasable(parts.store) {
                return;
            }
            let parked = &self.waiters[&waiter];
            let (consumer, max, lease_ms) = (parked.consumer.clone(), parked.max, parked.lease_ms);
            let mut parts = self.group_parts(at);
            let leases = parts
                .group
                .acquire(parts.store, &consumer, max, lease_ms, &mut parts.cx);
            if leases.is_empty() {
                // Only key-blocked messages were left to look at.
                return;
            }
            if planted(Bug::WaiterServedOutOfOrder) {
                parts.group.waiting.pop_back();
            } else {
                parts.group.waiting.pop_front();
            }
            let parked = self
                .waiters
                .remove(&waiter)
                .expect("a queued waiter is parked");
            self.deadlines.cancel(parked.deadline_ms);
            self.events
                .push_back(Event::WaiterServed { waiter, leases });
        }
    }
}
