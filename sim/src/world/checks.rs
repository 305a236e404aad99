//! The checks that read the machine: base offsets, timers, acknowledged
//! appends, the machine's own invariants, and the final accounting.

use std::panic::{catch_unwind, AssertUnwindSafe};

use mamamia_machine::Ordering;

use super::World;
use crate::model::message_id;
use crate::panics;
use crate::violation::{ensure, Check, Checked, Violation};

impl World {
    /// G5: no lease outlives its expiry and no waiter its deadline.
    pub(super) fn check_timers(&self) -> Checked {
        let now_ms = self.broker.machine.now_ms();
        if let Some((expires_at_ms, group, index)) = self.model.first_lease_expiry() {
            ensure(expires_at_ms > now_ms, Check::LeaseStuck, || {
                format!(
                    "{group}: lease on {index} expired at {expires_at_ms}, still held at {now_ms}"
                )
            })?;
        }
        if let Some(&(deadline_ms, waiter)) = self.model.waiter_deadlines.first() {
            ensure(deadline_ms > now_ms, Check::WaiterNotServed, || {
                format!("waiter {waiter} still parked at {now_ms}, its deadline was {deadline_ms}")
            })?;
        }
        Ok(())
    }

    /// G4 and G5 for one group: `base_offset` is exactly the model's, and
    /// no waiter waits while a message could be leased.
    pub(super) fn check_group(&self, at: (usize, usize)) -> Checked {
        let summary = self.summary(at);
        let model = self.model.group(at);
        ensure(
            summary.base_offset == model.base_offset,
            Check::BaseOffset,
            || {
                format!(
                    "{}: base_offset is {}, the lowest unsettled index is {}",
                    model.name, summary.base_offset, model.base_offset
                )
            },
        )?;
        let leasable = summary.available > 0
            && !summary.window_full
            && model.config.ordering == Ordering::None;
        ensure(
            summary.waiters == 0 || !leasable,
            Check::WaiterNotServed,
            || {
                format!(
                    "{}: {} waiters parked while {} messages are available",
                    model.name, summary.waiters, summary.available
                )
            },
        )
    }

    /// Every group, and the machine's own invariants.
    pub(super) fn check_all(&self) -> Checked {
        for at in self.model_positions() {
            self.check_group(at)?;
        }
        self.check_invariants()
    }

    pub(super) fn check_invariants(&self) -> Checked {
        let machine = &self.broker.machine;
        catch_unwind(AssertUnwindSafe(|| machine.check_invariants()))
            .map_err(|_| Violation::new(Check::MachineInvariant, panics::take_message()))
    }

    /// A client got an acknowledgement: the index must hold that message
    /// now and forever (G1).
    pub(super) fn record_ack(&mut self, log_position: usize, index: u64, id: u64) -> Checked {
        let log = &self.model.logs[log_position];
        let before = self.acked[log_position].insert(index, id);
        ensure(
            before.is_none_or(|before| before == id),
            Check::AckedAppendLost,
            || {
                format!(
                    "{}: index {index} acknowledged for {before:x?} and for {id:x}",
                    log.name
                )
            },
        )?;
        let stored = log.ids.get(index as usize).copied();
        ensure(stored == Some(id), Check::AckedAppendLost, || {
            format!(
                "{}: index {index} acknowledged for {id:x}, the log holds {stored:x?}",
                log.name
            )
        })
    }

    /// G1 after a restart and at the end: every acknowledged message still
    /// at its index (unless retention dropped it, which the model vetted).
    pub(super) fn check_acked(&self) -> Checked {
        for (log_position, acked) in self.acked.iter().enumerate() {
            let name = &self.config.logs[log_position].name;
            let first_index = self
                .broker
                .machine
                .log(name)
                .map_or(0, |log| log.first_index);
            for (&index, &id) in acked.range(first_index..) {
                let stored = self
                    .broker
                    .machine
                    .message(name, index)
                    .ok()
                    .map(|message| message_id(message.payload()));
                ensure(stored == Some(id), Check::AckedAppendLost, || {
                    format!("{name}: acknowledged message {id:x} at {index} is now {stored:x?}")
                })?;
            }
        }
        Ok(())
    }

    /// Everything settled: the machine must agree, exactly once per message.
    pub(super) fn check_final(&self) -> Checked {
        self.check_all()?;
        self.check_acked()?;
        for log in &self.model.logs {
            let summary = self
                .broker
                .machine
                .log(&log.name)
                .expect("modelled logs exist");
            ensure(
                summary.next_index == log.next_index(),
                Check::IndexContiguity,
                || {
                    format!(
                        "{}: next index {}, model {}",
                        log.name,
                        summary.next_index,
                        log.next_index()
                    )
                },
            )?;
            for index in summary.first_index..summary.next_index {
                let message = self
                    .broker
                    .machine
                    .message(&log.name, index)
                    .expect("retained");
                let id = message_id(message.payload());
                ensure(
                    message.index() == index && id == log.ids[index as usize],
                    Check::IndexContiguity,
                    || {
                        format!(
                            "{}: index {index} holds message {} ({id:x})",
                            log.name,
                            message.index()
                        )
                    },
                )?;
            }
            for group in &summary.groups {
                let unsettled =
                    group.leased + group.backoff + group.available + group.redriven_pending;
                ensure(
                    unsettled == 0 && group.base_offset == summary.next_index,
                    Check::NotSettled,
                    || {
                        format!("{}: the model has every message settled, the machine reports {group:?}", group.group)
                    },
                )?;
            }
        }
        Ok(())
    }

    /// The liveness failure: what is still unsettled.
    pub(super) fn not_settled(&self) -> Violation {
        let stuck = self
            .model
            .logs
            .iter()
            .flat_map(|log| &log.groups)
            .find_map(|group| {
                let offset = group
                    .messages
                    .iter()
                    .position(|message| !message.state.is_terminal())?;
                let message = &group.messages[offset];
                Some(format!(
                    "{}: {} unsettled, first {} in {:?} after {} attempts",
                    group.name,
                    group.unsettled,
                    group.start_index + offset as u64,
                    message.state,
                    message.attempt
                ))
            });
        let producing = self
            .producers
            .iter()
            .filter(|producer| !producer.is_done())
            .count();
        Violation::new(
            Check::NotSettled,
            format!(
                "not settled {} ms after faults stopped ({producing} producers unfinished): {}",
                self.now_ms - self.config.safety_ms,
                stuck.unwrap_or_default()
            ),
        )
    }
}
