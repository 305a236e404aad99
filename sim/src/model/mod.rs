//! The reference model: the simulator's own account of every log and group,
//! driven by the commands the broker applied and the replies and events the
//! machine produced, and checked against them on every step.
//!
//! It is derived from the broker's command log exactly as the machine is:
//! on recovery it is rebuilt by the same replay (or restored from the copy
//! kept with the snapshot), so it always describes the recovered broker.

mod group;
mod settle;

use std::collections::{BTreeSet, HashMap};

use mamamia_machine::{Appended, Command, Event, GroupConfig, GroupName, Lease, LogName};

pub use group::{Delay, Grant, GroupModel, MessageModel, Parked, State};

use crate::coverage::{Coverage, Mark};
use crate::violation::{ensure, Check, Checked, Violation};

/// Identifies a message the producers made: `producer << 32 | sequence`.
pub type MessageId = u64;

/// How a message's id and key travel in it.
pub fn message_id(payload: &[u8]) -> MessageId {
    let bytes: [u8; 8] = payload[..8].try_into().expect("sim payloads are 8 bytes");
    u64::from_le_bytes(bytes)
}

pub fn key_number(key: &str) -> u32 {
    key[1..].parse().expect("sim keys are k<number>")
}

/// The bytes a message counts against an acquire's budget.
fn size_bytes(message: &mamamia_machine::NewMessage) -> u64 {
    let key = message.key.as_ref().map_or(0, String::len);
    let headers: usize = message.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    (message.payload.len() + key + headers) as u64
}

#[derive(Clone, Debug)]
pub struct LogModel {
    pub name: LogName,
    pub first_index: u64,
    /// The id of every message ever appended, by index.
    pub ids: Vec<MessageId>,
    keys: Vec<Option<u32>>,
    /// The size of every message ever appended, by index, counted as the
    /// machine's byte budget counts it: payload, key and headers.
    sizes: Vec<u64>,
    /// Index and append time of every id, for the dedup window.
    dedup: HashMap<MessageId, (u64, u64)>,
    dedup_window_ms: u64,
    pub groups: Vec<GroupModel>,
}

impl LogModel {
    pub fn next_index(&self) -> u64 {
        self.ids.len() as u64
    }

    pub fn group_id(&self, name: &GroupName) -> Option<usize> {
        self.groups.iter().position(|group| group.name == *name)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub logs: Vec<LogModel>,
    /// Parked waiters by deadline, over all groups.
    pub waiter_deadlines: BTreeSet<(u64, u64)>,
    /// For coverage: how often retention dropped messages.
    pub retention_moves: u64,
    /// For coverage: grants the byte budget cut short.
    pub budget_cuts: u64,
}

impl Model {
    pub fn log_id(&self, name: &LogName) -> Option<usize> {
        self.logs.iter().position(|log| log.name == *name)
    }

    pub fn group_ids(&self, log: &LogName, group: &GroupName) -> Option<(usize, usize)> {
        let log_id = self.log_id(log)?;
        Some((log_id, self.logs[log_id].group_id(group)?))
    }

    pub fn group(&self, at: (usize, usize)) -> &GroupModel {
        &self.logs[at.0].groups[at.1]
    }

    pub fn group_mut(&mut self, at: (usize, usize)) -> &mut GroupModel {
        &mut self.logs[at.0].groups[at.1]
    }

    /// A log the broker created.
    pub fn add_log(&mut self, name: LogName, dedup_window_ms: u64) -> usize {
        self.logs.push(LogModel {
            name,
            first_index: 0,
            ids: Vec::new(),
            keys: Vec::new(),
            sizes: Vec::new(),
            dedup: HashMap::new(),
            dedup_window_ms,
            groups: Vec::new(),
        });
        self.logs.len() - 1
    }

    /// A group the broker created, starting at `start_index`.
    pub fn add_group(&mut self, log_id: usize, name: GroupName, config: GroupConfig, start: u64) {
        let log = &mut self.logs[log_id];
        let mut group = GroupModel::new(name, config, start);
        for index in start..log.next_index() {
            group.appended(index, log.keys[index as usize]);
        }
        log.groups.push(group);
    }

    /// Messages that every group has not yet settled, over all groups.
    pub fn unsettled(&self) -> u64 {
        self.logs
            .iter()
            .flat_map(|log| &log.groups)
            .map(|group| group.unsettled)
            .sum()
    }

    /// Checks an accepted append against the log's next index and dedup window.
    pub fn appended(
        &mut self,
        now_ms: u64,
        log: &LogName,
        command: &Command,
        reply: &Appended,
    ) -> Checked {
        let Command::Append { messages, .. } = command else {
            unreachable!("an append reply answers an append")
        };
        let log_id = self.log_id(log).expect("appends go to known logs");
        let model = &mut self.logs[log_id];
        ensure(
            reply.first_index == model.next_index(),
            Check::IndexContiguity,
            || {
                format!(
                    "{log}: batch appended at {}, next index is {}",
                    reply.first_index,
                    model.next_index()
                )
            },
        )?;
        let mut duplicates = reply.duplicates.iter().peekable();
        for (position, message) in messages.iter().enumerate() {
            let id = message_id(&message.payload);
            let known = model
                .dedup
                .get(&id)
                .filter(|(_, at_ms)| now_ms.saturating_sub(*at_ms) < model.dedup_window_ms)
                .map(|&(index, _)| index);
            let reported = duplicates
                .next_if(|duplicate| duplicate.position == position)
                .map(|d| d.index);
            ensure(known == reported, Check::AppendDuplicated, || {
                format!("{log}: message {id:x} at position {position}: stored at {known:?}, repeat reported at {reported:?}")
            })?;
            if known.is_some() {
                continue;
            }
            let index = model.next_index();
            let key = message.key.as_deref().map(key_number);
            model.ids.push(id);
            model.keys.push(key);
            model.sizes.push(size_bytes(message));
            model.dedup.insert(id, (index, now_ms));
            for group in &mut model.groups {
                group.appended(index, key);
            }
        }
        let count = model.next_index() - reply.first_index;
        ensure(
            count == reply.count && duplicates.next().is_none(),
            Check::AppendDuplicated,
            || {
                format!(
                    "{log}: {count} new messages, reply says {} (duplicates {:?})",
                    reply.count, reply.duplicates
                )
            },
        )
    }

    /// Retention moved the log's first index: every dropped message must be
    /// settled in every group.
    pub fn retained_from(&mut self, log_id: usize, first_index: u64) -> Checked {
        let log = &mut self.logs[log_id];
        let name = &log.name;
        ensure(
            first_index >= log.first_index,
            Check::RetentionDroppedUnsettled,
            || {
                format!(
                    "{name}: first index went back from {} to {first_index}",
                    log.first_index
                )
            },
        )?;
        for index in log.first_index..first_index {
            for group in &mut log.groups {
                let state = group.message(index).map(|message| message.state);
                ensure(
                    state.is_none_or(State::is_terminal),
                    Check::RetentionDroppedUnsettled,
                    || {
                        format!(
                            "{name}: retention dropped {index}, {state:?} in {}",
                            group.name
                        )
                    },
                )?;
                // Dead letters of dropped messages are forgotten.
                group.dead.remove(&index);
            }
        }
        log.first_index = first_index;
        self.retention_moves += 1;
        Ok(())
    }

    /// A lease the machine granted, by acquire or to a waiter.
    pub fn grant(
        &mut self,
        at: (usize, usize),
        lease: &Lease,
        consumer: &mamamia_machine::ConsumerName,
        at_ms: u64,
    ) -> Checked {
        let log = &self.logs[at.0];
        ensure(
            lease.index >= log.first_index,
            Check::RetentionDroppedUnsettled,
            || {
                format!(
                    "{}: leased {} below the first retained index {}",
                    log.name, lease.index, log.first_index
                )
            },
        )?;
        let payload_id = message_id(lease.message.payload());
        let id = log.ids.get(lease.index as usize).copied();
        ensure(id == Some(payload_id), Check::AckedAppendLost, || {
            format!(
                "{}: lease on {} carries message {payload_id:x}, the log holds {id:x?}",
                log.name, lease.index
            )
        })?;
        self.group_mut(at).grant(
            lease.index,
            lease.token,
            lease.attempt,
            lease.expires_at_ms,
            consumer,
            at_ms,
        )
    }

    /// A machine event, checked and applied; `acquire_bytes_max` is the
    /// machine's byte budget per grant.
    pub fn event(&mut self, now_ms: u64, event: &Event, acquire_bytes_max: u64) -> Checked {
        match event {
            Event::WaiterServed { waiter, leases } => {
                let (at, parked) = self.unpark(*waiter)?;
                let head = self.group(at).parked.front().map(|p| p.waiter);
                // `unpark` removed it; it must have been first in line.
                ensure(parked.0 == 0, Check::WaiterOrder, || {
                    format!("waiter {} served while {head:?} waited longer", waiter.0)
                })?;
                let parked = parked.1;
                ensure(
                    !leases.is_empty() && leases.len() <= parked.max as usize,
                    Check::WaiterNotServed,
                    || {
                        format!(
                            "waiter {} served {} leases, asked for 1..={}",
                            waiter.0,
                            leases.len(),
                            parked.max
                        )
                    },
                )?;
                let served_at_ms = leases[0].expires_at_ms - parked.lease_ms;
                let indices: Vec<u64> = leases.iter().map(|lease| lease.index).collect();
                let log = &mut self.logs[at.0];
                let grant = Grant {
                    max: parked.max as usize,
                    bytes_max: acquire_bytes_max,
                    sizes: &log.sizes,
                    exact: false,
                };
                let cut = log.groups[at.1].check_lowest_first(served_at_ms, &indices, grant)?;
                self.budget_cuts += cut as u64;
                for lease in leases {
                    let served_at_ms = lease.expires_at_ms - parked.lease_ms;
                    ensure(served_at_ms <= now_ms, Check::WaiterNotServed, || {
                        format!("waiter {} served a lease from the future", waiter.0)
                    })?;
                    self.grant(at, lease, &parked.consumer, served_at_ms)?;
                }
                Ok(())
            }
            Event::WaiterTimedOut { waiter } => {
                let (_, (_, parked)) = self.unpark(*waiter)?;
                ensure(parked.deadline_ms <= now_ms, Check::WaiterNotServed, || {
                    format!(
                        "waiter {} timed out before its deadline {}",
                        waiter.0, parked.deadline_ms
                    )
                })
            }
            Event::LeaseExpired {
                log,
                group,
                index,
                attempt,
                consumer,
                status,
            } => {
                let at = self.group_ids(log, group).expect("expiry in a known group");
                let model = self.group_mut(at);
                let lease = model.message(*index).and_then(|message| {
                    let lease = message.lease.as_ref()?;
                    Some((message.attempt, lease.expires_at_ms, lease.consumer.clone()))
                });
                let Some((model_attempt, expires_at_ms, holder)) = lease else {
                    return Err(Violation::new(
                        Check::SettleMismatch,
                        format!("{group}: lease on {index} expired, but none was held"),
                    ));
                };
                ensure(
                    model_attempt == *attempt && holder == *consumer && expires_at_ms <= now_ms,
                    Check::SettleMismatch,
                    || {
                        format!("{group}: expiry of {index} attempt {attempt} by {consumer}, model: attempt {model_attempt} by {holder} until {expires_at_ms}")
                    },
                )?;
                let expected = model.fail_attempt(*index, expires_at_ms, Delay::Backoff);
                ensure(expected == *status, Check::SettleMismatch, || {
                    format!(
                        "{group}: expiry of {index} left it {status:?}, model says {expected:?}"
                    )
                })
            }
        }
    }

    /// Removes a parked waiter; returns its group and (position in line, waiter).
    fn unpark(
        &mut self,
        waiter: mamamia_machine::WaiterId,
    ) -> Checked<((usize, usize), (usize, Parked))> {
        for (log_id, log) in self.logs.iter_mut().enumerate() {
            for (group_id, group) in log.groups.iter_mut().enumerate() {
                if let Some(position) = group.parked.iter().position(|p| p.waiter == waiter) {
                    let parked = group.parked.remove(position).expect("found above");
                    self.waiter_deadlines
                        .remove(&(parked.deadline_ms, waiter.0));
                    return Ok(((log_id, group_id), (position, parked)));
                }
            }
        }
        Err(Violation::new(
            Check::WaiterNotServed,
            format!("event for waiter {}, which is not parked", waiter.0),
        ))
    }

    pub fn park(&mut self, at: (usize, usize), parked: Parked) {
        self.waiter_deadlines
            .insert((parked.deadline_ms, parked.waiter.0));
        self.group_mut(at).parked.push_back(parked);
    }

    /// Adds the model's coverage counts.
    pub fn count_coverage(&self, coverage: &mut Coverage) {
        let groups = || self.logs.iter().flat_map(|log| &log.groups);
        let mut mark = |mark, count: u64| coverage.hit_times(mark, count);
        mark(Mark::Backoff, groups().map(|g| g.backoffs).sum());
        mark(Mark::KeyOrderingWait, groups().map(|g| g.key_waits).sum());
        mark(
            Mark::RedriveAfterDead,
            groups().map(|g| g.redriven_settled).sum(),
        );
        mark(Mark::RetentionDropped, self.retention_moves);
        mark(Mark::AcquireBudgetCut, self.budget_cuts);
    }

    /// The earliest expiry of a lease the model still counts as held.
    pub fn first_lease_expiry(&self) -> Option<(u64, &GroupName, u64)> {
        self.logs
            .iter()
            .flat_map(|log| &log.groups)
            .filter_map(|group| {
                let &(expires_at_ms, index) = group.leases_by_expiry.first()?;
                Some((expires_at_ms, &group.name, index))
            })
            .min_by_key(|(expires_at_ms, _, _)| *expires_at_ms)
    }
}
