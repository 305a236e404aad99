//! What the machine answers: replies to commands and views for reads.

use serde::{Deserialize, Serialize};

use crate::group::{GroupConfig, LeaseToken, Refusal};
use crate::log::{Appended, LogConfig};
use crate::message::Message;
use crate::name::{ConsumerName, GroupName, LogName};

/// The reply to a [`crate::Command`] that the machine accepted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    LogPut { created: bool },
    Appended(Appended),
    GroupPut { created: bool },
    Acquired(Acquired),
    Settled { results: Vec<SettleResult> },
    Extended { results: Vec<ExtendResult> },
    Released { count: u64 },
    Redriven(Redriven),
    WaiterCancelled { found: bool },
    WaitersCancelled { count: u64 },
    RetentionApplied { dropped: u64 },
    Ticked,
}

impl Reply {
    /// Whether the command that got this reply changed the machine's state,
    /// so that a driver must log it for a replay to rebuild the same
    /// machine. A command answered `false` only let time pass, which
    /// replaying the next logged command does again (due work happens at
    /// its own due time). A consumer polling an empty group, or retention
    /// with nothing to drop, then costs no log write and no fsync.
    pub fn changed_state(&self) -> bool {
        match self {
            Reply::Acquired(acquired) => acquired.changed_state,
            Reply::RetentionApplied { dropped } => *dropped > 0,
            Reply::WaiterCancelled { found } => *found,
            _ => true,
        }
    }
}

/// The answer to an acquire.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Acquired {
    /// The leases granted now, lowest index first; never more than asked.
    pub leases: Vec<Lease>,
    /// Nothing was available and the request waits: its leases (or its
    /// time-out) arrive later as an [`crate::Event`].
    pub parked: bool,
    /// The group's unsettled window is at its bound: only messages inside it
    /// can be leased until `base_offset` moves.
    pub window_full: bool,
    /// It leased, parked, created its group or moved the group's window
    /// (see [`Reply::changed_state`]). Always true for the answer a
    /// waiter gets later.
    pub changed_state: bool,
}

impl Acquired {
    /// The answer a parked waiter gets later: the leases an event served it
    /// (none when it timed out or was cancelled).
    pub fn served(leases: Vec<Lease>) -> Self {
        Acquired {
            leases,
            parked: false,
            window_full: false,
            changed_state: true,
        }
    }
}

/// A message leased to a consumer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lease {
    pub index: u64,
    pub token: LeaseToken,
    pub attempt: u32,
    pub expires_at_ms: u64,
    pub message: Message,
}

/// A lease as listed for operators (no payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    pub index: u64,
    pub consumer: ConsumerName,
    pub attempt: u32,
    pub leased_at_ms: u64,
    pub expires_at_ms: u64,
}

/// What a consumer reports of one leased message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub index: u64,
    pub token: LeaseToken,
    pub outcome: SettleOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SettleOutcome {
    /// Done; terminal.
    Processed,
    /// Failed; offer it again after `delay_ms`, or the group's backoff.
    Retry {
        delay_ms: Option<u64>,
        reason: Option<String>,
    },
    /// Give up; terminal.
    Dead { reason: Option<String> },
}

impl SettleOutcome {
    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            SettleOutcome::Processed => None,
            SettleOutcome::Retry { reason, .. } | SettleOutcome::Dead { reason } => {
                reason.as_deref()
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettleResult {
    pub index: u64,
    pub status: SettleStatus,
}

/// The state a settle (or a lease expiry) left a message in, or why the
/// settle was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettleStatus {
    Processed,
    /// Available again at `at_ms` (now, if there is no backoff).
    RetryAt {
        at_ms: u64,
    },
    Dead,
    Refused(Refusal),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExtendResult {
    pub index: u64,
    pub status: ExtendStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendStatus {
    Extended { expires_at_ms: u64 },
    Refused(Refusal),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redriven {
    /// Dead messages made available again.
    pub count: u64,
    /// Requested indices that are not dead letters of the group.
    pub not_dead: Vec<u64>,
}

/// A dead message of a group, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub index: u64,
    pub attempts: u32,
    pub reason: Option<String>,
    pub dead_at_ms: u64,
}

/// Running totals of a group since it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupTotals {
    pub processed: u64,
    pub dead: u64,
    pub retried: u64,
    pub expired: u64,
    pub released: u64,
    pub redriven: u64,
    /// Dead letters forgotten because the list was at its limit.
    pub dead_letters_evicted: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSummary {
    pub group: GroupName,
    pub config: GroupConfig,
    /// Lowest index not yet processed or dead.
    pub base_offset: u64,
    pub next_index: u64,
    /// `next_index - base_offset`.
    pub lag: u64,
    /// Unsettled messages that are neither leased nor in backoff.
    pub available: u64,
    pub leased: u64,
    pub backoff: u64,
    /// Dead letters listed now.
    pub dead: u64,
    /// Messages processed since the group was created.
    pub processed: u64,
    /// Messages between `base_offset` and the highest index ever leased.
    pub unsettled_window_used: u64,
    pub window_full: bool,
    /// Redriven messages below `base_offset` not yet settled again.
    pub redriven_pending: u64,
    /// Long-poll requests parked on the group.
    pub waiters: u64,
    pub totals: GroupTotals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogSummary {
    pub name: LogName,
    pub config: LogConfig,
    pub first_index: u64,
    pub next_index: u64,
    pub bytes: u64,
    pub groups: Vec<GroupSummary>,
}
