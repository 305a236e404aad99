//! Counters the server keeps as it runs, rendered in the Prometheus text
//! format together with gauges read from the machine.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use mamamia_machine::{LogSummary, SettleStatus};

use crate::http::route::ROUTES;

/// Histogram bucket bounds in seconds: 50 µs to 10 s covers an fsync on
/// fast NVMe up to a stalled disk, and a request up to a long poll.
const BUCKETS_SECONDS: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5,
    10.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_SECONDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS_SECONDS.iter().position(|&bound| seconds <= bound) {
            self.buckets[bucket].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let separator = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in BUCKETS_SECONDS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Everything counted since the server started.
#[derive(Default)]
pub struct Metrics {
    pub appended_messages: AtomicU64,
    pub leases_granted: AtomicU64,
    pub settled_processed: AtomicU64,
    pub settled_retry: AtomicU64,
    pub settled_dead: AtomicU64,
    pub settles_refused: AtomicU64,
    pub lease_expiries: AtomicU64,
    pub expiries_dead: AtomicU64,
    pub fsyncs: AtomicU64,
    pub fsync_seconds: Histogram,
    pub wal_bytes: AtomicU64,
    pub waiters_cancelled: AtomicU64,
    /// One histogram per entry of [`ROUTES`], plus one for unrouted requests.
    pub request_seconds: [Histogram; ROUTES.len() + 1],
}

impl Metrics {
    pub fn count_settle(&self, status: &SettleStatus) {
        let counter = match status {
            SettleStatus::Processed => &self.settled_processed,
            SettleStatus::RetryAt { .. } => &self.settled_retry,
            SettleStatus::Dead => &self.settled_dead,
            SettleStatus::Refused(_) => &self.settles_refused,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The whole exposition: counters, then gauges from `logs`.
    pub fn render(&self, logs: &[LogSummary]) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        };
        counter(
            &mut out,
            "mamamia_appended_messages_total",
            "Messages appended.",
            &self.appended_messages,
        );
        counter(
            &mut out,
            "mamamia_leases_granted_total",
            "Leases granted by acquires.",
            &self.leases_granted,
        );
        let _ = writeln!(out, "# HELP mamamia_settles_total Settle items by outcome.\n# TYPE mamamia_settles_total counter");
        for (outcome, value) in [
            ("processed", &self.settled_processed),
            ("retry", &self.settled_retry),
            ("dead", &self.settled_dead),
            ("refused", &self.settles_refused),
        ] {
            let _ = writeln!(
                out,
                "mamamia_settles_total{{outcome=\"{outcome}\"}} {}",
                value.load(Relaxed)
            );
        }
        counter(
            &mut out,
            "mamamia_lease_expiries_total",
            "Leases that ran out before a settle.",
            &self.lease_expiries,
        );
        counter(
            &mut out,
            "mamamia_expiries_dead_total",
            "Lease expiries that made a message dead.",
            &self.expiries_dead,
        );
        counter(
            &mut out,
            "mamamia_waiters_cancelled_total",
            "Long polls dropped because their client left.",
            &self.waiters_cancelled,
        );
        counter(
            &mut out,
            "mamamia_fsyncs_total",
            "WAL fsyncs.",
            &self.fsyncs,
        );
        counter(
            &mut out,
            "mamamia_wal_bytes_total",
            "Bytes written to the WAL since start.",
            &self.wal_bytes,
        );
        let _ = writeln!(out, "# HELP mamamia_fsync_seconds WAL fsync latency.\n# TYPE mamamia_fsync_seconds histogram");
        self.fsync_seconds
            .render(&mut out, "mamamia_fsync_seconds", "");
        let _ = writeln!(out, "# HELP mamamia_request_seconds Request latency by route.\n# TYPE mamamia_request_seconds histogram");
        for (position, histogram) in self.request_seconds.iter().enumerate() {
            let route = ROUTES.get(position).map_or("unrouted".to_owned(), |route| {
                format!("{} {}", route.method, route.pattern)
            });
            histogram.render(
                &mut out,
                "mamamia_request_seconds",
                &format!("route=\"{route}\""),
            );
        }
        render_gauges(&mut out, logs);
        out
    }
}

fn render_gauges(out: &mut String, logs: &[LogSummary]) {
    let leased: u64 = logs
        .iter()
        .flat_map(|log| &log.groups)
        .map(|group| group.leased)
        .sum();
    let dead: u64 = logs
        .iter()
        .flat_map(|log| &log.groups)
        .map(|group| group.dead)
        .sum();
    let _ = writeln!(out, "# HELP mamamia_leases_in_flight Leases held now.\n# TYPE mamamia_leases_in_flight gauge\nmamamia_leases_in_flight {leased}");
    let _ = writeln!(out, "# HELP mamamia_dead_letters Dead letters listed now.\n# TYPE mamamia_dead_letters gauge\nmamamia_dead_letters {dead}");
    type LogField = fn(&LogSummary) -> u64;
    let log_gauges: [(&str, &str, LogField); 3] = [
        ("mamamia_log_next_index", "Next index of each log.", |log| {
            log.next_index
        }),
        (
            "mamamia_log_first_index",
            "First retained index of each log.",
            |log| log.first_index,
        ),
        ("mamamia_log_bytes", "Retained bytes of each log.", |log| {
            log.bytes
        }),
    ];
    for (name, help, field) in log_gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for log in logs {
            let _ = writeln!(out, "{name}{{log=\"{}\"}} {}", log.name, field(log));
        }
    }
    type GroupField = fn(&mamamia_machine::GroupSummary) -> u64;
    let group_gauges: [(&str, &str, GroupField); 4] = [
        (
            "mamamia_group_base_offset",
            "Lowest unsettled index of each group.",
            |group| group.base_offset,
        ),
        (
            "mamamia_group_lag",
            "Messages of each group not yet settled.",
            |group| group.lag,
        ),
        (
            "mamamia_group_leased",
            "Leases each group holds now.",
            |group| group.leased,
        ),
        (
            "mamamia_group_dead",
            "Dead letters each group lists.",
            |group| group.dead,
        ),
    ];
    for (name, help, field) in group_gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for log in logs {
            for group in &log.groups {
                let _ = writeln!(
                    out,
                    "{name}{{log=\"{}\",group=\"{}\"}} {}",
                    log.name,
                    group.group,
                    field(group)
                );
            }
        }
    }
}
