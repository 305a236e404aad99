//! The per-group state of one message: its slot.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bugs::{planted, Bug};
use crate::limits::HISTORY_LEN_MAX;
use crate::name::ConsumerName;

/// The fencing token of one lease.
///
/// Unique over the machine's whole life: every lease takes the machine's
/// next lease number, which is part of the replicated state, so replaying
/// the command log after a restart hands out the same tokens and never one
/// twice, and a token sent to the wrong group matches nothing there. Its
/// text form is opaque to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(pub(crate) u64);

impl LeaseToken {
    /// The token's number, for a driver's binary log records;
    /// [`LeaseToken::from_number`] takes it back.
    pub fn number(self) -> u64 {
        self.0
    }

    pub fn from_number(number: u64) -> Self {
        LeaseToken(number)
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lt{:x}", self.0)
    }
}

/// A string that is not a lease token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedToken;

impl fmt::Display for MalformedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed lease token")
    }
}

impl FromStr for LeaseToken {
    type Err = MalformedToken;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text.strip_prefix("lt").ok_or(MalformedToken)?;
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedToken);
        }
        u64::from_str_radix(hex, 16)
            .map(LeaseToken)
            .map_err(|_| MalformedToken)
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Settled `processed` by its holder.
    Processed,
    /// Settled `retry` by its holder.
    Retried,
    /// Settled `dead` by its holder.
    Dead,
    /// The lease ran out before any settle.
    Expired,
    /// The holder left and released it.
    Released,
}

/// One attempt at a message within a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based count of attempts since the message was appended or last redriven.
    pub attempt: u32,
    pub token: LeaseToken,
    pub consumer: ConsumerName,
    pub leased_at_ms: u64,
    /// When the lease runs out (or ran out), after any extension.
    pub expires_at_ms: u64,
    /// `None` while the lease is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AttemptOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a message is in its group's life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// May be leased (if its key allows, in a key-ordered group).
    Available,
    /// Held by the lease in `Slot::last`.
    Leased,
    /// Failed; available again at `until_ms`.
    Backoff {
        until_ms: u64,
    },
    Processed,
    Dead,
}

impl SlotState {
    pub fn is_terminal(self) -> bool {
        matches!(self, SlotState::Processed | SlotState::Dead)
    }
}

/// Why a settle or extend item was refused. The message is left as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The token's lease ran out (or was released) before this request.
    LeaseExpired,
    /// The message was leased again since this token was issued.
    LeaseSuperseded,
    /// The lease was settled already, or the message is processed or dead.
    AlreadySettled,
    /// No lease with this token was issued for this message.
    NotLeased,
    /// The log has no message at this index.
    UnknownIndex,
}

/// One message's state in one group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Slot {
    pub state: SlotState,
    /// Attempts since append or redrive; counts toward `max_attempts`.
    pub attempt: u32,
    /// The current or latest attempt; `None` until first leased.
    pub last: Option<AttemptRecord>,
    /// Earlier attempts, oldest first, at most `HISTORY_LEN_MAX - 1` of them.
    /// Stays empty (unallocated) for messages processed on their first try.
    pub earlier: Vec<AttemptRecord>,
}

impl Slot {
    pub fn available() -> Self {
        Slot {
            state: SlotState::Available,
            attempt: 0,
            last: None,
            earlier: Vec::new(),
        }
    }

    /// The lease currently held, if any.
    pub fn lease(&self) -> Option<&AttemptRecord> {
        match self.state {
            SlotState::Leased => self.last.as_ref(),
            _ => None,
        }
    }

    /// Starts a new attempt held by `record`.
    pub fn begin_attempt(&mut self, record: AttemptRecord) {
        debug_assert_eq!(
            self.state,
            SlotState::Available,
            "only available slots are leased"
        );
        if let Some(previous) = self.last.take() {
            if self.earlier.len() + 1 >= HISTORY_LEN_MAX {
                self.earlier.remove(0);
            }
            self.earlier.push(previous);
        }
        self.attempt = record.attempt;
        self.last = Some(record);
        self.state = SlotState::Leased;
    }

    /// Ends the current lease with `outcome`; the caller then sets the new state.
    pub fn end_attempt(&mut self, outcome: AttemptOutcome, now_ms: u64, reason: Option<String>) {
        debug_assert_eq!(
            self.state,
            SlotState::Leased,
            "only leased slots end an attempt"
        );
        let last = self
            .last
            .as_mut()
            .expect("a leased slot holds its lease record");
        last.ended_at_ms = Some(now_ms);
        last.outcome = Some(outcome);
        last.reason = reason;
    }

    /// Whether `token` holds this message's lease now, or precisely why not.
    pub fn check_token(&self, token: LeaseToken) -> Result<&AttemptRecord, Refusal> {
        if self.state.is_terminal() {
            return Err(Refusal::AlreadySettled);
        }
        let Some(last) = &self.last else {
            return Err(Refusal::NotLeased);
        };
        if token > last.token {
            return Err(Refusal::NotLeased);
        }
        if token < last.token && !planted(Bug::StaleTokenAccepted) {
            let issued_here = self.earlier.iter().any(|record| record.token == token);
            // Tokens older than the kept history cannot be told from forged
            // ones; both are refused as superseded, which is true of the
            // former and harmless for the latter.
            return Err(
                if issued_here || self.earlier.len() + 1 >= HISTORY_LEN_MAX {
                    Refusal::LeaseSuperseded
                } else {
                    Refusal::NotLeased
                },
            );
        }
        match (self.state, last.outcome) {
            (SlotState::Leased, _) => Ok(last),
            (_, Some(AttemptOutcome::Expired | AttemptOutcome::Released)) => {
                Err(Refusal::LeaseExpired)
            }
            _ => Err(Refusal::AlreadySettled),
        }
    }

    /// Every recorded attempt, oldest first.
    pub fn history(&self) -> Vec<AttemptRecord> {
        self.earlier.iter().chain(&self.last).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_round_trips_and_rejects_garbage() {
        let token = LeaseToken(0xdead_beef);
        assert_eq!(token.to_string(), "ltdeadbeef");
        assert_eq!("ltdeadbeef".parse(), Ok(token));
        for bad in ["", "lt", "deadbeef", "ltxyz", "lt+1", "lt11112222333344445"] {
            assert_eq!(bad.parse::<LeaseToken>(), Err(MalformedToken), "{bad:?}");
        }
    }
}
