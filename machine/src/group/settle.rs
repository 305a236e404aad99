//! Settle, extend and release: how a lease ends, and what then becomes
//! of its message.

use crate::deadline::Timer;
use crate::log::MessageStore;
use crate::name::ConsumerName;
use crate::reply::{
    ExtendResult, ExtendStatus, SettleOutcome, SettleResult, SettleStatus, Settlement,
};

use super::slot::Slot;
use super::*;
use crate::bugs::{planted, Bug};

impl Group {
    /// Finds the slot of `index` for a token check, or why there is none.
    fn locate(&self, store: &MessageStore, index: u64) -> Result<&Slot, Refusal> {
        if index >= store.next_index() {
            return Err(Refusal::UnknownIndex);
        }
        if index < self.start_index || index >= self.frontier {
            return Err(Refusal::NotLeased);
        }
        self.slot(index).ok_or(Refusal::AlreadySettled)
    }

    /// The lease `token` holds on `index` now, or why it holds none.
    fn current_lease(
        &self,
        store: &MessageStore,
        index: u64,
        token: LeaseToken,
    ) -> Result<&AttemptRecord, Refusal> {
        self.locate(store, index)?.check_token(token)
    }

    pub fn settle(
        &mut self,
        store: &MessageStore,
        settlements: Vec<Settlement>,
        cx: &mut Context,
    ) -> Vec<SettleResult> {
        settlements
            .into_iter()
            .map(|settlement| SettleResult {
                index: settlement.index,
                status: self.settle_one(store, settlement, cx),
            })
            .collect()
    }

    fn settle_one(
        &mut self,
        store: &MessageStore,
        settlement: Settlement,
        cx: &mut Context,
    ) -> SettleStatus {
        let index = settlement.index;
        let expires_at_ms = match self.current_lease(store, index, settlement.token) {
            Ok(lease) => lease.expires_at_ms,
            Err(refusal) => return SettleStatus::Refused(refusal),
        };
        cx.deadlines.cancel(expires_at_ms);
        match settlement.outcome {
            SettleOutcome::Processed => {
                self.slot_mut(index)
                    .end_attempt(AttemptOutcome::Processed, cx.now_ms, None);
                self.counts.leased -= 1;
                self.settle_terminal(store, index, SlotState::Processed, None, cx);
                SettleStatus::Processed
            }
            SettleOutcome::Dead { reason } => {
                self.slot_mut(index)
                    .end_attempt(AttemptOutcome::Dead, cx.now_ms, reason.clone());
                self.counts.leased -= 1;
                self.settle_terminal(store, index, SlotState::Dead, reason, cx);
                SettleStatus::Dead
            }
            SettleOutcome::Retry { delay_ms, reason } => {
                let delay = delay_ms.map_or(Delay::Backoff, Delay::Explicit);
                self.fail_attempt(store, index, AttemptOutcome::Retried, delay, reason, cx)
            }
        }
    }

    /// Ends the current lease of `index` as a failed attempt: the message
    /// waits out `delay` and is offered again, or is dead if this was its
    /// last attempt. Retry, lease expiry and release all take this path.
    pub(super) fn fail_attempt(
        &mut self,
        store: &MessageStore,
        index: u64,
        outcome: AttemptOutcome,
        delay: Delay,
        reason: Option<String>,
        cx: &mut Context,
    ) -> SettleStatus {
        let max_attempts = self.config.max_attempts;
        let slot = self.slot_mut(index);
        slot.end_attempt(outcome, cx.now_ms, reason.clone());
        slot.attempt -=
            (planted(Bug::ExpiryNotCounted) && outcome == AttemptOutcome::Expired) as u32;
        let attempt = slot.attempt;
        let token = slot
            .last
            .as_ref()
            .expect("a failed attempt was recorded")
            .token;
        self.counts.leased -= 1;
        match outcome {
            AttemptOutcome::Expired => self.totals.expired += 1,
            AttemptOutcome::Released => self.totals.released += 1,
            _ => self.totals.retried += 1,
        }
        if attempt >= max_attempts + planted(Bug::ExtraAttempt) as u32 {
            let reason = reason.or_else(|| {
                Some(format!("{outcome:?} on attempt {attempt} of {max_attempts}").to_lowercase())
            });
            self.settle_terminal(store, index, SlotState::Dead, reason, cx);
            return SettleStatus::Dead;
        }
        let delay_ms = match delay {
            Delay::Backoff => self.config.backoff.delay_ms(attempt),
            Delay::Explicit(delay_ms) => delay_ms,
            Delay::Immediate => 0,
        };
        if delay_ms == 0 {
            self.make_available(store, index);
            return SettleStatus::RetryAt { at_ms: cx.now_ms };
        }
        let until_ms = cx.now_ms.saturating_add(delay_ms);
        self.slot_mut(index).state = SlotState::Backoff { until_ms };
        if let Some(key) = self
            .key_of(store, index)
            .filter(|_| planted(Bug::KeyOrderBrokenOnRetry))
        {
            self.update_key(&key, |keys| keys.remove(&key, index));
        }
        self.counts.backoff += 1;
        cx.deadlines.arm(
            until_ms,
            Timer::BackoffEnd {
                group: cx.at,
                index,
                token: token.0,
            },
        );
        SettleStatus::RetryAt { at_ms: until_ms }
    }

    /// Offers `index` again; its slot was leased or in backoff, the key (if
    /// any) still marks it busy.
    pub(super) fn make_available(&mut self, store: &MessageStore, index: u64) {
        self.slot_mut(index).state = SlotState::Available;
        self.counts.available += 1;
        match self.key_of(store, index) {
            Some(key)
                if planted(Bug::KeyOrderBrokenOnRetry) && self.keys.busy(&key) != Some(index) =>
            {
                self.update_key(&key, |keys| keys.insert(&key, index))
            }
            Some(key) => self.update_key(&key, |keys| keys.clear_busy(&key, index)),
            None => {
                self.ready.insert(index);
            }
        }
    }

    /// Makes a just-ended lease's message processed or dead, and moves
    /// `base_offset` past it if it was the lowest unsettled message.
    fn settle_terminal(
        &mut self,
        store: &MessageStore,
        index: u64,
        state: SlotState,
        reason: Option<String>,
        cx: &mut Context,
    ) {
        debug_assert!(state.is_terminal());
        let slot = self.slot_mut(index);
        slot.state = state;
        let attempts = slot.attempt;
        if let Some(key) = self.key_of(store, index) {
            self.update_key(&key, |keys| keys.remove(&key, index));
        }
        if state == SlotState::Dead {
            self.totals.dead += 1;
            self.record_dead_letter(index, attempts, reason, cx);
        } else {
            self.totals.processed += 1;
        }
        if index < self.base_offset {
            let slot = self
                .redriven
                .remove(&index)
                .expect("a settled slot below base is redriven");
            self.keep_dead_history(index, slot);
        } else {
            self.advance_base();
        }
    }

    fn record_dead_letter(
        &mut self,
        index: u64,
        attempts: u32,
        reason: Option<String>,
        cx: &Context,
    ) {
        self.dead_letters.insert(
            index,
            DeadRecord {
                attempts,
                reason,
                dead_at_ms: cx.now_ms,
                history: None,
            },
        );
        if self.dead_letters.len() > cx.dead_letters_max {
            self.dead_letters.pop_first();
            self.totals.dead_letters_evicted += 1;
        }
    }

    /// Moves a dead slot that leaves the window into its dead letter, so a
    /// redrive restores its history (and its tokens stay recognisable).
    fn keep_dead_history(&mut self, index: u64, slot: Slot) {
        if slot.state == SlotState::Dead {
            if let Some(record) = self.dead_letters.get_mut(&index) {
                record.history = Some(slot);
            }
        }
    }

    fn advance_base(&mut self) {
        while self.window.front().is_some_and(|slot| {
            slot.state.is_terminal()
                || (planted(Bug::BaseOffsetPastBackoff)
                    && matches!(slot.state, SlotState::Backoff { .. }))
        }) {
            let slot = self.window.pop_front().expect("front checked above");
            self.keep_dead_history(self.base_offset, slot);
            self.base_offset += 1;
        }
    }

    pub fn extend(
        &mut self,
        store: &MessageStore,
        leases: Vec<(u64, LeaseToken)>,
        lease_ms: u64,
        cx: &mut Context,
    ) -> Vec<ExtendResult> {
        leases
            .into_iter()
            .map(|(index, token)| ExtendResult {
                index,
                status: self.extend_one(store, index, token, lease_ms, cx),
            })
            .collect()
    }

    fn extend_one(
        &mut self,
        store: &MessageStore,
        index: u64,
        token: LeaseToken,
        lease_ms: u64,
        cx: &mut Context,
    ) -> ExtendStatus {
        let old_expiry_ms = match self.current_lease(store, index, token) {
            Ok(lease) => lease.expires_at_ms,
            Err(refusal) => return ExtendStatus::Refused(refusal),
        };
        let expires_at_ms = cx.now_ms.saturating_add(lease_ms);
        if expires_at_ms == old_expiry_ms {
            return ExtendStatus::Extended { expires_at_ms };
        }
        cx.deadlines.cancel(old_expiry_ms);
        super::acquire::arm_expiry(cx, index, token, expires_at_ms);
        let record = self
            .slot_mut(index)
            .last
            .as_mut()
            .expect("a held lease is recorded");
        record.expires_at_ms = expires_at_ms;
        ExtendStatus::Extended { expires_at_ms }
    }

    /// Returns every lease `consumer` holds, at once and as a failed attempt.
    pub fn release(
        &mut self,
        store: &MessageStore,
        consumer: &ConsumerName,
        cx: &mut Context,
    ) -> u64 {
        let held: Vec<(u64, u64)> = self
            .unsettled_slots()
            .filter_map(|(index, slot)| {
                let lease = slot.lease()?;
                (lease.consumer == *consumer).then_some((index, lease.expires_at_ms))
            })
            .collect();
        for &(index, expires_at_ms) in &held {
            cx.deadlines.cancel(expires_at_ms);
            self.fail_attempt(
                store,
                index,
                AttemptOutcome::Released,
                Delay::Immediate,
                None,
                cx,
            );
        }
        held.len() as u64
    }

    /// Every unsettled slot (redriven ones, then the window), by index.
    pub(super) fn unsettled_slots(&self) -> impl Iterator<Item = (u64, &Slot)> {
        let window = (self.base_offset..).zip(&self.window);
        self.redriven
            .iter()
            .map(|(&index, slot)| (index, slot))
            .chain(window)
            .filter(|(_, slot)| !slot.state.is_terminal())
    }
}
