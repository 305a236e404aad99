//! A cheap, platform-independent digest of a reply or an event: what the
//! trace hashes and the durable log keeps, to compare runs and replays.

use std::hash::{Hash, Hasher};

use mamamia_machine::{Error, Event, ExtendStatus, Lease, Reply, SettleStatus};

/// FxHash: deterministic everywhere, unlike `std`'s keyed `DefaultHasher`.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(byte as u64);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(word as u64);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

fn leases(hasher: &mut FxHasher, leases: &[Lease]) {
    for lease in leases {
        hasher.write_u64(lease.index);
        lease.token.hash(hasher);
        hasher.write_u32(lease.attempt);
        hasher.write_u64(lease.expires_at_ms);
    }
}

fn settle_status(hasher: &mut FxHasher, status: SettleStatus) {
    match status {
        SettleStatus::Processed => hasher.write_u64(1),
        SettleStatus::RetryAt { at_ms } => hasher.write_u64(2 ^ at_ms << 8),
        SettleStatus::Dead => hasher.write_u64(3),
        SettleStatus::Refused(refusal) => hasher.write_u64(4 + refusal as u64),
    }
}

pub fn reply(result: &Result<Reply, Error>) -> u64 {
    let mut hasher = FxHasher::default();
    match result {
        Err(error) => error.code().hash(&mut hasher),
        Ok(reply) => match reply {
            Reply::LogPut { created } | Reply::GroupPut { created } => {
                hasher.write_u64(10 + *created as u64)
            }
            Reply::Appended(appended) => {
                hasher.write_u64(appended.first_index);
                hasher.write_u64(appended.count);
                for duplicate in &appended.duplicates {
                    hasher.write_u64(duplicate.index);
                }
            }
            Reply::Acquired(acquired) => {
                leases(&mut hasher, &acquired.leases);
                hasher.write_u64(
                    acquired.parked as u64
                        | (acquired.window_full as u64) << 1
                        | (acquired.changed_state as u64) << 2,
                );
            }
            Reply::Settled { results } => {
                for result in results {
                    hasher.write_u64(result.index);
                    settle_status(&mut hasher, result.status);
                }
            }
            Reply::Extended { results } => {
                for result in results {
                    hasher.write_u64(result.index);
                    match result.status {
                        ExtendStatus::Extended { expires_at_ms } => hasher.write_u64(expires_at_ms),
                        ExtendStatus::Refused(refusal) => hasher.write_u64(refusal as u64),
                    }
                }
            }
            Reply::Released { count } | Reply::WaitersCancelled { count } => {
                hasher.write_u64(*count)
            }
            Reply::Redriven(redriven) => {
                hasher.write_u64(redriven.count);
                redriven
                    .not_dead
                    .iter()
                    .for_each(|index| hasher.write_u64(*index));
            }
            Reply::WaiterCancelled { found } => hasher.write_u64(*found as u64),
            Reply::RetentionApplied { dropped } => hasher.write_u64(*dropped),
            Reply::Ticked => hasher.write_u64(u64::MAX),
        },
    }
    hasher.finish()
}

pub fn event(event: &Event) -> u64 {
    let mut hasher = FxHasher::default();
    match event {
        Event::WaiterServed {
            waiter,
            leases: served,
        } => {
            hasher.write_u64(waiter.0);
            leases(&mut hasher, served);
        }
        Event::WaiterTimedOut { waiter } => hasher.write_u64(!waiter.0),
        Event::LeaseExpired {
            index,
            attempt,
            status,
            ..
        } => {
            hasher.write_u64(*index);
            hasher.write_u32(*attempt);
            settle_status(&mut hasher, *status);
        }
    }
    hasher.finish()
}
