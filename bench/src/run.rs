//! One run: every scenario of a config against one target.

use std::path::PathBuf;

use crate::report::Report;
use crate::scenario::Scenario;
use crate::server::LocalServer;
use crate::{machine_mode, rest_mode};

/// Where the scenarios run.
#[derive(Clone, Debug)]
pub enum Target {
    /// The state machine itself, in this process.
    Machine,
    /// A `mamamia` child process per scenario, fresh data directory each.
    Internal { binary: PathBuf, fsync: String },
    /// A server someone else runs, at `http://ADDR`.
    Addr(String),
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Machine => "machine",
            Target::Internal { .. } => "internal",
            Target::Addr(_) => "addr",
        }
    }
}

/// Runs every scenario in order; `on_result` sees each as it finishes.
/// Errors are failures to run at all (no server); a scenario that runs
/// and loses messages is a result with a failed verdict, not an error.
///
/// `client_threads` sizes the load generator's runtime. One thread leaves
/// the most CPU to a server on the same machine: measured on 2 vCPUs, the
/// bench used a quarter less CPU than with two, and the server reached
/// 1.3-1.4x the batched throughput.
pub fn run(
    target: &Target,
    scenarios: &[Scenario],
    client_threads: usize,
    mut on_result: impl FnMut(&crate::report::ScenarioResult),
) -> Result<Report, String> {
    let mut builder = match client_threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    // Logs named by process and time, so a rerun against the same external
    // server never meets the messages of an earlier run.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let mut results = Vec::new();
    for (position, scenario) in scenarios.iter().enumerate() {
        let log = format!("bench-{}-{run_id}-{position}", std::process::id());
        let result = match target {
            Target::Machine => machine_mode::run(scenario),
            Target::Internal { binary, fsync } => {
                let server = LocalServer::start(binary, fsync)?;
                runtime.block_on(rest_mode::run(
                    &server.url,
                    &log,
                    scenario,
                    Some(server.pid()),
                ))?
            }
            Target::Addr(addr) => {
                let url = if addr.contains("://") {
                    addr.clone()
                } else {
                    format!("http://{addr}")
                };
                runtime.block_on(rest_mode::run(&url, &log, scenario, local_pid(addr)))?
            }
        };
        on_result(&result);
        results.push(result);
    }
    Ok(Report {
        target: target.name().to_owned(),
        fsync: match target {
            Target::Internal { fsync, .. } => Some(fsync.clone()),
            _ => None,
        },
        client_threads: match target {
            Target::Machine => None,
            _ => Some(client_threads.max(1)),
        },
        results,
    })
}

/// The pid of a server at a loopback `HOST:PORT`, for its CPU and memory.
fn local_pid(addr: &str) -> Option<u32> {
    let host_port = addr.rsplit("://").next()?.trim_end_matches('/');
    let (host, port) = host_port.rsplit_once(':')?;
    let loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    if !loopback {
        return None;
    }
    crate::process_stats::listener_pid(port.parse().ok()?)
}
