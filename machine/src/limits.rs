//! Every bound the machine enforces, in one place.
//!
//! Each number caps memory or work that a client could otherwise grow without
//! limit. The ones a deployment may want to tune live in [`Limits`]; the rest
//! are protocol constants.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest log, group or consumer name, in bytes (SPEC §1: `[A-Za-z0-9._-]{1,128}`).
pub const NAME_LEN_MAX: usize = 128;

/// Longest message key, in bytes: keys are compared and hashed on the hot
/// path of key-ordered groups, so they stay short.
pub const KEY_LEN_MAX: usize = 1024;

/// Most headers on one message; headers are metadata, not a second payload.
pub const HEADERS_MAX: usize = 64;

/// Longest header name or value, in bytes.
pub const HEADER_LEN_MAX: usize = 4096;

/// Longest `dedup_id`, in bytes.
pub const DEDUP_ID_LEN_MAX: usize = 256;

/// Longest settle or dead-letter reason kept, in bytes.
pub const REASON_LEN_MAX: usize = 1024;

/// Shortest lease: anything shorter expires before a reply can reach a client.
pub const LEASE_MS_MIN: u64 = 10;

/// Longest lease (12 hours): longer work should heartbeat with `extend`.
pub const LEASE_MS_MAX: u64 = 12 * 60 * 60 * 1000;

/// Default lease of a group created implicitly by its first acquire.
pub const LEASE_MS_DEFAULT: u64 = 30_000;

/// Longest long-poll wait (5 minutes), so parked requests cannot pin a waiter
/// slot forever.
pub const WAIT_MS_MAX: u64 = 5 * 60 * 1000;

/// Longest explicit retry delay or backoff cap (24 hours).
pub const DELAY_MS_MAX: u64 = 24 * 60 * 60 * 1000;

/// Highest `max_attempts` a group may set.
pub const ATTEMPTS_MAX: u32 = 1000;

/// Attempt records kept per message and group; older ones are dropped first.
pub const HISTORY_LEN_MAX: usize = 16;

/// Highest backoff multiplier; beyond it every retry hits the cap at once.
pub const BACKOFF_MULTIPLIER_MAX: f64 = 100.0;

/// The tunable limits of one machine. They are part of the machine's state:
/// replaying a command log with other limits may give other replies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most messages in one append, and most items in one settle or extend.
    pub batch_len_max: usize,
    /// Most messages one acquire may ask for.
    pub acquire_max: u32,
    /// Most message bytes one acquire (or one long-poll waiter served) is
    /// granted, counted as [`crate::Message::size_bytes`] (payload, key and
    /// headers: what the log counts too). Leasing stops, lowest index first,
    /// before the message that would pass it, but at least one message is
    /// always granted (it is bounded by `payload_bytes_max` anyway), so a
    /// large message never blocks its group. Without it one reply could
    /// carry `acquire_max` payloads of `payload_bytes_max`: about 10 GB.
    /// Snapshots taken before this limit existed load with the default.
    #[serde(default = "acquire_bytes_max_default")]
    pub acquire_bytes_max: u64,
    /// Largest payload of one message, in bytes.
    pub payload_bytes_max: usize,
    /// Most logs on the machine.
    pub logs_max: usize,
    /// Most consumer groups on one log.
    pub groups_per_log_max: usize,
    /// Most long-poll waiters parked at once, over all groups.
    pub waiters_max: usize,
    /// Largest unsettled window a group may configure (see [`crate::GroupConfig`]).
    pub unsettled_window_max: u64,
    /// Most dead letters a group lists; past it the lowest index is forgotten.
    pub dead_letters_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            batch_len_max: 10_000,
            acquire_max: 10_000,
            acquire_bytes_max: acquire_bytes_max_default(),
            payload_bytes_max: 1 << 20,
            logs_max: 10_000,
            groups_per_log_max: 1_000,
            waiters_max: 100_000,
            unsettled_window_max: 1_000_000,
            dead_letters_max: 100_000,
        }
    }
}

/// 16 MiB: sixteen of the largest default payloads, or thousands of small
/// ones, per reply; large enough that the budget only bites when a reply
/// would otherwise grow large.
fn acquire_bytes_max_default() -> u64 {
    16 << 20
}

impl Limits {
    /// Refuses limits no machine can work with. [`crate::Machine::new`]
    /// and loading a serialized machine both check them.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if self.acquire_bytes_max == 0 {
            return Err(LimitsError::Zero {
                field: "acquire_bytes_max",
            });
        }
        Ok(())
    }
}

/// Why [`Limits::validate`] refused a set of limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitsError {
    /// A limit that must be at least 1 is 0.
    Zero { field: &'static str },
}

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitsError::Zero { field } => write!(f, "{field} must be at least 1, got 0"),
        }
    }
}

impl std::error::Error for LimitsError {}
