//! The simulator's own tests: quick seed ranges pass, are deterministic
//! whatever the thread count, catch every planted bug, and shrink.

use mamamia_machine::bugs::Bug;
use mamamia_sim::bug_matrix;
use mamamia_sim::coverage::Mark;
use mamamia_sim::fault::FaultSite;
use mamamia_sim::report::summary;
use mamamia_sim::runner::{run_seeds, RunOptions};
use mamamia_sim::shrink::shrink;
use mamamia_sim::stats::Stats;
use mamamia_sim::{check_seed, run_world, TraceMode};

fn threads() -> usize {
    mamamia_sim::runner::default_threads()
}

fn options() -> RunOptions {
    RunOptions {
        double_run_every: 8,
        ..RunOptions::default()
    }
}

/// Fails with the seed and what broke for every failing report.
fn assert_all_pass(reports: &[mamamia_sim::SeedReport]) {
    let failures: Vec<String> = reports
        .iter()
        .filter_map(|report| {
            Some(format!(
                "seed {}: {}",
                report.seed,
                report.violation.as_ref()?
            ))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "failing seeds:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_quick_range_of_seeds_passes_every_check_and_hits_every_coverage_mark() {
    let seeds: Vec<u64> = (0..400).collect();
    let started = std::time::Instant::now();
    let reports = run_seeds(&seeds, &options(), threads(), false, |_, _| {});
    assert_all_pass(&reports);
    let (text, missing) = summary(&reports, started.elapsed(), true);
    assert!(
        missing.is_empty(),
        "coverage marks never hit: {missing:?}\n{text}"
    );
}

#[test]
fn every_seed_in_the_regression_list_passes() {
    let list = include_str!("../regressions.txt");
    let seeds: Vec<u64> = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.parse().expect("a seed per line"))
        .collect();
    assert!(!seeds.is_empty());
    assert_all_pass(&run_seeds(&seeds, &options(), threads(), false, |_, _| {}));
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let seeds: Vec<u64> = (1_000..1_040).collect();
    let hashes = |threads| -> Vec<(u64, u64, u64)> {
        run_seeds(&seeds, &RunOptions::default(), threads, false, |_, _| {})
            .iter()
            .map(|report| (report.seed, report.trace_hash, report.stats.steps))
            .collect()
    };
    assert_eq!(hashes(1), hashes(2));
}

#[test]
fn every_planted_bug_is_caught_within_a_thousand_seeds_and_the_clean_build_passes_them() {
    let matrix = bug_matrix::run(1_000, threads(), |_| {});
    let table = bug_matrix::table(&matrix);
    for caught in &matrix.bugs {
        assert!(
            caught.caught.is_some(),
            "{:?} survived 1000 seeds\n{table}",
            caught.bug
        );
    }
    assert_eq!(matrix.bugs.len(), Bug::ALL.len());
    assert!(
        matrix.clean_failures.is_empty(),
        "the clean build failed:\n{table}"
    );
    assert!(matrix.clean_seeds > 0);
}

#[test]
fn shrinking_keeps_the_failure_and_makes_the_world_smaller() {
    let options = RunOptions {
        bug: Some(Bug::ExpiryNotCounted),
        ..RunOptions::default()
    };
    let seed = (0..100)
        .find(|&seed| check_seed(seed, &options).violation.is_some())
        .expect("the planted bug is caught");
    let shrunk = shrink(seed, &options, |_, _| {}).expect("the seed fails");
    assert!(!shrunk.overrides.is_empty(), "nothing was cut");
    assert!(shrunk.runs > 1);
    let again = run_world(
        seed,
        &RunOptions {
            overrides: shrunk.overrides.clone(),
            ..options
        },
        TraceMode::Hash,
    );
    assert_eq!(
        again.violation.map(|v| v.check),
        Some(shrunk.violation.check)
    );
}

#[test]
fn a_failure_report_names_the_check_and_the_replay_command() {
    let options = RunOptions {
        bug: Some(Bug::DedupForgotten),
        ..RunOptions::default()
    };
    let seed = (0..100)
        .find(|&seed| check_seed(seed, &options).violation.is_some())
        .expect("the planted bug is caught");
    let violation = check_seed(seed, &options).violation.expect("it fails");
    let text = mamamia_sim::report::failure(seed, &violation, &options);
    assert!(text.contains(&format!("FAILED seed {seed}")), "{text}");
    assert!(text.contains("AppendDuplicated"), "{text}");
    assert!(
        text.contains(&format!("--seed {seed} --bug DedupForgotten --trace")),
        "{text}"
    );
    assert!(text.contains("last steps:"), "{text}");
}

#[test]
fn one_seed_trace_summary_is_pinned() {
    let result = run_world(42, &RunOptions::default(), TraceMode::Hash);
    assert!(result.violation.is_none(), "{:?}", result.violation);
    let Stats {
        steps,
        commands,
        messages_acked,
        settles,
        faults,
        coverage,
        logical_ms,
    } = result.stats;
    let marks: Vec<(&str, u64)> = Mark::ALL
        .iter()
        .map(|m| (m.name(), coverage.count(*m)))
        .collect();
    let faults: Vec<(&str, u64)> = FaultSite::ALL
        .iter()
        .map(|s| (s.name(), faults[*s as usize]))
        .collect();
    let summary = format!(
        "seed 42\ntrace {:016x}\nsteps {steps}\ncommands {commands}\nmessages acknowledged {messages_acked}\nlogical ms {logical_ms}\n{settles:?}\nfaults {faults:?}\ncoverage {marks:?}\n",
        result.trace_hash
    );
    insta::with_settings!({ snapshot_path => "../../snapshots" }, {
        insta::assert_snapshot!("sim_seed_42_trace_summary", summary);
    });
}
