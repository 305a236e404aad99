//! A world: one seed's broker, clients and network on logical time.
//!
//! The world is a discrete-event simulation. Each step takes the earliest
//! of the scheduled events (a client waking, a message arriving, a group
//! commit, a restart) and the machine's own next deadline, and handles it.
//! After every step that touched the broker the checks run. A world runs a
//! safety phase with faults, then a calm phase without them in which
//! everything must settle within a bound.

mod admin;
mod broker;
mod checks;
mod execute;
mod faults;
mod network;

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap};

use mamamia_machine::Command;

use crate::actor::consumer_plan;
use crate::actor::{ActorCx, ActorId, Consumer, Delivery, Producer, Request};
use crate::config::WorldConfig;
use crate::model::Model;
use crate::rng::Streams;
use crate::stats::Stats;
use crate::trace::{Trace, TraceMode};
use crate::violation::{Check, Checked, Violation};
use broker::Broker;

/// Steps after which a world is declared stuck: far above any healthy run.
const STEPS_MAX: u64 = 3_000_000;

/// Broker steps between full checks (machine invariants, every group).
const FULL_CHECK_EVERY: u64 = 64;

#[derive(Debug)]
enum WorldEvent {
    Wake(ActorId),
    ToBroker(Request),
    ToActor(ActorId, Delivery),
    Sync,
    Restart,
    Calm,
}

#[derive(Debug)]
struct Scheduled {
    at_ms: u64,
    seq: u64,
    /// Boxed: the heap moves entries as it sifts, and events are large.
    event: Box<WorldEvent>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest, and among equals the first scheduled.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at_ms, other.seq).cmp(&(self.at_ms, self.seq))
    }
}

/// How a world ended.
#[derive(Debug)]
pub struct WorldResult {
    pub seed: u64,
    pub trace_hash: u64,
    pub stats: Stats,
    pub violation: Option<Violation>,
}

pub struct World {
    config: WorldConfig,
    streams: Streams,
    now_ms: u64,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    broker: Broker,
    model: Model,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    /// The pending wake of each actor (producers, consumers, admin), to drop superseded ones.
    wakes: Vec<u64>,
    /// Acknowledged messages per log: index to message id.
    acked: Vec<BTreeMap<u64, u64>>,
    trace: Trace,
    stats: Stats,
    calm: bool,
    calm_deadline_ms: u64,
    next_request: u64,
    next_waiter: u64,
    broker_steps: u64,
    request_timeout_ms: u64,
    /// A group commit is scheduled.
    sync_pending: bool,
}

impl World {
    pub fn new(config: WorldConfig, trace_mode: TraceMode) -> Self {
        let producers = (0..config.producers)
            .map(|number| {
                let log_position = number % config.logs.len();
                let log = &config.logs[log_position];
                let share = config.messages / config.producers as u64
                    + (number == 0) as u64 * (config.messages % config.producers as u64);
                let batches = (share * 2 / (1 + config.batch_len_max)).max(1);
                let think_ms_max = config.safety_ms * 3 / 2 / batches;
                Producer::new(
                    number,
                    log.name.clone(),
                    log_position,
                    log.key_count,
                    config.batch_len_max,
                    share,
                    think_ms_max,
                )
            })
            .collect();
        let positions = config.group_positions();
        let consumers = (0..config.consumers)
            .map(|number| {
                Consumer::new(
                    number,
                    consumer_plan(&config, positions[number % positions.len()]),
                )
            })
            .collect();
        let request_timeout_ms = 3_000 + 2 * config.network_delay_ms_max;
        let mut world = World {
            streams: Streams::new(config.seed),
            now_ms: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            broker: Broker::new(config.limits.clone()),
            model: Model::default(),
            producers,
            consumers,
            wakes: vec![u64::MAX; config.producers + config.consumers + 1],
            acked: vec![BTreeMap::new(); config.logs.len()],
            trace: Trace::new(trace_mode),
            stats: Stats::default(),
            calm: false,
            calm_deadline_ms: u64::MAX,
            next_request: 0,
            next_waiter: 0,
            broker_steps: 0,
            request_timeout_ms,
            sync_pending: false,
            config,
        };
        world.start();
        world
    }

    /// Creates the logs and groups, then sets every clock running.
    fn start(&mut self) {
        let mut setup = Vec::new();
        for log in &self.config.logs {
            setup.push(Command::PutLog {
                log: log.name.clone(),
                settings: log.settings.clone(),
            });
            for group in &log.groups {
                setup.push(Command::PutGroup {
                    log: log.name.clone(),
                    group: group.name.clone(),
                    settings: group.settings.clone(),
                });
            }
        }
        for command in setup {
            let request = Request {
                from: ActorId::Admin,
                id: 0,
                command,
                bad: false,
            };
            self.execute(request, false)
                .expect("the world's setup is valid");
        }
        self.broker.log.sync();
        self.broker.held.clear();
        for number in 0..self.producers.len() {
            let at_ms = self.streams.schedule.between(0, 100);
            self.wake(ActorId::Producer(number), at_ms);
        }
        for number in 0..self.consumers.len() {
            let at_ms = self.streams.schedule.between(0, 100);
            self.wake(ActorId::Consumer(number), at_ms);
        }
        self.wake(ActorId::Admin, self.config.admin_interval_ms);
        self.schedule(self.config.safety_ms, WorldEvent::Calm);
    }

    pub fn run(mut self) -> WorldResult {
        let violation = loop {
            match self.step() {
                Ok(true) => {}
                Ok(false) => break None,
                Err(violation) => break Some(violation),
            }
        };
        if let Some(violation) = &violation {
            self.trace.line(|| format!("VIOLATION {violation}"));
        }
        self.stats.logical_ms = self.now_ms;
        self.model.count_coverage(&mut self.stats.coverage);
        WorldResult {
            seed: self.config.seed,
            trace_hash: self.trace.hash(),
            stats: self.stats,
            violation,
        }
    }

    /// One step; `Ok(false)` when the world is done.
    fn step(&mut self) -> Checked<bool> {
        self.stats.steps += 1;
        if self.stats.steps > STEPS_MAX {
            return Err(Violation::new(
                Check::NotSettled,
                format!("still running after {STEPS_MAX} steps"),
            ));
        }
        let event_at_ms = self.queue.peek().map(|scheduled| scheduled.at_ms);
        let deadline_at_ms = match self.broker.up {
            true => self
                .broker
                .machine
                .next_deadline_ms()
                .map(|due_ms| (due_ms, self.broker.world_ms(due_ms).max(self.now_ms))),
            false => None,
        };
        match (event_at_ms, deadline_at_ms) {
            (Some(event_ms), Some((_, at_ms))) if event_ms < at_ms => {
                let scheduled = self.queue.pop().expect("peeked");
                self.now_ms = scheduled.at_ms;
                self.dispatch(*scheduled.event)?;
            }
            (_, Some((due_ms, at_ms))) => {
                self.now_ms = at_ms;
                self.broker_timeout(due_ms)?;
            }
            (Some(_), None) => {
                let scheduled = self.queue.pop().expect("peeked");
                self.now_ms = scheduled.at_ms;
                self.dispatch(*scheduled.event)?;
            }
            (None, None) => {
                return Err(Violation::new(Check::NotSettled, "nothing left to happen"))
            }
        }
        if self.calm {
            return self.check_calm();
        }
        Ok(true)
    }

    fn dispatch(&mut self, event: WorldEvent) -> Checked {
        match event {
            WorldEvent::Wake(actor) => {
                let slot = self.slot(actor);
                if self.wakes[slot] != self.now_ms {
                    return Ok(()); // superseded by an earlier wake
                }
                self.wakes[slot] = u64::MAX;
                match actor {
                    ActorId::Admin => self.admin_wake(),
                    _ => self.act(actor, None),
                }
            }
            WorldEvent::ToBroker(request) => {
                if !self.broker.up {
                    self.trace.mix(&[2, self.now_ms, request.from.code()]);
                    return Ok(()); // connection refused: the client times out
                }
                self.execute(request, true)
            }
            WorldEvent::ToActor(actor, delivery) => {
                if actor == ActorId::Admin {
                    return Ok(());
                }
                self.act(actor, Some(delivery))
            }
            WorldEvent::Sync => self.sync(),
            WorldEvent::Restart => self.restart(),
            WorldEvent::Calm => self.enter_calm(),
        }
    }

    fn slot(&self, actor: ActorId) -> usize {
        match actor {
            ActorId::Producer(number) => number,
            ActorId::Consumer(number) => self.producers.len() + number,
            ActorId::Admin => self.producers.len() + self.consumers.len(),
        }
    }

    fn schedule(&mut self, at_ms: u64, event: WorldEvent) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at_ms,
            seq: self.seq,
            event: Box::new(event),
        });
    }

    fn wake(&mut self, actor: ActorId, at_ms: u64) {
        let slot = self.slot(actor);
        if at_ms < self.wakes[slot] {
            self.wakes[slot] = at_ms;
            self.schedule(at_ms, WorldEvent::Wake(actor));
        }
    }

    /// Wakes a producer or consumer, or hands it a delivery, then sends
    /// what it wants to send.
    fn act(&mut self, actor: ActorId, delivery: Option<Delivery>) -> Checked {
        let mut cx = ActorCx {
            now_ms: self.now_ms,
            workload: &mut self.streams.workload,
            faults: &mut self.streams.faults,
            plan: &self.config.faults,
            stats: &mut self.stats,
            calm: self.calm,
            outbox: Vec::new(),
            acked: Vec::new(),
            wake_at_ms: None,
            next_waiter: &mut self.next_waiter,
            request_timeout_ms: self.request_timeout_ms,
        };
        match (actor, delivery) {
            (ActorId::Producer(number), None) => self.producers[number].wake(&mut cx),
            (ActorId::Producer(number), Some(delivery)) => {
                self.producers[number].deliver(delivery, &mut cx)
            }
            (ActorId::Consumer(number), None) => self.consumers[number].wake(&mut cx),
            (ActorId::Consumer(number), Some(delivery)) => {
                self.consumers[number].deliver(delivery, &mut cx)
            }
            (ActorId::Admin, _) => unreachable!("the admin acts in admin_wake"),
        }
        let ActorCx {
            outbox,
            acked,
            wake_at_ms,
            ..
        } = cx;
        for (log_position, index, id) in acked {
            self.record_ack(log_position, index, id)?;
        }
        for (command, bad) in outbox {
            self.next_request += 1;
            let id = self.next_request;
            let deadline_ms = self.now_ms + self.request_timeout_ms;
            match actor {
                ActorId::Producer(number) => self.producers[number].sent(id, deadline_ms),
                ActorId::Consumer(number) => self.consumers[number].sent(id, deadline_ms),
                ActorId::Admin => {}
            }
            self.send_request(Request {
                from: actor,
                id,
                command,
                bad,
            });
        }
        if let Some(at_ms) = wake_at_ms {
            self.wake(actor, at_ms);
        }
        Ok(())
    }
}
