//! The broker's steps: a command arrives, a deadline falls due, the log
//! syncs. Each feeds the model, routes outputs and runs the checks.

use mamamia_machine::{Command, Event, GroupSummary, Reply};

use super::broker::{advance, apply, Output, Snapshot};
use super::{World, WorldEvent, FULL_CHECK_EVERY};
use crate::actor::{ActorId, Delivery, Request};
use crate::coverage::Mark;
use crate::digest;
use crate::fault::FaultSite;
use crate::violation::{ensure, Check, Checked};
use crate::wal::Record;

impl World {
    /// Handles a request at the broker. `from_client` is false for the
    /// broker's own commands (setup, restart), whose answers go nowhere.
    pub(super) fn execute(&mut self, request: Request, from_client: bool) -> Checked {
        self.broker_steps += 1;
        let clock_ms = self.broker.clock_ms(self.now_ms);
        let mut events = Vec::new();
        advance(
            &mut self.broker.machine,
            &mut self.model,
            clock_ms,
            &mut events,
        )?;
        self.route_events(&events);
        let target = self.target_group(&request.command);
        let probe = self.probe(target, request.bad);
        events.clear();
        let (result, checked) = apply(
            &mut self.broker.machine,
            &mut self.model,
            clock_ms,
            &request.command,
            &mut events,
        );
        checked?;
        let reply_digest = digest::reply(&result);
        self.stats.commands += 1;
        self.trace.mix(&[
            1,
            self.now_ms,
            request.from.code(),
            reply_digest,
            events.len() as u64,
        ]);
        if self.trace.wants_text() {
            let now_ms = self.now_ms;
            self.trace.line(|| {
                format!(
                    "{now_ms:>8} {:?} -> {:?}\n         {:?}",
                    request.from, request.command, result
                )
            });
        }
        self.check_probe(probe, &request, result.is_err())?;
        self.count(&request, &result);
        if let (Ok(Reply::Acquired(acquired)), Command::Acquire(acquire)) =
            (&result, &request.command)
        {
            if let (true, Some(wait)) = (acquired.parked, acquire.wait) {
                self.broker.waiter_owner.insert(wait.waiter, request.from);
            }
        }
        if result.as_ref().is_ok_and(Reply::changed_state) {
            // The log keeps the time the machine used, not the clock's
            // reading: after a clock jump back the machine keeps its later
            // time (perhaps reached by a timer), and a replay must too.
            self.broker.log.append(Record {
                at_ms: self.broker.machine.now_ms(),
                reply_digest,
                command: request.command,
            });
            self.request_sync();
        }
        if from_client {
            self.hold(
                request.from,
                Delivery::Reply {
                    request: request.id,
                    result,
                },
            );
        }
        self.route_events(&events);
        self.release();
        self.check_step(target)?;
        if from_client && !self.calm {
            self.command_faults();
        }
        Ok(())
    }

    /// Lets the machine act on its own at its deadline `due_ms`.
    pub(super) fn broker_timeout(&mut self, due_ms: u64) -> Checked {
        self.broker_steps += 1;
        let clock_ms = self.broker.clock_ms(self.now_ms).max(due_ms);
        let mut events = Vec::new();
        advance(
            &mut self.broker.machine,
            &mut self.model,
            clock_ms,
            &mut events,
        )?;
        let timers_leased = events
            .iter()
            .any(|event| matches!(event, Event::WaiterServed { leases, .. } if !leases.is_empty()));
        if timers_leased {
            // As the shell does: log the time the leases were made at, so
            // a restart that finds the clock set back still reaches it,
            // and hold the answers until that record is durable.
            let mut tick_events = Vec::new();
            let (result, checked) = apply(
                &mut self.broker.machine,
                &mut self.model,
                clock_ms,
                &Command::Tick,
                &mut tick_events,
            );
            checked?;
            self.broker.log.append(Record {
                at_ms: self.broker.machine.now_ms(),
                reply_digest: digest::reply(&result),
                command: Command::Tick,
            });
            self.request_sync();
            self.stats.coverage.hit(Mark::TimerLeasesLogged);
        }
        let digest = events.iter().fold(0, |sum: u64, event| {
            sum.rotate_left(7) ^ digest::event(event)
        });
        self.trace.mix(&[3, self.now_ms, digest]);
        if self.trace.wants_text() {
            let now_ms = self.now_ms;
            self.trace
                .line(|| format!("{now_ms:>8} timeout at {clock_ms}: {events:?}"));
        }
        self.route_events(&events);
        self.release();
        self.check_step(None)
    }

    /// The group commit: makes the log durable, lets held answers go, and
    /// snapshots now and then.
    pub(super) fn sync(&mut self) -> Checked {
        self.sync_pending = false;
        if !self.broker.up {
            return Ok(());
        }
        self.broker.log.sync();
        self.release();
        let since = self.broker.log.len() - self.broker.snapshot.as_ref().map_or(0, |s| s.position);
        // A snapshot only matters to a restart: worlds whose broker never
        // crashes skip the cost.
        let crashes = self.config.faults.rate(FaultSite::BrokerCrash) > 0.0;
        if crashes && since >= self.config.snapshot_every {
            let bytes = serde_json::to_vec(&self.broker.machine).expect("a machine serializes");
            self.broker.snapshot = Some(Snapshot {
                position: self.broker.log.len(),
                bytes,
                model: self.model.clone(),
            });
            self.trace.mix(&[4, self.now_ms]);
        }
        Ok(())
    }

    /// Group commit: the first unsynced record starts the timer, the sync
    /// then takes everything written until it runs.
    fn request_sync(&mut self) {
        if !self.sync_pending {
            self.sync_pending = true;
            self.schedule(
                self.now_ms + self.config.fsync_interval_ms,
                WorldEvent::Sync,
            );
        }
    }

    fn hold(&mut self, to: ActorId, delivery: Delivery) {
        let log_len = self.broker.log.len();
        self.broker.held.push_back(Output {
            log_len,
            to,
            delivery,
        });
    }

    /// Sends every held answer whose commands are durable.
    fn release(&mut self) {
        for output in self.broker.releasable() {
            self.send_output(output.to, output.delivery);
        }
    }

    fn route_events(&mut self, events: &[Event]) {
        let mut expired = false;
        for event in events {
            match event {
                Event::WaiterServed { waiter, leases } => {
                    if expired {
                        self.stats.coverage.hit(Mark::ExpiryDuringLongPoll);
                    }
                    if let Some(owner) = self.broker.waiter_owner.remove(waiter) {
                        self.hold(
                            owner,
                            Delivery::Served {
                                waiter: *waiter,
                                leases: leases.clone(),
                            },
                        );
                    }
                }
                Event::WaiterTimedOut { waiter } => {
                    if let Some(owner) = self.broker.waiter_owner.remove(waiter) {
                        self.hold(owner, Delivery::TimedOut { waiter: *waiter });
                    }
                }
                Event::LeaseExpired { .. } => {
                    expired = true;
                    self.stats.settles.expired += 1;
                    self.stats.coverage.hit(Mark::LeaseExpired);
                }
            }
        }
    }

    fn count(&mut self, request: &Request, result: &Result<Reply, mamamia_machine::Error>) {
        let coverage = &mut self.stats.coverage;
        match result {
            Err(_) if request.bad => coverage.hit(Mark::BadRequestRefused),
            Ok(Reply::Appended(appended)) if !appended.duplicates.is_empty() => {
                coverage.hit(Mark::DuplicateAppendRecognised)
            }
            Ok(Reply::Released { count }) if *count > 0 => coverage.hit(Mark::Released),
            Ok(Reply::Redriven(redriven)) if redriven.count > 0 => coverage.hit(Mark::Redrive),
            Ok(Reply::Acquired(acquired)) if !acquired.changed_state => {
                coverage.hit(Mark::EmptyPollNotLogged)
            }
            _ => {}
        }
    }

    /// The group a command acts on, as a model position.
    fn target_group(&self, command: &Command) -> Option<(usize, usize)> {
        let (log, group) = match command {
            Command::PutGroup { log, group, .. }
            | Command::Settle { log, group, .. }
            | Command::Extend { log, group, .. }
            | Command::Release { log, group, .. }
            | Command::Redrive { log, group, .. } => (log, group),
            Command::Acquire(acquire) => (&acquire.log, &acquire.group),
            _ => return None,
        };
        self.model.group_ids(log, group)
    }

    /// Summaries to compare after a command: another group (it must not
    /// change: G6) and, for a request meant to fail, the target group.
    fn probe(
        &self,
        target: Option<(usize, usize)>,
        bad: bool,
    ) -> Vec<((usize, usize), GroupSummary)> {
        let mut positions = Vec::new();
        if let Some(target) = target {
            let groups: Vec<(usize, usize)> = self.model_positions();
            let other = groups[self.broker_steps as usize % groups.len()];
            if other != target {
                positions.push(other);
            }
            if bad {
                positions.push(target);
            }
        }
        positions
            .into_iter()
            .map(|at| (at, self.summary(at)))
            .collect()
    }

    fn check_probe(
        &self,
        probe: Vec<((usize, usize), GroupSummary)>,
        request: &Request,
        failed: bool,
    ) -> Checked {
        let target = self.target_group(&request.command);
        for (at, before) in probe {
            let after = self.summary(at);
            let check = if Some(at) == target {
                Check::ErrorChangedState
            } else {
                Check::GroupInterference
            };
            ensure(before == after, check, || {
                format!(
                    "{:?} changed {}: {before:?} became {after:?}",
                    request.command, before.group
                )
            })?;
        }
        ensure(!request.bad || failed, Check::ErrorChangedState, || {
            format!("bad request accepted: {:?}", request.command)
        })
    }

    pub(super) fn summary(&self, at: (usize, usize)) -> GroupSummary {
        let log = &self.model.logs[at.0];
        self.broker
            .machine
            .group(&log.name, &log.groups[at.1].name)
            .expect("modelled groups exist")
    }

    pub(super) fn model_positions(&self) -> Vec<(usize, usize)> {
        let mut positions = Vec::new();
        for (log_id, log) in self.model.logs.iter().enumerate() {
            for group_id in 0..log.groups.len() {
                positions.push((log_id, group_id));
            }
        }
        positions
    }

    /// Checks after any broker step; every so often, everything.
    fn check_step(&mut self, target: Option<(usize, usize)>) -> Checked {
        self.check_timers()?;
        if let Some(at) = target {
            self.check_group(at)?;
        }
        if self.broker_steps % FULL_CHECK_EVERY == 0 {
            self.check_all()?;
        }
        Ok(())
    }

    /// Broker crashes and clock jumps, drawn after each client command.
    fn command_faults(&mut self) {
        if self
            .streams
            .faults
            .chance(self.config.faults.rate(FaultSite::ClockJump))
        {
            self.stats.fault(FaultSite::ClockJump);
            self.stats.coverage.hit(Mark::ClockJump);
            let jump_ms = self.streams.faults.between(0, 4_000) as i64 - 1_000;
            self.broker.clock_offset_ms += jump_ms;
            self.trace.mix(&[5, self.now_ms, jump_ms as u64]);
        }
        if self
            .streams
            .faults
            .chance(self.config.faults.rate(FaultSite::BrokerCrash))
        {
            self.crash();
        }
    }
}
