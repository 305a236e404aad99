//! The reference model of one consumer group: what each message's state
//! must be, given every reply and event the machine produced.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use mamamia_machine::{
    ConsumerName, GroupConfig, GroupName, LeaseToken, Ordering, SettleStatus, WaiterId,
};

use crate::violation::{ensure, Check, Checked, Violation};

mod leasable;

pub use leasable::Grant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Available,
    Leased,
    Backoff { until_ms: u64 },
    Processed,
    Dead,
}

impl State {
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Processed | State::Dead)
    }
}

#[derive(Clone, Debug)]
pub struct ModelLease {
    pub token: LeaseToken,
    pub expires_at_ms: u64,
    pub consumer: ConsumerName,
}

#[derive(Clone, Debug)]
pub struct MessageModel {
    pub state: State,
    pub attempt: u32,
    pub lease: Option<ModelLease>,
    /// Terminal transitions since the message was appended or last redriven.
    pub terminal_count: u32,
    pub key: Option<u32>,
    /// Redriven and not yet settled again.
    pub redriven: bool,
}

/// A parked long poll, as the model saw it parked.
#[derive(Clone, Debug)]
pub struct Parked {
    pub waiter: WaiterId,
    pub consumer: ConsumerName,
    pub max: u32,
    pub lease_ms: u64,
    pub deadline_ms: u64,
}

/// How a failed attempt waits before the message is offered again.
#[derive(Clone, Copy, Debug)]
pub enum Delay {
    Backoff,
    Explicit(u64),
    Immediate,
}

#[derive(Clone, Debug)]
pub struct GroupModel {
    pub name: GroupName,
    pub config: GroupConfig,
    pub start_index: u64,
    /// The lowest index not yet terminal: what `base_offset` must be.
    pub base_offset: u64,
    /// Indexed by `index - start_index`.
    pub messages: Vec<MessageModel>,
    pub parked: VecDeque<Parked>,
    pub dead: BTreeSet<u64>,
    /// Live leases by expiry, to find one that outlived it.
    pub leases_by_expiry: BTreeSet<(u64, u64)>,
    /// Unsettled indices per key, for key-ordered groups.
    keys: BTreeMap<u32, BTreeSet<u64>>,
    /// Indices available now, and those in backoff by end time: an
    /// acquire must take the lowest leasable ones.
    available: BTreeSet<u64>,
    backoff_ends: BTreeSet<(u64, u64)>,
    tokens: HashSet<LeaseToken>,
    pub unsettled: u64,
    max_attempts_ever: u32,
    /// For coverage: messages that went to backoff, that held back a later
    /// message of their key, and that settled again after a redrive.
    pub backoffs: u64,
    pub key_waits: u64,
    pub redriven_settled: u64,
}

impl GroupModel {
    pub fn new(name: GroupName, config: GroupConfig, start_index: u64) -> Self {
        GroupModel {
            name,
            max_attempts_ever: config.max_attempts,
            config,
            start_index,
            base_offset: start_index,
            messages: Vec::new(),
            parked: VecDeque::new(),
            dead: BTreeSet::new(),
            leases_by_expiry: BTreeSet::new(),
            keys: BTreeMap::new(),
            available: BTreeSet::new(),
            backoff_ends: BTreeSet::new(),
            tokens: HashSet::new(),
            unsettled: 0,
            backoffs: 0,
            key_waits: 0,
            redriven_settled: 0,
        }
    }

    pub fn set_config(&mut self, config: GroupConfig) {
        self.max_attempts_ever = self.max_attempts_ever.max(config.max_attempts);
        self.config = config;
    }

    fn keyed(&self) -> bool {
        self.config.ordering == Ordering::Key
    }

    /// A message appended to the log at `index`.
    pub fn appended(&mut self, index: u64, key: Option<u32>) {
        if index < self.start_index {
            return;
        }
        debug_assert_eq!(index - self.start_index, self.messages.len() as u64);
        self.messages.push(MessageModel {
            state: State::Available,
            attempt: 0,
            lease: None,
            terminal_count: 0,
            key,
            redriven: false,
        });
        self.unsettled += 1;
        self.available.insert(index);
        if let (Some(key), true) = (key, self.keyed()) {
            self.keys.entry(key).or_default().insert(index);
        }
    }

    pub fn message(&self, index: u64) -> Option<&MessageModel> {
        let offset = index.checked_sub(self.start_index)?;
        self.messages.get(offset as usize)
    }

    fn message_mut(&mut self, index: u64) -> &mut MessageModel {
        &mut self.messages[(index - self.start_index) as usize]
    }

    /// The state at `now_ms`: a backoff that ended is available.
    fn state_at(&self, index: u64, now_ms: u64) -> State {
        match self.message(index).map(|message| message.state) {
            Some(State::Backoff { until_ms }) if until_ms <= now_ms => State::Available,
            Some(state) => state,
            None => State::Available,
        }
    }

    /// Checks and records a lease the machine granted at `at_ms`.
    pub fn grant(
        &mut self,
        index: u64,
        token: LeaseToken,
        attempt: u32,
        expires_at_ms: u64,
        consumer: &ConsumerName,
        at_ms: u64,
    ) -> Checked {
        let name = &self.name;
        ensure(
            self.message(index).is_some(),
            Check::IndexContiguity,
            || format!("{name}: leased {index}, which the log never had or the group starts after"),
        )?;
        ensure(self.tokens.insert(token), Check::TokenReused, || {
            format!("{name}: token {token} handed out twice")
        })?;
        let message = self.message(index).expect("checked above");
        let state = self.state_at(index, at_ms);
        match state {
            State::Processed | State::Dead => {
                return Err(Violation::new(
                    Check::TerminalLeased,
                    format!("{name}: {index} leased again after it was {state:?}"),
                ))
            }
            State::Leased => {
                let lease = message
                    .lease
                    .as_ref()
                    .expect("a leased message has a lease");
                return Err(Violation::new(
                    Check::DoubleLease,
                    format!(
                        "{name}: {index} leased at {at_ms} while token {} (expiring at {}) was valid",
                        lease.token, lease.expires_at_ms
                    ),
                ));
            }
            State::Backoff { until_ms } => {
                return Err(Violation::new(
                    Check::BackoffIgnored,
                    format!("{name}: {index} leased at {at_ms}, in backoff until {until_ms}"),
                ))
            }
            State::Available => {}
        }
        ensure(attempt == message.attempt + 1, Check::AttemptCount, || {
            format!(
                "{name}: {index} leased as attempt {attempt} after {} attempts",
                message.attempt
            )
        })?;
        ensure(
            attempt <= self.max_attempts_ever,
            Check::AttemptCount,
            || {
                format!(
                    "{name}: {index} leased as attempt {attempt}, max_attempts is {}",
                    self.max_attempts_ever
                )
            },
        )?;
        if let (Some(key), true) = (message.key, self.keyed()) {
            self.check_key_head(key, index, at_ms)?;
        }
        self.available.remove(&index);
        let message = self.message_mut(index);
        message.state = State::Leased;
        message.attempt = attempt;
        message.lease = Some(ModelLease {
            token,
            expires_at_ms,
            consumer: consumer.clone(),
        });
        self.leases_by_expiry.insert((expires_at_ms, index));
        Ok(())
    }

    /// Whether `token` holds `index` at `now_ms`.
    pub fn holds(&self, index: u64, token: LeaseToken, now_ms: u64) -> bool {
        self.message(index).is_some_and(|message| {
            message.state == State::Leased
                && message
                    .lease
                    .as_ref()
                    .is_some_and(|lease| lease.token == token && lease.expires_at_ms > now_ms)
        })
    }

    /// Ends the current lease of `index` as a failed attempt at `at_ms`;
    /// returns what the machine must report.
    pub fn fail_attempt(&mut self, index: u64, at_ms: u64, delay: Delay) -> SettleStatus {
        let lease = self.end_lease(index);
        debug_assert!(lease.is_some());
        let attempt = self.message(index).expect("leased").attempt;
        if attempt >= self.config.max_attempts {
            self.terminal(index, State::Dead);
            return SettleStatus::Dead;
        }
        let delay_ms = match delay {
            Delay::Backoff => self.config.backoff.delay_ms(attempt),
            Delay::Explicit(delay_ms) => delay_ms,
            Delay::Immediate => 0,
        };
        let until_ms = at_ms + delay_ms;
        self.backoffs += (delay_ms > 0) as u64;
        self.message_mut(index).state = if delay_ms == 0 {
            self.available.insert(index);
            State::Available
        } else {
            self.backoff_ends.insert((until_ms, index));
            State::Backoff { until_ms }
        };
        SettleStatus::RetryAt { at_ms: until_ms }
    }

    fn end_lease(&mut self, index: u64) -> Option<ModelLease> {
        let lease = self.message_mut(index).lease.take()?;
        self.leases_by_expiry.remove(&(lease.expires_at_ms, index));
        Some(lease)
    }

    /// Ends the lease of `index` in a terminal state.
    pub fn settle_terminal(&mut self, index: u64, state: State) -> Checked {
        self.end_lease(index);
        self.terminal(index, state);
        let message = self.message(index).expect("settled");
        ensure(message.terminal_count <= 1, Check::TerminalTwice, || {
            format!(
                "{}: {index} became {state:?}, terminal for the second time",
                self.name
            )
        })
    }

    fn terminal(&mut self, index: u64, state: State) {
        let keyed = self.keyed();
        let message = self.message_mut(index);
        message.state = state;
        message.terminal_count += 1;
        let key = message.key;
        self.redriven_settled += std::mem::take(&mut message.redriven) as u64;
        self.unsettled -= 1;
        if let (Some(key), true) = (key, keyed) {
            if let Some(pending) = self.keys.get_mut(&key) {
                pending.remove(&index);
                if pending.is_empty() {
                    self.keys.remove(&key);
                } else {
                    self.key_waits += 1;
                }
            }
        }
        if state == State::Dead {
            self.dead.insert(index);
        }
        while self
            .message(self.base_offset)
            .is_some_and(|message| message.state.is_terminal())
        {
            self.base_offset += 1;
        }
    }

    /// Changes the lease of `index` to expire at `expires_at_ms`.
    pub fn extend(&mut self, index: u64, expires_at_ms: u64) {
        let message = self.message_mut(index);
        let lease = message.lease.as_mut().expect("extended lease is held");
        let old_ms = std::mem::replace(&mut lease.expires_at_ms, expires_at_ms);
        self.leases_by_expiry.remove(&(old_ms, index));
        self.leases_by_expiry.insert((expires_at_ms, index));
    }

    /// Makes a dead message available again, attempts reset.
    pub fn redrive(&mut self, index: u64) {
        self.dead.remove(&index);
        let keyed = self.keyed();
        let message = self.message_mut(index);
        message.state = State::Available;
        message.attempt = 0;
        message.terminal_count = 0;
        message.redriven = true;
        let key = message.key;
        self.unsettled += 1;
        self.available.insert(index);
        if let (Some(key), true) = (key, keyed) {
            self.keys.entry(key).or_default().insert(index);
        }
    }

    /// Every index held by `consumer` now, ascending.
    pub fn held_by(&self, consumer: &ConsumerName) -> Vec<u64> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, message)| {
                message.state == State::Leased
                    && message
                        .lease
                        .as_ref()
                        .is_some_and(|lease| lease.consumer == *consumer)
            })
            .map(|(offset, _)| self.start_index + offset as u64)
            .collect()
    }
}
