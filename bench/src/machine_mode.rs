//! `bench --machine`: the core's own ceiling, with no network and no disk.
//!
//! One full cycle is append → acquire → settle processed of one message,
//! driven in batches through `Machine::handle` exactly as a shell would.
//! The baseline, measured in the same run, is the least work any broker
//! must do for the same messages: allocate each payload and push it
//! through a queue. The ratio shows what the machine's rules cost on top.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use mamamia_machine::*;
use serde::Serialize;

/// What one machine scenario measured.
#[derive(Clone, Debug, Serialize)]
pub struct MachineResult {
    pub name: String,
    pub msgs: u64,
    pub batch: u64,
    pub payload_bytes: usize,
    pub seconds: f64,
    pub cycles_per_second: f64,
    /// Cycles per second of the baseline for the same messages and batch.
    pub baseline_per_second: f64,
    /// Every message processed exactly once, as the group's own summary says.
    pub verified: bool,
}

pub fn run(name: &str, msgs: u64, batch: u64, payload_bytes: usize) -> MachineResult {
    let baseline_per_second = msgs as f64 / time(|| baseline(msgs, batch, payload_bytes));
    let mut verified = false;
    let seconds = time(|| verified = cycles(msgs, batch, payload_bytes));
    MachineResult {
        name: name.to_owned(),
        msgs,
        batch,
        payload_bytes,
        seconds,
        cycles_per_second: msgs as f64 / seconds,
        baseline_per_second,
        verified,
    }
}

fn time(work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    start.elapsed().as_secs_f64()
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

/// Runs the cycles and returns whether the group's summary shows every
/// message processed and nothing else outstanding.
fn cycles(msgs: u64, batch: u64, payload_bytes: usize) -> bool {
    let limits = Limits {
        batch_len_max: batch as usize,
        acquire_max: batch as u32,
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
        done += count;
        now_ms += 1;
    }
    let summary = machine.group(&log, &group).expect("the group exists");
    summary.processed == msgs && summary.base_offset == msgs && summary.lag == 0
}
