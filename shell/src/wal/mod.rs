//! The write-ahead log: every state-changing command, with its logical
//! time, in CRC-framed segment files, plus snapshots that bound recovery.
//!
//! Byte formats are documented in `frame` (records) and `names` (segment
//! and snapshot files). Group commit is the caller's: it [`Wal::append`]s
//! every command of a batch, then one [`Wal::commit`] writes them with a
//! single write and (optionally) one fsync before any reply goes out.

mod binary_codec;
mod dir;
mod frame;
mod mapped;
mod names;
mod recovery;
mod snapshot;
#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::sync::Arc;

pub use dir::{Dir, Fill, FsDir, MemDir, NewFile, Tear};
pub use frame::Record;
pub use recovery::{Collect, Recovered, RecoveryError, Replay};
pub use snapshot::SnapshotJob;

use dir::AppendFile;
use mamamia_machine::Command;

/// A segment is closed and a new one started past this many bytes, so old
/// records can be dropped a file at a time once a snapshot covers them.
/// Each segment reserves this much when created (see [`Dir::create`]):
/// fsyncs then write records only, not a growing file length as well,
/// which measured about a quarter faster on this project's disks.
pub const SEGMENT_BYTES_TARGET: u64 = 64 << 20;

/// The record buffer keeps at most this much capacity between writes: as
/// much as a busy batch needs, never what one outsized batch grew it to.
const BUFFER_KEPT_BYTES: usize = 4 << 20;

/// The open log: appends go to the newest segment.
pub struct Wal {
    dir: Arc<dyn Dir>,
    file: Box<dyn AppendFile>,
    segment_bytes: u64,
    /// First lsn of every segment on disk, ascending; the last is open.
    segments: Vec<u64>,
    /// Snapshots on disk, ascending.
    snapshots: Vec<u64>,
    next_lsn: u64,
    /// Frames appended but not yet written.
    buffer: Vec<u8>,
    /// Bytes written since the last snapshot.
    bytes_since_snapshot: u64,
    /// Bytes written since the server started.
    bytes_total: u64,
}

/// A position in the unwritten buffer, see [`Wal::mark`].
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    buffer_len: usize,
    next_lsn: u64,
}

impl Wal {
    /// Recovers the directory into `replay` and opens a fresh segment for
    /// new records.
    pub fn open(
        dir: Box<dyn Dir>,
        replay: &mut dyn Replay,
    ) -> Result<(Wal, Recovered), RecoveryError> {
        let dir: Arc<dyn Dir> = Arc::from(dir);
        let recovered = recovery::recover(dir.as_ref(), replay)?;
        let mut segments = recovered.segments.clone();
        let next_lsn = recovered.next_lsn;
        // A segment that would share the new one's name holds no records
        // (its first record would be `next_lsn`): replacing it loses nothing.
        segments.retain(|&first_lsn| first_lsn != next_lsn);
        segments.push(next_lsn);
        let file = start_segment(dir.as_ref(), next_lsn)?;
        let wal = Wal {
            dir,
            file,
            segment_bytes: names::SEGMENT_HEADER_LEN as u64,
            segments,
            snapshots: recovered.snapshots.clone(),
            next_lsn,
            buffer: Vec::new(),
            bytes_since_snapshot: 0,
            bytes_total: 0,
        };
        Ok((wal, recovered))
    }

    /// Buffers one record; it is durable after the next [`Wal::commit`].
    pub fn append(&mut self, now_ms: u64, command: &Command) -> u64 {
        let lsn = self.next_lsn;
        frame::encode(lsn, now_ms, command, &mut self.buffer);
        self.next_lsn += 1;
        lsn
    }

    /// The position to [`Wal::rollback`] to, to take back later appends.
    pub fn mark(&self) -> Mark {
        Mark {
            buffer_len: self.buffer.len(),
            next_lsn: self.next_lsn,
        }
    }

    /// Forgets the records appended since `mark` (the machine refused them).
    pub fn rollback(&mut self, mark: Mark) {
        debug_assert!(
            mark.buffer_len <= self.buffer.len(),
            "the mark is of this batch"
        );
        self.buffer.truncate(mark.buffer_len);
        self.next_lsn = mark.next_lsn;
    }

    pub fn has_buffered(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Writes every buffered record in one write, then fsyncs if `sync`.
    /// Returns the bytes written.
    pub fn commit(&mut self, sync: bool) -> io::Result<u64> {
        let bytes = self.write()?;
        if sync {
            self.sync()?;
        }
        Ok(bytes)
    }

    /// Writes every buffered record in one write, without an fsync.
    /// Returns the bytes written.
    fn write(&mut self) -> io::Result<u64> {
        let bytes = self.buffer.len() as u64;
        if bytes > 0 {
            self.file.append(&self.buffer)?;
            self.buffer.clear();
            if self.buffer.capacity() > BUFFER_KEPT_BYTES {
                // One huge batch must not pin its buffer for good.
                self.buffer.shrink_to(BUFFER_KEPT_BYTES);
            }
            self.segment_bytes += bytes;
            self.bytes_since_snapshot += bytes;
            self.bytes_total += bytes;
        }
        Ok(bytes)
    }

    /// Fsyncs whatever was written, here and now.
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync()?;
        if self.segment_bytes >= SEGMENT_BYTES_TARGET {
            self.rotate()?;
        }
        Ok(())
    }

    /// Bytes of records written since the server started.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total
    }

    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    pub fn bytes_since_snapshot(&self) -> u64 {
        self.bytes_since_snapshot
    }

    /// Stores the state `encode` writes (the machine before record
    /// `next_lsn`), then drops what recovery no longer needs:
    /// [`Wal::begin_snapshot`], [`SnapshotJob::write`] and
    /// [`Wal::finish_snapshot`] in one go. Returns the state's length.
    ///
    /// The state must cover every record appended so far.
    pub fn snapshot(
        &mut self,
        encode: impl FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64> {
        let job = self.begin_snapshot()?;
        let state_len = job.write(encode)?;
        self.finish_snapshot(job.lsn())?;
        Ok(state_len)
    }

    /// Starts a snapshot of the state before record `next_lsn`: closes the
    /// open segment, so everything the snapshot covers is in closed files.
    /// The returned job may write the snapshot on another thread while new
    /// records go to the new segment.
    pub fn begin_snapshot(&mut self) -> io::Result<SnapshotJob> {
        self.write()?;
        self.rotate()?;
        self.bytes_since_snapshot = 0;
        Ok(SnapshotJob::new(self.dir.clone(), self.next_lsn))
    }

    /// Records a written snapshot and deletes the snapshots and segments
    /// recovery no longer needs. One older snapshot and its segments are
    /// kept as a fallback should the newest be unreadable.
    pub fn finish_snapshot(&mut self, lsn: u64) -> io::Result<()> {
        if self.snapshots.last().is_none_or(|&last| last < lsn) {
            self.snapshots.push(lsn);
        }
        self.drop_unneeded()
    }

    /// Closes the open segment and starts the next one.
    fn rotate(&mut self) -> io::Result<()> {
        if self.segments.last() == Some(&self.next_lsn) {
            return Ok(()); // the open segment is still empty
        }
        self.file.sync()?;
        self.file.trim()?;
        self.file = start_segment(self.dir.as_ref(), self.next_lsn)?;
        self.segments.push(self.next_lsn);
        self.segment_bytes = names::SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    fn drop_unneeded(&mut self) -> io::Result<()> {
        while self.snapshots.len() > 2 {
            let lsn = self.snapshots.remove(0);
            self.dir.remove(&names::snapshot(lsn))?;
        }
        let Some(&keep_from) = self.snapshots.first() else {
            return Ok(());
        };
        // Segment i holds records up to segment i+1's first lsn.
        while self.segments.len() > 1 && self.segments[1] <= keep_from {
            let first_lsn = self.segments.remove(0);
            self.dir.remove(&names::segment(first_lsn))?;
        }
        self.dir.sync_dir()
    }
}

fn start_segment(dir: &dyn Dir, first_lsn: u64) -> io::Result<Box<dyn AppendFile>> {
    let mut file = dir.create(&names::segment(first_lsn), SEGMENT_BYTES_TARGET)?;
    file.append(&names::segment_header(first_lsn))?;
    file.sync()?;
    Ok(file)
}
