//! The bug matrix: plants each known bug in the machine in turn and finds
//! the first seed whose checks catch it, then runs the same seeds without
//! any bug to show they all pass there.

use std::fmt::Write;

use mamamia_machine::bugs::Bug;

use crate::runner::{run_seeds, RunOptions, SeedReport};
use crate::violation::Violation;

/// One planted bug's result.
#[derive(Debug)]
pub struct Caught {
    pub bug: Bug,
    /// The lowest seed that caught it, and what it saw.
    pub caught: Option<(u64, Violation)>,
}

#[derive(Debug)]
pub struct Matrix {
    pub bugs: Vec<Caught>,
    /// Seeds run without a bug (every seed up to the latest catch).
    pub clean_seeds: u64,
    pub clean_failures: Vec<SeedReport>,
}

impl Matrix {
    pub fn passed(&self) -> bool {
        self.bugs.iter().all(|bug| bug.caught.is_some()) && self.clean_failures.is_empty()
    }
}

/// Runs seeds `0..seeds_max` per bug (stopping at the first catch).
pub fn run(seeds_max: u64, threads: usize, mut on_bug: impl FnMut(&Caught)) -> Matrix {
    let seeds: Vec<u64> = (0..seeds_max).collect();
    let mut bugs = Vec::new();
    for bug in Bug::ALL {
        let options = RunOptions {
            bug: Some(bug),
            ..RunOptions::default()
        };
        let reports = run_seeds(&seeds, &options, threads, true, |_, _| {});
        let caught = reports
            .into_iter()
            .find_map(|report| Some((report.seed, report.violation?)));
        let result = Caught { bug, caught };
        on_bug(&result);
        bugs.push(result);
    }
    let clean_seeds = bugs
        .iter()
        .filter_map(|bug| bug.caught.as_ref().map(|(seed, _)| seed + 1))
        .max()
        .unwrap_or(seeds_max);
    let clean: Vec<u64> = (0..clean_seeds).collect();
    let reports = run_seeds(&clean, &RunOptions::default(), threads, false, |_, _| {});
    let clean_failures = reports
        .into_iter()
        .filter(|report| report.violation.is_some())
        .collect();
    Matrix {
        bugs,
        clean_seeds,
        clean_failures,
    }
}

pub fn row(caught: &Caught) -> String {
    match &caught.caught {
        Some((seed, violation)) => format!(
            "  {:<32} caught at seed {seed:>4} ({} seeds) by {:?}: {}",
            format!("{:?}", caught.bug),
            seed + 1,
            violation.check,
            truncate(&violation.detail, 100)
        ),
        None => format!("  {:<32} SURVIVED", format!("{:?}", caught.bug)),
    }
}

pub fn table(matrix: &Matrix) -> String {
    let mut text = String::from("bug matrix:\n");
    for caught in &matrix.bugs {
        let _ = writeln!(text, "{}", row(caught));
    }
    let _ = writeln!(
        text,
        "  without bugs: {} seeds, {} failures",
        matrix.clean_seeds,
        matrix.clean_failures.len()
    );
    text
}

fn truncate(text: &str, len: usize) -> &str {
    match text.char_indices().nth(len) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
