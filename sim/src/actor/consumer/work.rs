//! A consumer's work on its leases: how long each takes and how it ends,
//! and how it counts the answers to its settles.

use mamamia_machine::{Lease, SettleOutcome, SettleStatus};

use super::{Consumer, ConsumerPlan, Held, Item, CALM_LEASE_MS_MIN};
use crate::actor::ActorCx;
use crate::coverage::Mark;
use crate::fault::FaultSite;

impl Consumer {
    /// Plans the work on new leases: how long, and how it ends.
    pub(super) fn take(&mut self, leases: Vec<Lease>, cx: &mut ActorCx) {
        let lease_ms = match cx.calm {
            true => self.plan.lease_ms.max(CALM_LEASE_MS_MIN),
            false => self.plan.lease_ms,
        };
        for lease in leases {
            let stall = cx.fault(FaultSite::ConsumerStall);
            let long = !stall && cx.workload.chance(0.05);
            let work_ms = if stall {
                cx.workload.between(lease_ms + lease_ms / 5, lease_ms * 3)
            } else if long {
                cx.workload.between(lease_ms, lease_ms * 2)
            } else {
                cx.workload.between(0, lease_ms / 3)
            };
            let roll = cx.workload.unit();
            let outcome = if roll < self.plan.dead_share {
                SettleOutcome::Dead { reason: None }
            } else if roll < self.plan.dead_share + self.plan.retry_share {
                let delay_ms = cx.workload.chance(0.5).then(|| cx.workload.between(0, 300));
                SettleOutcome::Retry {
                    delay_ms,
                    reason: None,
                }
            } else {
                SettleOutcome::Processed
            };
            self.held.push(Held {
                index: lease.index,
                token: lease.token,
                done_at_ms: cx.now_ms + work_ms,
                renew_at_ms: long.then_some(cx.now_ms + lease_ms / 3),
                outcome,
                late: stall,
            });
        }
    }
}

pub(super) fn count_settle(item: Item, status: SettleStatus, cx: &mut ActorCx) {
    let settles = &mut cx.stats.settles;
    match status {
        SettleStatus::Processed => settles.processed += 1,
        SettleStatus::RetryAt { .. } => settles.retried += 1,
        SettleStatus::Dead => settles.dead += 1,
        SettleStatus::Refused(_) => {
            settles.refused += 1;
            match item {
                Item::Stale | Item::Forged => cx.stats.coverage.hit(Mark::StaleSettleRejected),
                Item::Late => cx.stats.coverage.hit(Mark::LateSettleRejected),
                Item::Fresh => {}
            }
        }
    }
}

/// The plan of a consumer working on the group at `position`.
pub fn consumer_plan(
    config: &crate::config::WorldConfig,
    position: (usize, usize),
) -> ConsumerPlan {
    let log = &config.logs[position.0];
    let group = &log.groups[position.1];
    ConsumerPlan {
        log: log.name.clone(),
        group: group.name.clone(),
        lease_ms: group.settings.lease_ms.expect("plans set a lease"),
        acquire_max: config.acquire_max,
        long_poll_share: config.long_poll_share,
        wait_ms_max: config.wait_ms_max,
        retry_share: config.retry_share,
        dead_share: config.dead_share,
    }
}
