//! Snapshots: when to take one, and writing it off the owner thread.
//!
//! The owner clones the machine, which is cheap (the clone shares the
//! message blocks, copy on write), and a helper thread serializes the
//! clone straight into the file (the state is never whole in memory) and
//! fsyncs it while the owner goes on with new requests, whose records go
//! to a fresh segment. Only once the file is durable does the WAL delete
//! what it replaces.

use std::io;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::run::Owner;
use crate::log;

/// Resolves when the helper thread has written a snapshot.
pub type SnapshotDone = oneshot::Receiver<io::Result<Written>>;

/// A snapshot the helper thread wrote.
pub struct Written {
    lsn: u64,
    bytes: u64,
    took: Duration,
}

impl Owner {
    /// Starts a snapshot once the WAL written since the last one is over
    /// the configured size and as large as that snapshot: a snapshot costs
    /// time proportional to the state, so tying it to the WAL written keeps
    /// its cost linear in the work done, and recovery still replays at most
    /// about one state's worth of records.
    pub(super) fn maybe_snapshot(&mut self) -> Option<SnapshotDone> {
        let threshold = self
            .settings
            .snapshot_every_bytes
            .max(self.last_snapshot_bytes);
        let wal = self.wal.as_mut()?;
        if wal.bytes_since_snapshot() < threshold {
            return None;
        }
        // Starting a snapshot fsyncs the WAL and creates a segment: after a
        // failure there, what is on disk is unknown (fsyncgate), so stop.
        let job = match wal.begin_snapshot() {
            Ok(job) => job,
            Err(error) => super::run::wal_failed(&error),
        };
        let cloned = Instant::now();
        let machine = self.machine.clone();
        log!(
            Debug,
            "snapshot at record {} cloned in {:?}",
            job.lsn(),
            cloned.elapsed()
        );
        let (done, written) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("mamamia-snapshot".to_owned())
            .spawn(move || {
                let started = Instant::now();
                let written = job
                    .write(|out| super::state::encode(&machine, out))
                    .map(|bytes| Written {
                        lsn: job.lsn(),
                        bytes,
                        took: started.elapsed(),
                    });
                drop(machine);
                let _ = done.send(written);
            });
        match spawned {
            Ok(_) => Some(written),
            Err(error) => {
                log!(Warn, "cannot start the snapshot writer: {error}");
                None
            }
        }
    }

    /// Takes note of a snapshot the helper thread wrote (or failed to).
    pub(super) fn finish_snapshot(
        &mut self,
        written: Result<io::Result<Written>, oneshot::error::RecvError>,
    ) {
        let Some(wal) = self.wal.as_mut() else { return };
        match written {
            Ok(Ok(Written { lsn, bytes, took })) => {
                self.last_snapshot_bytes = bytes;
                match wal.finish_snapshot(lsn) {
                    Ok(()) => log!(
                        Info,
                        "snapshot of {bytes} bytes at record {lsn} written in {took:?}"
                    ),
                    Err(error) => {
                        log!(Warn, "cannot drop files older than snapshot {lsn}: {error}")
                    }
                }
            }
            // Not fatal: the WAL still holds everything; a later one retries.
            Ok(Err(error)) => log!(Warn, "snapshot failed: {error}"),
            Err(_) => log!(Warn, "the snapshot writer stopped without an answer"),
        }
    }

    /// Stores the machine's state right here, on the owner thread (at start
    /// and at shutdown, when nothing waits on the owner).
    pub(super) fn snapshot(&mut self) -> io::Result<()> {
        let Some(wal) = self.wal.as_mut() else {
            return Ok(());
        };
        let started = Instant::now();
        let bytes = wal.snapshot(|out| super::state::encode(&self.machine, out))?;
        self.last_snapshot_bytes = bytes;
        log!(
            Info,
            "snapshot of {bytes} bytes at record {} in {:?}",
            wal.next_lsn(),
            started.elapsed()
        );
        Ok(())
    }
}
