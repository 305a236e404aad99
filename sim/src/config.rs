//! The configuration of one world, drawn from its seed (swarm testing).

use std::collections::BTreeSet;

use mamamia_machine::{Backoff, GroupName, GroupSettings, Limits, LogName, LogSettings, Ordering};

use crate::fault::{FaultPlan, FaultSite};
use crate::rng::{Stream, Streams};

/// One consumer group as the world sets it up.
#[derive(Clone, Debug)]
pub struct GroupPlan {
    pub name: GroupName,
    pub settings: GroupSettings,
}

/// One log and its groups.
#[derive(Clone, Debug)]
pub struct LogPlan {
    pub name: LogName,
    pub settings: LogSettings,
    pub groups: Vec<GroupPlan>,
    /// Distinct message keys producers use; 0: messages carry no key.
    pub key_count: u64,
}

/// Everything about a world that is fixed before it runs.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    pub seed: u64,
    pub limits: Limits,
    pub logs: Vec<LogPlan>,
    pub producers: usize,
    pub consumers: usize,
    /// Messages the producers append in all (retried batches count once).
    pub messages: u64,
    pub batch_len_max: u64,
    pub acquire_max: u32,
    /// Share of acquires that long-poll.
    pub long_poll_share: f64,
    pub wait_ms_max: u64,
    /// How long the safety phase (with faults) lasts, in logical time.
    pub safety_ms: u64,
    /// Usual one-way network delay is `1..=network_delay_ms_max`.
    pub network_delay_ms_max: u64,
    /// The broker's group commit: it syncs its log this often.
    pub fsync_interval_ms: u64,
    /// Commands between snapshots.
    pub snapshot_every: usize,
    /// Share of settles that retry, and that give up (dead).
    pub retry_share: f64,
    pub dead_share: f64,
    /// Average time between two admin actions.
    pub admin_interval_ms: u64,
    pub faults: FaultPlan,
}

/// Caps applied after the draw, to shrink a failing world (or to make one
/// by hand): the draws stay the same, only their use is cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub logs: Option<usize>,
    pub groups: Option<usize>,
    pub producers: Option<usize>,
    pub consumers: Option<usize>,
    pub messages: Option<u64>,
    /// Caps the safety phase, in logical milliseconds.
    pub safety_ms: Option<u64>,
    pub faults_off: BTreeSet<FaultSite>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }

    /// The command-line flags that reproduce these overrides.
    pub fn to_flags(&self) -> String {
        let mut flags = String::new();
        let mut add = |name: &str, value: Option<u64>| {
            if let Some(value) = value {
                flags.push_str(&format!(" --{name} {value}"));
            }
        };
        add("max-logs", self.logs.map(|n| n as u64));
        add("max-groups", self.groups.map(|n| n as u64));
        add("max-producers", self.producers.map(|n| n as u64));
        add("max-consumers", self.consumers.map(|n| n as u64));
        add("max-messages", self.messages);
        add("max-safety-ms", self.safety_ms);
        if !self.faults_off.is_empty() {
            let names: Vec<&str> = self.faults_off.iter().map(|site| site.name()).collect();
            flags.push_str(&format!(" --faults-off {}", names.join(",")));
        }
        flags
    }
}

impl WorldConfig {
    pub fn draw(seed: u64, overrides: &Overrides) -> Self {
        let mut rng = Stream::new(seed, Streams::CONFIG);
        let logs = (0..rng.between(1, 3))
            .map(|n| draw_log(&mut rng, n))
            .collect();
        let mut config = WorldConfig {
            seed,
            limits: Limits {
                waiters_max: rng.pick(&[2, 8, 1_000]),
                ..Limits::default()
            },
            logs,
            producers: rng.between(1, 4) as usize,
            consumers: rng.between(1, 8) as usize,
            messages: rng.between(50, 700),
            batch_len_max: rng.pick(&[1, 4, 16, 32]),
            acquire_max: rng.pick(&[1, 3, 8, 32]),
            long_poll_share: rng.pick(&[0.0, 0.5, 1.0]),
            wait_ms_max: rng.pick(&[50, 1_000, 5_000]),
            safety_ms: rng.between(3_000, 20_000),
            network_delay_ms_max: rng.between(1, 20),
            fsync_interval_ms: rng.between(1, 10),
            snapshot_every: rng.between(100, 800) as usize,
            retry_share: rng.pick(&[0.0, 0.1, 0.3]),
            dead_share: rng.pick(&[0.0, 0.02, 0.1]),
            admin_interval_ms: rng.between(500, 5_000),
            faults: FaultPlan::draw(&mut rng),
        };
        // Drawn last so the draws above (and the worlds of old seeds) stay
        // as they were. Sim messages are 8 bytes plus a key of 2 or 3, so
        // these budgets cut grants after one to four messages, sometimes
        // filling the budget exactly (8 + 8, 10 + 10, 11 + 11 + 11).
        if rng.chance(0.4) {
            config.limits.acquire_bytes_max = rng.pick(&[9, 16, 20, 33]);
        }
        config.apply(overrides);
        config
    }

    fn apply(&mut self, overrides: &Overrides) {
        if let Some(logs) = overrides.logs {
            self.logs.truncate(logs.max(1));
        }
        if let Some(groups) = overrides.groups {
            for log in &mut self.logs {
                log.groups.truncate(groups.max(1));
            }
        }
        if let Some(producers) = overrides.producers {
            self.producers = self.producers.min(producers.max(1));
        }
        if let Some(consumers) = overrides.consumers {
            self.consumers = self.consumers.min(consumers.max(1));
        }
        if let Some(safety_ms) = overrides.safety_ms {
            self.safety_ms = self.safety_ms.min(safety_ms.max(100));
        }
        if let Some(messages) = overrides.messages {
            self.messages = self.messages.min(messages.max(1));
        }
        for &site in &overrides.faults_off {
            self.faults.switch_off(site);
        }
        // Every group gets at least one consumer, so everything can settle.
        let groups: usize = self.logs.iter().map(|log| log.groups.len()).sum();
        self.consumers = self.consumers.max(groups);
    }

    /// Every (log, group) position, in a fixed order.
    pub fn group_positions(&self) -> Vec<(usize, usize)> {
        let mut positions = Vec::new();
        for (log, plan) in self.logs.iter().enumerate() {
            for group in 0..plan.groups.len() {
                positions.push((log, group));
            }
        }
        positions
    }
}

fn draw_log(rng: &mut Stream, number: u64) -> LogPlan {
    let name = LogName::new(&format!("log-{number}")).expect("a valid name");
    let small_retention = rng.chance(0.3);
    let settings = LogSettings {
        retention_ms: Some(Some(if small_retention {
            rng.between(100, 5_000)
        } else {
            7 * 24 * 60 * 60 * 1000
        })),
        retention_bytes: Some(Some(if small_retention {
            rng.between(200, 4_000)
        } else {
            1 << 30
        })),
        ..LogSettings::default()
    };
    let key_count = rng.pick(&[0, 1, 3, 10]);
    let groups = (0..rng.between(1, 3)).map(|n| draw_group(rng, n)).collect();
    LogPlan {
        name,
        settings,
        groups,
        key_count,
    }
}

fn draw_group(rng: &mut Stream, number: u64) -> GroupPlan {
    let name = GroupName::new(&format!("group-{number}")).expect("a valid name");
    let initial_ms = rng.pick(&[0, 10, 100, 500]);
    let backoff = Backoff {
        initial_ms,
        multiplier: rng.pick(&[1.0, 1.5, 2.0, 3.0]),
        cap_ms: initial_ms * rng.between(1, 10),
    };
    let settings = GroupSettings {
        start: None,
        lease_ms: Some(rng.pick(&[50, 200, 1_000, 3_000])),
        max_attempts: Some(rng.pick(&[1, 2, 3, 5, 10])),
        backoff: Some(backoff),
        ordering: Some(if rng.chance(0.4) {
            Ordering::Key
        } else {
            Ordering::None
        }),
        unsettled_window: Some(rng.pick(&[4, 16, 100_000])),
    };
    GroupPlan { name, settings }
}
