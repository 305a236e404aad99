//! Properties over random command sequences (quickcheck): the guarantees of
//! SPEC §1 hold after every step, replays are byte-identical, and a machine
//! restored from a snapshot has the same future as the original.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use mamamia_machine::*;
use quickcheck::{Arbitrary, Gen, QuickCheck};

use crate::harness::{consumer, group_name, log_name};

const LOGS: u8 = 2;
const GROUPS: u8 = 2;
const CONSUMERS: u8 = 3;
const LEASE_MS_CHOICES: [u64; 4] = [10, 50, 200, 1_000];

/// One step of a random workload. Leases are picked from those issued so
/// far, so settles with stale, superseded and foreign tokens come naturally.
#[derive(Clone, Debug)]
enum Op {
    Append {
        log: u8,
        count: u8,
        key: Option<u8>,
        dedup: Option<u8>,
    },
    Acquire {
        log: u8,
        group: u8,
        consumer: u8,
        max: u8,
        lease: u8,
        wait: bool,
    },
    Settle {
        pick: u16,
        outcome: u8,
        delay_ms: Option<u16>,
    },
    Extend {
        pick: u16,
        lease: u8,
    },
    Release {
        log: u8,
        group: u8,
        consumer: u8,
    },
    Redrive {
        log: u8,
        group: u8,
    },
    PutGroup {
        log: u8,
        group: u8,
        max_attempts: u8,
        key_ordered: bool,
        window: u8,
    },
    CancelWaiter {
        pick: u16,
    },
    Advance {
        ms: u16,
    },
    ApplyRetention,
}

fn below(g: &mut Gen, n: u8) -> u8 {
    u8::arbitrary(g) % n
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        match below(g, 20) {
            0..=3 => Op::Append {
                log: below(g, LOGS),
                count: 1 + below(g, 4),
                key: bool::arbitrary(g).then(|| below(g, 3)),
                dedup: (below(g, 4) == 0).then(|| below(g, 8)),
            },
            4..=7 => Op::Acquire {
                log: below(g, LOGS),
                group: below(g, GROUPS),
                consumer: below(g, CONSUMERS),
                max: 1 + below(g, 4),
                lease: below(g, LEASE_MS_CHOICES.len() as u8),
                wait: below(g, 3) == 0,
            },
            8..=11 => Op::Settle {
                pick: u16::arbitrary(g),
                outcome: below(g, 4),
                delay_ms: bool::arbitrary(g).then(|| u16::arbitrary(g) % 500),
            },
            12 => Op::Extend {
                pick: u16::arbitrary(g),
                lease: below(g, LEASE_MS_CHOICES.len() as u8),
            },
            13 => Op::Release {
                log: below(g, LOGS),
                group: below(g, GROUPS),
                consumer: below(g, CONSUMERS),
            },
            14 => Op::Redrive {
                log: below(g, LOGS),
                group: below(g, GROUPS),
            },
            15 => Op::PutGroup {
                log: below(g, LOGS),
                group: below(g, GROUPS),
                max_attempts: 1 + below(g, 3),
                key_ordered: bool::arbitrary(g),
                window: 1 + below(g, 8),
            },
            16 => Op::CancelWaiter {
                pick: u16::arbitrary(g),
            },
            17 => Op::ApplyRetention,
            _ => Op::Advance {
                ms: u16::arbitrary(g) % 600,
            },
        }
    }
}

type MessageKey = (u8, u8, u64);

/// How often the random workloads reached each interesting situation, so the
/// properties cannot pass by never getting there.
#[derive(Default)]
struct Coverage {
    expired: AtomicU64,
    dead: AtomicU64,
    refused: AtomicU64,
    redriven: AtomicU64,
    waiters_served: AtomicU64,
    waiters_timed_out: AtomicU64,
    released: AtomicU64,
}

static COVERAGE: Coverage = Coverage {
    expired: AtomicU64::new(0),
    dead: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    redriven: AtomicU64::new(0),
    waiters_served: AtomicU64::new(0),
    waiters_timed_out: AtomicU64::new(0),
    released: AtomicU64::new(0),
};

fn hit(counter: &AtomicU64, count: u64) {
    counter.fetch_add(count, AtomicOrdering::Relaxed);
}

/// Drives a machine through ops, checking SPEC §1's guarantees against a
/// shadow of what clients were told.
struct Run {
    machine: Machine,
    now_ms: u64,
    trace: Vec<String>,
    issued: Vec<(u8, u8, Lease)>,
    waiters: Vec<(WaiterId, u8, u8)>,
    next_waiter: u64,
    next_index: BTreeMap<u8, u64>,
    /// Leases the clients were granted and that have not ended.
    held: BTreeMap<MessageKey, (LeaseToken, ConsumerName)>,
    terminal: BTreeSet<MessageKey>,
    base_offsets: BTreeMap<(u8, u8), u64>,
    /// The commands a driver logs (`Reply::changed_state`), with their
    /// times and replies.
    logged: Vec<(u64, Command, Reply)>,
}

fn names(log: u8, group: u8) -> (LogName, GroupName) {
    (
        log_name(&format!("log-{log}")),
        group_name(&format!("group-{group}")),
    )
}

impl Run {
    fn new(machine: Machine) -> Self {
        Run {
            machine,
            now_ms: 0,
            trace: Vec::new(),
            issued: Vec::new(),
            waiters: Vec::new(),
            next_waiter: 1,
            next_index: BTreeMap::new(),
            held: BTreeMap::new(),
            terminal: BTreeSet::new(),
            base_offsets: BTreeMap::new(),
            logged: Vec::new(),
        }
    }

    fn command(&self, op: &Op) -> Command {
        match *op {
            Op::Append {
                log,
                count,
                key,
                dedup,
            } => Command::Append {
                log: names(log, 0).0,
                messages: (0..count)
                    .map(|i| {
                        let mut message = NewMessage::new(format!("m{i}"));
                        message.key = key.map(|k| format!("k{k}"));
                        message.dedup_id = dedup.map(|d| format!("d{}", d + i));
                        message
                    })
                    .collect(),
            },
            Op::Acquire {
                log,
                group,
                consumer: c,
                max,
                lease,
                wait,
            } => {
                let (log, group) = names(log, group);
                let wait = wait.then_some(Wait {
                    waiter: WaiterId(self.next_waiter),
                    wait_ms: 300,
                });
                let lease_ms = Some(LEASE_MS_CHOICES[lease as usize]);
                Command::Acquire(Acquire {
                    log,
                    group,
                    consumer: consumer(&format!("c{c}")),
                    max: max.into(),
                    lease_ms,
                    wait,
                })
            }
            Op::Settle {
                pick,
                outcome,
                delay_ms,
            } => {
                let Some((log, group, lease)) = self.pick(pick) else {
                    return Command::ApplyRetention;
                };
                let (log, group) = names(*log, *group);
                let outcome = match outcome {
                    0 | 1 => SettleOutcome::Processed,
                    2 => SettleOutcome::Retry {
                        delay_ms: delay_ms.map(u64::from),
                        reason: None,
                    },
                    _ => SettleOutcome::Dead {
                        reason: Some("poison".into()),
                    },
                };
                Command::Settle {
                    log,
                    group,
                    settlements: vec![Settlement {
                        index: lease.index,
                        token: lease.token,
                        outcome,
                    }],
                }
            }
            Op::Extend { pick, lease } => {
                let Some((log, group, held)) = self.pick(pick) else {
                    return Command::ApplyRetention;
                };
                let (log, group) = names(*log, *group);
                let leases = vec![LeaseRef {
                    index: held.index,
                    token: held.token,
                }];
                Command::Extend {
                    log,
                    group,
                    leases,
                    lease_ms: Some(LEASE_MS_CHOICES[lease as usize]),
                }
            }
            Op::Release {
                log,
                group,
                consumer: c,
            } => {
                let (log, group) = names(log, group);
                Command::Release {
                    log,
                    group,
                    consumer: consumer(&format!("c{c}")),
                }
            }
            Op::Redrive { log, group } => {
                let (log, group) = names(log, group);
                Command::Redrive {
                    log,
                    group,
                    indices: None,
                }
            }
            Op::PutGroup {
                log,
                group,
                max_attempts,
                key_ordered,
                window,
            } => {
                let (log, group) = names(log, group);
                let settings = GroupSettings {
                    max_attempts: Some(max_attempts.into()),
                    ordering: Some(if key_ordered {
                        Ordering::Key
                    } else {
                        Ordering::None
                    }),
                    unsettled_window: Some(window.into()),
                    backoff: Some(Backoff {
                        initial_ms: 20,
                        multiplier: 2.0,
                        cap_ms: 200,
                    }),
                    ..GroupSettings::default()
                };
                Command::PutGroup {
                    log,
                    group,
                    settings,
                }
            }
            Op::CancelWaiter { pick } => match self.waiters.len() {
                0 => Command::ApplyRetention,
                len => Command::CancelWaiter {
                    waiter: self.waiters[pick as usize % len].0,
                },
            },
            Op::ApplyRetention | Op::Advance { .. } => Command::ApplyRetention,
        }
    }

    fn pick(&self, pick: u16) -> Option<&(u8, u8, Lease)> {
        match self.issued.len() {
            0 => None,
            len => Some(&self.issued[pick as usize % len]),
        }
    }

    fn step(&mut self, op: &Op) {
        if let Op::Advance { ms } = op {
            self.now_ms += u64::from(*ms);
            self.machine.handle_timeout(self.now_ms);
            self.trace.push(format!("advance {}", self.now_ms));
        } else {
            let command = self.command(op);
            let dead_before = self.dead_letters(&command);
            let result = self.machine.handle(self.now_ms, command.clone());
            if let Some(reply) = result.as_ref().ok().filter(|reply| reply.changed_state()) {
                self.logged
                    .push((self.now_ms, command.clone(), reply.clone()));
            }
            self.trace
                .push(serde_json::to_string(&result).expect("replies serialize"));
            if let Ok(reply) = &result {
                self.observe_reply(&command, reply, dead_before);
            }
        }
        while let Some(event) = self.machine.poll_event() {
            self.trace
                .push(serde_json::to_string(&event).expect("events serialize"));
            self.observe_event(event);
        }
        self.check_base_offsets();
    }

    fn ids(log: &LogName, group: &GroupName) -> (u8, u8) {
        let id = |name: &str| {
            name.rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("generated names end in a number")
        };
        (id(log.as_str()), id(group.as_str()))
    }

    fn dead_letters(&self, command: &Command) -> BTreeSet<u64> {
        match command {
            Command::Redrive { log, group, .. } => self
                .machine
                .dead_letters(log, group, None, usize::MAX)
                .map(|dead| dead.iter().map(|d| d.index).collect())
                .unwrap_or_default(),
            _ => BTreeSet::new(),
        }
    }

    fn grant(&mut self, log: u8, group: u8, leases: &[Lease]) {
        for lease in leases {
            let key = (log, group, lease.index);
            let consumer_name = self
                .machine
                .attempts(&names(log, group).0, &names(log, group).1, lease.index)
                .unwrap()
                .last()
                .unwrap()
                .consumer
                .clone();
            let previous = self.held.insert(key, (lease.token, consumer_name));
            assert!(
                previous.is_none(),
                "guarantee 2: two valid leases on {key:?}"
            );
            assert!(
                !self.terminal.contains(&key),
                "guarantee 3: leased a terminal message {key:?}"
            );
            self.issued.push((log, group, lease.clone()));
        }
    }

    fn settled(&mut self, key: MessageKey, status: SettleStatus) {
        match status {
            SettleStatus::Refused(_) => return hit(&COVERAGE.refused, 1),
            SettleStatus::Processed | SettleStatus::Dead => {
                if status == SettleStatus::Dead {
                    hit(&COVERAGE.dead, 1);
                }
                assert!(
                    self.terminal.insert(key),
                    "guarantee 3: {key:?} terminal twice"
                );
            }
            SettleStatus::RetryAt { .. } => {}
        }
        assert!(
            self.held.remove(&key).is_some(),
            "a settle succeeded on {key:?} without a held lease"
        );
    }

    fn observe_reply(&mut self, command: &Command, reply: &Reply, dead_before: BTreeSet<u64>) {
        match (command, reply) {
            (Command::Append { log, .. }, Reply::Appended(appended)) => {
                let log = Self::ids(log, &group_name("g-0")).0;
                let next = self.next_index.entry(log).or_insert(0);
                assert_eq!(
                    appended.first_index, *next,
                    "guarantee 1: indices contiguous"
                );
                *next += appended.count;
                assert!(appended.duplicates.iter().all(|d| d.index < *next));
            }
            (Command::Acquire(a), Reply::Acquired(acquired)) => {
                let (log, group) = Self::ids(&a.log, &a.group);
                assert!(
                    acquired.leases.len() <= a.max as usize,
                    "JIT: more leases than asked"
                );
                self.grant(log, group, &acquired.leases);
                if acquired.parked {
                    self.waiters.push((a.wait.unwrap().waiter, log, group));
                    self.next_waiter += 1;
                }
            }
            (
                Command::Settle {
                    log,
                    group,
                    settlements,
                },
                Reply::Settled { results },
            ) => {
                let (log, group) = Self::ids(log, group);
                for (settlement, result) in settlements.iter().zip(results) {
                    self.settled((log, group, settlement.index), result.status);
                }
            }
            (
                Command::Release {
                    log,
                    group,
                    consumer,
                },
                Reply::Released { count },
            ) => {
                let (log, group) = Self::ids(log, group);
                let released: Vec<MessageKey> = self
                    .held
                    .iter()
                    .filter(|((l, g, _), (_, holder))| {
                        (*l, *g) == (log, group) && holder == consumer
                    })
                    .map(|(key, _)| *key)
                    .collect();
                assert_eq!(
                    released.len() as u64,
                    *count,
                    "release returned what the consumer held"
                );
                hit(&COVERAGE.released, *count);
                let (log_name, group_name) = names(log, group);
                let dead: BTreeSet<u64> = self
                    .machine
                    .dead_letters(&log_name, &group_name, None, usize::MAX)
                    .unwrap()
                    .iter()
                    .map(|d| d.index)
                    .collect();
                for key in released {
                    self.held.remove(&key);
                    // A release on the last attempt leaves the message dead.
                    if dead.contains(&key.2) {
                        assert!(
                            self.terminal.insert(key),
                            "guarantee 3: {key:?} terminal twice"
                        );
                    }
                }
            }
            (Command::Redrive { log, group, .. }, Reply::Redriven(redriven)) => {
                let after = self.dead_letters(command);
                let (log, group) = Self::ids(log, group);
                let moved: Vec<u64> = dead_before.difference(&after).copied().collect();
                assert_eq!(moved.len() as u64, redriven.count);
                hit(&COVERAGE.redriven, redriven.count);
                for index in moved {
                    assert!(
                        self.terminal.remove(&(log, group, index)),
                        "redrove a message that was not dead"
                    );
                }
            }
            (Command::CancelWaiter { waiter }, Reply::WaiterCancelled { found }) => {
                let position = self.waiters.iter().position(|(id, _, _)| id == waiter);
                assert_eq!(position.is_some(), *found);
                if let Some(position) = position {
                    self.waiters.remove(position);
                }
            }
            _ => {}
        }
    }

    fn observe_event(&mut self, event: Event) {
        match event {
            Event::WaiterServed { waiter, leases } => {
                let position = self
                    .waiters
                    .iter()
                    .position(|(id, _, _)| *id == waiter)
                    .expect("served a parked waiter");
                let (_, log, group) = self.waiters.remove(position);
                assert!(!leases.is_empty());
                hit(&COVERAGE.waiters_served, 1);
                self.grant(log, group, &leases);
            }
            Event::WaiterTimedOut { waiter } => {
                let position = self
                    .waiters
                    .iter()
                    .position(|(id, _, _)| *id == waiter)
                    .expect("timed out a parked waiter");
                self.waiters.remove(position);
                hit(&COVERAGE.waiters_timed_out, 1);
            }
            Event::LeaseExpired {
                log,
                group,
                index,
                status,
                ..
            } => {
                let (log, group) = Self::ids(&log, &group);
                assert!(
                    self.held.contains_key(&(log, group, index)),
                    "expired a lease nobody held"
                );
                hit(&COVERAGE.expired, 1);
                self.settled((log, group, index), status);
            }
        }
    }

    /// Guarantee 4: base_offset never goes back, and what it passes is terminal.
    fn check_base_offsets(&mut self) {
        for log in 0..LOGS {
            for group in 0..GROUPS {
                let (log_name, group_name) = names(log, group);
                let Ok(summary) = self.machine.group(&log_name, &group_name) else {
                    continue;
                };
                let previous = self.base_offsets.insert((log, group), summary.base_offset);
                let start = match previous {
                    Some(previous) => previous,
                    // A new group starts at the log's first retained index.
                    None => self
                        .machine
                        .log(&log_name)
                        .unwrap()
                        .first_index
                        .min(summary.base_offset),
                };
                assert!(
                    summary.base_offset >= start,
                    "guarantee 4: base_offset went back"
                );
                for index in start..summary.base_offset {
                    let passed_terminal = self.terminal.contains(&(log, group, index));
                    let never_leased = !self
                        .issued
                        .iter()
                        .any(|(l, g, lease)| (*l, *g, lease.index) == (log, group, index));
                    assert!(
                        passed_terminal || never_leased && previous.is_none(),
                        "guarantee 4: base passed unsettled {index}"
                    );
                }
            }
        }
    }

    /// Liveness: with faults over and a diligent consumer, everything settles.
    fn drain(&mut self) {
        self.step(&Op::Advance { ms: 0 });
        let _ = self.machine.handle(self.now_ms, Command::CancelAllWaiters);
        self.waiters.clear();
        for _ in 0..200 {
            self.now_ms += 60_000;
            self.step(&Op::Advance { ms: 0 });
            for log in 0..LOGS {
                for group in 0..GROUPS {
                    let (log_name, group_name) = names(log, group);
                    if self.machine.group(&log_name, &group_name).is_err() {
                        continue;
                    }
                    let acquire = Op::Acquire {
                        log,
                        group,
                        consumer: 0,
                        max: 100,
                        lease: 3,
                        wait: false,
                    };
                    let before = self.issued.len();
                    self.step(&acquire);
                    for pick in before..self.issued.len() {
                        self.step(&Op::Settle {
                            pick: pick as u16,
                            outcome: 0,
                            delay_ms: None,
                        });
                    }
                }
            }
        }
        for log in 0..LOGS {
            for group in 0..GROUPS {
                let (log_name, group_name) = names(log, group);
                if let Ok(summary) = self.machine.group(&log_name, &group_name) {
                    assert_eq!(
                        summary.base_offset, summary.next_index,
                        "liveness: {log_name}/{group_name} did not drain"
                    );
                    assert_eq!(summary.leased + summary.backoff + summary.available, 0);
                }
            }
        }
    }
}

fn run(ops: &[Op]) -> Run {
    let mut run = Run::new(Machine::default());
    for op in ops {
        run.step(op);
    }
    run
}

fn quickcheck(tests: u64, property: fn(Vec<Op>) -> bool) {
    QuickCheck::new()
        .tests(tests)
        .rng(Gen::new(120))
        .quickcheck(property);
}

#[test]
fn guarantees_hold_on_random_workloads() {
    // Proves SPEC §1 guarantees 1-6 after every step, and liveness at the end.
    fn property(ops: Vec<Op>) -> bool {
        let mut run = run(&ops);
        run.machine.check_invariants();
        run.drain();
        true
    }
    quickcheck(1_000, property);
    let counts = [
        ("expired", &COVERAGE.expired),
        ("dead", &COVERAGE.dead),
        ("refused", &COVERAGE.refused),
        ("redriven", &COVERAGE.redriven),
        ("waiters served", &COVERAGE.waiters_served),
        ("waiters timed out", &COVERAGE.waiters_timed_out),
        ("released", &COVERAGE.released),
    ];
    for (what, counter) in counts {
        let count = counter.load(AtomicOrdering::Relaxed);
        assert!(count > 0, "the random workloads never reached: {what}");
        eprintln!("coverage: {what} {count}");
    }
}

#[test]
fn replay_gives_the_same_trace_byte_for_byte() {
    // Proves determinism: the same commands at the same times, the same outputs and state.
    fn property(ops: Vec<Op>) -> bool {
        let (first, second) = (run(&ops), run(&ops));
        first.trace == second.trace
            && serde_json::to_vec(&first.machine).unwrap()
                == serde_json::to_vec(&second.machine).unwrap()
    }
    quickcheck(150, property);
}

/// Runs the first half of `ops`, then the rest on the original and on a
/// twin whose machine `twin_of` makes from the original's. True if both
/// gave the same replies and events and ended byte-identical.
fn twins_share_a_future(ops: &[Op], twin_of: impl FnOnce(&Machine) -> Machine) -> bool {
    let split = ops.len() / 2;
    let mut original = run(&ops[..split]);
    let mut twin = Run {
        machine: twin_of(&original.machine),
        trace: Vec::new(),
        ..original.clone_shadow()
    };
    original.trace.clear();
    for op in &ops[split..] {
        original.step(op);
        twin.step(op);
    }
    original.trace == twin.trace
        && serde_json::to_vec(&original.machine).unwrap()
            == serde_json::to_vec(&twin.machine).unwrap()
}

#[test]
fn a_restored_snapshot_has_the_same_future() {
    // Proves snapshot → restore → same replies, events and final state.
    fn property(ops: Vec<Op>) -> bool {
        twins_share_a_future(&ops, |machine| {
            let snapshot = serde_json::to_vec(machine).unwrap();
            let restored: Machine = serde_json::from_slice(&snapshot).unwrap();
            restored.check_invariants();
            assert_eq!(
                serde_json::to_vec(&restored).unwrap(),
                snapshot,
                "restore round-trips"
            );
            restored
        })
    }
    quickcheck(150, property);
}

#[test]
fn replaying_only_the_commands_that_changed_state_rebuilds_the_machine() {
    // Proves the logging rule: commands answered `changed_state() == false`
    // can be left out of the log; replaying the rest gives every logged
    // command its first reply, and, once time passes to the same instant,
    // a byte-identical machine.
    fn property(ops: Vec<Op>) -> bool {
        let mut original = run(&ops);
        let mut replayed = Machine::default();
        for (at_ms, command, reply) in &original.logged {
            if replayed.handle(*at_ms, command.clone()).as_ref() != Ok(reply) {
                return false;
            }
        }
        let end_ms = original.now_ms;
        original.machine.handle_timeout(end_ms);
        replayed.handle_timeout(end_ms);
        serde_json::to_vec(&original.machine).unwrap() == serde_json::to_vec(&replayed).unwrap()
    }
    quickcheck(300, property);
}

#[test]
fn a_clone_has_the_same_future() {
    // Proves what the shell's snapshots rely on: a clone (sharing message
    // blocks copy on write) answers the rest like the original, and
    // changing either leaves a third clone, kept aside, as it was.
    fn property(ops: Vec<Op>) -> bool {
        let mut kept = None;
        let same_future = twins_share_a_future(&ops, |machine| {
            let frozen = machine.clone();
            kept = Some((serde_json::to_vec(&frozen).unwrap(), frozen.clone()));
            frozen
        });
        let (bytes, frozen) = kept.expect("the twin was made");
        same_future && serde_json::to_vec(&frozen).unwrap() == bytes
    }
    quickcheck(150, property);
}

impl Run {
    /// The shadow state without the machine, for a restored twin.
    fn clone_shadow(&self) -> Run {
        Run {
            machine: Machine::default(),
            now_ms: self.now_ms,
            trace: self.trace.clone(),
            issued: self.issued.clone(),
            waiters: self.waiters.clone(),
            next_waiter: self.next_waiter,
            next_index: self.next_index.clone(),
            held: self.held.clone(),
            terminal: self.terminal.clone(),
            base_offsets: self.base_offsets.clone(),
            logged: self.logged.clone(),
        }
    }
}
