//! `bench`: how fast Mamamia is, measured, with a correctness verdict.
//! See the library's docs (`lib.rs`) for how a run works.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mamamia_bench::{html, scenario, server, table, Report, Target};

#[derive(Parser, Debug)]
#[command(about = "Throughput, latency and correctness benchmark of Mamamia")]
struct Args {
    /// Scenarios to run (JSON); the default config shipped in bench/ otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Drive the machine crate directly: no network, no disk.
    #[arg(long, conflicts_with_all = ["internal", "addr"])]
    machine: bool,
    /// Start a `mamamia` server per scenario (from this program's target
    /// directory, or $MAMAMIA_BIN) on a free loopback port.
    #[arg(long, conflicts_with = "addr")]
    internal: bool,
    /// The internal server's fsync policy: always, never or batch-ms=N.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Drive the server at HOST:PORT.
    #[arg(long)]
    addr: Option<String>,
    /// Write the raw results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print this run's ratios to an earlier `--json` result.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Write a self-contained HTML report to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Threads of the load generator. One leaves the most CPU to a server
    /// on the same machine; more can drive a server elsewhere harder.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    client_threads: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: a scenario failed its correctness check");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("bench: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the benchmark; `Ok(false)` when a scenario failed its verdict.
fn run(args: Args) -> Result<bool, String> {
    let scenarios = match &args.config {
        Some(path) => scenario::load(path)?,
        None => scenario::parse(scenario::DEFAULT_CONFIG_JSON)?,
    };
    let target = if args.machine {
        Target::Machine
    } else if let Some(addr) = &args.addr {
        Target::Addr(addr.clone())
    } else if args.internal {
        let binary = server::find_binary().ok_or(
            "no mamamia binary next to bench: build it (cargo build --release -p mamamia-shell) or set MAMAMIA_BIN",
        )?;
        Target::Internal {
            binary,
            fsync: args.fsync.clone(),
        }
    } else {
        return Err("choose a target: --machine, --internal or --addr HOST:PORT".into());
    };
    if !matches!(target, Target::Internal { .. }) && args.fsync != "always" {
        eprintln!("bench: --fsync applies to --internal only; the target's own policy holds");
    }
    // Read the earlier run first: a typo in its name should not cost a run.
    let earlier: Option<Report> = match &args.compare {
        Some(path) => Some(read_report(path)?),
        None => None,
    };
    let report =
        mamamia_bench::run::run(&target, &scenarios, args.client_threads.into(), |result| {
            // The progress line is gone by now; this keeps a record in logs.
            eprintln!(
                "bench: {} done in {:.1} s",
                result.scenario.name, result.seconds
            );
        })?;
    println!("{}", table::summary(&report));
    if let Some(earlier) = &earlier {
        println!("{}", table::compare(&report, earlier));
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).expect("results serialize to JSON");
        write(path, &json)?;
    }
    if let Some(path) = &args.html {
        write(path, &html::render(&report))?;
    }
    Ok(report.verified())
}

fn read_report(path: &PathBuf) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|error| format!("{} is not a bench --json result: {error}", path.display()))
}

fn write(path: &PathBuf, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}
