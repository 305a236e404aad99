//! Runs seeds: one at a time, or many on every core. Results are gathered
//! by seed, so nothing printed depends on the number of threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mamamia_machine::bugs::{plant, Bug};

use crate::config::{Overrides, WorldConfig};
use crate::panics;
use crate::stats::Stats;
use crate::trace::{take_tail, TraceMode};
use crate::violation::{Check, FailureKind, Violation};
use crate::world::{World, WorldResult};

/// How to run a seed.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub overrides: Overrides,
    pub bug: Option<Bug>,
    /// Every this many seeds (by seed number) runs twice, and the two
    /// traces must be equal. 0: never.
    pub double_run_every: u64,
}

/// What one seed did.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    pub trace_hash: u64,
    pub stats: Stats,
    pub violation: Option<Violation>,
}

impl SeedReport {
    pub fn failure_kind(&self) -> Option<FailureKind> {
        self.violation
            .as_ref()
            .map(|violation| violation.check.kind())
    }
}

/// Runs one world, turning a panic into a finding.
pub fn run_world(seed: u64, options: &RunOptions, mode: TraceMode) -> WorldResult {
    panics::install_hook();
    panics::set_in_world(true);
    plant(options.bug);
    let config = WorldConfig::draw(seed, &options.overrides);
    let result = catch_unwind(AssertUnwindSafe(|| World::new(config, mode).run()));
    plant(None);
    panics::set_in_world(false);
    result.unwrap_or_else(|_| WorldResult {
        seed,
        trace_hash: 0,
        stats: Stats::default(),
        violation: Some(Violation::new(Check::Panic, panics::take_message())),
    })
}

/// Runs one seed as the checker does: fast, and twice if it is a
/// determinism seed.
pub fn check_seed(seed: u64, options: &RunOptions) -> SeedReport {
    let first = run_world(seed, options, TraceMode::Hash);
    let mut report = SeedReport {
        seed,
        trace_hash: first.trace_hash,
        stats: first.stats,
        violation: first.violation,
    };
    let twice = options.double_run_every > 0 && seed % options.double_run_every == 0;
    if twice && report.violation.is_none() {
        let second = run_world(seed, options, TraceMode::Hash);
        if (second.trace_hash, second.stats.steps) != (report.trace_hash, report.stats.steps) {
            report.violation = Some(Violation::new(
                Check::Nondeterminism,
                format!(
                    "trace {:016x} after {} steps, then {:016x} after {} steps",
                    report.trace_hash, report.stats.steps, second.trace_hash, second.stats.steps
                ),
            ));
        }
    }
    report
}

/// The trace tail of a failing seed, by running it again with text on.
pub fn trace_tail(
    seed: u64,
    options: &RunOptions,
    lines: usize,
) -> (Option<Violation>, Vec<String>) {
    let result = run_world(seed, options, TraceMode::Tail(lines));
    (result.violation, take_tail())
}

/// Progress of a running range, shared between the workers and the printer.
#[derive(Default)]
pub struct Progress {
    pub seeds: AtomicU64,
    pub steps: AtomicU64,
    pub failures: AtomicU64,
}

/// Runs `seeds` on `threads` threads; with `stop_at_first`, seeds above
/// the lowest failing one are skipped (the lowest failure is still exact:
/// seeds are taken in order). Reports come back in seed order.
pub fn run_seeds(
    seeds: &[u64],
    options: &RunOptions,
    threads: usize,
    stop_at_first: bool,
    mut on_progress: impl FnMut(&Progress, Duration),
) -> Vec<SeedReport> {
    let next = AtomicU64::new(0);
    let lowest_failure = AtomicU64::new(u64::MAX);
    let progress = Progress::default();
    let reports = Mutex::new(Vec::with_capacity(seeds.len()));
    let started = Instant::now();
    let running = AtomicU64::new(threads as u64);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let position = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&seed) = seeds.get(position) else {
                        break;
                    };
                    if stop_at_first && seed > lowest_failure.load(Ordering::Relaxed) {
                        break;
                    }
                    let report = check_seed(seed, options);
                    progress.seeds.fetch_add(1, Ordering::Relaxed);
                    progress
                        .steps
                        .fetch_add(report.stats.steps, Ordering::Relaxed);
                    if report.violation.is_some() {
                        progress.failures.fetch_add(1, Ordering::Relaxed);
                        lowest_failure.fetch_min(seed, Ordering::Relaxed);
                    }
                    reports
                        .lock()
                        .expect("no worker panics holding it")
                        .push(report);
                }
                running.fetch_sub(1, Ordering::Relaxed);
            });
        }
        let mut last = Instant::now();
        while running.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(20));
            if last.elapsed() >= Duration::from_secs(2) {
                on_progress(&progress, started.elapsed());
                last = Instant::now();
            }
        }
    });
    let mut reports = reports.into_inner().expect("workers are done");
    reports.sort_by_key(|report| report.seed);
    if stop_at_first {
        let lowest = lowest_failure.load(Ordering::Relaxed);
        reports.retain(|report| report.seed <= lowest);
    }
    reports
}

/// How many threads to use by default: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
