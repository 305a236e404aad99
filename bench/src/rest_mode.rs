//! `--internal` and `--addr`: one scenario against a server, through the
//! client crate, with the server's group summary as the second witness.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mamamia_client::Client;
use serde_json::json;
use tokio::sync::watch;

use crate::report::{Correctness, LatencySummary, ScenarioResult, ServerUsage};
use crate::scenario::Scenario;
use crate::workers::{self, Shared, GROUP};
use crate::{process_stats, server_work};

/// How often the progress line and the server's memory are refreshed.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// A scenario still unfinished after this long fails (lost messages):
/// the bench must end even when the server stops delivering.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);
/// Attempts before a message is dead: the most the machine allows, so a
/// failure rate below 1 never kills a message in practice.
pub const MAX_ATTEMPTS: u32 = 1000;
/// The group's unsettled window: the machine's default bound, so an
/// abandoned lease low in the log never stalls a large batched scenario.
pub const UNSETTLED_WINDOW: u64 = 1_000_000;

/// Runs one scenario on the server at `url` using log `log`; `server_pid`
/// names the server process when it is local, for CPU and memory.
pub async fn run(
    url: &str,
    log: &str,
    scenario: &Scenario,
    server_pid: Option<u32>,
) -> Result<ScenarioResult, String> {
    let client = Client::new(url).map_err(|error| error.to_string())?;
    prepare(&client, log, scenario).await?;
    let (stop, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        client: client.clone(),
        log: log.to_owned(),
        scenario: scenario.clone(),
        ledger: crate::ledger::Ledger::new(scenario.msgs),
        epoch: Instant::now(),
        last_settle_us: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
        stop,
    });
    let cpu_start = server_pid.and_then(process_stats::sample);
    let work_start = server_work::start(&client).await;
    let consumers: Vec<_> = (0..scenario.consumers)
        .map(|consumer| tokio::spawn(workers::consume(shared.clone(), consumer)))
        .collect();
    let producers: Vec<_> = (0..scenario.producers)
        .map(|producer| {
            let (first, end) = share(scenario.msgs, scenario.producers, producer);
            tokio::spawn(workers::produce(shared.clone(), producer, first, end))
        })
        .collect();
    let rss_bytes_max = watch_progress(&shared, server_pid).await;
    let mut produced_at_us = 0;
    for producer in producers {
        produced_at_us = produced_at_us.max(producer.await.map_err(|error| error.to_string())?);
    }
    let mut latencies_us = workers::histogram();
    for consumer in consumers {
        let histogram = consumer.await.map_err(|error| error.to_string())?;
        latencies_us
            .add(histogram)
            .map_err(|error| format!("latency histograms do not merge: {error}"))?;
    }
    let settled_at_us = shared.last_settle_us.load(Ordering::Relaxed).max(1);
    let cpu_end = server_pid.and_then(process_stats::sample);
    let server_cpu_seconds = cpu_start
        .zip(cpu_end)
        .map(|(start, end)| end.cpu_seconds - start.cpu_seconds);
    let work = server_work::since(work_start, &client, server_cpu_seconds).await;
    let server = match (server_cpu_seconds, cpu_end) {
        (Some(cpu_seconds), Some(end)) => Some(ServerUsage {
            cpu_percent: cpu_seconds / (settled_at_us as f64 / 1e6) * 100.0,
            rss_bytes_max: rss_bytes_max.max(end.rss_bytes),
        }),
        _ => None,
    };
    let correctness = verdict(&client, log, &shared).await;
    let ledger = &shared.ledger;
    let settled = ledger.settled.load(Ordering::Relaxed);
    let consume_per_second = settled as f64 / (settled_at_us as f64 / 1e6);
    Ok(ScenarioResult {
        scenario: scenario.clone(),
        seconds: settled_at_us as f64 / 1e6,
        produce_per_second: ledger.produced.load(Ordering::Relaxed) as f64
            / (produced_at_us.max(1) as f64 / 1e6),
        consume_per_second,
        efficiency_per_second: consume_per_second
            / f64::from(scenario.producers.max(scenario.consumers)),
        latency: LatencySummary::of(&latencies_us),
        queue_depth_max: ledger.queue_depth_max.load(Ordering::Relaxed),
        leases_in_flight_max: ledger.leases_in_flight_max.load(Ordering::Relaxed),
        retries: ledger.retries.load(Ordering::Relaxed),
        abandoned: ledger.abandoned.load(Ordering::Relaxed),
        baseline_per_second: None,
        server,
        work,
        correctness,
    })
}

/// The message ids `[first, end)` of producer `position` out of `count`.
fn share(msgs: u64, count: u32, position: u32) -> (u64, u64) {
    let (count, position) = (u64::from(count), u64::from(position));
    (msgs * position / count, msgs * (position + 1) / count)
}

/// Creates the log and the group: no backoff and attempts to spare, so a
/// retried message comes back at once and never dies, and a wide window.
async fn prepare(client: &Client, log: &str, scenario: &Scenario) -> Result<(), String> {
    client
        .put_log(log, &json!({}))
        .await
        .map_err(|error| format!("cannot create log {log}: {error}"))?;
    let settings = json!({
        "lease_ms": scenario.lease_ms,
        "max_attempts": MAX_ATTEMPTS,
        "unsettled_window": UNSETTLED_WINDOW,
        "backoff": {"initial_ms": 1, "multiplier": 1.0, "cap_ms": 1},
    });
    client
        .put_group(log, GROUP, &settings)
        .await
        .map_err(|error| format!("cannot create group {GROUP}: {error}"))?;
    Ok(())
}

/// Shows progress until the scenario ends or times out; returns the most
/// memory the server used meanwhile.
async fn watch_progress(shared: &Shared, server_pid: Option<u32>) -> u64 {
    let terminal = std::io::stderr().is_terminal();
    let mut stop = shared.stop.subscribe();
    let mut rss_bytes_max = 0;
    let started = Instant::now();
    loop {
        let stopped = tokio::time::timeout(PROGRESS_INTERVAL, stop.wait_for(|stop| *stop))
            .await
            .is_ok();
        if let Some(sample) = server_pid.and_then(process_stats::sample) {
            rss_bytes_max = rss_bytes_max.max(sample.rss_bytes);
        }
        let ledger = &shared.ledger;
        if terminal {
            let settled = ledger.settled.load(Ordering::Relaxed);
            eprint!(
                "\r  {:<32} produced {:>9}/{} settled {:>9}  {:>9.0} msg/s ",
                shared.scenario.name,
                ledger.produced.load(Ordering::Relaxed),
                ledger.msgs(),
                settled,
                settled as f64 / started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
        if stopped || ledger.done() {
            break;
        }
        if started.elapsed() > SCENARIO_TIMEOUT {
            shared.fail(format!(
                "not finished after {} s",
                SCENARIO_TIMEOUT.as_secs()
            ));
            break;
        }
    }
    shared.stop.send_replace(true);
    if terminal {
        eprint!("\r{:<100}\r", "");
    }
    rss_bytes_max
}

/// The ledger's verdict, cross-checked against the server's group summary.
async fn verdict(client: &Client, log: &str, shared: &Shared) -> Correctness {
    let mut correctness = shared.ledger.correctness();
    if let Ok(failures) = shared.failures.lock() {
        correctness.problems.extend(failures.iter().cloned());
    }
    match client.group(log, GROUP).await {
        Ok(group) => {
            correctness.server_processed = group.processed;
            correctness.server_outstanding =
                group.dead + group.leased + group.available + group.backoff;
            let msgs = shared.ledger.msgs();
            if group.processed != msgs {
                correctness.problems.push(format!(
                    "the server counts {} processed of {msgs}",
                    group.processed
                ));
            }
            if group.next_index != msgs {
                correctness.problems.push(format!(
                    "the server's log holds {} messages, not {msgs}",
                    group.next_index
                ));
            }
            if correctness.server_outstanding > 0 {
                correctness.problems.push(format!(
                    "the server still holds {} dead, {} leased, {} available, {} in backoff",
                    group.dead, group.leased, group.available, group.backoff
                ));
            }
        }
        Err(error) => correctness
            .problems
            .push(format!("cannot read the group summary: {error}")),
    }
    correctness.verified = correctness.problems.is_empty();
    correctness
}
