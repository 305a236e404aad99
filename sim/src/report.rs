//! What the simulator prints: failures with their replay command, the
//! progress line, and the summary of a run.

use std::fmt::Write;
use std::time::Duration;

use crate::coverage::Mark;
use crate::fault::FaultSite;
use crate::runner::{trace_tail, Progress, RunOptions, SeedReport};
use crate::stats::Stats;
use crate::violation::Violation;

/// Trace lines shown with a failure.
pub const TAIL_LINES: usize = 30;

/// The command that replays `seed` bit for bit, with its trace.
pub fn replay_command(seed: u64, options: &RunOptions) -> String {
    let bug = options
        .bug
        .map(|bug| format!(" --bug {bug:?}"))
        .unwrap_or_default();
    format!(
        "cargo run --release --bin sim -- --seed {seed}{}{bug} --trace",
        options.overrides.to_flags()
    )
}

/// The full report of a failing seed: what broke, the last steps, and how
/// to replay it.
pub fn failure(seed: u64, violation: &Violation, options: &RunOptions) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "FAILED seed {seed}: {:?} violation",
        violation.check.kind()
    );
    let _ = writeln!(text, "  check:     {:?}", violation.check);
    let _ = writeln!(text, "  guarantee: {}", violation.check.guarantee());
    let _ = writeln!(text, "  detail:    {}", violation.detail);
    let (again, tail) = trace_tail(seed, options, TAIL_LINES);
    if again.as_ref().map(|v| v.check) == Some(violation.check) {
        let _ = writeln!(text, "  last steps:");
        for line in tail {
            for part in line.lines() {
                let _ = writeln!(text, "    {part}");
            }
        }
    } else {
        let _ = writeln!(text, "  (a rerun with the trace on ended with {again:?}: the failure depends on running twice)");
    }
    let _ = writeln!(text, "  replay:    {}", replay_command(seed, options));
    text
}

pub fn progress(progress: &Progress, total: usize, elapsed: Duration) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let seeds = progress.seeds.load(Relaxed);
    let steps = progress.steps.load(Relaxed);
    format!(
        "[{:>6.1}s] {seeds}/{total} seeds, {:.0} seeds/s, {:.0} steps/s, {} failures",
        seconds,
        seeds as f64 / seconds,
        steps as f64 / seconds,
        progress.failures.load(Relaxed)
    )
}

/// The summary at the end of a run; `coverage_required` lists missing marks.
pub fn summary(
    reports: &[SeedReport],
    elapsed: Duration,
    coverage_required: bool,
) -> (String, Vec<Mark>) {
    let mut total = Stats::default();
    for report in reports {
        total.add(&report.stats);
    }
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let failures = reports.iter().filter(|r| r.violation.is_some()).count();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "summary: {} seeds, {failures} failed, in {seconds:.1} s",
        reports.len()
    );
    let _ = writeln!(
        text,
        "  steps: {} ({:.0} seeds/s, {:.0} steps/s), commands: {}, logical time: {} s, messages acknowledged: {}",
        total.steps,
        reports.len() as f64 / seconds,
        total.steps as f64 / seconds,
        total.commands,
        total.logical_ms / 1000,
        total.messages_acked
    );
    if let Some(largest) = reports.iter().max_by_key(|report| report.stats.steps) {
        let _ = writeln!(
            text,
            "  largest world: seed {} with {} steps",
            largest.seed, largest.stats.steps
        );
    }
    let settles = &total.settles;
    let _ = writeln!(
        text,
        "  settles: processed {}, retried {}, dead {}, refused {}; leases expired {}",
        settles.processed, settles.retried, settles.dead, settles.refused, settles.expired
    );
    let faults: Vec<String> = FaultSite::ALL
        .iter()
        .map(|site| format!("{site} {}", total.faults[*site as usize]))
        .collect();
    let _ = writeln!(text, "  faults: {}", faults.join(", "));
    let marks: Vec<String> = Mark::ALL
        .iter()
        .map(|mark| format!("{} {}", mark.name(), total.coverage.count(*mark)))
        .collect();
    let _ = writeln!(text, "  coverage: {}", marks.join(", "));
    let missing = if coverage_required {
        total.coverage.missing()
    } else {
        Vec::new()
    };
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|mark| mark.name()).collect();
        let _ = writeln!(text, "  COVERAGE MISSING: {}", names.join(", "));
    }
    (text, missing)
}
