//! File names and headers of the WAL directory.
//!
//! - `wal-{first_lsn:020}.seg`: a segment; a 16-byte header (magic
//!   `MAMAWAL1`, then `first_lsn` as u64 LE) and frames (see `frame`).
//! - `snapshot-{lsn:020}.snap`: the machine's state before record `lsn`;
//!   magic `MAMASNP2`, `lsn` u64 LE, CRC32C of the state u32 LE, the state
//!   (MessagePack, see `owner::state`; the WAL itself does not look inside).
//!
//! Zero-padded numbers make name order the lsn order.

/// Version 2 has settle records in binary (encoding 3). A binary that
/// knows only version 1 refuses such a segment at its header instead of
/// reading a record it cannot decode; version 1 segments still read.
pub const SEGMENT_MAGIC: &[u8; 8] = b"MAMAWAL2";
const SEGMENT_MAGIC_V1: &[u8; 8] = b"MAMAWAL1";
pub const SEGMENT_HEADER_LEN: usize = 16;
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"MAMASNP2";
pub const SNAPSHOT_HEADER_LEN: usize = 20;

pub fn segment(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.seg")
}

pub fn snapshot(lsn: u64) -> String {
    format!("snapshot-{lsn:020}.snap")
}

pub fn parse_segment(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".seg")?
        .parse()
        .ok()
}

pub fn parse_snapshot(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")?
        .strip_suffix(".snap")?
        .parse()
        .ok()
}

/// The numbers of the names that `parse` accepts, ascending.
pub fn sorted(names: &[String], parse: fn(&str) -> Option<u64>) -> Vec<u64> {
    let mut numbers: Vec<u64> = names.iter().filter_map(|name| parse(name)).collect();
    numbers.sort_unstable();
    numbers
}

/// Whether a segment file starts with a magic this version reads.
pub fn is_segment_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(SEGMENT_MAGIC) || bytes.starts_with(SEGMENT_MAGIC_V1)
}

pub fn segment_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0; SEGMENT_HEADER_LEN];
    header[0..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..16].copy_from_slice(&first_lsn.to_le_bytes());
    header
}

/// The snapshot header: magic, `lsn`, and the CRC32C of the state that
/// follows it.
pub fn snapshot_header(lsn: u64, state_crc: u32) -> [u8; SNAPSHOT_HEADER_LEN] {
    let mut header = [0; SNAPSHOT_HEADER_LEN];
    header[0..8].copy_from_slice(SNAPSHOT_MAGIC);
    header[8..16].copy_from_slice(&lsn.to_le_bytes());
    header[16..20].copy_from_slice(&state_crc.to_le_bytes());
    header
}
