//! The producer and consumer tasks of a REST scenario.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mamamia_client::{
    AcquireOptions, Client, Error, ItemResult, Lease, NewMessage, Payload, Settlement,
};
use tokio::sync::watch;

use crate::ledger::{self, Ledger};
use crate::scenario::Scenario;

/// The consumer group every scenario uses.
pub const GROUP: &str = "bench";
/// How often a call refused with 429 (server busy) is tried again.
pub const BUSY_RETRIES_MAX: u32 = 100;
/// Pause before retrying a call the server refused as busy.
pub const BUSY_PAUSE: Duration = Duration::from_millis(10);
/// Largest latency the histograms record, in µs (an hour); more saturates.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

/// What every task of one scenario shares.
pub struct Shared {
    pub client: Client,
    pub log: String,
    pub scenario: Scenario,
    pub ledger: Ledger,
    /// Every time is measured in µs since this instant.
    pub epoch: Instant,
    /// When the last accepted `processed` settle was answered, µs.
    pub last_settle_us: AtomicU64,
    pub failures: Mutex<Vec<String>>,
    pub stop: watch::Sender<bool>,
}

impl Shared {
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub fn fail(&self, what: String) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(what);
        }
        self.stop.send_replace(true);
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("bounds 1..1h at 3 digits are valid")
}

/// Calls `call` again while the server answers 429 (busy), a bounded number
/// of times; any other error is returned.
async fn patiently<T, F: std::future::Future<Output = Result<T, Error>>>(
    mut call: impl FnMut() -> F,
) -> Result<T, Error> {
    let mut tries = 0;
    loop {
        match call().await {
            Err(error) if error.status() == Some(429) && tries < BUSY_RETRIES_MAX => {
                tries += 1;
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            answer => return answer,
        }
    }
}

/// Produces message ids `first..end` in calls of `batch`; returns when the
/// last append was acknowledged, in µs since the epoch.
pub async fn produce(shared: Arc<Shared>, producer: u32, first: u64, end: u64) -> u64 {
    let scenario = &shared.scenario;
    let batch = u64::from(scenario.batch);
    // Open loop: this producer's share of the offered rate, in msg/µs.
    let per_us = scenario
        .rate
        .map(|rate| rate / f64::from(scenario.producers) / 1e6);
    let start_us = shared.now_us();
    let mut next = first;
    while next < end {
        if *shared.stop.borrow() {
            break;
        }
        let count = batch.min(end - next);
        let sent_at_us = match per_us {
            Some(per_us) => {
                let intended_us = start_us + ((next - first) as f64 / per_us) as u64;
                let now_us = shared.now_us();
                if intended_us > now_us {
                    tokio::time::sleep(Duration::from_micros(intended_us - now_us)).await;
                }
                // Latency counts from when the message should have left,
                // even if an earlier slow answer held this producer up.
                intended_us
            }
            None => shared.now_us(),
        };
        let messages: Vec<NewMessage> = (next..next + count)
            .map(|id| NewMessage::binary(ledger::payload(id, sent_at_us, scenario.payload_bytes)))
            .collect();
        let appended = patiently(|| shared.client.append(&shared.log, &messages)).await;
        match appended {
            Ok(appended) if appended.count == count => shared.ledger.on_produced(count),
            Ok(appended) => {
                shared.fail(format!(
                    "producer {producer}: appended {} of {count}",
                    appended.count
                ));
                break;
            }
            Err(error) => {
                shared.fail(format!("producer {producer}: append: {error}"));
                break;
            }
        }
        next += count;
    }
    shared.now_us()
}

/// Acquires and settles until told to stop; returns its latency histogram.
pub async fn consume(shared: Arc<Shared>, consumer: u32) -> Histogram<u64> {
    let scenario = &shared.scenario;
    let name = format!("consumer-{consumer}");
    let options = AcquireOptions {
        max: scenario.max,
        lease_ms: Some(scenario.lease_ms),
        wait_ms: Some(scenario.wait_ms),
    };
    let mut latencies_us = histogram();
    let mut random = Xorshift::new(u64::from(consumer) + 1);
    let failure_rate = scenario.failure_rate.unwrap_or(0.0);
    let crash_rate = scenario.crash_rate.unwrap_or(0.0);
    let mut stop = shared.stop.subscribe();
    loop {
        if *stop.borrow() || shared.ledger.done() {
            break;
        }
        let acquired = tokio::select! {
            acquired = patiently(|| shared.client.acquire(&shared.log, GROUP, &name, &options)) => acquired,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let leases = match acquired {
            Ok(leases) => leases,
            Err(error) => {
                shared.fail(format!("{name}: acquire: {error}"));
                break;
            }
        };
        if leases.is_empty() {
            continue;
        }
        let count = leases.len() as u64;
        shared.ledger.on_leased(count);
        // Abandoned leases are dropped unsettled, as by a crashed consumer.
        let leases: Vec<Lease> = leases
            .into_iter()
            .filter(|_| crash_rate == 0.0 || random.unit() >= crash_rate)
            .collect();
        let abandoned = count - leases.len() as u64;
        if abandoned > 0 {
            shared
                .ledger
                .abandoned
                .fetch_add(abandoned, Ordering::Relaxed);
            shared.ledger.on_unleased(abandoned);
        }
        if leases.is_empty() {
            continue;
        }
        let count = leases.len() as u64;
        let stamps: Vec<Option<(u64, u64)>> = leases.iter().map(stamp).collect();
        let settlements: Vec<Settlement> = leases
            .iter()
            .map(|lease| {
                let mut settlement = Settlement::processed(lease);
                if random.unit() < failure_rate {
                    settlement.outcome = "retry".into();
                }
                settlement
            })
            .collect();
        let settled = settle_in_calls(&shared, &settlements).await;
        shared.ledger.on_unleased(count);
        let results = match settled {
            Ok(results) => results,
            Err(error) => {
                shared.fail(format!("{name}: settle: {error}"));
                break;
            }
        };
        let now_us = shared.now_us();
        for ((settlement, stamp), result) in settlements.iter().zip(&stamps).zip(&results) {
            if result.index != settlement.index || !result.is_ok() {
                // A refused settle (lease expired) is redelivered later;
                // only accepted ones count.
                continue;
            }
            if settlement.outcome == "retry" {
                shared.ledger.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match stamp {
                Some((id, sent_at_us)) => {
                    shared.ledger.on_settled(*id);
                    latencies_us.saturating_record(now_us.saturating_sub(*sent_at_us).max(1));
                }
                None => {
                    shared.ledger.foreign.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        shared.last_settle_us.fetch_max(now_us, Ordering::Relaxed);
        if shared.ledger.done() {
            shared.stop.send_replace(true);
        }
    }
    latencies_us
}

/// Settles in calls of at most the scenario's `settle_batch` items, one
/// call after another, and returns every item's result in order.
async fn settle_in_calls(
    shared: &Shared,
    settlements: &[Settlement],
) -> Result<Vec<ItemResult>, Error> {
    let per_call = shared
        .scenario
        .settle_batch
        .map_or(settlements.len(), |batch| batch as usize)
        .max(1);
    let mut results = Vec::with_capacity(settlements.len());
    for chunk in settlements.chunks(per_call) {
        results.extend(patiently(|| shared.client.settle(&shared.log, GROUP, chunk)).await?);
    }
    Ok(results)
}

fn stamp(lease: &Lease) -> Option<(u64, u64)> {
    match &lease.message.payload {
        Payload::Binary(bytes) => ledger::read_payload(bytes),
        Payload::Json(_) => None,
    }
}

/// A tiny deterministic generator: which deliveries fail needs no quality,
/// only repeatability.
struct Xorshift(u64);

impl Xorshift {
    fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
