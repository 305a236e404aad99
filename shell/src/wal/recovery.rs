//! Reading the WAL back at start: the newest valid snapshot, then every
//! record after it, truncating a torn tail and refusing damage elsewhere.

use std::fmt;

use super::dir::Dir;
use super::frame::{self, Decoded, Record};
use super::mapped::FileBytes;
use super::names::{self, SEGMENT_HEADER_LEN, SNAPSHOT_HEADER_LEN, SNAPSHOT_MAGIC};

/// Takes what recovery reads, in order: the newest valid snapshot (if
/// any), then every record after it, one segment at a time, so a large log
/// is never held in memory twice.
pub trait Replay {
    /// The state before record `lsn`.
    fn snapshot(&mut self, lsn: u64, state: &[u8]) -> Result<(), String>;
    fn record(&mut self, record: Record);
}

/// A [`Replay`] that keeps everything, for tests and tools.
#[derive(Debug, Default)]
pub struct Collect {
    pub snapshot: Option<(u64, Vec<u8>)>,
    pub records: Vec<Record>,
}

impl Replay for Collect {
    fn snapshot(&mut self, lsn: u64, state: &[u8]) -> Result<(), String> {
        self.snapshot = Some((lsn, state.to_vec()));
        Ok(())
    }

    fn record(&mut self, record: Record) {
        self.records.push(record);
    }
}

/// What recovery found and did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The lsn of the snapshot recovery started from.
    pub snapshot_lsn: Option<u64>,
    /// Records replayed after it.
    pub replayed: u64,
    /// The lsn the next record gets.
    pub next_lsn: u64,
    /// Segments in the directory, by first lsn, after any repair.
    pub segments: Vec<u64>,
    /// Snapshots in the directory, by lsn (valid or not).
    pub snapshots: Vec<u64>,
    /// Repairs made and damage skipped, for the operator's log.
    pub warnings: Vec<String>,
}

/// Why the WAL cannot be recovered without an operator.
#[derive(Debug)]
pub enum RecoveryError {
    Io(std::io::Error),
    /// The snapshot passed its checksum but its state does not decode.
    State(String),
    /// Damage that is not a torn tail: acknowledged data may be lost, so
    /// the server refuses to start rather than silently drop it.
    Corrupt {
        file: String,
        offset: usize,
        reason: String,
    },
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::Io(error) => write!(f, "cannot read the write-ahead log: {error}"),
            RecoveryError::State(reason) => write!(f, "the snapshot does not decode: {reason}"),
            RecoveryError::Corrupt {
                file,
                offset,
                reason,
            } => write!(
                f,
                "the write-ahead log is corrupt in {file} at byte {offset}: {reason}. \
                 This is not a torn tail from a crash, so acknowledged data may be lost; \
                 refusing to start. Restore the data directory from a backup, or move \
                 {file} and later segments away to start from what precedes it."
            ),
        }
    }
}

impl From<std::io::Error> for RecoveryError {
    fn from(error: std::io::Error) -> Self {
        RecoveryError::Io(error)
    }
}

fn corrupt(file: &str, offset: usize, reason: impl Into<String>) -> RecoveryError {
    RecoveryError::Corrupt {
        file: file.to_owned(),
        offset,
        reason: reason.into(),
    }
}

/// Recovers the directory's snapshot and records into `replay`, repairing
/// a torn tail.
pub fn recover(dir: &dyn Dir, replay: &mut dyn Replay) -> Result<Recovered, RecoveryError> {
    let mut recovered = Recovered::default();
    let names = dir.list()?;
    // A snapshot being written when the process died; the previous one stands.
    for name in names.iter().filter(|name| name.ends_with(".tmp")) {
        dir.remove(name)?;
        recovered
            .warnings
            .push(format!("removed the unfinished {name}"));
    }
    recovered.segments = names::sorted(&names, names::parse_segment);
    recovered.snapshots = names::sorted(&names, names::parse_snapshot);
    let snapshot = newest_valid_snapshot(dir, &recovered.snapshots, &mut recovered.warnings)?;
    let start_lsn = snapshot.as_ref().map_or(0, |(lsn, _)| *lsn);
    if let Some((lsn, file)) = snapshot {
        recovered.snapshot_lsn = Some(lsn);
        let state = &file[SNAPSHOT_HEADER_LEN..];
        replay.snapshot(lsn, state).map_err(RecoveryError::State)?;
    }
    recovered.next_lsn = start_lsn;

    // Segments wholly before the snapshot are not needed; the first needed
    // one must start at or before it, or records are missing.
    let first_needed = recovered
        .segments
        .iter()
        .rposition(|&first_lsn| first_lsn <= start_lsn)
        .unwrap_or(0);
    let segments = recovered.segments[first_needed..].to_vec();
    if let Some(&first_lsn) = segments.first() {
        if first_lsn > start_lsn {
            return Err(corrupt(
                &names::segment(first_lsn),
                0,
                format!("records {start_lsn}..{first_lsn} are missing (no segment holds them)"),
            ));
        }
    }
    let mut expected_lsn: Option<u64> = None;
    for (position, &first_lsn) in segments.iter().enumerate() {
        let is_last = position + 1 == segments.len();
        let name = names::segment(first_lsn);
        if let Some(expected) = expected_lsn {
            if first_lsn != expected {
                return Err(corrupt(
                    &name,
                    0,
                    format!("segment starts at record {first_lsn}, expected {expected}"),
                ));
            }
        }
        let next = read_segment(
            dir,
            &name,
            first_lsn,
            is_last,
            start_lsn,
            &mut recovered,
            replay,
        )?;
        expected_lsn = Some(next);
    }
    recovered.next_lsn = expected_lsn.unwrap_or(start_lsn).max(start_lsn);
    Ok(recovered)
}

/// Reads one segment's records into `recovered`; returns the lsn after its last.
fn read_segment(
    dir: &dyn Dir,
    name: &str,
    first_lsn: u64,
    is_last: bool,
    start_lsn: u64,
    recovered: &mut Recovered,
    replay: &mut dyn Replay,
) -> Result<u64, RecoveryError> {
    let bytes = dir.read_mapped(name)?;
    let header_torn = bytes.len() < SEGMENT_HEADER_LEN
        || (!names::is_segment_magic(&bytes)
            && bytes[SEGMENT_HEADER_LEN..].iter().all(|&byte| byte == 0));
    if header_torn && is_last {
        // The segment was being created when the process died: its header
        // is synced before any record is written, so it holds none.
        dir.remove(name)?;
        recovered.segments.retain(|&lsn| lsn != first_lsn);
        recovered.warnings.push(format!(
            "removed {name}: its header was torn ({} bytes)",
            bytes.len()
        ));
        return Ok(first_lsn);
    }
    if bytes.len() < SEGMENT_HEADER_LEN || !names::is_segment_magic(&bytes) {
        return Err(corrupt(
            name,
            0,
            "bad segment header (or one written by a newer version)",
        ));
    }
    let header_lsn = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if header_lsn != first_lsn {
        return Err(corrupt(
            name,
            8,
            "segment header names another first record",
        ));
    }
    let mut offset = SEGMENT_HEADER_LEN;
    let mut lsn = first_lsn;
    loop {
        let damage = match frame::decode(&bytes[offset..]) {
            Decoded::End => {
                if is_last && offset < bytes.len() {
                    // Reserved space of the run that crashed: the next run
                    // writes to a new segment, so give it back.
                    drop(bytes); // a mapping must not outlive the bytes it maps
                    dir.truncate(name, offset as u64)?;
                }
                return Ok(lsn);
            }
            Decoded::Frame { record, frame_len } => {
                if record.lsn != lsn {
                    return Err(corrupt(
                        name,
                        offset,
                        format!("record {} found where {lsn} belongs", record.lsn),
                    ));
                }
                if lsn >= start_lsn {
                    recovered.replayed += 1;
                    replay.record(record);
                }
                lsn += 1;
                offset += frame_len;
                continue;
            }
            // Its checksum holds, so it is no torn write: cutting it would
            // drop a record that was acknowledged.
            Decoded::Undecodable(reason) => {
                return Err(corrupt(
                    name,
                    offset,
                    format!("{reason} (written by a newer version, or damaged before its checksum was taken)"),
                ))
            }
            Decoded::Incomplete => "the last record is incomplete".to_owned(),
            Decoded::Corrupt(reason) => reason,
        };
        if !is_last {
            return Err(corrupt(name, offset, damage));
        }
        if let Some(later) = later_valid_frame(&bytes, offset + 1, lsn) {
            return Err(corrupt(
                name,
                offset,
                format!("{damage}, yet a valid record follows at byte {later}"),
            ));
        }
        let torn_len = bytes.len() - offset;
        drop(bytes); // a mapping must not outlive the bytes it maps
        dir.truncate(name, offset as u64)?;
        recovered.warnings.push(format!(
            "truncated a torn tail of {name}: {torn_len} bytes at byte {offset} ({damage}); \
             its {} records before it are intact",
            lsn - first_lsn
        ));
        return Ok(lsn);
    }
}

/// The offset of the first valid frame at or after `from`, if any: damage
/// followed by intact records is not a torn tail. `lsn` is the record the
/// damage stands in place of; a later one cannot be numbered below it.
pub(super) fn later_valid_frame(bytes: &[u8], from: usize, lsn: u64) -> Option<usize> {
    let records_max = (bytes.len().saturating_sub(from) / frame::FRAME_LEN_MIN) as u64;
    let plausible = lsn..=lsn.saturating_add(records_max);
    // Only a candidate numbered like a later record pays for a checksum:
    // with reserved zeros behind it, nearly any length fits in the file,
    // and checksumming each would cost minutes on a large torn batch. A
    // frame's length is never zero, so zero runs are skipped outright.
    (from..bytes.len()).find(|&offset| {
        let candidate = &bytes[offset..];
        candidate.iter().take(4).any(|&byte| byte != 0)
            && frame::lsn_of(candidate).is_some_and(|found| plausible.contains(&found))
            && matches!(frame::decode(candidate), Decoded::Frame { .. })
    })
}

/// The newest snapshot that passes its checks, as the whole file (the
/// state follows the header): not copied out, as it may be gigabytes.
fn newest_valid_snapshot(
    dir: &dyn Dir,
    snapshots: &[u64],
    warnings: &mut Vec<String>,
) -> Result<Option<(u64, FileBytes)>, RecoveryError> {
    for &lsn in snapshots.iter().rev() {
        let name = names::snapshot(lsn);
        let bytes = dir.read_mapped(&name)?;
        match snapshot_state(&bytes, lsn) {
            Ok(_) => return Ok(Some((lsn, bytes))),
            Err(reason) => warnings.push(format!("skipped snapshot {name}: {reason}")),
        }
    }
    Ok(None)
}

/// The state a snapshot file holds, once its header and checksum pass.
fn snapshot_state(bytes: &[u8], lsn: u64) -> Result<&[u8], String> {
    if bytes.len() < SNAPSHOT_HEADER_LEN || bytes[0..8] != SNAPSHOT_MAGIC[..] {
        return Err("bad header".to_owned());
    }
    if u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) != lsn {
        return Err("header names another position".to_owned());
    }
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let state = &bytes[SNAPSHOT_HEADER_LEN..];
    if checksum(state, SPLIT_CHECKSUM_BYTES_MIN) != crc {
        return Err("checksum mismatch".to_owned());
    }
    Ok(state)
}

/// From this size on, a snapshot's checksum is computed in two halves on
/// two threads: for a snapshot of gigabytes it is a tenth of recovery.
const SPLIT_CHECKSUM_BYTES_MIN: usize = 64 << 20;

/// CRC32C of `bytes`; the halves of a large input on two threads, their
/// checksums combined (exactly: CRC32C composes).
fn checksum(bytes: &[u8], split_bytes_min: usize) -> u32 {
    if bytes.len() < split_bytes_min {
        return crc32c::crc32c(bytes);
    }
    let (front, back) = bytes.split_at(bytes.len() / 2);
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("mamamia-checksum".to_owned())
            .spawn_scoped(scope, || crc32c::crc32c(back));
        let front_crc = crc32c::crc32c(front);
        let back_crc = match spawned {
            Ok(thread) => thread.join().expect("computing a checksum cannot panic"),
            Err(_) => crc32c::crc32c(back), // no thread to be had: do it here
        };
        crc32c::crc32c_combine(front_crc, back_crc, back.len())
    })
}

#[cfg(test)]
mod checksum_tests {
    #[test]
    fn a_checksum_in_halves_equals_the_whole() {
        let bytes: Vec<u8> = (0..100_001u32).map(|n| (n * 7 % 251) as u8).collect();
        for len in [0, 1, 2, 3, 1_000, 100_001] {
            assert_eq!(
                super::checksum(&bytes[..len], 0),
                crc32c::crc32c(&bytes[..len]),
                "{len} bytes"
            );
        }
    }
}
