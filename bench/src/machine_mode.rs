//! `bench --machine`: the core's own ceiling, with no network and no disk.
//!
//! One full cycle is append → acquire → settle processed of one message,
//! driven in batches through `Machine::handle` exactly as a shell would.
//! It runs the same scenarios as the network modes, so the ratio of the
//! two shows what the network, HTTP, JSON and the disk cost. The baseline,
//! measured in the same run, is the least work any broker must do for the
//! same messages: allocate each payload and push it through a queue; the
//! ratio shows what the machine's rules cost on top.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use hdrhistogram::Histogram;
use mamamia_machine::*;

use crate::report::{Correctness, LatencySummary, ScenarioResult};
use crate::scenario::Scenario;
use crate::workers;

/// Repeat a scenario's messages until the run lasts at least this long, so
/// a 10,000-message scenario still measures more than timer noise.
pub const SECONDS_MIN: f64 = 0.5;
/// ... but never more than this many repetitions.
pub const REPEATS_MAX: u64 = 10_000;

/// Runs a scenario on the machine: `batch` messages appended, acquired and
/// settled per cycle, single-threaded. Producers, consumers, `max`, rates
/// and failures do not apply: the machine has no concurrency to exploit
/// and nothing to wait for, so this is the core's ceiling for the
/// scenario's batch and payload. Latency is one cycle's duration.
pub fn run(scenario: &Scenario) -> ScenarioResult {
    let mut latencies_us = workers::histogram();
    let mut verified = true;
    let mut repeats = 0;
    let start = Instant::now();
    while repeats < REPEATS_MAX && (repeats == 0 || start.elapsed().as_secs_f64() < SECONDS_MIN) {
        verified &= cycles(
            scenario.msgs,
            u64::from(scenario.batch),
            scenario.payload_bytes,
            &mut latencies_us,
        );
        repeats += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let msgs = scenario.msgs * repeats;
    let per_second = msgs as f64 / seconds;
    let baseline_start = Instant::now();
    baseline(msgs, u64::from(scenario.batch), scenario.payload_bytes);
    let baseline_per_second = msgs as f64 / baseline_start.elapsed().as_secs_f64();
    let mut problems = Vec::new();
    if !verified {
        problems.push("the group summary does not show every message processed once".into());
    }
    ScenarioResult {
        scenario: Scenario {
            msgs,
            ..scenario.clone()
        },
        seconds,
        produce_per_second: per_second,
        consume_per_second: per_second,
        efficiency_per_second: per_second,
        latency: LatencySummary::of(&latencies_us),
        queue_depth_max: u64::from(scenario.batch),
        leases_in_flight_max: u64::from(scenario.batch),
        retries: 0,
        abandoned: 0,
        baseline_per_second: Some(baseline_per_second),
        server: None,
        work: None,
        correctness: Correctness {
            produced: msgs,
            settled_once: if verified { msgs } else { 0 },
            server_processed: if verified { msgs } else { 0 },
            verified,
            problems,
            ..Correctness::default()
        },
    }
}

/// Runs the cycles and returns whether the group's summary shows every
/// message processed and nothing else outstanding.
fn cycles(msgs: u64, batch: u64, payload_bytes: usize, latencies_us: &mut Histogram<u64>) -> bool {
    let limits = Limits {
        batch_len_max: batch as usize,
        acquire_max: batch as u32,
        // Each cycle acquires its whole batch at once, however large.
        acquire_bytes_max: Limits::default()
            .acquire_bytes_max
            .max(batch.saturating_mul(payload_bytes as u64)),
        ..Limits::default()
    };
    let mut machine = Machine::new(limits);
    let log = LogName::new("bench").expect("valid name");
    let group = GroupName::new("workers").expect("valid name");
    let consumer = ConsumerName::new("worker").expect("valid name");
    let unbounded = LogSettings {
        retention_bytes: Some(Some(0)),
        ..LogSettings::default()
    };
    machine
        .handle(
            0,
            Command::PutLog {
                log: log.clone(),
                settings: unbounded,
            },
        )
        .expect("valid log settings");
    machine
        .handle(
            0,
            Command::PutGroup {
                log: log.clone(),
                group: group.clone(),
                settings: GroupSettings::default(),
            },
        )
        .expect("valid group settings");
    let mut now_ms = 0;
    let mut done = 0;
    while done < msgs {
        let cycle_start = Instant::now();
        let count = batch.min(msgs - done);
        let messages = (0..count)
            .map(|_| NewMessage::new(vec![7u8; payload_bytes]))
            .collect();
        machine
            .handle(
                now_ms,
                Command::Append {
                    log: log.clone(),
                    messages,
                },
            )
            .expect("append within limits");
        let acquire = Acquire {
            log: log.clone(),
            group: group.clone(),
            consumer: consumer.clone(),
            max: count as u32,
            lease_ms: None,
            wait: None,
        };
        let Ok(Reply::Acquired(acquired)) = machine.handle(now_ms, Command::Acquire(acquire))
        else {
            panic!("acquire within limits answers Acquired");
        };
        let settlements = acquired
            .leases
            .iter()
            .map(|lease| Settlement {
                index: lease.index,
                token: lease.token,
                outcome: SettleOutcome::Processed,
            })
            .collect();
        machine
            .handle(
                now_ms,
                Command::Settle {
                    log: log.clone(),
                    group: group.clone(),
                    settlements,
                },
            )
            .expect("settle within limits");
        let cycle_us = cycle_start.elapsed().as_micros() as u64;
        latencies_us.saturating_record_n(cycle_us.max(1), count);
        done += count;
        now_ms += 1;
    }
    let summary = machine.group(&log, &group).expect("the group exists");
    summary.processed == msgs && summary.base_offset == msgs && summary.lag == 0
}

fn baseline(msgs: u64, batch: u64, payload_bytes: usize) {
    let mut queue = VecDeque::new();
    let mut done = 0;
    while done < msgs {
        let count = batch.min(msgs - done);
        for _ in 0..count {
            queue.push_back(vec![7u8; payload_bytes]);
        }
        for _ in 0..count {
            black_box(queue.pop_front());
        }
        done += count;
    }
}
