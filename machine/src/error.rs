//! Why the machine refused a command.
//!
//! A command that returns an [`Error`] changed nothing. Per-item refusals of a
//! settle or extend (a stale token, say) are not errors: the batch is applied
//! and each item says what happened to it (see [`crate::Refusal`]).

use std::fmt;

use serde::Serialize;

use crate::name::{GroupName, LogName, NameError};
use crate::WaiterId;

/// The class of an error: who is at fault and how a client should react.
/// The shell maps each class to one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or a value is out of range.
    Invalid,
    /// The log, group or message does not exist (or no longer does).
    NotFound,
    /// The request contradicts existing state.
    Conflict,
    /// A batch, message or field is over its size limit.
    TooLarge,
    /// A capacity limit of the machine is reached; retry later.
    Exhausted,
}

/// A refused command. Every variant leaves the machine's state untouched.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Error {
    /// A log, group or consumer name breaks the name syntax.
    InvalidName { name: String, reason: String },
    /// No log has this name.
    UnknownLog { log: LogName },
    /// The log has no group of this name.
    UnknownGroup { log: LogName, group: GroupName },
    /// The index was never appended to the log.
    UnknownIndex { index: u64, next_index: u64 },
    /// The index was appended but retention has since dropped it.
    IndexNotRetained { index: u64, first_index: u64 },
    /// An append, settle or extend without any item.
    EmptyBatch,
    /// More items in one batch than the limit allows.
    BatchTooLarge { len: usize, max: usize },
    /// One field of the message at `position` in the batch is over its limit.
    MessageTooLarge {
        position: usize,
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// Appending would take the log past its size limit.
    LogFull { bytes: u64, max: u64 },
    /// `max` of an acquire is zero or over the limit.
    AcquireMaxOutOfRange { max: u32, limit: u32 },
    /// A lease duration outside the allowed range.
    LeaseOutOfRange { lease_ms: u64, min: u64, max: u64 },
    /// A long-poll wait longer than allowed.
    WaitOutOfRange { wait_ms: u64, max: u64 },
    /// An explicit retry delay longer than allowed.
    DelayOutOfRange { delay_ms: u64, max: u64 },
    /// A settle reason longer than allowed.
    ReasonTooLong { len: usize, max: usize },
    /// A configuration value out of range.
    InvalidConfig { field: &'static str, reason: String },
    /// A configuration field that is fixed at creation was given another value.
    ConfigConflict { field: &'static str },
    /// A group's start index is outside the log's retained range.
    StartOutOfRange {
        index: u64,
        first_index: u64,
        next_index: u64,
    },
    /// The machine holds as many logs as it may.
    TooManyLogs { max: usize },
    /// The log holds as many groups as it may.
    TooManyGroups { max: usize },
    /// As many long-poll waiters are parked as the machine allows.
    TooManyWaiters { max: usize },
    /// A waiter with this id is already parked.
    DuplicateWaiter { waiter: WaiterId },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            InvalidName { .. }
            | EmptyBatch
            | AcquireMaxOutOfRange { .. }
            | LeaseOutOfRange { .. }
            | WaitOutOfRange { .. }
            | DelayOutOfRange { .. }
            | InvalidConfig { .. }
            | StartOutOfRange { .. } => ErrorKind::Invalid,
            UnknownLog { .. }
            | UnknownGroup { .. }
            | UnknownIndex { .. }
            | IndexNotRetained { .. } => ErrorKind::NotFound,
            ConfigConflict { .. } | DuplicateWaiter { .. } => ErrorKind::Conflict,
            BatchTooLarge { .. } | MessageTooLarge { .. } | ReasonTooLong { .. } => {
                ErrorKind::TooLarge
            }
            LogFull { .. } | TooManyLogs { .. } | TooManyGroups { .. } | TooManyWaiters { .. } => {
                ErrorKind::Exhausted
            }
        }
    }

    /// A stable snake_case code for clients to match on.
    pub fn code(&self) -> &'static str {
        use Error::*;
        match self {
            InvalidName { .. } => "invalid_name",
            UnknownLog { .. } => "unknown_log",
            UnknownGroup { .. } => "unknown_group",
            UnknownIndex { .. } => "unknown_index",
            IndexNotRetained { .. } => "index_not_retained",
            EmptyBatch => "empty_batch",
            BatchTooLarge { .. } => "batch_too_large",
            MessageTooLarge { .. } => "message_too_large",
            LogFull { .. } => "log_full",
            AcquireMaxOutOfRange { .. } => "acquire_max_out_of_range",
            LeaseOutOfRange { .. } => "lease_out_of_range",
            WaitOutOfRange { .. } => "wait_out_of_range",
            DelayOutOfRange { .. } => "delay_out_of_range",
            ReasonTooLong { .. } => "reason_too_long",
            InvalidConfig { .. } => "invalid_config",
            ConfigConflict { .. } => "config_conflict",
            StartOutOfRange { .. } => "start_out_of_range",
            TooManyLogs { .. } => "too_many_logs",
            TooManyGroups { .. } => "too_many_groups",
            TooManyWaiters { .. } => "too_many_waiters",
            DuplicateWaiter { .. } => "duplicate_waiter",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            InvalidName { name, reason } => write!(f, "invalid name {name:?}: {reason}"),
            UnknownLog { log } => write!(f, "no log named {log:?}"),
            UnknownGroup { log, group } => write!(f, "log {log:?} has no group named {group:?}"),
            UnknownIndex { index, next_index } => {
                write!(f, "index {index} was never appended (next index is {next_index})")
            }
            IndexNotRetained { index, first_index } => write!(
                f,
                "index {index} is no longer retained (first retained index is {first_index})"
            ),
            EmptyBatch => write!(f, "the batch has no items"),
            BatchTooLarge { len, max } => write!(f, "the batch has {len} items, the limit is {max}"),
            MessageTooLarge {
                position,
                field,
                len,
                max,
            } => write!(
                f,
                "message {position} of the batch: {field} is {len} long, the limit is {max}"
            ),
            LogFull { bytes, max } => write!(
                f,
                "the log would hold {bytes} bytes, over its limit of {max}; consume or raise retention"
            ),
            AcquireMaxOutOfRange { max, limit } => {
                write!(f, "max must be between 1 and {limit}, got {max}")
            }
            LeaseOutOfRange { lease_ms, min, max } => {
                write!(f, "lease_ms must be between {min} and {max}, got {lease_ms}")
            }
            WaitOutOfRange { wait_ms, max } => write!(f, "wait_ms must be at most {max}, got {wait_ms}"),
            DelayOutOfRange { delay_ms, max } => {
                write!(f, "delay_ms must be at most {max}, got {delay_ms}")
            }
            ReasonTooLong { len, max } => write!(f, "reason is {len} bytes, the limit is {max}"),
            InvalidConfig { field, reason } => write!(f, "invalid {field}: {reason}"),
            ConfigConflict { field } => {
                write!(f, "{field} is fixed when the group is created and cannot change")
            }
            StartOutOfRange {
                index,
                first_index,
                next_index,
            } => write!(
                f,
                "start index {index} is outside the log's retained range {first_index}..={next_index}"
            ),
            TooManyLogs { max } => write!(f, "the server already holds its limit of {max} logs"),
            TooManyGroups { max } => write!(f, "the log already holds its limit of {max} groups"),
            TooManyWaiters { max } => {
                write!(f, "{max} long-poll requests are already waiting; retry later")
            }
            DuplicateWaiter { waiter } => write!(f, "waiter {} is already parked", waiter.0),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error for a raw name that failed to parse, for drivers that
    /// parse names from text.
    pub fn invalid_name(name: &str, reason: NameError) -> Self {
        Error::InvalidName {
            name: name.to_owned(),
            reason: reason.to_string(),
        }
    }
}
