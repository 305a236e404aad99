//! The admin: redrives dead letters (all, or some it listed), changes
//! group and log configuration, and applies retention. Its answers are
//! only counted; the model checks them at the broker.

use mamamia_machine::{Backoff, Command, GroupSettings, LogSettings, Ordering};

use super::World;
use crate::actor::{ActorId, Request};
use crate::fault::FaultSite;
use crate::violation::Checked;

impl World {
    pub(super) fn admin_wake(&mut self) -> Checked {
        if self.calm {
            return Ok(());
        }
        let positions = self.model_positions();
        let (log_id, group_id) = positions[self.streams.workload.below(positions.len())];
        let log = &self.model.logs[log_id];
        let group = &log.groups[group_id];
        let (log_name, group_name) = (log.name.clone(), group.name.clone());
        let workload = &mut self.streams.workload;
        let mut bad = false;
        let command = match workload.below(20) {
            0..=6 => Command::Redrive {
                log: log_name,
                group: group_name,
                indices: None,
            },
            7..=12 => {
                // As if it listed the dead letters first, plus one it made up.
                let mut indices: Vec<u64> = group.dead.iter().copied().take(3).collect();
                indices.push(workload.between(0, log.next_index() + 2));
                Command::Redrive {
                    log: log_name,
                    group: group_name,
                    indices: Some(indices),
                }
            }
            13..=15 => {
                let settings = GroupSettings {
                    lease_ms: Some(workload.pick(&[50, 200, 1_000, 3_000])),
                    max_attempts: Some(workload.pick(&[1, 2, 3, 5, 10])),
                    backoff: workload.chance(0.5).then_some(Backoff {
                        initial_ms: 20,
                        multiplier: 2.0,
                        cap_ms: 400,
                    }),
                    unsettled_window: workload
                        .chance(0.3)
                        .then(|| workload.pick(&[4, 16, 100_000])),
                    ..GroupSettings::default()
                };
                Command::PutGroup {
                    log: log_name,
                    group: group_name,
                    settings,
                }
            }
            16..=17 => Command::ApplyRetention,
            _ => {
                let retention_ms = workload.pick(&[200, 2_000, 7 * 24 * 60 * 60 * 1000]);
                let settings = LogSettings {
                    retention_ms: Some(Some(retention_ms)),
                    ..LogSettings::default()
                };
                Command::PutLog {
                    log: log_name,
                    settings,
                }
            }
        };
        let command = if self
            .streams
            .faults
            .chance(self.config.faults.rate(FaultSite::BadRequest))
        {
            self.stats.fault(FaultSite::BadRequest);
            bad = true;
            let (log, group) = (
                &self.model.logs[log_id],
                &self.model.logs[log_id].groups[group_id],
            );
            let flipped = match group.config.ordering {
                Ordering::Key => Ordering::None,
                Ordering::None => Ordering::Key,
            };
            let settings = match self.streams.workload.chance(0.5) {
                true => GroupSettings {
                    max_attempts: Some(0),
                    ..GroupSettings::default()
                },
                false => GroupSettings {
                    ordering: Some(flipped),
                    ..GroupSettings::default()
                },
            };
            Command::PutGroup {
                log: log.name.clone(),
                group: group.name.clone(),
                settings,
            }
        } else {
            command
        };
        self.next_request += 1;
        let request = Request {
            from: ActorId::Admin,
            id: self.next_request,
            command,
            bad,
        };
        self.send_request(request);
        let interval_ms = self.config.admin_interval_ms;
        let at_ms = self.now_ms
            + self
                .streams
                .workload
                .between(interval_ms / 2, interval_ms * 3 / 2);
        self.wake(ActorId::Admin, at_ms);
        Ok(())
    }
}
