//! The bench's own account of every message: produced, leased, settled.
//!
//! Each message carries its id in its payload, so the ledger does not rely
//! on the server's indices to tell a duplicate from a lost message.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::report::Correctness;

/// Counters shared by the producers and consumers of one scenario.
pub struct Ledger {
    /// Times each message id was settled `processed`, saturating at 255.
    settled_by_id: Vec<AtomicU8>,
    pub produced: AtomicU64,
    /// Accepted `processed` settles, duplicates included.
    pub settled: AtomicU64,
    pub leased_now: AtomicU64,
    pub retries: AtomicU64,
    pub abandoned: AtomicU64,
    pub queue_depth_max: AtomicU64,
    pub leases_in_flight_max: AtomicU64,
    /// Leases whose payload did not carry a valid id.
    pub foreign: AtomicU64,
}

impl Ledger {
    pub fn new(msgs: u64) -> Ledger {
        Ledger {
            settled_by_id: (0..msgs).map(|_| AtomicU8::new(0)).collect(),
            produced: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            leased_now: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            queue_depth_max: AtomicU64::new(0),
            leases_in_flight_max: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
        }
    }

    pub fn msgs(&self) -> u64 {
        self.settled_by_id.len() as u64
    }

    pub fn on_produced(&self, count: u64) {
        self.produced.fetch_add(count, Ordering::Relaxed);
        self.note_depth();
    }

    pub fn on_leased(&self, count: u64) {
        let now = self.leased_now.fetch_add(count, Ordering::Relaxed) + count;
        self.leases_in_flight_max.fetch_max(now, Ordering::Relaxed);
    }

    pub fn on_unleased(&self, count: u64) {
        self.leased_now.fetch_sub(count, Ordering::Relaxed);
    }

    /// Records an accepted `processed` settle of message `id`.
    pub fn on_settled(&self, id: u64) {
        match self.settled_by_id.get(id as usize) {
            Some(count) => {
                // fetch_update never fails with a closure that returns Some.
                let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                    Some(count.saturating_add(1))
                });
                self.settled.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The queue depth is what was produced and is neither settled nor
    /// leased; sampled where it can grow (after an append).
    fn note_depth(&self) {
        let produced = self.produced.load(Ordering::Relaxed);
        let taken = self.settled.load(Ordering::Relaxed) + self.leased_now.load(Ordering::Relaxed);
        self.queue_depth_max
            .fetch_max(produced.saturating_sub(taken), Ordering::Relaxed);
    }

    pub fn done(&self) -> bool {
        self.settled.load(Ordering::Relaxed) >= self.msgs()
    }

    /// The verdict from the ledger alone; the caller adds the server's view.
    pub fn correctness(&self) -> Correctness {
        let mut correctness = Correctness {
            produced: self.produced.load(Ordering::Relaxed),
            ..Correctness::default()
        };
        for count in &self.settled_by_id {
            match count.load(Ordering::Relaxed) {
                0 => correctness.lost += 1,
                1 => correctness.settled_once += 1,
                _ => correctness.duplicates += 1,
            }
        }
        if correctness.produced != self.msgs() {
            correctness.problems.push(format!(
                "produced {} of {} messages",
                correctness.produced,
                self.msgs()
            ));
        }
        if correctness.duplicates > 0 {
            correctness.problems.push(format!(
                "{} messages settled more than once",
                correctness.duplicates
            ));
        }
        if correctness.lost > 0 {
            correctness
                .problems
                .push(format!("{} messages never settled", correctness.lost));
        }
        let foreign = self.foreign.load(Ordering::Relaxed);
        if foreign > 0 {
            correctness.problems.push(format!(
                "{foreign} leases carried no message id of this run"
            ));
        }
        correctness
    }
}

/// The payload of message `id`: its id and send time, then filler.
pub fn payload(id: u64, sent_at_us: u64, payload_bytes: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload_bytes);
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&sent_at_us.to_le_bytes());
    bytes.resize(payload_bytes.max(16), b'x');
    bytes
}

/// The id and send time a payload carries, if it is one of ours.
pub fn read_payload(bytes: &[u8]) -> Option<(u64, u64)> {
    let id = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let sent_at_us = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((id, sent_at_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_tells_duplicates_from_lost_messages() {
        let ledger = Ledger::new(3);
        ledger.on_produced(3);
        ledger.on_settled(0);
        ledger.on_settled(1);
        ledger.on_settled(1);
        let correctness = ledger.correctness();
        assert_eq!(
            (
                correctness.settled_once,
                correctness.duplicates,
                correctness.lost
            ),
            (1, 1, 1)
        );
        assert_eq!(correctness.problems.len(), 2);
    }

    #[test]
    fn payloads_round_trip_their_id_and_send_time() {
        let bytes = payload(7, 1234, 100);
        assert_eq!(bytes.len(), 100);
        assert_eq!(read_payload(&bytes), Some((7, 1234)));
        assert_eq!(read_payload(b"short"), None);
    }
}
