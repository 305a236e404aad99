//! Recovery against an in-memory directory that tears unsynced writes.

mod snapshot;

use std::io::Write;

use mamamia_machine::{Command, LogName, NewMessage};

use super::frame::Decoded;
use super::recovery::later_valid_frame;
use super::*;

fn append(number: u64) -> Command {
    Command::Append {
        log: LogName::new("orders").unwrap(),
        messages: vec![NewMessage::new(format!("message {number}"))],
    }
}

/// What a test sees of a recovery: the report and what was replayed.
struct Opened {
    recovered: Recovered,
    snapshot: Option<(u64, Vec<u8>)>,
    records: Vec<Record>,
    next_lsn: u64,
    warnings: Vec<String>,
    snapshots: Vec<u64>,
    segments: Vec<u64>,
}

fn open(dir: &MemDir) -> (Wal, Opened) {
    try_open(dir).expect("recoverable")
}

fn try_open(dir: &MemDir) -> Result<(Wal, Opened), RecoveryError> {
    let mut collect = Collect::default();
    let (wal, recovered) = Wal::open(Box::new(dir.clone()), &mut collect)?;
    let opened = Opened {
        snapshot: collect.snapshot,
        records: collect.records,
        next_lsn: recovered.next_lsn,
        warnings: recovered.warnings.clone(),
        snapshots: recovered.snapshots.clone(),
        segments: recovered.segments.clone(),
        recovered,
    };
    Ok((wal, opened))
}

/// Writes `batches` group commits of `per_batch` records, synced, then
/// `unsynced` more records written but not synced. Returns the synced count.
fn write(dir: &MemDir, batches: u64, per_batch: u64, unsynced: u64) -> u64 {
    let (mut wal, recovered) = open(dir);
    let mut number = recovered.next_lsn;
    for _ in 0..batches {
        for _ in 0..per_batch {
            wal.append(number, &append(number));
            number += 1;
        }
        wal.commit(true).unwrap();
    }
    let synced = number;
    for _ in 0..unsynced {
        wal.append(number, &append(number));
        number += 1;
    }
    wal.commit(false).unwrap();
    synced
}

fn check_prefix(recovered: &Opened, at_least: u64) {
    assert!(
        recovered.next_lsn >= at_least,
        "an acknowledged record was lost"
    );
    for (position, record) in recovered.records.iter().enumerate() {
        assert_eq!(record.lsn, position as u64, "records are contiguous from 0");
        assert_eq!(record.command, append(record.lsn));
        assert_eq!(record.now_ms, record.lsn);
    }
    assert_eq!(recovered.records.len() as u64, recovered.next_lsn);
    assert_eq!(recovered.recovered.replayed, recovered.next_lsn);
}

#[test]
fn every_kind_of_torn_tail_keeps_every_synced_record_and_is_repaired() {
    let tears = (0..200).flat_map(|keep| {
        [
            Tear::KeepPrefix { keep },
            Tear::Garbage { keep, garbage: 7 },
            Tear::Garbage { keep, garbage: 300 },
        ]
    });
    for tear in tears.chain([Tear::DropUnsynced]) {
        let dir = MemDir::default();
        let synced = write(&dir, 3, 4, 5);
        dir.crash(tear);
        let (mut wal, recovered) = open(&dir);
        check_prefix(&recovered, synced);
        // The repaired log takes new records after the recovered ones.
        let next = recovered.next_lsn;
        wal.append(next, &append(next));
        wal.commit(true).unwrap();
        drop(wal);
        let (_, again) = open(&dir);
        check_prefix(&again, next + 1);
        assert!(again.warnings.is_empty(), "{tear:?}: {:?}", again.warnings);
    }
}

#[test]
fn a_torn_tail_is_reported() {
    let dir = MemDir::default();
    write(&dir, 1, 2, 3);
    dir.crash(Tear::KeepPrefix { keep: 40 });
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.next_lsn, 2);
    assert!(
        recovered.warnings[0].contains("truncated a torn tail"),
        "{:?}",
        recovered.warnings
    );
}

#[test]
fn repeated_crashes_and_restarts_accumulate_every_synced_record() {
    let dir = MemDir::default();
    let mut synced = 0;
    for round in 0..30 {
        synced = write(&dir, 2, 3, round % 4).max(synced);
        dir.crash(Tear::Garbage {
            keep: round as usize * 13,
            garbage: 9,
        });
        let (_, recovered) = open(&dir);
        check_prefix(&recovered, synced);
    }
}

#[test]
fn damage_in_a_segment_before_the_last_is_refused_with_a_clear_message() {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    wal.snapshot(|out| out.write_all(b"{}")).unwrap(); // snapshot at 0; segment 0 is the open one
    for number in 0..3 {
        wal.append(number, &append(number));
    }
    wal.commit(true).unwrap();
    wal.snapshot(|out| out.write_all(b"{}")).unwrap(); // rotates: segment 0 is closed
    wal.append(3, &append(3));
    wal.commit(true).unwrap();
    drop(wal);
    let first = names::segment(0);
    dir.corrupt(&first, names::SEGMENT_HEADER_LEN + 30, b"XX");
    // Without the newest snapshot, recovery needs the damaged segment.
    dir.remove(&names::snapshot(3)).unwrap();
    let error = try_open(&dir).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains(&first), "{message}");
    assert!(message.contains("refusing to start"), "{message}");
}

#[test]
fn damage_followed_by_intact_records_in_the_last_segment_is_refused() {
    let dir = MemDir::default();
    write(&dir, 3, 2, 0);
    let last = names::segment(0);
    dir.corrupt(&last, names::SEGMENT_HEADER_LEN + 5, b"\xff\xff");
    let error = try_open(&dir).err().expect("refused");
    assert!(
        error.to_string().contains("a valid record follows"),
        "{error}"
    );
}

#[test]
fn recovery_starts_from_the_newest_snapshot_and_old_segments_go() {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    for round in 0..4u64 {
        for number in round * 3..round * 3 + 3 {
            wal.append(number, &append(number));
        }
        wal.commit(true).unwrap();
        wal.snapshot(|out| write!(out, "state {round}")).unwrap();
    }
    wal.append(12, &append(12));
    wal.commit(true).unwrap();
    drop(wal);
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.snapshot, Some((12, b"state 3".to_vec())));
    assert_eq!(recovered.records.len(), 1);
    assert_eq!(recovered.records[0].lsn, 12);
    assert_eq!(recovered.next_lsn, 13);
    assert_eq!(recovered.snapshots, vec![9, 12], "two snapshots are kept");
    assert_eq!(
        recovered.segments,
        vec![9, 12],
        "older segments are deleted"
    );
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_previous_one() {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    wal.append(0, &append(0));
    wal.commit(true).unwrap();
    wal.snapshot(|out| out.write_all(b"first")).unwrap();
    wal.append(1, &append(1));
    wal.commit(true).unwrap();
    wal.snapshot(|out| out.write_all(b"second")).unwrap();
    drop(wal);
    dir.corrupt(&names::snapshot(2), names::SNAPSHOT_HEADER_LEN, b"X");
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.snapshot, Some((1, b"first".to_vec())));
    assert_eq!(recovered.records.len(), 1);
    assert_eq!(recovered.next_lsn, 2);
    assert!(recovered.warnings[0].contains("skipped snapshot"));
}

#[test]
fn an_unfinished_snapshot_file_is_removed() {
    let dir = MemDir::default();
    write(&dir, 1, 1, 0);
    dir.write_atomic("snapshot-00000000000000000009.snap.tmp", &mut |file| {
        file.write_all(b"half")
    })
    .unwrap();
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.next_lsn, 1);
    assert!(recovered.warnings[0].contains("unfinished"));
    assert_eq!(dir.len("snapshot-00000000000000000009.snap.tmp"), None);
}

#[test]
fn reserved_space_reads_as_a_clean_end_and_closed_segments_give_it_back() {
    let dir = MemDir::default();
    write(&dir, 2, 3, 0);
    let crashed = names::segment(0);
    assert!(
        dir.read(&crashed).unwrap().ends_with(&[0; 64]),
        "the segment ends in reserved zeros"
    );
    let written = dir.len(&crashed).unwrap() - trailing_zeros(&dir.read(&crashed).unwrap());
    let (mut wal, recovered) = open(&dir);
    check_prefix(&recovered, 6);
    assert!(recovered.warnings.is_empty(), "{:?}", recovered.warnings);
    assert!(
        dir.len(&crashed).unwrap() <= written + 8,
        "recovery gives back the reserved space of the run that stopped"
    );
    // Recovery opened segment 6. The second snapshot closes and trims it;
    // the first keeps it on disk.
    wal.snapshot(|out| out.write_all(b"{}")).unwrap();
    wal.append(6, &append(6));
    wal.commit(true).unwrap();
    wal.snapshot(|out| out.write_all(b"{}")).unwrap();
    let closed = dir.read(&names::segment(6)).unwrap();
    let Decoded::Frame { frame_len, .. } = frame::decode(&closed[names::SEGMENT_HEADER_LEN..])
    else {
        panic!("record 6 is intact")
    };
    assert_eq!(
        closed.len(),
        names::SEGMENT_HEADER_LEN + frame_len,
        "a closed segment ends at its last record"
    );
}

/// Rewrites the frame at `offset` of `segment` with an unknown command
/// encoding and a checksum that holds: what a newer version might write.
fn make_undecodable(dir: &MemDir, segment: &str, offset: usize) {
    let bytes = dir.read(segment).unwrap();
    let Decoded::Frame { frame_len, .. } = frame::decode(&bytes[offset..]) else {
        panic!("a frame at {offset}")
    };
    let mut frame = bytes[offset..offset + frame_len].to_vec();
    frame[frame::FRAME_HEADER_LEN + 16] = 99; // the encoding byte
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&frame[0..4]),
        &frame[frame::FRAME_HEADER_LEN..],
    );
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    dir.corrupt(segment, offset, &frame);
}

#[test]
fn a_last_record_that_checks_but_does_not_decode_is_refused_not_cut() {
    let dir = MemDir::default();
    write(&dir, 1, 3, 0);
    let segment = names::segment(0);
    let bytes = dir.read(&segment).unwrap();
    let mut offset = names::SEGMENT_HEADER_LEN;
    for _ in 0..2 {
        let Decoded::Frame { frame_len, .. } = frame::decode(&bytes[offset..]) else {
            panic!("intact")
        };
        offset += frame_len;
    }
    make_undecodable(&dir, &segment, offset);
    let error = try_open(&dir).err().expect("refused");
    assert!(
        error.to_string().contains("record 2 does not decode"),
        "{error}"
    );
    assert_eq!(
        dir.read(&segment).unwrap().len(),
        bytes.len(),
        "nothing cut"
    );
}

#[test]
fn segments_of_the_previous_version_still_read() {
    let dir = MemDir::default();
    let synced = write(&dir, 2, 3, 0);
    dir.corrupt(&names::segment(0), 0, b"MAMAWAL1");
    let (_, recovered) = open(&dir);
    check_prefix(&recovered, synced);
    assert!(recovered.warnings.is_empty(), "{:?}", recovered.warnings);
}

#[test]
fn a_zeroed_record_between_intact_ones_is_damage_not_the_end() {
    let dir = MemDir::default();
    write(&dir, 1, 4, 0);
    let segment = names::segment(0);
    let bytes = dir.read(&segment).unwrap();
    let Decoded::Frame { frame_len, .. } = frame::decode(&bytes[names::SEGMENT_HEADER_LEN..])
    else {
        panic!("the first record is intact")
    };
    let second = names::SEGMENT_HEADER_LEN + frame_len;
    dir.corrupt(&segment, second, &[0; 20]);
    let error = try_open(&dir).err().expect("refused");
    assert!(
        error.to_string().contains("a valid record follows"),
        "{error}"
    );
}

#[test]
fn a_reserved_segment_whose_header_never_reached_the_disk_is_removed() {
    let dir = MemDir::default();
    write(&dir, 1, 2, 0);
    // Recovery starts segment 2; the crash comes before its header is durable.
    let (wal, _) = open(&dir);
    drop(wal);
    dir.corrupt(&names::segment(2), 0, &[0; names::SEGMENT_HEADER_LEN]);
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.next_lsn, 2);
    assert!(
        recovered.warnings[0].contains("header was torn"),
        "{:?}",
        recovered.warnings
    );
}

#[test]
fn an_outsized_batch_does_not_pin_its_buffer() {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    let big = Command::Append {
        log: LogName::new("orders").unwrap(),
        messages: vec![NewMessage::new(vec![7u8; 1 << 20]); 8],
    };
    wal.append(0, &big);
    wal.commit(true).unwrap();
    assert!(wal.buffer.capacity() <= BUFFER_KEPT_BYTES);
    let (_, recovered) = open(&dir);
    assert_eq!(recovered.records.len(), 1, "the batch itself was written");
}

fn trailing_zeros(bytes: &[u8]) -> usize {
    bytes.iter().rev().take_while(|&&byte| byte == 0).count()
}

#[test]
fn a_large_torn_batch_is_truncated_and_what_came_before_kept() {
    let dir = MemDir::default();
    let (mut wal, _) = open(&dir);
    let batch = Command::Append {
        log: LogName::new("orders").unwrap(),
        messages: (0..2_000)
            .map(|n| NewMessage::new(vec![n as u8; 100]))
            .collect(),
    };
    wal.append(0, &append(0));
    wal.commit(true).unwrap();
    wal.append(1, &batch);
    wal.commit(false).unwrap();
    drop(wal);
    dir.crash(Tear::Garbage {
        keep: 150_000,
        garbage: 40,
    });
    let (_, recovered) = open(&dir);
    assert_eq!(
        recovered.next_lsn, 1,
        "the torn batch is cut, record 0 kept"
    );
    assert!(recovered.warnings[0].contains("truncated a torn tail"));
}

#[test]
fn only_candidates_numbered_like_a_later_record_count_as_one() {
    let mut bytes = vec![0xEE; 3];
    let at = bytes.len();
    frame::encode(5, 1, &append(5), &mut bytes);
    bytes.extend_from_slice(&[0; 64]);
    assert_eq!(
        later_valid_frame(&bytes, 0, 4),
        Some(at),
        "record 5 may follow damage at 4"
    );
    assert_eq!(
        later_valid_frame(&bytes, 0, 6),
        None,
        "record 5 cannot follow damage at 6"
    );
}
