//! Shrinking: cuts a failing world down (fewer fault sites, logs, groups,
//! clients, messages) while it still fails the same check, and returns the
//! smallest reproduction found.
//!
//! A world is a function of its seed and its overrides, so every candidate
//! is itself reproducible with one command line.

use crate::config::{Overrides, WorldConfig};
use crate::runner::{run_world, RunOptions};
use crate::trace::TraceMode;
use crate::violation::Violation;

/// Runs a shrink may take, so it always ends.
const RUNS_MAX: usize = 400;

#[derive(Debug)]
pub struct Shrunk {
    pub overrides: Overrides,
    pub violation: Violation,
    pub steps: u64,
    pub original_steps: u64,
    pub runs: usize,
}

/// Shrinks a failing seed; `None` if it does not fail.
pub fn shrink(
    seed: u64,
    options: &RunOptions,
    mut on_step: impl FnMut(&Overrides, u64),
) -> Option<Shrunk> {
    let first = run_world(seed, options, TraceMode::Hash);
    let violation = first.violation?;
    let mut best = Shrunk {
        overrides: options.overrides.clone(),
        violation,
        steps: first.stats.steps,
        original_steps: first.stats.steps,
        runs: 1,
    };
    'improve: while best.runs < RUNS_MAX {
        let config = WorldConfig::draw(seed, &best.overrides);
        for (candidate, cut) in candidates(&config, &best.overrides) {
            if best.runs >= RUNS_MAX {
                break 'improve;
            }
            best.runs += 1;
            let trial = RunOptions {
                overrides: candidate.clone(),
                ..options.clone()
            };
            let result = run_world(seed, &trial, TraceMode::Hash);
            // A cut of faults or clients makes a smaller world even if it
            // runs longer (fewer consumers can mean more steps); a cut of
            // length must also make the run shorter.
            let smaller = cut == Cut::Parts || result.stats.steps < best.steps;
            let same = |v: &Violation| v.check == best.violation.check;
            if let Some(violation) = result.violation.filter(|v| same(v) && smaller) {
                on_step(&candidate, result.stats.steps);
                best.overrides = candidate;
                best.violation = violation;
                best.steps = result.stats.steps;
                continue 'improve;
            }
        }
        break;
    }
    Some(best)
}

/// Smaller worlds to try, the boldest cuts first.
fn candidates(config: &WorldConfig, current: &Overrides) -> Vec<(Overrides, Cut)> {
    let mut out = Vec::new();
    let with = |change: &dyn Fn(&mut Overrides)| {
        let mut candidate = current.clone();
        change(&mut candidate);
        candidate
    };
    let mut lengths = Vec::new();
    let enabled: Vec<_> = config.faults.enabled().collect();
    if enabled.len() > 1 {
        out.push(with(&|o| o.faults_off.extend(enabled.iter().copied())));
    }
    for &site in &enabled {
        out.push(with(&|o| {
            o.faults_off.insert(site);
        }));
    }
    if config.safety_ms > 1_000 {
        lengths.push(with(&|o| o.safety_ms = Some(config.safety_ms / 2)));
    }
    let messages = config.messages;
    for smaller in [1, messages / 4, messages / 2, messages * 3 / 4] {
        if smaller > 0 && smaller < messages {
            lengths.push(with(&|o| o.messages = Some(smaller)));
        }
    }
    if config.logs.len() > 1 {
        out.push(with(&|o| o.logs = Some(1)));
        out.push(with(&|o| o.logs = Some(config.logs.len() - 1)));
    }
    let groups = config
        .logs
        .iter()
        .map(|log| log.groups.len())
        .max()
        .unwrap_or(1);
    if groups > 1 {
        out.push(with(&|o| o.groups = Some(1)));
        out.push(with(&|o| o.groups = Some(groups - 1)));
    }
    if config.producers > 1 {
        out.push(with(&|o| o.producers = Some(1)));
        out.push(with(&|o| o.producers = Some(config.producers - 1)));
    }
    if config.consumers > 1 {
        out.push(with(&|o| o.consumers = Some(1)));
        out.push(with(&|o| o.consumers = Some(config.consumers - 1)));
    }
    let mut all: Vec<(Overrides, Cut)> = out.into_iter().map(|o| (o, Cut::Parts)).collect();
    all.extend(lengths.into_iter().map(|o| (o, Cut::Length)));
    all.retain(|(candidate, _)| candidate != current);
    all
}

/// What a candidate cuts: parts of the world (fault sites, logs, groups,
/// clients), or its length (messages, safety phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    Parts,
    Length,
}
