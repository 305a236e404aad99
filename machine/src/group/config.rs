//! A consumer group's configuration and the settings that change it.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::{
    ATTEMPTS_MAX, BACKOFF_MULTIPLIER_MAX, DELAY_MS_MAX, LEASE_MS_DEFAULT, LEASE_MS_MAX,
    LEASE_MS_MIN,
};

/// Where a new group starts reading its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartPosition {
    /// The log's first retained index.
    Earliest,
    /// The log's next index: only messages appended from now on.
    Latest,
    /// A given index within the log's retained range.
    Index(u64),
}

/// Whether messages that share a key are handed out one at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Any available message may be leased.
    #[default]
    None,
    /// At most one message per key is leased (or waits in backoff) at a
    /// time, and a key's messages go out in index order.
    Key,
}

/// Exponential backoff after a failed attempt: `initial_ms × multiplier^(attempt-1)`, capped.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub initial_ms: u64,
    pub multiplier: f64,
    pub cap_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 1_000,
            multiplier: 2.0,
            cap_ms: 60_000,
        }
    }
}

impl Backoff {
    /// The delay after the failure of attempt number `attempt` (1-based).
    ///
    /// Multiplies step by step instead of calling `powf`, whose last bit may
    /// differ between platforms: the machine must replay identically anywhere.
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let mut delay = self.initial_ms as f64;
        let cap = self.cap_ms as f64;
        for _ in 1..attempt {
            if delay >= cap {
                break;
            }
            delay *= self.multiplier;
        }
        delay.min(cap) as u64
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.to_owned(),
            })
        };
        if !(1.0..=BACKOFF_MULTIPLIER_MAX).contains(&self.multiplier) {
            return invalid(
                "backoff.multiplier",
                &format!("must be between 1 and {BACKOFF_MULTIPLIER_MAX}"),
            );
        }
        if self.cap_ms > DELAY_MS_MAX {
            return invalid("backoff.cap_ms", &format!("must be at most {DELAY_MS_MAX}"));
        }
        if self.initial_ms > self.cap_ms {
            return invalid("backoff.initial_ms", "must not exceed backoff.cap_ms");
        }
        Ok(())
    }
}

/// The resolved configuration of a consumer group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupConfig {
    /// Where the group started; fixed at creation.
    pub start: StartPosition,
    /// Lease duration of an acquire that names none.
    pub lease_ms: u64,
    /// Attempts before a failing message is dead.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Fixed at creation.
    pub ordering: Ordering,
    /// Most messages between `base_offset` and the highest index ever leased
    /// (the unsettled window). At the bound, acquire hands out only messages
    /// already inside the window, so one stuck message cannot make the group
    /// track an unbounded backlog.
    pub unsettled_window: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            start: StartPosition::Earliest,
            lease_ms: LEASE_MS_DEFAULT,
            max_attempts: 5,
            backoff: Backoff::default(),
            ordering: Ordering::None,
            unsettled_window: 100_000,
        }
    }
}

/// A change to a group's configuration, as `PUT` sends it: `None` keeps the
/// current value (or the default, for a new group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<Ordering>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsettled_window: Option<u64>,
}

impl GroupSettings {
    /// The configuration of a new group with these settings.
    pub(crate) fn create(&self, unsettled_window_max: u64) -> Result<GroupConfig, Error> {
        self.merge(&GroupConfig::default(), unsettled_window_max)
    }

    /// The configuration of an existing group after these settings; the
    /// fields fixed at creation may only be repeated, not changed.
    pub(crate) fn update(
        &self,
        current: &GroupConfig,
        unsettled_window_max: u64,
    ) -> Result<GroupConfig, Error> {
        if self.start.is_some_and(|start| start != current.start) {
            return Err(Error::ConfigConflict { field: "start" });
        }
        if self
            .ordering
            .is_some_and(|ordering| ordering != current.ordering)
        {
            return Err(Error::ConfigConflict { field: "ordering" });
        }
        self.merge(current, unsettled_window_max)
    }

    fn merge(&self, base: &GroupConfig, unsettled_window_max: u64) -> Result<GroupConfig, Error> {
        let config = GroupConfig {
            start: self.start.unwrap_or(base.start),
            lease_ms: self.lease_ms.unwrap_or(base.lease_ms),
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            backoff: self.backoff.unwrap_or(base.backoff),
            ordering: self.ordering.unwrap_or(base.ordering),
            unsettled_window: self.unsettled_window.unwrap_or(base.unsettled_window),
        };
        check_lease_ms(config.lease_ms)?;
        if !(1..=ATTEMPTS_MAX).contains(&config.max_attempts) {
            return Err(Error::InvalidConfig {
                field: "max_attempts",
                reason: format!("must be between 1 and {ATTEMPTS_MAX}"),
            });
        }
        if !(1..=unsettled_window_max).contains(&config.unsettled_window) {
            return Err(Error::InvalidConfig {
                field: "unsettled_window",
                reason: format!("must be between 1 and {unsettled_window_max}"),
            });
        }
        config.backoff.validate()?;
        Ok(config)
    }
}

/// Refuses a lease duration outside `LEASE_MS_MIN..=LEASE_MS_MAX`.
pub(crate) fn check_lease_ms(lease_ms: u64) -> Result<(), Error> {
    if (LEASE_MS_MIN..=LEASE_MS_MAX).contains(&lease_ms) {
        Ok(())
    } else {
        Err(Error::LeaseOutOfRange {
            lease_ms,
            min: LEASE_MS_MIN,
            max: LEASE_MS_MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_geometrically_up_to_the_cap() {
        let backoff = Backoff {
            initial_ms: 100,
            multiplier: 3.0,
            cap_ms: 2_000,
        };
        let delays: Vec<u64> = (1..=5).map(|attempt| backoff.delay_ms(attempt)).collect();
        assert_eq!(delays, [100, 300, 900, 2_000, 2_000]);
        assert_eq!(backoff.delay_ms(u32::MAX), 2_000);
    }
}
