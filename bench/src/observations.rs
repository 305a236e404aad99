//! Scaling observations computed from a run's results, in words, for the
//! HTML report: what batching buys, where adding workers stops helping,
//! what retries and an offered rate cost.

use crate::report::{Report, ScenarioResult};

/// Below this gain in throughput, more workers "stop helping".
pub const GAIN_USEFUL: f64 = 1.10;
/// An open-loop scenario that delivers less than this share of its offered
/// rate was saturated.
pub const RATE_KEPT_SHARE: f64 = 0.95;

/// Every observation the data supports, most general first.
pub fn observe(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    batching(&report.results, &mut notes);
    scaling(&report.results, &mut notes);
    retries(&report.results, &mut notes);
    crashes(&report.results, &mut notes);
    open_loop(&report.results, &mut notes);
    server_cpu(&report.results, &mut notes);
    notes
}

/// Closed loop, no failures: the scenarios that measure pure capacity.
fn plain(result: &ScenarioResult) -> bool {
    result.scenario.rate.is_none()
        && result.scenario.failure_rate.unwrap_or(0.0) == 0.0
        && result.scenario.crash_rate.unwrap_or(0.0) == 0.0
}

fn same_shape(a: &ScenarioResult, b: &ScenarioResult) -> bool {
    a.scenario.producers == b.scenario.producers
        && a.scenario.consumers == b.scenario.consumers
        && a.scenario.payload_bytes == b.scenario.payload_bytes
}

fn workers(result: &ScenarioResult) -> u32 {
    result.scenario.producers.max(result.scenario.consumers)
}

fn batching(results: &[ScenarioResult], notes: &mut Vec<String>) {
    for single in results.iter().filter(|r| plain(r) && r.scenario.batch == 1) {
        for batched in results
            .iter()
            .filter(|r| plain(r) && r.scenario.batch > 1 && same_shape(r, single))
        {
            notes.push(format!(
                "Batching {} per call at {}×{}: {:.1}× the throughput of one message per call ({:.0} vs {:.0} msg/s).",
                batched.scenario.batch,
                single.scenario.producers,
                single.scenario.consumers,
                batched.consume_per_second / single.consume_per_second.max(f64::MIN_POSITIVE),
                batched.consume_per_second,
                single.consume_per_second,
            ));
        }
    }
}

fn scaling(results: &[ScenarioResult], notes: &mut Vec<String>) {
    let mut batches: Vec<u32> = results.iter().map(|r| r.scenario.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    for batch in batches {
        let mut series: Vec<&ScenarioResult> = results
            .iter()
            .filter(|r| plain(r) && r.scenario.batch == batch)
            .collect();
        series.sort_by_key(|r| workers(r));
        for pair in series.windows(2) {
            let (fewer, more) = (pair[0], pair[1]);
            if workers(more) <= workers(fewer) {
                continue;
            }
            let gain = more.consume_per_second / fewer.consume_per_second.max(f64::MIN_POSITIVE);
            let verdict = if gain < GAIN_USEFUL {
                "adding workers stopped helping here"
            } else {
                "adding workers still helped"
            };
            notes.push(format!(
                "Batch {batch}: from {}×{} to {}×{}, throughput {:.2}× ({:.0} → {:.0} msg/s), efficiency {:.0} → {:.0} msg/s per worker; {verdict}.",
                fewer.scenario.producers,
                fewer.scenario.consumers,
                more.scenario.producers,
                more.scenario.consumers,
                gain,
                fewer.consume_per_second,
                more.consume_per_second,
                fewer.efficiency_per_second,
                more.efficiency_per_second,
            ));
        }
    }
}

fn retries(results: &[ScenarioResult], notes: &mut Vec<String>) {
    for failing in results
        .iter()
        .filter(|r| r.scenario.failure_rate.unwrap_or(0.0) > 0.0)
    {
        let twin = results.iter().find(|r| {
            plain(r)
                && same_shape(r, failing)
                && r.scenario.batch == failing.scenario.batch
                && r.scenario.max == failing.scenario.max
        });
        let rate = failing.scenario.failure_rate.unwrap_or(0.0) * 100.0;
        match twin {
            Some(twin) => notes.push(format!(
                "{rate:.0}% of deliveries retried ({} retries): {:.2}× the throughput and {:.1}× the p99 latency of {:?}.",
                failing.retries,
                failing.consume_per_second / twin.consume_per_second.max(f64::MIN_POSITIVE),
                failing.latency.p99_us as f64 / (twin.latency.p99_us.max(1)) as f64,
                twin.scenario.name,
            )),
            None => notes.push(format!(
                "{:?}: {rate:.0}% of deliveries retried ({} retries), every message still settled exactly once: {}.",
                failing.scenario.name,
                failing.retries,
                if failing.correctness.verified { "yes" } else { "NO" },
            )),
        }
    }
}

fn crashes(results: &[ScenarioResult], notes: &mut Vec<String>) {
    for crashing in results
        .iter()
        .filter(|r| r.scenario.crash_rate.unwrap_or(0.0) > 0.0)
    {
        notes.push(format!(
            "{:?}: {} deliveries abandoned as by crashed consumers came back after their {} ms lease; p99 {:.2} ms; every message settled exactly once: {}.",
            crashing.scenario.name,
            crashing.abandoned,
            crashing.scenario.lease_ms,
            crashing.latency.p99_us as f64 / 1000.0,
            if crashing.correctness.verified { "yes" } else { "NO" },
        ));
    }
}

fn open_loop(results: &[ScenarioResult], notes: &mut Vec<String>) {
    for paced in results.iter().filter(|r| r.scenario.rate.is_some()) {
        let offered = paced.scenario.rate.unwrap_or(0.0);
        let kept = paced.consume_per_second >= offered * RATE_KEPT_SHARE;
        notes.push(format!(
            "{:?} offered {offered:.0} msg/s and got {:.0} msg/s through ({}); p99 {:.2} ms measured from each message's intended send time.",
            paced.scenario.name,
            paced.consume_per_second,
            if kept { "kept up" } else { "saturated: latency grows with the backlog" },
            paced.latency.p99_us as f64 / 1000.0,
        ));
    }
}

fn server_cpu(results: &[ScenarioResult], notes: &mut Vec<String>) {
    let busiest = results
        .iter()
        .filter_map(|r| r.server.as_ref().map(|server| (r, server.cpu_percent)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((result, cpu_percent)) = busiest {
        notes.push(format!(
            "The server was busiest in {:?} at {cpu_percent:.0}% CPU (100% = one core){}.",
            result.scenario.name,
            if cpu_percent < 90.0 {
                ": below one core, so it mostly waited (fsync, the network or the clients)"
            } else {
                ""
            }
        ));
    }
}
