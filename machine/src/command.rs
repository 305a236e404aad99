//! The commands that change a machine: its whole input vocabulary.
//!
//! A command log of `(now_ms, Command)` pairs, replayed into a fresh machine
//! with the same [`crate::Limits`], rebuilds the same state, byte for byte.

use serde::{Deserialize, Serialize};

use crate::group::{GroupSettings, LeaseToken};
use crate::log::LogSettings;
use crate::message::NewMessage;
use crate::name::{ConsumerName, GroupName, LogName};
use crate::reply::Settlement;

/// Identifies a parked long-poll request; chosen by the caller, unique among
/// the waiters parked at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WaiterId(pub u64);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Creates a log or changes its configuration.
    PutLog { log: LogName, settings: LogSettings },
    /// Appends a batch atomically, creating the log if needed.
    Append {
        log: LogName,
        messages: Vec<NewMessage>,
    },
    /// Creates a group or changes its configuration.
    PutGroup {
        log: LogName,
        group: GroupName,
        settings: GroupSettings,
    },
    /// Leases available messages, creating the group if needed.
    Acquire(Acquire),
    /// Settles leased messages, each item on its own.
    Settle {
        log: LogName,
        group: GroupName,
        settlements: Vec<Settlement>,
    },
    /// Pushes out the expiry of held leases to `now + lease_ms`.
    Extend {
        log: LogName,
        group: GroupName,
        leases: Vec<LeaseRef>,
        lease_ms: Option<u64>,
    },
    /// Returns every lease a departing consumer holds in the group.
    Release {
        log: LogName,
        group: GroupName,
        consumer: ConsumerName,
    },
    /// Makes dead messages available again (`indices: None`: all of them).
    Redrive {
        log: LogName,
        group: GroupName,
        indices: Option<Vec<u64>>,
    },
    /// Drops a parked waiter without leasing it anything (its client left).
    CancelWaiter { waiter: WaiterId },
    /// Drops every parked waiter: after a restart, no client waits anymore.
    CancelAllWaiters,
    /// Drops messages that every group settled and retention lets go.
    ApplyRetention,
    /// Only lets time pass, like [`crate::Machine::handle_timeout`], but as
    /// a command a driver logs: when timers alone leased messages to
    /// waiters, it records that time was reached before the leases go out,
    /// so a replay after a crash reaches it too, however the wall clock
    /// moved meanwhile, and never hands out those tokens again.
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquire {
    pub log: LogName,
    pub group: GroupName,
    pub consumer: ConsumerName,
    /// Most messages to lease, at least 1.
    pub max: u32,
    /// The group's default when `None`.
    pub lease_ms: Option<u64>,
    /// Long poll: when nothing is available, park until something is or until
    /// the wait ends.
    pub wait: Option<Wait>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    pub waiter: WaiterId,
    pub wait_ms: u64,
}

/// A lease named by the message index and its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRef {
    pub index: u64,
    pub token: LeaseToken,
}
