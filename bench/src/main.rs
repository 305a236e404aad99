//! `bench`: how fast Mamamia is, measured, with a correctness verdict.
//!
//! Modes: `--machine` drives the state machine directly (the core's
//! ceiling). The network modes arrive with the server.

mod machine_mode;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Throughput benchmarks of Mamamia")]
struct Args {
    /// Drive the machine crate directly: no network, no disk.
    #[arg(long)]
    machine: bool,
    /// Messages per scenario.
    #[arg(long, default_value_t = 2_000_000)]
    msgs: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    payload_bytes: usize,
    /// Write the raw results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.machine {
        eprintln!("bench: only --machine is available so far");
        return ExitCode::from(2);
    }
    let scenarios = [("machine batch 100", 100), ("machine batch 1", 1)];
    let mut results = Vec::new();
    println!(
        "{:<20} {:>12} {:>16} {:>16} {:>8} {:>9}",
        "scenario", "msgs", "cycles/s", "baseline/s", "ratio", "correct"
    );
    for (name, batch) in scenarios {
        let msgs = if batch == 1 { args.msgs / 4 } else { args.msgs };
        let result = machine_mode::run(name, msgs, batch, args.payload_bytes);
        println!(
            "{:<20} {:>12} {:>16.0} {:>16.0} {:>8.2} {:>9}",
            result.name,
            result.msgs,
            result.cycles_per_second,
            result.baseline_per_second,
            result.cycles_per_second / result.baseline_per_second,
            if result.verified { "yes" } else { "NO" }
        );
        results.push(result);
    }
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&results).expect("results serialize");
        if let Err(error) = std::fs::write(&path, json) {
            eprintln!("bench: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if results.iter().all(|result| result.verified) {
        ExitCode::SUCCESS
    } else {
        eprintln!("bench: a scenario failed its correctness check");
        ExitCode::FAILURE
    }
}
