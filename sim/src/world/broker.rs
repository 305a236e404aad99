//! The broker as the world runs it: the machine, its durable command log
//! with group commit, its snapshot, and the outputs held until the log
//! holds the commands they depend on.

use std::collections::{BTreeMap, VecDeque};

use mamamia_machine::{Command, Error, Event, Limits, Machine, Reply, WaiterId};

use crate::actor::{ActorId, Delivery};
use crate::digest;
use crate::model::Model;
use crate::violation::{Check, Checked, Violation};
use crate::wal::{DurableLog, Record};

/// An answer on its way out, held until the command log is synced up to
/// `log_len`: only replies that depend on durable commands leave the broker.
#[derive(Debug)]
pub struct Output {
    pub log_len: usize,
    pub to: ActorId,
    pub delivery: Delivery,
}

/// A snapshot of machine and model, taken at a sync point.
#[derive(Debug)]
pub struct Snapshot {
    pub position: usize,
    pub bytes: Vec<u8>,
    pub model: Model,
}

#[derive(Debug)]
pub struct Broker {
    pub machine: Machine,
    pub up: bool,
    /// The broker host's clock minus world time (clock jumps move it).
    pub clock_offset_ms: i64,
    pub log: DurableLog,
    pub held: VecDeque<Output>,
    pub snapshot: Option<Snapshot>,
    /// Who parked each long poll, to route its event.
    pub waiter_owner: BTreeMap<WaiterId, ActorId>,
}

impl Broker {
    pub fn new(limits: Limits) -> Self {
        Broker {
            machine: Machine::new(limits),
            up: true,
            clock_offset_ms: 0,
            log: DurableLog::default(),
            held: VecDeque::new(),
            snapshot: None,
            waiter_owner: BTreeMap::new(),
        }
    }

    /// The broker's clock at world time `now_ms`.
    pub fn clock_ms(&self, now_ms: u64) -> u64 {
        (now_ms as i64 + self.clock_offset_ms).max(0) as u64
    }

    /// The world time at which the broker's clock shows `clock_ms`.
    pub fn world_ms(&self, clock_ms: u64) -> u64 {
        (clock_ms as i64 - self.clock_offset_ms).max(0) as u64
    }

    /// Outputs whose commands are all durable now, oldest first.
    pub fn releasable(&mut self) -> Vec<Output> {
        let synced = self.log.synced();
        let ready = self
            .held
            .iter()
            .take_while(|output| output.log_len <= synced)
            .count();
        self.held.drain(..ready).collect()
    }
}

/// Lets time pass to `now_ms`, feeding the events to the model; returns them.
pub fn advance(
    machine: &mut Machine,
    model: &mut Model,
    now_ms: u64,
    events: &mut Vec<Event>,
) -> Checked {
    machine.handle_timeout(now_ms);
    drain(machine, model, events)
}

fn drain(machine: &mut Machine, model: &mut Model, events: &mut Vec<Event>) -> Checked {
    let now_ms = machine.now_ms();
    let acquire_bytes_max = machine.limits().acquire_bytes_max;
    while let Some(event) = machine.poll_event() {
        model.event(now_ms, &event, acquire_bytes_max)?;
        events.push(event);
    }
    Ok(())
}

/// Applies one command at `now_ms` (after [`advance`]), checking the reply
/// and the events it raised against the model.
pub fn apply(
    machine: &mut Machine,
    model: &mut Model,
    now_ms: u64,
    command: &Command,
    events: &mut Vec<Event>,
) -> (Result<Reply, Error>, Checked) {
    let result = machine.handle(now_ms, command.clone());
    let applied_ms = machine.now_ms();
    let checked = model
        .apply(applied_ms, command, &result, machine)
        .and_then(|()| drain(machine, model, events));
    (result, checked)
}

/// Replays `records` into `machine` and `model`, checking that each command
/// gets the reply it got the first time.
pub fn replay(machine: &mut Machine, model: &mut Model, records: &[Record]) -> Checked {
    let mut events = Vec::new();
    for (position, record) in records.iter().enumerate() {
        events.clear();
        advance(machine, model, record.at_ms, &mut events)?;
        let (result, checked) = apply(machine, model, record.at_ms, &record.command, &mut events);
        checked?;
        let digest = digest::reply(&result);
        if digest != record.reply_digest {
            return Err(Violation::new(
                Check::RecoveryDiverged,
                format!(
                    "replayed record {position} ({:?}) answered {result:?}, unlike the first time",
                    record.command
                ),
            ));
        }
    }
    Ok(())
}

/// Rebuilds machine and model from the recovered log, from the snapshot if
/// `from_snapshot` (and one exists), else from the start.
pub fn recover(broker: &Broker, limits: &Limits, from_snapshot: bool) -> Checked<(Machine, Model)> {
    let records = broker.log.records();
    let (mut machine, mut model, from) = match (&broker.snapshot, from_snapshot) {
        (Some(snapshot), true) => {
            let machine = serde_json::from_slice::<Machine>(&snapshot.bytes).map_err(|error| {
                Violation::new(
                    Check::RecoveryDiverged,
                    format!("snapshot does not load: {error}"),
                )
            })?;
            (machine, snapshot.model.clone(), snapshot.position)
        }
        _ => (Machine::new(limits.clone()), Model::default(), 0),
    };
    assert!(
        from <= records.len(),
        "a snapshot covers only synced records"
    );
    replay(&mut machine, &mut model, &records[from..])?;
    Ok((machine, model))
}
