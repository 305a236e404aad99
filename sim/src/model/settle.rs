//! The model's side of each command: what the reply must be, given the
//! model's state, and the state after it.

use std::collections::BTreeSet;

use mamamia_machine::{
    Acquire, Command, Error, ExtendStatus, Machine, Redriven, Reply, SettleOutcome, SettleStatus,
};

use super::{Delay, Grant, Model, Parked, State};
use crate::violation::{ensure, Check, Checked, Violation};

impl Model {
    /// Checks the machine's answer to `command` at `now_ms` and applies it.
    /// `machine` is read only for what the model cannot know by itself: the
    /// first index after retention and the configuration of groups.
    pub fn apply(
        &mut self,
        now_ms: u64,
        command: &Command,
        result: &Result<Reply, Error>,
        machine: &Machine,
    ) -> Checked {
        let Ok(reply) = result else {
            return Ok(());
        };
        match (command, reply) {
            (Command::PutLog { log, settings }, Reply::LogPut { .. }) => {
                let log_id = match self.log_id(log) {
                    Some(log_id) => log_id,
                    None => self.add_log(
                        log.clone(),
                        settings.dedup_window_ms.unwrap_or(5 * 60 * 1000),
                    ),
                };
                self.sync_first_index(log_id, machine)
            }
            (Command::Append { log, .. }, Reply::Appended(appended)) => {
                if self.log_id(log).is_none() {
                    self.add_log(log.clone(), 5 * 60 * 1000);
                }
                self.appended(now_ms, log, command, appended)?;
                let log_id = self.log_id(log).expect("added above");
                self.sync_first_index(log_id, machine)
            }
            (Command::PutGroup { log, group, .. }, Reply::GroupPut { .. }) => {
                self.sync_group(log, group, machine);
                Ok(())
            }
            (Command::Acquire(acquire), Reply::Acquired(acquired)) => {
                let at = self.sync_group(&acquire.log, &acquire.group, machine);
                self.acquired(now_ms, at, acquire, acquired, machine.limits())
            }
            (
                Command::Settle {
                    log,
                    group,
                    settlements,
                },
                Reply::Settled { results },
            ) => {
                let at = self.group_ids(log, group).expect("settled a known group");
                for (settlement, result) in settlements.iter().zip(results) {
                    let expected = self.settle_one(at, now_ms, settlement)?;
                    ensure(
                        result.status == expected
                            || matches!(
                                (result.status, expected),
                                (SettleStatus::Refused(_), SettleStatus::Refused(_))
                            ),
                        check_of(expected),
                        || {
                            format!("{group}: settle of {} with {} as {:?} answered {:?}, model says {expected:?}", settlement.index, settlement.token, settlement.outcome, result.status)
                        },
                    )?;
                }
                Ok(())
            }
            (
                Command::Extend {
                    log,
                    group,
                    leases,
                    lease_ms,
                },
                Reply::Extended { results },
            ) => {
                let at = self.group_ids(log, group).expect("extended a known group");
                let model = self.group_mut(at);
                let lease_ms = lease_ms.unwrap_or(model.config.lease_ms);
                for (lease, result) in leases.iter().zip(results) {
                    let valid = model.holds(lease.index, lease.token, now_ms);
                    let extended = match result.status {
                        ExtendStatus::Extended { expires_at_ms } => Some(expires_at_ms),
                        ExtendStatus::Refused(_) => None,
                    };
                    let expected = valid.then_some(now_ms + lease_ms);
                    ensure(
                        extended == expected,
                        if valid {
                            Check::SettleMismatch
                        } else {
                            Check::StaleTokenAccepted
                        },
                        || {
                            format!("{group}: extend of {} with {} answered {:?}, model expected expiry {expected:?}", lease.index, lease.token, result.status)
                        },
                    )?;
                    if let Some(expires_at_ms) = expected {
                        model.extend(lease.index, expires_at_ms);
                    }
                }
                Ok(())
            }
            (
                Command::Release {
                    log,
                    group,
                    consumer,
                },
                Reply::Released { count },
            ) => {
                let at = self
                    .group_ids(log, group)
                    .expect("released in a known group");
                let model = self.group_mut(at);
                let held = model.held_by(consumer);
                for &index in &held {
                    model.fail_attempt(index, now_ms, Delay::Immediate);
                }
                ensure(*count == held.len() as u64, Check::SettleMismatch, || {
                    format!("{group}: release by {consumer} returned {count} leases, model says {held:?}")
                })
            }
            (
                Command::Redrive {
                    log,
                    group,
                    indices,
                },
                Reply::Redriven(redriven),
            ) => {
                let at = self.group_ids(log, group).expect("redrove a known group");
                self.redriven(at, indices.as_deref(), redriven)
            }
            (Command::CancelWaiter { waiter }, Reply::WaiterCancelled { found }) => {
                let parked = self
                    .logs
                    .iter()
                    .flat_map(|log| &log.groups)
                    .any(|group| group.parked.iter().any(|p| p.waiter == *waiter));
                ensure(parked == *found, Check::SettleMismatch, || {
                    format!(
                        "cancel of waiter {}: found {found}, model says {parked}",
                        waiter.0
                    )
                })?;
                if parked {
                    self.unpark(*waiter)?;
                }
                Ok(())
            }
            (Command::CancelAllWaiters, Reply::WaitersCancelled { count }) => {
                let parked = self.waiter_deadlines.len() as u64;
                ensure(parked == *count, Check::SettleMismatch, || {
                    format!("cancelled {count} waiters, model had {parked}")
                })?;
                self.waiter_deadlines.clear();
                for group in self.logs.iter_mut().flat_map(|log| &mut log.groups) {
                    group.parked.clear();
                }
                Ok(())
            }
            // Time passing shows in the events the model is fed.
            (Command::Tick, Reply::Ticked) => Ok(()),
            (Command::ApplyRetention, Reply::RetentionApplied { .. }) => {
                for log_id in 0..self.logs.len() {
                    self.sync_first_index(log_id, machine)?;
                }
                Ok(())
            }
            (command, reply) => Err(Violation::new(
                Check::SettleMismatch,
                format!("{reply:?} answers {command:?}"),
            )),
        }
    }

    fn sync_first_index(&mut self, log_id: usize, machine: &Machine) -> Checked {
        let first_index = machine
            .log(&self.logs[log_id].name)
            .expect("the log exists")
            .first_index;
        if first_index != self.logs[log_id].first_index {
            self.retained_from(log_id, first_index)?;
        }
        Ok(())
    }

    /// Adds a group the machine just created and takes its configuration.
    fn sync_group(
        &mut self,
        log: &mamamia_machine::LogName,
        group: &mamamia_machine::GroupName,
        machine: &Machine,
    ) -> (usize, usize) {
        let summary = machine
            .group(log, group)
            .expect("the group exists after its command");
        match self.group_ids(log, group) {
            Some(at) => {
                self.group_mut(at).set_config(summary.config);
                at
            }
            None => {
                let log_id = self.log_id(log).expect("a group's log is known");
                // A new group starts at its base offset, with nothing settled.
                self.add_group(log_id, group.clone(), summary.config, summary.base_offset);
                (log_id, self.logs[log_id].groups.len() - 1)
            }
        }
    }

    fn acquired(
        &mut self,
        now_ms: u64,
        at: (usize, usize),
        acquire: &Acquire,
        acquired: &mamamia_machine::Acquired,
        limits: &mamamia_machine::Limits,
    ) -> Checked {
        let (leases, parked) = (&acquired.leases, acquired.parked);
        let name = self.group(at).name.clone();
        let lease_ms = acquire.lease_ms.unwrap_or(self.group(at).config.lease_ms);
        ensure(
            leases.len() <= acquire.max as usize,
            Check::SettleMismatch,
            || format!("{name}: {} leases for max {}", leases.len(), acquire.max),
        )?;
        ensure(
            leases.windows(2).all(|pair| pair[0].index < pair[1].index),
            Check::SettleMismatch,
            || format!("{name}: leases not lowest index first"),
        )?;
        let indices: Vec<u64> = leases.iter().map(|lease| lease.index).collect();
        let log = &mut self.logs[at.0];
        let grant = Grant {
            max: acquire.max as usize,
            bytes_max: limits.acquire_bytes_max,
            sizes: &log.sizes,
            // A full window may stop a grant early; the model cannot see it.
            exact: !acquired.window_full,
        };
        let cut = log.groups[at.1].check_lowest_first(now_ms, &indices, grant)?;
        self.budget_cuts += cut as u64;
        for lease in leases {
            ensure(
                lease.expires_at_ms == now_ms + lease_ms,
                Check::SettleMismatch,
                || {
                    format!(
                        "{name}: lease on {} expires at {}, not {now_ms} + {lease_ms}",
                        lease.index, lease.expires_at_ms
                    )
                },
            )?;
            self.grant(at, lease, &acquire.consumer, now_ms)?;
        }
        // A long poll parks when nothing was leased, unless every waiter slot is
        // taken (then the acquire answers at once, empty).
        let room = (self.waiter_deadlines.len() as u64) < limits.waiters_max as u64;
        let should_park =
            leases.is_empty() && acquire.wait.is_some_and(|wait| wait.wait_ms > 0) && room;
        ensure(parked == should_park, Check::WaiterNotServed, || {
            format!("{name}: acquire parked {parked}, expected {should_park}")
        })?;
        if let (true, Some(wait)) = (parked, acquire.wait) {
            self.park(
                at,
                Parked {
                    waiter: wait.waiter,
                    consumer: acquire.consumer.clone(),
                    max: acquire.max,
                    lease_ms,
                    deadline_ms: now_ms + wait.wait_ms,
                },
            );
        }
        Ok(())
    }

    /// The status the machine must answer for one settlement, applied.
    fn settle_one(
        &mut self,
        at: (usize, usize),
        now_ms: u64,
        settlement: &mamamia_machine::Settlement,
    ) -> Checked<SettleStatus> {
        let model = self.group_mut(at);
        let index = settlement.index;
        if !model.holds(index, settlement.token, now_ms) {
            return Ok(SettleStatus::Refused(mamamia_machine::Refusal::NotLeased));
        }
        Ok(match &settlement.outcome {
            SettleOutcome::Processed => {
                model.settle_terminal(index, State::Processed)?;
                SettleStatus::Processed
            }
            SettleOutcome::Dead { .. } => {
                model.settle_terminal(index, State::Dead)?;
                SettleStatus::Dead
            }
            SettleOutcome::Retry { delay_ms, .. } => {
                let delay = delay_ms.map_or(Delay::Backoff, Delay::Explicit);
                model.fail_attempt(index, now_ms, delay)
            }
        })
    }

    fn redriven(
        &mut self,
        at: (usize, usize),
        indices: Option<&[u64]>,
        redriven: &Redriven,
    ) -> Checked {
        let model = self.group_mut(at);
        let (targets, not_dead): (BTreeSet<u64>, Vec<u64>) = match indices {
            None => (model.dead.clone(), Vec::new()),
            Some(indices) => {
                let not_dead = indices
                    .iter()
                    .copied()
                    .filter(|index| !model.dead.contains(index))
                    .collect();
                (
                    indices
                        .iter()
                        .copied()
                        .filter(|index| model.dead.contains(index))
                        .collect(),
                    not_dead,
                )
            }
        };
        ensure(
            redriven.count == targets.len() as u64 && redriven.not_dead == not_dead,
            Check::SettleMismatch,
            || {
                format!("{}: redrive answered {redriven:?}, model expected {} of {targets:?}, not dead {not_dead:?}", model.name, targets.len())
            },
        )?;
        for index in targets {
            model.redrive(index);
        }
        Ok(())
    }
}

/// Which check a mismatch breaks: accepting what the model refuses is a
/// stale token changing state; the rest is a wrong answer.
fn check_of(expected: SettleStatus) -> Check {
    match expected {
        SettleStatus::Refused(_) => Check::StaleTokenAccepted,
        _ => Check::SettleMismatch,
    }
}
