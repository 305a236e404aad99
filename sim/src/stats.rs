//! What happened in a world, counted: steps, faults, settles.

use crate::coverage::Coverage;
use crate::fault::FaultSite;

/// Settle results by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settles {
    pub processed: u64,
    pub retried: u64,
    pub dead: u64,
    pub refused: u64,
    pub expired: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub steps: u64,
    pub commands: u64,
    pub messages_acked: u64,
    pub faults: [u64; FaultSite::ALL.len()],
    pub settles: Settles,
    pub coverage: Coverage,
    pub logical_ms: u64,
}

impl Stats {
    pub fn fault(&mut self, site: FaultSite) {
        self.faults[site as usize] += 1;
    }

    pub fn add(&mut self, other: &Stats) {
        self.steps += other.steps;
        self.commands += other.commands;
        self.messages_acked += other.messages_acked;
        for (total, count) in self.faults.iter_mut().zip(other.faults) {
            *total += count;
        }
        let (s, o) = (&mut self.settles, &other.settles);
        s.processed += o.processed;
        s.retried += o.retried;
        s.dead += o.dead;
        s.refused += o.refused;
        s.expired += o.expired;
        self.coverage.add(&other.coverage);
        self.logical_ms += other.logical_ms;
    }
}
