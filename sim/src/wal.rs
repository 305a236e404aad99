//! The broker's durable command log, as a disk with a page cache would
//! keep it: records are written at once, made durable by `sync` (the group
//! commit), and a crash keeps the synced prefix, maybe some of the unsynced
//! tail, and may tear the last record it kept.
//!
//! The tail that a crash can touch goes through a real frame encoding
//! (length, checksum, JSON body) and is read back by the same decoder that
//! recovery would use, which stops at the first frame that does not check:
//! a torn record is detected, never replayed half. Records well inside the
//! synced prefix stay structured, to keep crashes cheap.

use mamamia_machine::Command;
use serde::{Deserialize, Serialize};

/// One logged command and a digest of the reply it got, to check that a
/// replay reproduces the same replies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub at_ms: u64,
    pub reply_digest: u64,
    pub command: Command,
}

/// Records this far behind the sync point are never torn or lost, so they
/// skip the byte encoding on a crash.
const SAFE_DISTANCE: usize = 4;

/// Frame header: body length (u32) and checksum (u64), little endian.
const HEADER_LEN: usize = 12;

#[derive(Debug, Default)]
pub struct DurableLog {
    records: Vec<Record>,
    synced: usize,
}

/// What a crash left on disk, and what recovery made of it.
#[derive(Debug)]
pub struct Recovered {
    pub records: Vec<Record>,
    /// Unsynced records that survived the crash anyway.
    pub unsynced_kept: usize,
    /// Unsynced records lost.
    pub lost: usize,
    /// Whether the last record on disk was torn and dropped.
    pub torn: bool,
}

impl DurableLog {
    pub fn append(&mut self, record: Record) {
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn synced(&self) -> usize {
        self.synced
    }

    pub fn sync(&mut self) {
        self.synced = self.records.len();
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Crashes the disk: keeps the synced prefix plus `unsynced_kept` of the
    /// unsynced records, tears the last kept record after `tear_fraction` of
    /// its bytes if given, and recovers what a restart would read.
    pub fn crash(&mut self, unsynced_kept: usize, tear_fraction: Option<f64>) -> Recovered {
        let unsynced = self.records.len() - self.synced;
        let unsynced_kept = unsynced_kept.min(unsynced);
        let kept = self.synced + unsynced_kept;
        let lost = self.records.len() - kept;
        self.records.truncate(kept);
        let safe = kept.saturating_sub(SAFE_DISTANCE).min(self.synced);
        let mut disk = Vec::new();
        let mut last_frame_at = 0;
        for record in &self.records[safe..] {
            last_frame_at = disk.len();
            encode(record, &mut disk);
        }
        let mut torn = false;
        // Only an unsynced record can be torn: a synced one was written whole.
        if let (Some(fraction), true) = (tear_fraction, unsynced_kept > 0 && kept > safe) {
            let frame_len = disk.len() - last_frame_at;
            // Keep at least nothing and at most all but one byte of the frame.
            let keep = ((frame_len as f64 * fraction) as usize).min(frame_len - 1);
            disk.truncate(last_frame_at + keep);
            torn = true;
        }
        let mut records: Vec<Record> = self.records[..safe].to_vec();
        records.extend(decode_all(&disk));
        debug_assert_eq!(
            records.len(),
            kept - torn as usize,
            "recovery reads every whole frame"
        );
        self.records = records.clone();
        self.synced = self.records.len();
        Recovered {
            records,
            unsynced_kept,
            lost,
            torn,
        }
    }
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn encode(record: &Record, disk: &mut Vec<u8>) {
    let body = serde_json::to_vec(record).expect("records serialize");
    disk.extend_from_slice(&(body.len() as u32).to_le_bytes());
    disk.extend_from_slice(&checksum(&body).to_le_bytes());
    disk.extend_from_slice(&body);
}

/// Reads frames until the bytes end or a frame does not check.
fn decode_all(mut disk: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    while disk.len() >= HEADER_LEN {
        let len = u32::from_le_bytes(disk[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(disk[4..HEADER_LEN].try_into().expect("8 bytes"));
        let Some(body) = disk.get(HEADER_LEN..HEADER_LEN + len) else {
            break;
        };
        if checksum(body) != sum {
            break;
        }
        let Ok(record) = serde_json::from_slice(body) else {
            break;
        };
        records.push(record);
        disk = &disk[HEADER_LEN + len..];
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: u64) -> Record {
        Record {
            at_ms,
            reply_digest: at_ms * 7,
            command: Command::ApplyRetention,
        }
    }

    #[test]
    fn a_crash_keeps_the_synced_prefix_and_drops_a_torn_record() {
        let mut log = DurableLog::default();
        (0..10).for_each(|at_ms| log.append(record(at_ms)));
        log.sync();
        (10..15).for_each(|at_ms| log.append(record(at_ms)));
        let recovered = log.crash(3, Some(0.5));
        assert!(recovered.torn);
        assert_eq!(recovered.lost, 2);
        let times: Vec<u64> = recovered.records.iter().map(|r| r.at_ms).collect();
        assert_eq!(times, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn a_clean_crash_keeps_every_kept_record() {
        let mut log = DurableLog::default();
        (0..3).for_each(|at_ms| log.append(record(at_ms)));
        let recovered = log.crash(1, None);
        assert_eq!(recovered.records.len(), 1);
        assert_eq!(recovered.records[0].reply_digest, 0);
    }
}
