//! The fsync thread: runs a shard's fsyncs while its owner goes on applying
//! requests, so the shard thread (which also serves connections) never
//! blocks on the disk.
//!
//! At most one fsync is in flight. Whatever is written while it runs waits
//! for the next one, which starts as soon as it ends and covers everything
//! written by then: group commit, pipelined with the work of the owner.

use std::io;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::wal::SyncJob;

/// The outcome of one fsync.
pub struct Synced {
    /// How many bytes of the WAL are now durable.
    pub result: io::Result<u64>,
    pub took: Duration,
}

pub struct FsyncThread {
    jobs: std_mpsc::Sender<SyncJob>,
    done: mpsc::UnboundedReceiver<Synced>,
    in_flight: bool,
}

impl FsyncThread {
    /// Starts the thread; it ends when this handle is dropped.
    pub fn spawn() -> io::Result<Self> {
        let (jobs, queued) = std_mpsc::channel::<SyncJob>();
        let (finished, done) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("mamamia-fsync".to_owned())
            .spawn(move || {
                for job in queued {
                    let started = Instant::now();
                    let result = job.run();
                    let synced = Synced {
                        result,
                        took: started.elapsed(),
                    };
                    if finished.send(synced).is_err() {
                        return; // the owner is gone
                    }
                }
            })?;
        Ok(FsyncThread {
            jobs,
            done,
            in_flight: false,
        })
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Hands `job` to the thread; fails only if the thread died.
    pub fn start(&mut self, job: SyncJob) -> io::Result<()> {
        debug_assert!(!self.in_flight, "one fsync at a time");
        self.jobs
            .send(job)
            .map_err(|_| io::Error::other("the fsync thread is gone"))?;
        self.in_flight = true;
        Ok(())
    }

    /// The fsync in flight, once it ends; pending forever if none is.
    pub async fn finished(&mut self) -> Synced {
        if !self.in_flight {
            return std::future::pending().await;
        }
        let synced = self.done.recv().await.unwrap_or_else(|| Synced {
            result: Err(io::Error::other("the fsync thread stopped")),
            took: Duration::ZERO,
        });
        self.in_flight = false;
        synced
    }
}
