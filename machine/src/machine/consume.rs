//! Commands of consumer groups: configure, acquire, settle, extend,
//! release, redrive.

use crate::bugs::{planted, Bug};
use crate::command::{Acquire, LeaseRef, Wait};
use crate::error::Error;
use crate::group::{check_lease_ms, Group, GroupConfig, GroupRef, GroupSettings, StartPosition};
use crate::limits::{DELAY_MS_MAX, REASON_LEN_MAX, WAIT_MS_MAX};
use crate::name::{ConsumerName, GroupName, LogName};
use crate::reply::{Acquired, Reply, SettleOutcome, Settlement};

use super::Machine;

impl Machine {
    pub(super) fn put_group(
        &mut self,
        log: &LogName,
        name: GroupName,
        settings: &GroupSettings,
    ) -> Result<Reply, Error> {
        let window_max = self.limits.unsettled_window_max;
        match self.group_ref(log, &name) {
            Ok(at) => {
                let group = &mut self.logs[at.log as usize].groups[at.group as usize];
                group.config = settings.update(&group.config, window_max)?;
                // A larger unsettled window may free messages for waiters.
                self.serve_waiters(at);
                Ok(Reply::GroupPut { created: false })
            }
            Err(Error::UnknownGroup { .. }) => {
                let config = settings.create(window_max)?;
                self.create_group(log, name, config)?;
                Ok(Reply::GroupPut { created: true })
            }
            Err(error) => Err(error),
        }
    }

    /// Creates a group after checking its start and the group limit.
    fn create_group(
        &mut self,
        log: &LogName,
        name: GroupName,
        config: GroupConfig,
    ) -> Result<GroupRef, Error> {
        let log_id = self.log_id(log)?;
        let target = &mut self.logs[log_id as usize];
        if target.groups.len() >= self.limits.groups_per_log_max {
            return Err(Error::TooManyGroups {
                max: self.limits.groups_per_log_max,
            });
        }
        let (first_index, next_index) = (target.store.first_index(), target.store.next_index());
        let start_index = match config.start {
            StartPosition::Earliest => first_index,
            StartPosition::Latest => next_index,
            StartPosition::Index(index) if (first_index..=next_index).contains(&index) => index,
            StartPosition::Index(index) => {
                return Err(Error::StartOutOfRange {
                    index,
                    first_index,
                    next_index,
                })
            }
        };
        let group_id = target.add_group(Group::new(name, config, start_index));
        Ok(GroupRef {
            log: log_id,
            group: group_id as u32,
        })
    }

    pub(super) fn acquire(&mut self, request: Acquire) -> Result<Reply, Error> {
        let Acquire {
            log,
            group,
            consumer,
            max,
            lease_ms,
            wait,
        } = request;
        if max == 0 || max > self.limits.acquire_max {
            return Err(Error::AcquireMaxOutOfRange {
                max,
                limit: self.limits.acquire_max,
            });
        }
        if let Some(lease_ms) = lease_ms {
            check_lease_ms(lease_ms)?;
        }
        let wait = wait.filter(|wait| wait.wait_ms > 0);
        if let Some(wait) = wait {
            self.check_wait(wait, &log, &group)?;
        }
        let (at, created) = match self.group_ref(&log, &group) {
            Ok(at) => (at, false),
            Err(Error::UnknownGroup { .. }) => {
                let config = self.implicit_group_config();
                (self.create_group(&log, group, config)?, true)
            }
            Err(error) => return Err(error),
        };
        let mut parts = self.group_parts(at);
        let lease_ms = lease_ms.unwrap_or(parts.group.config.lease_ms);
        let frontier = parts.group.frontier();
        let leases = parts
            .group
            .acquire(parts.store, &consumer, max, lease_ms, &mut parts.cx);
        let window_full = parts.group.window_full();
        // A key-ordered group moves its frontier past messages held back
        // by a busy key even when it leases nothing.
        let window_moved = parts.group.frontier() != frontier && !planted(Bug::WindowMoveNotLogged);
        let parked = match wait {
            // `check_wait` made room for this waiter unless the group seemed
            // to have messages, which in a key-ordered group may all wait
            // behind busy keys: then it answers at once rather than park
            // past the limit (an error now would follow a change of state).
            Some(Wait { waiter, wait_ms })
                if leases.is_empty() && self.waiters.len() < self.limits.waiters_max =>
            {
                self.park(waiter, at, consumer, max, lease_ms, wait_ms);
                true
            }
            _ => false,
        };
        let changed_state = created || window_moved || parked || !leases.is_empty();
        Ok(Reply::Acquired(Acquired {
            leases,
            parked,
            window_full,
            changed_state,
        }))
    }

    /// The configuration of a group created by its first acquire: the
    /// defaults, within this machine's limits.
    fn implicit_group_config(&self) -> GroupConfig {
        let defaults = GroupConfig::default();
        let unsettled_window = defaults
            .unsettled_window
            .min(self.limits.unsettled_window_max);
        GroupConfig {
            unsettled_window,
            ..defaults
        }
    }

    /// Refuses a wait that is too long, a waiter id in use, or a wait that
    /// would need a waiter slot when none is free.
    fn check_wait(&self, wait: Wait, log: &LogName, group: &GroupName) -> Result<(), Error> {
        if wait.wait_ms > WAIT_MS_MAX {
            return Err(Error::WaitOutOfRange {
                wait_ms: wait.wait_ms,
                max: WAIT_MS_MAX,
            });
        }
        if self.waiters.contains_key(&wait.waiter) {
            return Err(Error::DuplicateWaiter {
                waiter: wait.waiter,
            });
        }
        if self.waiters.len() >= self.limits.waiters_max {
            // Only refuse if the request would have to wait: a group (or
            // the log, for a group yet to be made) with messages to hand
            // out serves it at once.
            let log = self.find_log(log)?;
            let leasable = match log.group_id(group) {
                Some(group_id) => log.groups[group_id].has_leasable(&log.store),
                None => log.store.next_index() > log.store.first_index(),
            };
            if !leasable {
                return Err(Error::TooManyWaiters {
                    max: self.limits.waiters_max,
                });
            }
        }
        Ok(())
    }

    pub(super) fn settle(
        &mut self,
        log: &LogName,
        group: &GroupName,
        settlements: Vec<Settlement>,
    ) -> Result<Reply, Error> {
        self.check_batch_len(settlements.len())?;
        for settlement in &settlements {
            check_outcome(&settlement.outcome)?;
        }
        let at = self.group_ref(log, group)?;
        let mut parts = self.group_parts(at);
        let results = parts.group.settle(parts.store, settlements, &mut parts.cx);
        self.serve_waiters(at);
        Ok(Reply::Settled { results })
    }

    pub(super) fn extend(
        &mut self,
        log: &LogName,
        group: &GroupName,
        leases: Vec<LeaseRef>,
        lease_ms: Option<u64>,
    ) -> Result<Reply, Error> {
        self.check_batch_len(leases.len())?;
        if let Some(lease_ms) = lease_ms {
            check_lease_ms(lease_ms)?;
        }
        let at = self.group_ref(log, group)?;
        let mut parts = self.group_parts(at);
        let lease_ms = lease_ms.unwrap_or(parts.group.config.lease_ms);
        let leases = leases
            .into_iter()
            .map(|lease| (lease.index, lease.token))
            .collect();
        let results = parts
            .group
            .extend(parts.store, leases, lease_ms, &mut parts.cx);
        Ok(Reply::Extended { results })
    }

    pub(super) fn release(
        &mut self,
        log: &LogName,
        group: &GroupName,
        consumer: &ConsumerName,
    ) -> Result<Reply, Error> {
        let at = self.group_ref(log, group)?;
        let mut parts = self.group_parts(at);
        let count = parts.group.release(parts.store, consumer, &mut parts.cx);
        self.serve_waiters(at);
        Ok(Reply::Released { count })
    }

    pub(super) fn redrive(
        &mut self,
        log: &LogName,
        group: &GroupName,
        indices: Option<Vec<u64>>,
    ) -> Result<Reply, Error> {
        if let Some(indices) = &indices {
            self.check_batch_len(indices.len())?;
        }
        let at = self.group_ref(log, group)?;
        let parts = self.group_parts(at);
        let redriven = parts.group.redrive(parts.store, indices);
        self.serve_waiters(at);
        Ok(Reply::Redriven(redriven))
    }
}

/// Refuses a settle outcome whose delay or reason is over its limit.
fn check_outcome(outcome: &SettleOutcome) -> Result<(), Error> {
    if let SettleOutcome::Retry {
        delay_ms: Some(delay_ms),
        ..
    } = outcome
    {
        if *delay_ms > DELAY_MS_MAX {
            return Err(Error::DelayOutOfRange {
                delay_ms: *delay_ms,
                max: DELAY_MS_MAX,
            });
        }
    }
    match outcome.reason() {
        Some(reason) if reason.len() > REASON_LEN_MAX => Err(Error::ReasonTooLong {
            len: reason.len(),
            max: REASON_LEN_MAX,
        }),
        _ => Ok(()),
    }
}
