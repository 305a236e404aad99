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
   "rate": 2000}
]}"#;

fn run_small() -> Report {
    let scenarios = scenario::parse(SMALL_CONFIG).expect("the test config is valid");
    mamamia_bench::run::run(&crate::server::target(), &scenarios, |_| {})
        .expect("the bench reaches its server")
}

#[test]
fn a_small_run_counts_every_message_once_and_orders_its_percentiles() {
    let report = run_small();
    assert_eq!(report.results.len(), 4);
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
    let retried = &report.results[2];
    assert!(
        retried.retries > 0,
        "a 20% failure rate retries some deliveries"
    );
}
