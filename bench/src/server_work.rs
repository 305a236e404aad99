//! What the server did during a scenario, from its `/metrics` before and
//! after: fsyncs and requests. With the CPU time of both processes it says
//! where the time goes, per message, when a scenario misses its target.

use mamamia_client::Client;

use crate::process_stats;
use crate::report::ServerWork;

/// The counters of one `/metrics` reading the bench uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    pub fsyncs: f64,
    pub fsync_seconds: f64,
    /// Requests answered, over every route.
    pub requests: f64,
}

/// Sums the series of each counter in Prometheus text; absent ones are 0.
pub fn parse(text: &str) -> Counters {
    let mut counters = Counters::default();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        match name {
            "mamamia_fsync_seconds_count" => counters.fsyncs += value,
            "mamamia_fsync_seconds_sum" => counters.fsync_seconds += value,
            "mamamia_request_seconds_count" => counters.requests += value,
            _ => {}
        }
    }
    counters
}

/// A reading at the start of a scenario.
pub struct Start {
    counters: Option<Counters>,
    client_cpu_seconds: Option<f64>,
}

pub async fn start(client: &Client) -> Start {
    Start {
        counters: read(client).await,
        client_cpu_seconds: own_cpu_seconds(),
    }
}

/// The work done since `start`; `None` when the server's metrics could not
/// be read (an old server, or auth).
pub async fn since(
    start: Start,
    client: &Client,
    server_cpu_seconds: Option<f64>,
) -> Option<ServerWork> {
    let (before, after) = (start.counters?, read(client).await?);
    let fsyncs = after.fsyncs - before.fsyncs;
    Some(ServerWork {
        fsyncs: fsyncs as u64,
        fsync_mean_us: if fsyncs > 0.0 {
            (after.fsync_seconds - before.fsync_seconds) / fsyncs * 1e6
        } else {
            0.0
        },
        requests: (after.requests - before.requests).max(0.0) as u64,
        server_cpu_seconds,
        client_cpu_seconds: start
            .client_cpu_seconds
            .zip(own_cpu_seconds())
            .map(|(before, after)| after - before),
    })
}

async fn read(client: &Client) -> Option<Counters> {
    client.metrics().await.ok().map(|text| parse(&text))
}

/// CPU time of this process: the load generator's.
fn own_cpu_seconds() -> Option<f64> {
    process_stats::sample(std::process::id()).map(|sample| sample.cpu_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_their_series_and_skip_the_rest() {
        let text = "# HELP mamamia_fsync_seconds fsync latency\n\
            mamamia_fsync_seconds_bucket{le=\"0.001\"} 7\n\
            mamamia_fsync_seconds_sum 0.25\n\
            mamamia_fsync_seconds_count 9\n\
            mamamia_request_seconds_count{route=\"GET /healthz\"} 2\n\
            mamamia_request_seconds_count{route=\"POST /v1/logs/{log}/messages\"} 40\n\
            mamamia_request_seconds_sum{route=\"GET /healthz\"} 1.5\n\
            garbage line\n";
        assert_eq!(
            parse(text),
            Counters {
                fsyncs: 9.0,
                fsync_seconds: 0.25,
                requests: 42.0
            }
        );
    }
}
