//! `sim`: runs seeded worlds against the Mamamia machine.
//!
//! Exit codes: 0 all passed; 2 safety violation; 3 liveness violation;
//! 4 panic (or broken machine invariant); 5 nondeterminism; 6 coverage
//! mark never hit; 7 bug matrix failed; 1 bad usage. With several failing
//! seeds, the lowest seed's kind decides.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use mamamia_machine::bugs::Bug;
use mamamia_sim::config::Overrides;
use mamamia_sim::fault::FaultSite;
use mamamia_sim::report;
use mamamia_sim::runner::{default_threads, run_seeds, run_world, RunOptions};
use mamamia_sim::violation::EXIT_COVERAGE;
use mamamia_sim::{bug_matrix, check_seed, shrink, TraceMode};

/// Below this many seeds, missing coverage marks are reported, not failed.
const COVERAGE_SEEDS_MIN: u64 = 200;

#[derive(Parser, Debug)]
#[command(name = "sim", about = "Deterministic simulator of the Mamamia broker")]
struct Cli {
    /// Run this many seeds, starting at --from.
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed of the range.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Run one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// With --seed: print every step.
    #[arg(long, requires = "seed")]
    trace: bool,
    /// With --seed: shrink the failing world and print the smallest reproduction.
    #[arg(long, requires = "seed")]
    shrink: bool,
    /// Plant each known machine bug in turn and report which seed and check caught it.
    #[arg(long)]
    bug_matrix: bool,
    /// Seeds the bug matrix tries per bug.
    #[arg(long, default_value_t = 1000)]
    bug_seeds: u64,
    /// Plant one bug (by name, as the bug matrix prints it).
    #[arg(long)]
    bug: Option<String>,
    #[arg(long)]
    threads: Option<usize>,
    /// Every this many seeds runs twice to check determinism (0: never).
    #[arg(long, default_value_t = 8)]
    double_every: u64,
    #[arg(long)]
    max_logs: Option<usize>,
    #[arg(long)]
    max_groups: Option<usize>,
    #[arg(long)]
    max_producers: Option<usize>,
    #[arg(long)]
    max_consumers: Option<usize>,
    #[arg(long)]
    max_messages: Option<u64>,
    /// Caps the safety phase (with faults), in logical milliseconds.
    #[arg(long)]
    max_safety_ms: Option<u64>,
    /// Fault sites to switch off, comma separated.
    #[arg(long, value_delimiter = ',')]
    faults_off: Vec<String>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = match options(&cli) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("sim: {message}");
            return ExitCode::from(1);
        }
    };
    let threads = cli.threads.unwrap_or_else(default_threads).max(1);
    let code = if cli.bug_matrix {
        run_bug_matrix(cli.bug_seeds, threads)
    } else if let Some(seed) = cli.seed {
        run_one(seed, &cli, &options)
    } else {
        run_range(
            cli.from,
            cli.seeds.unwrap_or(1000),
            threads,
            cli.quiet,
            &options,
        )
    };
    ExitCode::from(code as u8)
}

fn options(cli: &Cli) -> Result<RunOptions, String> {
    let mut faults_off = std::collections::BTreeSet::new();
    for name in &cli.faults_off {
        faults_off.insert(FaultSite::parse(name).ok_or_else(|| format!("no fault site {name:?}"))?);
    }
    let bug = match &cli.bug {
        None => None,
        Some(name) => Some(
            Bug::ALL
                .into_iter()
                .find(|bug| format!("{bug:?}") == *name)
                .ok_or_else(|| format!("no planted bug {name:?}"))?,
        ),
    };
    Ok(RunOptions {
        overrides: Overrides {
            logs: cli.max_logs,
            groups: cli.max_groups,
            producers: cli.max_producers,
            consumers: cli.max_consumers,
            messages: cli.max_messages,
            safety_ms: cli.max_safety_ms,
            faults_off,
        },
        bug,
        double_run_every: cli.double_every,
    })
}

fn run_one(seed: u64, cli: &Cli, options: &RunOptions) -> i32 {
    if cli.shrink {
        return run_shrink(seed, options);
    }
    if cli.trace {
        let result = run_world(seed, options, TraceMode::Print);
        println!(
            "seed {seed}: {} steps, trace {:016x}",
            result.stats.steps, result.trace_hash
        );
        return match result.violation {
            Some(violation) => {
                println!("VIOLATION {violation}");
                violation.check.kind().exit_code()
            }
            None => 0,
        };
    }
    let options = RunOptions {
        double_run_every: 1,
        ..options.clone()
    };
    let seed_report = check_seed(seed, &options);
    match &seed_report.violation {
        Some(violation) => {
            print!("{}", report::failure(seed, violation, &options));
            violation.check.kind().exit_code()
        }
        None => {
            println!(
                "seed {seed}: passed, {} steps, {} commands, trace {:016x}",
                seed_report.stats.steps, seed_report.stats.commands, seed_report.trace_hash
            );
            0
        }
    }
}

fn run_shrink(seed: u64, options: &RunOptions) -> i32 {
    let shrunk = shrink::shrink(seed, options, |overrides, steps| {
        eprintln!("  still fails with{} ({steps} steps)", overrides.to_flags());
    });
    let Some(shrunk) = shrunk else {
        println!("seed {seed} passes: nothing to shrink");
        return 0;
    };
    println!(
        "shrunk seed {seed} from {} to {} steps in {} runs: {}",
        shrunk.original_steps, shrunk.steps, shrunk.runs, shrunk.violation
    );
    let shrunk_options = RunOptions {
        overrides: shrunk.overrides.clone(),
        ..options.clone()
    };
    print!(
        "{}",
        report::failure(seed, &shrunk.violation, &shrunk_options)
    );
    shrunk.violation.check.kind().exit_code()
}

fn run_range(from: u64, count: u64, threads: usize, quiet: bool, options: &RunOptions) -> i32 {
    let seeds: Vec<u64> = (from..from + count).collect();
    let started = Instant::now();
    let reports = run_seeds(&seeds, options, threads, false, |progress, elapsed| {
        if !quiet {
            eprintln!("{}", report::progress(progress, seeds.len(), elapsed));
        }
    });
    let elapsed = started.elapsed();
    let failures: Vec<_> = reports.iter().filter(|r| r.violation.is_some()).collect();
    for (shown, failed) in failures.iter().enumerate() {
        let violation = failed.violation.as_ref().expect("filtered");
        if shown < 5 {
            print!("{}", report::failure(failed.seed, violation, options));
        } else {
            println!("FAILED seed {}: {violation}", failed.seed);
        }
    }
    let (summary, missing) = report::summary(&reports, elapsed, count >= COVERAGE_SEEDS_MIN);
    print!("{summary}");
    if let Some(first) = failures.first().and_then(|r| r.failure_kind()) {
        return first.exit_code();
    }
    if !missing.is_empty() {
        return EXIT_COVERAGE;
    }
    0
}

fn run_bug_matrix(seeds: u64, threads: usize) -> i32 {
    let started = Instant::now();
    println!("bug matrix: up to {seeds} seeds per bug");
    let matrix = bug_matrix::run(seeds, threads, |caught| {
        println!("{}", bug_matrix::row(caught))
    });
    print!("{}", bug_matrix::table(&matrix));
    println!("in {:.1} s", started.elapsed().as_secs_f64());
    if matrix.passed() {
        0
    } else {
        7
    }
}
