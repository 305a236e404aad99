//! A consumer group: its cursor over one log and the state of each message
//! it has not yet settled.
//!
//! # Layout
//!
//! The group tracks three ranges of its log:
//!
//! - below `base_offset`: settled (processed or dead), and forgotten, except
//!   dead letters and redriven messages, which live in their own maps;
//! - `base_offset..frontier`, the unsettled window: one [`Slot`] per message
//!   in `window`, a deque indexed by `index - base_offset`. Its front slot is
//!   never terminal, so `base_offset` moves as soon as the lowest message
//!   settles, and never past one that has not;
//! - `frontier..next_index`: never leased, implicitly available, costing
//!   nothing.
//!
//! `ready` holds the available slots that may be leased now, lowest first,
//! so acquire takes returned messages before the frontier and never scans
//! settled ones.

mod config;
mod keys;
mod slot;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use config::check_lease_ms;
pub use config::{Backoff, GroupConfig, GroupSettings, Ordering, StartPosition};
pub use slot::{AttemptOutcome, AttemptRecord, LeaseToken, MalformedToken, Refusal, SlotState};

use crate::deadline::{Deadlines, Timer};
use crate::log::MessageStore;
use crate::name::{ConsumerName, GroupName};
use crate::reply::{
    DeadLetter, ExtendResult, ExtendStatus, GroupSummary, GroupTotals, Lease, LeaseView, Redriven,
    SettleOutcome, SettleResult, SettleStatus, Settlement,
};
use crate::WaiterId;
use keys::KeyQueues;
use slot::Slot;

/// Names a group inside the machine: positions in the machine's log list and
/// the log's group list, which never shrink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct GroupRef {
    pub log: u32,
    pub group: u32,
}

/// What a group operation needs from the machine around it.
pub(crate) struct Context<'a> {
    pub now_ms: u64,
    pub at: GroupRef,
    pub deadlines: &'a mut Deadlines,
    pub dead_letters_max: usize,
}

/// What a failed attempt waits before the message is available again.
#[derive(Clone, Copy)]
enum Delay {
    /// The group's backoff for this attempt.
    Backoff,
    /// A delay the consumer asked for.
    Explicit(u64),
    /// None: available at once.
    Immediate,
}

/// A dead message's record, kept until it is redriven, evicted by the
/// dead-letter limit, or dropped by retention.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeadRecord {
    attempts: u32,
    reason: Option<String>,
    dead_at_ms: u64,
    /// The message's attempt history, moved here once `base_offset` passes it.
    history: Option<Slot>,
}

/// Counts of slots by state, kept as the slots change (derived state).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counts {
    available: u64,
    leased: u64,
    backoff: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Group {
    pub name: GroupName,
    pub config: GroupConfig,
    start_index: u64,
    base_offset: u64,
    frontier: u64,
    window: VecDeque<Slot>,
    redriven: BTreeMap<u64, Slot>,
    dead_letters: BTreeMap<u64, DeadRecord>,
    next_token: u64,
    totals: GroupTotals,
    /// Parked long-poll waiters, first come first served.
    pub waiting: VecDeque<WaiterId>,
    #[serde(skip)]
    ready: BTreeSet<u64>,
    #[serde(skip)]
    keys: KeyQueues,
    #[serde(skip)]
    counts: Counts,
}

impl Group {
    /// A new group starting at `start_index`, which the caller has checked
    /// lies within the log's retained range.
    pub fn new(name: GroupName, config: GroupConfig, start_index: u64) -> Self {
        Group {
            name,
            config,
            start_index,
            base_offset: start_index,
            frontier: start_index,
            window: VecDeque::new(),
            redriven: BTreeMap::new(),
            dead_letters: BTreeMap::new(),
            next_token: 1,
            totals: GroupTotals::default(),
            waiting: VecDeque::new(),
            ready: BTreeSet::new(),
            keys: KeyQueues::default(),
            counts: Counts::default(),
        }
    }

    /// The lowest index this group may still need: retention keeps it.
    pub fn retention_floor(&self) -> u64 {
        self.redriven
            .keys()
            .next()
            .map_or(self.base_offset, |&index| index.min(self.base_offset))
    }

    /// Whether an acquire now would lease something.
    pub fn has_leasable(&self, store: &MessageStore) -> bool {
        !self.ready.is_empty() || (self.frontier < store.next_index() && !self.window_full())
    }

    /// Whether the unsettled window is at its bound.
    pub fn window_full(&self) -> bool {
        self.frontier - self.base_offset >= self.config.unsettled_window
    }

    fn slot(&self, index: u64) -> Option<&Slot> {
        if index >= self.base_offset {
            self.window.get((index - self.base_offset) as usize)
        } else {
            self.redriven.get(&index)
        }
    }

    fn slot_mut(&mut self, index: u64) -> &mut Slot {
        let slot = if index >= self.base_offset {
            self.window.get_mut((index - self.base_offset) as usize)
        } else {
            self.redriven.get_mut(&index)
        };
        slot.expect("the caller located this slot")
    }

    /// The ordering key of `index`, in a key-ordered group.
    fn key_of(&self, store: &MessageStore, index: u64) -> Option<Arc<str>> {
        match self.config.ordering {
            Ordering::Key => store.get(index).key.clone(),
            Ordering::None => None,
        }
    }

    /// Changes a key's queue and moves its head in or out of `ready`.
    fn update_key(&mut self, key: &Arc<str>, change: impl FnOnce(&mut KeyQueues)) {
        let before = self.keys.head(key);
        change(&mut self.keys);
        let after = self.keys.head(key);
        if before != after {
            if let Some(index) = before {
                self.ready.remove(&index);
            }
            if let Some(index) = after {
                debug_assert_eq!(
                    self.slot(index).map(|s| s.state),
                    Some(SlotState::Available)
                );
                self.ready.insert(index);
            }
        }
    }

    // ----- acquire -----

    /// Leases up to `max` messages, lowest index first.
    pub fn acquire(
        &mut self,
        store: &MessageStore,
        consumer: &ConsumerName,
        max: u32,
        lease_ms: u64,
        cx: &mut Context,
    ) -> Vec<Lease> {
        let mut leases = Vec::with_capacity((max as usize).min(128));
        while leases.len() < max as usize {
            let Some(index) = self.next_leasable(store) else {
                break;
            };
            leases.push(self.lease(store, index, consumer, lease_ms, cx));
        }
        leases
    }

    fn next_leasable(&mut self, store: &MessageStore) -> Option<u64> {
        loop {
            if let Some(index) = self.ready.pop_first() {
                return Some(index);
            }
            if self.frontier >= store.next_index() || self.window_full() {
                return None;
            }
            let index = self.frontier;
            self.frontier += 1;
            self.window.push_back(Slot::available());
            self.counts.available += 1;
            match self.key_of(store, index) {
                None => return Some(index),
                // A keyed message waits behind its key's earlier ones; the
                // update puts it in `ready` if it is its key's head.
                Some(key) => self.update_key(&key, |keys| keys.insert(&key, index)),
            }
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
        let token = LeaseToken(self.next_token);
        self.next_token += 1;
        let expires_at_ms = cx.now_ms + lease_ms;
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
        cx.deadlines.arm(
            expires_at_ms,
            Timer::LeaseExpiry {
                group: cx.at,
                index,
                token: token.0,
            },
        );
        Lease {
            index,
            token,
            attempt,
            expires_at_ms,
            message: Arc::clone(store.get(index)),
        }
    }

    // ----- settle, extend, release -----

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
    fn fail_attempt(
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
        if attempt >= max_attempts {
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
        let until_ms = cx.now_ms + delay_ms;
        self.slot_mut(index).state = SlotState::Backoff { until_ms };
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
    fn make_available(&mut self, store: &MessageStore, index: u64) {
        self.slot_mut(index).state = SlotState::Available;
        self.counts.available += 1;
        match self.key_of(store, index) {
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
        while self
            .window
            .front()
            .is_some_and(|slot| slot.state.is_terminal())
        {
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
        let expires_at_ms = cx.now_ms + lease_ms;
        cx.deadlines.cancel(old_expiry_ms);
        cx.deadlines.arm(
            expires_at_ms,
            Timer::LeaseExpiry {
                group: cx.at,
                index,
                token: token.0,
            },
        );
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
    fn unsettled_slots(&self) -> impl Iterator<Item = (u64, &Slot)> {
        let window = (self.base_offset..).zip(&self.window);
        self.redriven
            .iter()
            .map(|(&index, slot)| (index, slot))
            .chain(window)
            .filter(|(_, slot)| !slot.state.is_terminal())
    }

    // ----- timers -----

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

    // ----- dead letters -----

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

    // ----- reads -----

    pub fn summary(&self, store: &MessageStore) -> GroupSummary {
        let next_index = store.next_index();
        GroupSummary {
            group: self.name.clone(),
            config: self.config.clone(),
            base_offset: self.base_offset,
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

    // ----- restore and invariants -----

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
        let unsettled: Vec<(u64, SlotState, Option<(u64, u64)>)> = self
            .unsettled_slots()
            .map(|(index, slot)| {
                let last = slot
                    .last
                    .as_ref()
                    .map(|last| (last.token.0, last.expires_at_ms));
                (index, slot.state, last)
            })
            .collect();
        for (index, state, last) in unsettled {
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
    pub fn check_invariants(&self, store: &MessageStore) {
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
                assert!(slot.attempt <= self.config.max_attempts.max(lease.attempt));
                assert!(
                    lease.token.0 < self.next_token,
                    "{name}: token from the future"
                );
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
