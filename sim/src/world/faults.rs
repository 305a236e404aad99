//! Broker crashes and restarts, and the end of faults (the calm phase).

use mamamia_machine::Command;

use super::broker::{advance, recover};
use super::{World, WorldEvent};
use crate::actor::{ActorId, Request};
use crate::coverage::Mark;
use crate::fault::FaultSite;
use crate::violation::{ensure, Check, Checked};

impl World {
    /// The broker process dies: answers not yet sent are gone, the disk
    /// keeps what it synced and maybe some of the rest, perhaps torn.
    pub(super) fn crash(&mut self) {
        self.stats.fault(FaultSite::BrokerCrash);
        self.stats.coverage.hit(Mark::BrokerCrash);
        self.broker.up = false;
        self.broker.held.clear();
        self.broker.waiter_owner.clear();
        let log = &self.broker.log;
        let unsynced = log.len() - log.synced();
        let kept = match self.streams.faults.chance(0.5) {
            true => self.streams.faults.between(0, unsynced as u64) as usize,
            false => 0,
        };
        let tear = self
            .streams
            .faults
            .chance(0.5)
            .then(|| self.streams.faults.unit());
        let batch_at_risk = log.records()[log.synced()..]
            .iter()
            .any(|record| matches!(&record.command, Command::Append { messages, .. } if messages.len() > 1));
        let recovered = self.broker.log.crash(kept, tear);
        if recovered.torn {
            self.stats.coverage.hit(Mark::TornTailRecovered);
        }
        if recovered.lost > 0 || recovered.torn {
            self.stats.coverage.hit(Mark::UnsyncedTailLost);
            if batch_at_risk {
                self.stats.coverage.hit(Mark::CrashDuringBatch);
            }
        }
        let (now_ms, lost, torn) = (self.now_ms, recovered.lost, recovered.torn);
        self.trace.mix(&[6, now_ms, lost as u64, torn as u64]);
        self.trace.line(|| {
            format!("{now_ms:>8} BROKER CRASH: {lost} unsynced records lost, torn: {torn}")
        });
        let down_ms = self.streams.faults.between(10, 2_000);
        self.schedule(self.now_ms + down_ms, WorldEvent::Restart);
    }

    /// The broker comes back: rebuilds its state from the snapshot and the
    /// log (or the log alone), checks that both ways agree now and then,
    /// and drops the long polls no client waits on anymore.
    pub(super) fn restart(&mut self) -> Checked {
        if self.broker.up {
            return Ok(()); // already restarted when faults stopped
        }
        let has_snapshot = self.broker.snapshot.is_some();
        let from_snapshot = has_snapshot && self.streams.faults.chance(0.75);
        let cross_check = has_snapshot && self.streams.faults.chance(0.3);
        let (mut machine, mut model) = recover(&self.broker, &self.config.limits, from_snapshot)?;
        if from_snapshot {
            self.stats.coverage.hit(Mark::SnapshotRestored);
        }
        let clock_ms = self.broker.clock_ms(self.now_ms);
        if cross_check {
            let (mut other, mut other_model) =
                recover(&self.broker, &self.config.limits, !from_snapshot)?;
            let mut events = Vec::new();
            advance(&mut machine, &mut model, clock_ms, &mut events)?;
            advance(&mut other, &mut other_model, clock_ms, &mut events)?;
            let ours = serde_json::to_vec(&machine).expect("a machine serializes");
            let theirs = serde_json::to_vec(&other).expect("a machine serializes");
            ensure(ours == theirs, Check::RecoveryDiverged, || {
                format!(
                    "recovery from the snapshot and from the full log disagree ({} vs {} bytes)",
                    ours.len(),
                    theirs.len()
                )
            })?;
        }
        self.broker.machine = machine;
        self.model = model;
        self.broker.up = true;
        let now_ms = self.now_ms;
        self.trace.mix(&[7, now_ms, from_snapshot as u64]);
        self.trace.line(|| {
            format!(
                "{now_ms:>8} BROKER RESTART from {}",
                if from_snapshot {
                    "snapshot + log"
                } else {
                    "log"
                }
            )
        });
        let request = Request {
            from: ActorId::Admin,
            id: 0,
            command: Command::CancelAllWaiters,
            bad: false,
        };
        self.execute(request, false)?;
        self.check_acked()?;
        self.check_all()
    }

    /// Faults stop: the broker and every consumer come back, and from now
    /// on everything must settle within a bound.
    pub(super) fn enter_calm(&mut self) -> Checked {
        self.calm = true;
        let now_ms = self.now_ms;
        self.trace
            .line(|| format!("{now_ms:>8} CALM: faults stop, everything must settle"));
        if !self.broker.up {
            self.restart()?;
        }
        self.producers
            .iter_mut()
            .for_each(|producer| producer.stop());
        for number in 0..self.consumers.len() {
            self.consumers[number].recover();
            self.wake(ActorId::Consumer(number), now_ms + 1);
        }
        self.calm_deadline_ms = now_ms + self.settle_bound_ms();
        Ok(())
    }

    /// How long the calm phase may take: any message may need all its
    /// attempts, each a lease plus a backoff; and in the worst case (a
    /// small window, one key) a group's messages go one at a time.
    fn settle_bound_ms(&self) -> u64 {
        let groups = || self.model.logs.iter().flat_map(|log| &log.groups);
        let retries_ms = groups()
            .map(|group| {
                let config = &group.config;
                config.max_attempts as u64 * (config.lease_ms + config.backoff.cap_ms + 1_000)
            })
            .max()
            .unwrap_or(0);
        let one_by_one_ms: u64 = groups()
            .map(|group| group.unsettled * (group.config.lease_ms + 1_000))
            .sum();
        120_000 + retries_ms + one_by_one_ms
    }

    /// In the calm phase: done when everything settled, failed when late.
    pub(super) fn check_calm(&mut self) -> Checked<bool> {
        let producing = self.producers.iter().any(|producer| !producer.is_done());
        if !producing && self.broker.up && self.model.unsettled() == 0 {
            self.check_final()?;
            return Ok(false);
        }
        if self.now_ms > self.calm_deadline_ms {
            return Err(self.not_settled());
        }
        Ok(true)
    }
}
