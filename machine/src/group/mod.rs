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

mod acquire;
mod config;
mod dead_letters;
mod keys;
mod read;
mod restore;
mod settle;
mod slot;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use config::check_lease_ms;
pub use config::{Backoff, GroupConfig, GroupSettings, Ordering, StartPosition};
pub use slot::{AttemptOutcome, AttemptRecord, LeaseToken, MalformedToken, Refusal, SlotState};

use crate::deadline::Deadlines;
use crate::log::MessageStore;
use crate::name::GroupName;
use crate::reply::GroupTotals;
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
    /// Most message bytes one acquire grants (beyond its first message).
    pub acquire_bytes_max: u64,
    /// The machine's lease counter: tokens are unique machine-wide, so a
    /// token sent to the wrong group or log can never match a lease there.
    pub next_token: &'a mut u64,
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Group {
    pub name: GroupName,
    pub config: GroupConfig,
    start_index: u64,
    base_offset: u64,
    frontier: u64,
    window: VecDeque<Slot>,
    redriven: BTreeMap<u64, Slot>,
    dead_letters: BTreeMap<u64, DeadRecord>,
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

    /// The lowest index never taken into the unsettled window.
    pub fn frontier(&self) -> u64 {
        self.frontier
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
            Ordering::Key => store.get(index).key().cloned(),
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
}
