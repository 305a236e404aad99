//! Snapshots streamed into their file: read back exactly, checksummed over
//! exactly the state, and all or nothing.

use std::io;
use std::path::PathBuf;

use super::*;

/// Larger than three write buffers, so the state reaches the file both
/// through the buffer and around it.
const STATE_LEN: usize = (7 << 20) / 2;

/// Bytes that differ along the state, so a misplaced piece shows.
fn state_bytes(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|n| (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect()
}

/// Writes `state` in pieces from one byte to more than the write buffer,
/// as an encoder's output comes.
fn stream(state: &[u8]) -> impl FnMut(&mut dyn Write) -> io::Result<()> + '_ {
    move |out| {
        let mut sizes = [1, 7, 3_000, 1 << 20, 1, (3 << 20) / 2, 65_536]
            .into_iter()
            .cycle();
        let mut rest = state;
        while !rest.is_empty() {
            let size = sizes.next().expect("the sizes cycle").min(rest.len());
            let (piece, after) = rest.split_at(size);
            out.write_all(piece)?;
            rest = after;
        }
        Ok(())
    }
}

/// A directory with one synced record and a snapshot `first` before it.
fn with_first_snapshot() -> (MemDir, Wal) {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    wal.snapshot(|out| out.write_all(b"first")).unwrap();
    wal.append(0, &append(0));
    wal.commit(true).unwrap();
    (dir, wal)
}

fn snapshot_names(dir: &MemDir) -> Vec<String> {
    let names = dir.list().unwrap().into_iter();
    names.filter(|name| name.starts_with("snapshot-")).collect()
}

#[test]
fn a_streamed_snapshot_recovers_byte_for_byte() {
    let (dir, mut wal) = with_first_snapshot();
    let state = state_bytes(STATE_LEN);
    let state_len = wal.snapshot(stream(&state)).unwrap();
    assert_eq!(
        state_len, STATE_LEN as u64,
        "the state's length is reported"
    );
    drop(wal);
    let (_, recovered) = open(&dir);
    let (lsn, read) = recovered.snapshot.expect("a snapshot is found");
    assert_eq!(lsn, 1);
    assert_eq!(read.len(), STATE_LEN);
    assert!(read == state, "the state reads back byte for byte");
    assert!(recovered.records.is_empty());
    assert!(recovered.warnings.is_empty(), "{:?}", recovered.warnings);
}

#[test]
fn the_header_holds_the_lsn_and_a_checksum_of_exactly_the_state() {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    for (lsn, state) in [Vec::new(), b"{}".to_vec(), state_bytes(STATE_LEN)]
        .into_iter()
        .enumerate()
    {
        wal.append(lsn as u64, &append(lsn as u64));
        wal.commit(true).unwrap();
        wal.snapshot(stream(&state)).unwrap();
        let lsn = lsn as u64 + 1;
        let file = dir.read(&names::snapshot(lsn)).unwrap();
        let (header, stored) = file.split_at(names::SNAPSHOT_HEADER_LEN);
        assert_eq!(&header[0..8], names::SNAPSHOT_MAGIC);
        assert_eq!(header[8..16], lsn.to_le_bytes());
        assert_eq!(
            header[16..20],
            crc32c::crc32c(&state).to_le_bytes(),
            "the checksum of {} bytes of state",
            state.len()
        );
        assert!(stored == state, "the state follows the header, as written");
    }
}

#[test]
fn a_snapshot_whose_encoding_fails_midway_leaves_no_file_and_the_previous_one_recovers() {
    let (dir, mut wal) = with_first_snapshot();
    let state = state_bytes(STATE_LEN);
    let error = wal
        .snapshot(|out| {
            stream(&state[..STATE_LEN / 2])(out)?;
            Err(io::Error::other("the encoder failed"))
        })
        .expect_err("the snapshot fails with its encoder");
    assert_eq!(error.to_string(), "the encoder failed");
    assert_eq!(
        snapshot_names(&dir),
        vec![names::snapshot(0)],
        "neither the snapshot nor its .tmp is left"
    );
    drop(wal);
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.snapshot, Some((0, b"first".to_vec())));
    assert_eq!(recovered.records.len(), 1, "the WAL still holds the record");
    assert!(recovered.warnings.is_empty(), "{:?}", recovered.warnings);
}

#[test]
fn a_crash_while_a_snapshot_streams_leaves_a_tmp_file_that_recovery_removes() {
    let (dir, mut wal) = with_first_snapshot();
    let state = state_bytes(STATE_LEN);
    let mut at_crash = None;
    wal.snapshot(|out| {
        stream(&state[..STATE_LEN / 2])(out)?;
        out.flush()?;
        at_crash = Some(dir.copy());
        stream(&state[STATE_LEN / 2..])(out)
    })
    .unwrap();
    let crashed = at_crash.expect("the encoder ran");
    crashed.crash(Tear::KeepPrefix { keep: 4_096 });
    let unfinished = format!("{}.tmp", names::snapshot(1));
    assert_eq!(
        snapshot_names(&crashed),
        vec![names::snapshot(0), unfinished.clone()]
    );
    let (_, recovered) = open(&crashed);
    assert_eq!(recovered.snapshot, Some((0, b"first".to_vec())));
    assert_eq!(recovered.records.len(), 1, "the WAL still holds the record");
    assert!(
        recovered.warnings[0].contains("removed the unfinished"),
        "{:?}",
        recovered.warnings
    );
    assert_eq!(crashed.len(&unfinished), None);
    // Where nothing crashed, the snapshot was finished.
    let (_, finished) = open(&dir);
    assert_eq!(
        finished.snapshot.map(|(lsn, read)| (lsn, read == state)),
        Some((1, true))
    );
}

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("mamamia-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_streamed_snapshot_on_disk_recovers_byte_for_byte_and_leaves_no_tmp_file() {
    let temp = TempDir::new("streamed-snapshot");
    let open_fs = || {
        let dir = FsDir::open(&temp.0).unwrap();
        let mut collect = Collect::default();
        let (wal, _) = Wal::open(Box::new(dir), &mut collect).expect("recoverable");
        (wal, collect)
    };
    let (mut wal, _) = open_fs();
    wal.append(0, &append(0));
    wal.commit(true).unwrap();
    let state = state_bytes(STATE_LEN);
    assert_eq!(wal.snapshot(stream(&state)).unwrap(), STATE_LEN as u64);
    wal.append(1, &append(1));
    wal.commit(true).unwrap();
    let failed = wal.snapshot(|out| {
        out.write_all(&state[..STATE_LEN / 2])?;
        Err(io::Error::other("the encoder failed"))
    });
    assert!(failed.is_err());
    drop(wal);
    let snapshots: Vec<String> = std::fs::read_dir(&temp.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("snapshot-"))
        .collect();
    assert_eq!(
        snapshots,
        vec![names::snapshot(1)],
        "the failed one left no .tmp"
    );
    let (_, collect) = open_fs();
    let (lsn, read) = collect.snapshot.expect("a snapshot is found");
    assert_eq!(lsn, 1);
    assert!(read == state, "the state reads back byte for byte");
    assert_eq!(collect.records.len(), 1, "the record after it is replayed");
}
