//! The machine: owns every log, dispatches commands, keeps time.

mod consume;
mod invariants;
mod produce;
mod read;
mod waiters;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::bugs::{planted, Bug};
use crate::command::{Command, WaiterId};
use crate::deadline::{Deadlines, Timer};
use crate::error::Error;
use crate::event::Event;
use crate::group::{Context, Group, GroupRef};
use crate::limits::{Limits, LimitsError};
use crate::log::{Log, MessageStore};
use crate::name::{ConsumerName, GroupName, LogName};
use crate::reply::Reply;

/// A parked long-poll acquire.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Waiter {
    group: GroupRef,
    consumer: ConsumerName,
    max: u32,
    lease_ms: u64,
    deadline_ms: u64,
}

/// The broker's state machine. See the crate documentation for the contract.
///
/// A clone is an independent machine with the same future. It is cheap in
/// the messages, whose blocks it shares copy-on-write, and linear in the
/// rest (leases, timers, dedup ids): the shell clones the machine to
/// serialize a snapshot on another thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "Snapshot")]
pub struct Machine {
    limits: Limits,
    now_ms: u64,
    logs: Vec<Log>,
    waiters: BTreeMap<WaiterId, Waiter>,
    /// The next lease token; see [`crate::LeaseToken`].
    next_token: u64,
    #[serde(skip)]
    log_ids: BTreeMap<LogName, u32>,
    #[serde(skip)]
    deadlines: Deadlines,
    #[serde(skip)]
    events: VecDeque<Event>,
}

/// The persistent part of a machine, as serialized; the rest is rebuilt.
#[derive(Deserialize)]
struct Snapshot {
    limits: Limits,
    now_ms: u64,
    logs: Vec<Log>,
    waiters: BTreeMap<WaiterId, Waiter>,
    next_token: u64,
}

impl TryFrom<Snapshot> for Machine {
    type Error = LimitsError;

    /// Refuses a snapshot whose limits no machine could have been made with.
    fn try_from(snapshot: Snapshot) -> Result<Self, LimitsError> {
        snapshot.limits.validate()?;
        let mut machine = Machine {
            limits: snapshot.limits,
            now_ms: snapshot.now_ms,
            logs: snapshot.logs,
            waiters: snapshot.waiters,
            next_token: snapshot.next_token,
            log_ids: BTreeMap::new(),
            deadlines: Deadlines::default(),
            events: VecDeque::new(),
        };
        machine.rebuild_derived();
        Ok(machine)
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new(Limits::default())
    }
}

impl Machine {
    /// An empty machine.
    ///
    /// # Panics
    ///
    /// If `limits` fail [`Limits::validate`]: drivers check limits where
    /// they read them, so invalid ones here are a bug.
    pub fn new(limits: Limits) -> Self {
        if let Err(error) = limits.validate() {
            panic!("Machine::new takes validated limits: {error}");
        }
        Machine {
            limits,
            now_ms: 0,
            logs: Vec::new(),
            waiters: BTreeMap::new(),
            next_token: 1,
            log_ids: BTreeMap::new(),
            deadlines: Deadlines::default(),
            events: VecDeque::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The machine's logical time: the latest `now_ms` it was given.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// When the machine next has something to do on its own (a lease
    /// expiry, a backoff end, a long-poll deadline): call
    /// [`Self::handle_timeout`] then.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.next_due_ms()
    }

    /// The next queued output, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves logical time to `now_ms`, acting on everything due by then.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.advance(now_ms);
        self.debug_check_invariants();
    }

    /// Applies one command at logical time `now_ms`.
    ///
    /// First everything due by `now_ms` happens, each at its own due time.
    /// Then the command: on `Err`, it changed nothing.
    pub fn handle(&mut self, now_ms: u64, command: Command) -> Result<Reply, Error> {
        self.advance(now_ms);
        let reply = self.dispatch(command);
        self.debug_check_invariants();
        reply
    }

    fn dispatch(&mut self, command: Command) -> Result<Reply, Error> {
        match command {
            Command::PutLog { log, settings } => self.put_log(log, &settings),
            Command::Append { log, messages } => self.append(log, messages),
            Command::PutGroup {
                log,
                group,
                settings,
            } => self.put_group(&log, group, &settings),
            Command::Acquire(acquire) => self.acquire(acquire),
            Command::Settle {
                log,
                group,
                settlements,
            } => self.settle(&log, &group, settlements),
            Command::Extend {
                log,
                group,
                leases,
                lease_ms,
            } => self.extend(&log, &group, leases, lease_ms),
            Command::Release {
                log,
                group,
                consumer,
            } => self.release(&log, &group, &consumer),
            Command::Redrive {
                log,
                group,
                indices,
            } => self.redrive(&log, &group, indices),
            Command::CancelWaiter { waiter } => {
                let found = self.cancel_waiter(waiter);
                Ok(Reply::WaiterCancelled { found })
            }
            Command::CancelAllWaiters => {
                let waiters: Vec<WaiterId> = self.waiters.keys().copied().collect();
                for &waiter in &waiters {
                    self.cancel_waiter(waiter);
                }
                Ok(Reply::WaitersCancelled {
                    count: waiters.len() as u64,
                })
            }
            Command::Tick => Ok(Reply::Ticked),
            Command::ApplyRetention => {
                let now_ms = self.now_ms;
                let dropped = self
                    .logs
                    .iter_mut()
                    .map(|log| log.apply_retention(now_ms))
                    .sum();
                Ok(Reply::RetentionApplied { dropped })
            }
        }
    }

    // ----- time -----

    /// Fires every timer due by `now_ms` at its own due time, so the result
    /// does not depend on how often the driver calls in.
    ///
    /// Waiters are served once everything due at an instant has happened
    /// (and before a waiter's own deadline at that instant), so a waiter
    /// gets the lowest messages available at that instant, not just those
    /// freed by the first timer to fire.
    fn advance(&mut self, now_ms: u64) {
        let now_ms = now_ms.max(self.now_ms);
        let mut to_serve = Vec::new();
        loop {
            // The instant is over: serve, then look again, since the new
            // leases arm expiries that may be due by `now_ms` too.
            let next_ms = self
                .deadlines
                .next_due_ms()
                .filter(|&due_ms| due_ms <= now_ms);
            if !to_serve.is_empty() && next_ms.is_none_or(|due_ms| due_ms > self.now_ms) {
                to_serve
                    .drain(..)
                    .for_each(|group| self.serve_waiters(group));
                continue;
            }
            let Some((at_ms, timer)) = self.deadlines.pop_due(now_ms) else {
                break;
            };
            if matches!(timer, Timer::WaiterDeadline { .. }) {
                to_serve
                    .drain(..)
                    .for_each(|group| self.serve_waiters(group));
            }
            self.now_ms = self.now_ms.max(at_ms);
            self.fire(at_ms, timer, &mut to_serve);
        }
        self.now_ms = now_ms;
    }

    fn fire(&mut self, at_ms: u64, timer: Timer, to_serve: &mut Vec<GroupRef>) {
        match timer {
            Timer::LeaseExpiry {
                group,
                index,
                token,
            } => {
                let mut parts = self.group_parts(group);
                let expired = parts
                    .group
                    .expire(parts.store, index, token, at_ms, &mut parts.cx);
                if let Some((lease, status)) = expired {
                    let event = Event::LeaseExpired {
                        log: parts.log_name.clone(),
                        group: parts.group.name.clone(),
                        index,
                        attempt: lease.attempt,
                        consumer: lease.consumer,
                        status,
                    };
                    self.deadlines.fired(at_ms);
                    self.events.push_back(event);
                    if !to_serve.contains(&group) {
                        to_serve.push(group);
                    }
                }
            }
            Timer::BackoffEnd {
                group,
                index,
                token,
            } => {
                let log = &mut self.logs[group.log as usize];
                let ended =
                    log.groups[group.group as usize].end_backoff(&log.store, index, token, at_ms);
                if ended {
                    self.deadlines.fired(at_ms);
                    if !to_serve.contains(&group) && !planted(Bug::BackoffEndForgetsWaiters) {
                        to_serve.push(group);
                    }
                }
            }
            Timer::WaiterDeadline { waiter } => {
                if self
                    .waiters
                    .get(&waiter)
                    .is_some_and(|w| w.deadline_ms == at_ms)
                {
                    self.cancel_waiter(waiter);
                    self.events.push_back(Event::WaiterTimedOut { waiter });
                }
            }
        }
    }

    // ----- lookups -----

    fn log_id(&self, log: &LogName) -> Result<u32, Error> {
        self.log_ids
            .get(log)
            .copied()
            .ok_or_else(|| Error::UnknownLog { log: log.clone() })
    }

    fn find_log(&self, log: &LogName) -> Result<&Log, Error> {
        Ok(&self.logs[self.log_id(log)? as usize])
    }

    fn group_ref(&self, log: &LogName, group: &GroupName) -> Result<GroupRef, Error> {
        let log_id = self.log_id(log)?;
        let group_id =
            self.logs[log_id as usize]
                .group_id(group)
                .ok_or_else(|| Error::UnknownGroup {
                    log: log.clone(),
                    group: group.clone(),
                })?;
        Ok(GroupRef {
            log: log_id,
            group: group_id as u32,
        })
    }

    fn find_group(&self, log: &LogName, group: &GroupName) -> Result<(&Log, &Group), Error> {
        let at = self.group_ref(log, group)?;
        let log = &self.logs[at.log as usize];
        Ok((log, &log.groups[at.group as usize]))
    }

    /// Splits the borrows a group operation needs: its log's name and
    /// messages, the group itself, and the context around it.
    fn group_parts(&mut self, at: GroupRef) -> GroupParts<'_> {
        let Log {
            name,
            store,
            groups,
            ..
        } = &mut self.logs[at.log as usize];
        GroupParts {
            log_name: name,
            store,
            group: &mut groups[at.group as usize],
            cx: Context {
                now_ms: self.now_ms,
                at,
                deadlines: &mut self.deadlines,
                dead_letters_max: self.limits.dead_letters_max,
                acquire_bytes_max: self.limits.acquire_bytes_max,
                next_token: &mut self.next_token,
            },
        }
    }

    /// Rebuilds the indexes and timers a snapshot leaves out.
    fn rebuild_derived(&mut self) {
        self.deadlines = Deadlines::default();
        self.log_ids = BTreeMap::new();
        for (log_id, log) in self.logs.iter_mut().enumerate() {
            self.log_ids.insert(log.name.clone(), log_id as u32);
            log.rebuild_derived(log_id as u32, &mut self.deadlines);
        }
        for (&waiter, parked) in &self.waiters {
            self.deadlines
                .arm(parked.deadline_ms, Timer::WaiterDeadline { waiter });
        }
    }
}

struct GroupParts<'a> {
    log_name: &'a LogName,
    store: &'a MessageStore,
    group: &'a mut Group,
    cx: Context<'a>,
}
