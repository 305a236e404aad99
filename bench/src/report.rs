//! What a run measured: the raw results `--json` writes and `--compare` reads.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// A whole run: where it ran and each scenario's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// `machine`, `internal` or `addr`.
    pub target: String,
    /// The internal server's fsync policy, when the bench started it.
    #[serde(default)]
    pub fsync: Option<String>,
    /// Threads of the load generator's runtime (absent in older reports).
    #[serde(default)]
    pub client_threads: Option<usize>,
    pub results: Vec<ScenarioResult>,
}

/// One scenario's measurements and verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    /// Wall time from the first produce call to the last settle answer.
    pub seconds: f64,
    /// Messages acknowledged by the server per second of producing.
    pub produce_per_second: f64,
    /// Full cycles (acquire → settle processed) per second.
    pub consume_per_second: f64,
    /// `consume_per_second / max(producers, consumers)`.
    pub efficiency_per_second: f64,
    /// Produce → settle, microseconds.
    pub latency: LatencySummary,
    /// Most messages produced and not yet settled or leased, at once.
    pub queue_depth_max: u64,
    /// Most leases held by consumers at once.
    pub leases_in_flight_max: u64,
    /// Deliveries settled `retry` on purpose (`failure_rate`).
    pub retries: u64,
    /// Deliveries abandoned on purpose (`crash_rate`), redelivered after
    /// their lease expired.
    #[serde(default)]
    pub abandoned: u64,
    /// `--machine` only: the same messages allocated and pushed through a
    /// plain queue, per second (what any broker must at least do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_per_second: Option<f64>,
    /// Server CPU and memory, when the bench started the server.
    #[serde(default)]
    pub server: Option<ServerUsage>,
    /// Fsyncs, requests and CPU behind the result (absent in older reports
    /// and in `--machine` runs).
    #[serde(default)]
    pub work: Option<ServerWork>,
    pub correctness: Correctness,
}

/// Latency percentiles of a histogram, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl LatencySummary {
    pub fn of(histogram: &Histogram<u64>) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: histogram.len(),
            mean_us: histogram.mean(),
            p50_us: histogram.value_at_quantile(0.50),
            p95_us: histogram.value_at_quantile(0.95),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        }
    }
}

/// The server process's use of the machine during one scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// CPU time over wall time: 200 means two cores busy.
    pub cpu_percent: f64,
    pub rss_bytes_max: u64,
}

/// What the server and the load generator did during one scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerWork {
    pub fsyncs: u64,
    pub fsync_mean_us: f64,
    /// HTTP requests the server answered.
    pub requests: u64,
    /// When the server runs on this machine.
    pub server_cpu_seconds: Option<f64>,
    pub client_cpu_seconds: Option<f64>,
}

/// [`ServerWork`] per message settled and per second: what both the
/// terminal table and the HTML report show.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkRates {
    pub fsyncs_per_second: f64,
    /// `None` without fsyncs (`--fsync never`).
    pub messages_per_fsync: Option<f64>,
    pub fsync_mean_us: Option<f64>,
    pub requests_per_message: f64,
    pub server_cpu_us_per_message: Option<f64>,
    pub client_cpu_us_per_message: Option<f64>,
}

impl ScenarioResult {
    pub fn work_rates(&self) -> Option<WorkRates> {
        let work = self.work.as_ref()?;
        let msgs = self.scenario.msgs.max(1) as f64;
        let per_message_us = |seconds: Option<f64>| seconds.map(|seconds| seconds / msgs * 1e6);
        Some(WorkRates {
            fsyncs_per_second: work.fsyncs as f64 / self.seconds.max(f64::MIN_POSITIVE),
            messages_per_fsync: (work.fsyncs > 0).then(|| msgs / work.fsyncs as f64),
            fsync_mean_us: (work.fsyncs > 0).then_some(work.fsync_mean_us),
            requests_per_message: work.requests as f64 / msgs,
            server_cpu_us_per_message: per_message_us(work.server_cpu_seconds),
            client_cpu_us_per_message: per_message_us(work.client_cpu_seconds),
        })
    }
}

/// Whether every message was settled exactly once, by the bench's own
/// ledger and by the server's group summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Correctness {
    /// Messages the server acknowledged.
    pub produced: u64,
    /// Messages settled `processed` exactly once.
    pub settled_once: u64,
    /// Messages settled `processed` more than once.
    pub duplicates: u64,
    /// Messages never settled `processed`.
    pub lost: u64,
    /// The group summary's `processed` count.
    pub server_processed: u64,
    /// What the server still holds that it should not: dead, leased,
    /// available or backoff messages of the group at the end.
    pub server_outstanding: u64,
    pub verified: bool,
    /// Each way the run fell short, in words.
    pub problems: Vec<String>,
}

impl Report {
    pub fn verified(&self) -> bool {
        self.results
            .iter()
            .all(|result| result.correctness.verified)
    }
}
