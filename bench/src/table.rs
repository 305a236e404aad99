//! The terminal summary table and the `--compare` ratios.

use std::fmt::Write;

use crate::report::{Report, ScenarioResult};

/// The header of the summary table.
pub fn header() -> String {
    format!(
        "{:<30} {:>8} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6} {:>7} {}",
        "scenario",
        "msgs",
        "produce/s",
        "consume/s",
        "eff/s",
        "mean ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "depth",
        "leases",
        "cpu%",
        "rss MiB",
        "correct"
    )
}

/// One scenario as a row of the table.
pub fn row(result: &ScenarioResult) -> String {
    let latency = &result.latency;
    let ms = |us: u64| us as f64 / 1000.0;
    let (cpu, rss) = match &result.server {
        Some(server) => (
            format!("{:.0}", server.cpu_percent),
            format!("{:.1}", server.rss_bytes_max as f64 / (1 << 20) as f64),
        ),
        None => ("-".into(), "-".into()),
    };
    format!(
        "{:<30} {:>8} {:>10.0} {:>10.0} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>7} {:>6} {:>7} {}",
        truncate(&result.scenario.name, 30),
        result.scenario.msgs,
        result.produce_per_second,
        result.consume_per_second,
        result.efficiency_per_second,
        latency.mean_us / 1000.0,
        ms(latency.p50_us),
        ms(latency.p95_us),
        ms(latency.p99_us),
        ms(latency.max_us),
        result.queue_depth_max,
        result.leases_in_flight_max,
        cpu,
        rss,
        if result.correctness.verified { "yes" } else { "NO" }
    )
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// The whole table, with each failed scenario's problems under it.
pub fn summary(report: &Report) -> String {
    let mut text = format!("target: {}", report.target);
    if let Some(fsync) = &report.fsync {
        let _ = write!(text, ", fsync {fsync}");
    }
    if let Some(threads) = report.client_threads {
        let _ = write!(text, ", {threads} client thread(s)");
    }
    let _ = writeln!(text, "\n{}", header());
    for result in &report.results {
        let _ = writeln!(text, "{}", row(result));
        if let Some(baseline) = result.baseline_per_second {
            let _ = writeln!(
                text,
                "    baseline (allocate + queue) {baseline:.0} msg/s: the machine runs at {:.2}x of it",
                result.consume_per_second / baseline
            );
        }
        for problem in &result.correctness.problems {
            let _ = writeln!(text, "    problem: {problem}");
        }
    }
    if report.results.iter().any(|result| result.work.is_some()) {
        let _ = writeln!(text, "\n{}", work_header());
        for result in &report.results {
            if let Some(row) = work_row(result) {
                let _ = writeln!(text, "{row}");
            }
        }
    }
    text
}

/// The header of the table of where the time went.
pub fn work_header() -> String {
    format!(
        "{:<30} {:>8} {:>9} {:>9} {:>8} {:>13} {:>13}",
        "where the time goes",
        "fsync/s",
        "msg/fsync",
        "fsync µs",
        "req/msg",
        "server µs/msg",
        "client µs/msg"
    )
}

/// Per message settled: fsyncs, requests and CPU of both processes.
pub fn work_row(result: &ScenarioResult) -> Option<String> {
    let rates = result.work_rates()?;
    let shown = |value: Option<f64>, decimals: usize| {
        value.map_or("-".to_owned(), |value| format!("{value:.decimals$}"))
    };
    Some(format!(
        "{:<30} {:>8.0} {:>9} {:>9} {:>8.2} {:>13} {:>13}",
        truncate(&result.scenario.name, 30),
        rates.fsyncs_per_second,
        shown(rates.messages_per_fsync, 1),
        shown(rates.fsync_mean_us, 0),
        rates.requests_per_message,
        shown(rates.server_cpu_us_per_message, 1),
        shown(rates.client_cpu_us_per_message, 1),
    ))
}

/// This run against an earlier one, scenario by scenario (matched by
/// name): ratios above 1 mean this run is faster or slower to answer.
pub fn compare(current: &Report, earlier: &Report) -> String {
    let mut text = format!(
        "compared with an earlier run (target {}): ratio = this run / earlier\n{:<30} {:>10} {:>10} {:>9} {:>9}\n",
        earlier.target, "scenario", "produce/s", "consume/s", "p50", "p99"
    );
    for result in &current.results {
        let Some(before) = earlier
            .results
            .iter()
            .find(|before| before.scenario.name == result.scenario.name)
        else {
            let _ = writeln!(
                text,
                "{:<30} (not in the earlier run)",
                truncate(&result.scenario.name, 30)
            );
            continue;
        };
        let _ = writeln!(
            text,
            "{:<30} {:>10} {:>10} {:>9} {:>9}",
            truncate(&result.scenario.name, 30),
            ratio(result.produce_per_second, before.produce_per_second),
            ratio(result.consume_per_second, before.consume_per_second),
            ratio(result.latency.p50_us as f64, before.latency.p50_us as f64),
            ratio(result.latency.p99_us as f64, before.latency.p99_us as f64),
        );
    }
    text
}

fn ratio(now: f64, before: f64) -> String {
    if before > 0.0 && now.is_finite() {
        let ratio = now / before;
        // Two decimals would print a 1,000-fold latency drop as 0.00x.
        if ratio >= 0.1 {
            format!("{ratio:.2}x")
        } else {
            format!("{ratio:.4}x")
        }
    } else {
        "-".into()
    }
}
