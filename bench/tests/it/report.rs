//! A small run's report holds together, and the HTML report keeps its shape.

use mamamia_bench::{scenario, Report};

const SMALL_CONFIG: &str = r#"{"scenarios": [
  {"name": "2x3 per-message", "msgs": 300, "producers": 2, "consumers": 3,
   "payload_bytes": 64, "batch": 1, "max": 1, "lease_ms": 30000, "wait_ms": 50},
  {"name": "2x3 batched", "msgs": 1000, "producers": 2, "consumers": 3,
   "payload_bytes": 64, "batch": 20, "max": 20, "lease_ms": 30000, "wait_ms": 50},
  {"name": "2x3 retry 20%", "msgs": 200, "producers": 2, "consumers": 3,
   "payload_bytes": 64, "batch": 1, "max": 5, "lease_ms": 30000, "wait_ms": 50,
   "failure_rate": 0.2},
  {"name": "1x2 open 2000/s", "msgs": 200, "producers": 1, "consumers": 2,
   "payload_bytes": 64, "batch": 1, "max": 1, "lease_ms": 30000, "wait_ms": 50,
   "rate": 2000},
  {"name": "2x3 crash 10%", "msgs": 100, "producers": 2, "consumers": 3,
   "payload_bytes": 64, "batch": 10, "max": 10, "lease_ms": 50, "wait_ms": 50,
   "crash_rate": 0.1}
]}"#;

fn run_small() -> Report {
    let scenarios = scenario::parse(SMALL_CONFIG).expect("the test config is valid");
    mamamia_bench::run::run(&crate::server::target(), &scenarios, 1, |_| {})
        .expect("the bench reaches its server")
}

#[test]
fn a_small_run_counts_every_message_once_and_orders_its_percentiles() {
    let report = run_small();
    assert_eq!(report.results.len(), 5);
    for result in &report.results {
        let name = &result.scenario.name;
        let correctness = &result.correctness;
        assert!(correctness.verified, "{name}: {:?}", correctness.problems);
        assert_eq!(correctness.produced, result.scenario.msgs, "{name}");
        assert_eq!(correctness.settled_once, result.scenario.msgs, "{name}");
        assert_eq!(correctness.server_processed, result.scenario.msgs, "{name}");
        assert_eq!((correctness.duplicates, correctness.lost), (0, 0), "{name}");
        let latency = &result.latency;
        assert_eq!(
            latency.count, result.scenario.msgs,
            "{name}: one sample per message"
        );
        assert!(
            latency.p50_us <= latency.p95_us
                && latency.p95_us <= latency.p99_us
                && latency.p99_us <= latency.max_us,
            "{name}: {latency:?}"
        );
        assert!(result.produce_per_second > 0.0 && result.consume_per_second > 0.0);
        assert!(
            result.leases_in_flight_max
                <= u64::from(result.scenario.max * result.scenario.consumers)
        );
    }
    for result in &report.results[..4] {
        let name = &result.scenario.name;
        let work = result
            .work
            .as_ref()
            .expect("the bench reads the server's metrics");
        // Each message took at least its share of an append, an acquire
        // and a settle call. (The test server runs without fsync.)
        let calls = |per_call: u32| result.scenario.msgs.div_ceil(u64::from(per_call));
        // A settle call names at most `settle_batch` messages, or what one
        // acquire returned.
        let settle_batch = result.scenario.settle_batch.unwrap_or(result.scenario.max);
        assert!(
            work.requests
                >= calls(result.scenario.batch) + calls(result.scenario.max) + calls(settle_batch),
            "{name}: {work:?}"
        );
        assert!(work.client_cpu_seconds.is_some(), "{name}: {work:?}");
    }
    let crashed = &report.results[4];
    assert!(
        crashed.abandoned > 0,
        "a 10% crash rate abandons some leases"
    );
    let retried = &report.results[2];
    assert!(
        retried.retries > 0,
        "a 20% failure rate retries some deliveries"
    );
}

/// A report with fixed numbers, shaped like the default config's.
fn synthetic_report() -> Report {
    use mamamia_bench::report::{Correctness, LatencySummary, ServerUsage, ServerWork};
    use mamamia_bench::{Scenario, ScenarioResult};
    let result = |name: &str, producers, consumers, batch, per_second: f64, rate, failure_rate| {
        let msgs = 10_000;
        ScenarioResult {
            scenario: Scenario {
                name: name.into(),
                msgs,
                producers,
                consumers,
                payload_bytes: 100,
                batch,
                max: batch,
                settle_batch: None,
                lease_ms: 30_000,
                wait_ms: 200,
                failure_rate,
                crash_rate: None,
                rate,
            },
            seconds: msgs as f64 / per_second,
            produce_per_second: per_second * 1.1,
            consume_per_second: per_second,
            efficiency_per_second: per_second / f64::from(producers.max(consumers)),
            latency: LatencySummary {
                count: msgs,
                mean_us: 900.0,
                p50_us: 800,
                p95_us: 1500,
                p99_us: 2500,
                max_us: 9000,
            },
            queue_depth_max: 40,
            leases_in_flight_max: u64::from(consumers * batch),
            retries: if failure_rate.is_some() { 1_000 } else { 0 },
            abandoned: 0,
            baseline_per_second: None,
            server: Some(ServerUsage {
                cpu_percent: 95.0,
                rss_bytes_max: 12 << 20,
            }),
            work: Some(ServerWork {
                fsyncs: msgs / 4,
                fsync_mean_us: 150.0,
                requests: msgs * 3,
                server_cpu_seconds: Some(0.5),
                client_cpu_seconds: Some(0.25),
            }),
            correctness: Correctness {
                produced: msgs,
                settled_once: msgs,
                server_processed: msgs,
                verified: true,
                ..Correctness::default()
            },
        }
    };
    Report {
        target: "internal".into(),
        fsync: Some("always".into()),
        client_threads: Some(1),
        results: vec![
            result("1x1 per-message", 1, 1, 1, 5_000.0, None, None),
            result("1x1 batched", 1, 1, 100, 80_000.0, None, None),
            result("4x8 per-message", 4, 8, 1, 12_000.0, None, None),
            result("4x8 batched", 4, 8, 100, 200_000.0, None, None),
            result("10x50 per-message", 10, 50, 1, 12_500.0, None, None),
            result("4x8 retry", 4, 8, 1, 9_000.0, None, Some(0.1)),
            result("4x8 open", 4, 8, 1, 5_000.0, Some(5_000.0), None),
        ],
    }
}

/// The report's markup with every number replaced by `N`: its structure.
fn structure(html: &str) -> String {
    let mut shape = String::with_capacity(html.len());
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|next| next.is_ascii_digit() || *next == '.')
            {
                chars.next();
            }
            shape.push('N');
        } else {
            shape.push(c);
        }
    }
    shape
}

#[test]
fn the_html_report_keeps_its_structure() {
    let html = mamamia_bench::html::render(&synthetic_report());
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "nothing is fetched"
    );
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("bench_html_report", structure(&html));
    });
}

#[test]
fn compare_prints_the_ratio_of_each_scenario_to_the_earlier_run() {
    // The earlier run comes back from its --json file.
    let json = serde_json::to_string(&synthetic_report()).expect("a report serializes");
    let earlier: Report = serde_json::from_str(&json).expect("a --json result reads back");
    let mut current = earlier.clone();
    current.results[0].consume_per_second *= 2.0;
    let text = mamamia_bench::table::compare(&current, &earlier);
    let line = text
        .lines()
        .find(|line| line.starts_with("1x1 per-message"))
        .expect("the scenario has a line");
    assert!(line.contains("2.00x"), "{line}");
    assert!(earlier.verified());
    current.results[1].correctness.verified = false;
    assert!(!current.verified(), "one failed scenario fails the run");
}

#[test]
fn the_summary_says_where_the_time_goes_per_message() {
    let report = synthetic_report();
    let text = mamamia_bench::table::summary(&report);
    let row = text
        .lines()
        .skip_while(|line| !line.starts_with("where the time goes"))
        .find(|line| line.starts_with("4x8 batched"))
        .expect("a row per scenario under the work header");
    let fields: Vec<&str> = row.split_whitespace().collect();
    // 10,000 messages in 0.05 s, 2,500 fsyncs, 30,000 requests,
    // 0.5 s of server CPU and 0.25 s of client CPU.
    assert_eq!(
        fields[2..],
        ["50000", "4.0", "150", "3.00", "50.0", "25.0"],
        "{row}"
    );

    // Without fsyncs there is no per-fsync figure to show.
    let mut unsynced = report.results[3].clone();
    unsynced.work.as_mut().unwrap().fsyncs = 0;
    let row = mamamia_bench::table::work_row(&unsynced).unwrap();
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[2..5], ["0", "-", "-"], "{row}");
}
