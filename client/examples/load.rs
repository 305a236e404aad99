//! A quick load generator (the project's `bench` is the real benchmark):
//! `cargo run --release --example load -- URL PRODUCERS CONSUMERS BATCH SECONDS [LOGS]`.
//! Producers append BATCH 100-byte messages per request; consumers acquire
//! up to BATCH and settle them in one request. With LOGS > 1, producer and
//! consumer K use log K % LOGS (to exercise `--owners`). Prints throughput and the
//! append latency percentiles.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mamamia_client::{AcquireOptions, Client, NewMessage, Settlement};

#[tokio::main]
async fn main() -> Result<(), mamamia_client::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:7780".into());
    let number = |position: usize, default: u64| {
        args.get(position)
            .and_then(|text| text.parse().ok())
            .unwrap_or(default)
    };
    let (producers, consumers, batch, seconds) = (
        number(1, 4),
        number(2, 8),
        number(3, 1).max(1),
        number(4, 5),
    );
    let logs = number(5, 1).max(1);
    let client = Client::new(&url)?;
    let run = std::process::id();
    let log_of = move |worker: u64| format!("load-{run}-{}", worker % logs);
    let stop = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(AtomicU64::new(0));
    let latencies_us = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let (client, log, stop, latencies_us) = (
            client.clone(),
            log_of(producer),
            stop.clone(),
            latencies_us.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let messages: Vec<NewMessage> = (0..batch)
                .map(|_| NewMessage::binary(vec![b'x'; 100]))
                .collect();
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                client.append(&log, &messages).await.expect("append");
                mine.push(started.elapsed().as_micros() as u64);
            }
            latencies_us.lock().unwrap().extend(mine);
            producer
        }));
    }
    for consumer in 0..consumers {
        let (client, log, stop, consumed) = (
            client.clone(),
            log_of(consumer),
            stop.clone(),
            consumed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let name = format!("consumer-{consumer}");
            let options = AcquireOptions {
                max: batch as u32,
                lease_ms: Some(30_000),
                wait_ms: Some(200),
            };
            while !stop.load(Ordering::Relaxed) {
                let leases = match client.acquire(&log, "load", &name, &options).await {
                    Ok(leases) => leases,
                    Err(error) if error.code() == Some("unknown_log") => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    Err(error) => panic!("acquire: {error}"),
                };
                if leases.is_empty() {
                    continue;
                }
                let settlements: Vec<Settlement> =
                    leases.iter().map(Settlement::processed).collect();
                client
                    .settle(&log, "load", &settlements)
                    .await
                    .expect("settle");
                consumed.fetch_add(leases.len() as u64, Ordering::Relaxed);
            }
            consumer
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let mut latencies_us = latencies_us.lock().unwrap().clone();
    latencies_us.sort_unstable();
    let percentile = |p: f64| {
        latencies_us
            .get(
                ((latencies_us.len() as f64 * p) as usize)
                    .min(latencies_us.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or(0)
    };
    let produced = latencies_us.len() as u64 * batch;
    println!(
        "{producers} producers x {consumers} consumers, {logs} log(s), batch {batch}, {seconds} s: appended {:.0} msg/s, consumed {:.0} msg/s, append latency p50 {} us p99 {} us",
        produced as f64 / seconds as f64,
        consumed.load(Ordering::Relaxed) as f64 / seconds as f64,
        percentile(0.50),
        percentile(0.99),
    );
    Ok(())
}
