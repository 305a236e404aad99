//! Starting the owner: recover the machine from snapshot + WAL tail, cancel
//! the waiters of the previous run, and hand the owner to its server thread.

use std::fmt;
use std::fs::File;
use std::sync::Arc;

use mamamia_machine::{Command, Limits, Machine};
use tokio::sync::mpsc;

use super::clock::Clock;
use super::run::{self, Owner, Settings};
use super::{OwnerHandle, Request, REQUEST_QUEUE_LEN};
use crate::log;
use crate::metrics::Metrics;
use crate::wal::{FsDir, Record, RecoveryError, Replay, Wal};

#[derive(Debug)]
pub enum StartError {
    Recovery(RecoveryError),
    Io(std::io::Error),
    /// Another process holds the data directory.
    Locked(String),
    /// The data directory was made with another `--owners` count.
    Shards {
        recorded: String,
        asked: usize,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Recovery(error) => error.fmt(f),
            StartError::Io(error) => write!(f, "cannot open the data directory: {error}"),
            StartError::Locked(path) => write!(
                f,
                "another mamamia process uses the data directory {path}; refusing to share it"
            ),
            StartError::Shards { recorded, asked } => write!(
                f,
                "the data directory was created with --owners {recorded}, not {asked}: \
                 logs are placed by owner count, so it cannot change"
            ),
        }
    }
}

/// Exit code when the owner panicked.
const EXIT_OWNER_PANICKED: i32 = 70;

/// A recovered owner, ready to run on its server thread's runtime.
pub struct OwnerTask {
    owner: Owner,
    receiver: mpsc::Receiver<Request>,
    /// The data directory's lock, held for the owner's whole life.
    lock: Option<File>,
}

impl OwnerTask {
    /// Runs the owner on the current runtime; the returned future resolves
    /// when it has stopped (after a shutdown request, durably). A panic
    /// exits the process at once, whether or not anyone awaits that future.
    pub fn spawn(self) -> impl std::future::Future<Output = ()> {
        let OwnerTask {
            owner,
            receiver,
            lock,
        } = self;
        let running = tokio::spawn(async move {
            let _lock = lock;
            run::serve(owner, receiver).await;
        });
        let (stopped, has_stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            if let Err(error) = running.await {
                if error.is_panic() {
                    // A bug. Serving on without the machine helps nobody; the
                    // WAL holds every acknowledged command, so a restart recovers.
                    log!(Error, "an owner panicked; exiting");
                    std::process::exit(EXIT_OWNER_PANICKED);
                }
            }
            let _ = stopped.send(());
        });
        async move {
            let _ = has_stopped.await;
        }
    }
}

/// Recovers state and prepares the owner. Returns once the server may take
/// requests (which queue until the owner runs).
pub fn start(
    settings: Settings,
    limits: Limits,
    metrics: Arc<Metrics>,
) -> Result<(OwnerHandle, OwnerTask), StartError> {
    let (machine, wal, lock) = if settings.in_memory {
        (Machine::new(limits), None, None)
    } else {
        let (machine, wal, lock) = recover(&settings, limits)?;
        (machine, Some(wal), Some(lock))
    };
    let mut owner = Owner::new(machine, wal, settings, metrics, Clock::new(0));
    owner.restart()?;
    let (sender, receiver) = mpsc::channel(REQUEST_QUEUE_LEN);
    let handle = OwnerHandle {
        sender,
        next_waiter: Default::default(),
    };
    let task = OwnerTask {
        owner,
        receiver,
        lock,
    };
    Ok((handle, task))
}

/// Rebuilds the machine as recovery reads the WAL: from the snapshot's
/// state (or a new machine), then each record in order.
struct Rebuild {
    machine: Machine,
    /// Logged commands the machine refused on replay: never expected, since
    /// only accepted commands are logged; counted to warn about it.
    refused: u64,
}

impl Replay for Rebuild {
    fn snapshot(&mut self, _lsn: u64, state: &[u8]) -> Result<(), String> {
        self.machine = super::state::decode(state)?;
        Ok(())
    }

    fn record(&mut self, record: Record) {
        if self.machine.handle(record.now_ms, record.command).is_err() {
            self.refused += 1;
        }
        // Events of the past run (waiters served, leases expired) went to
        // clients that are gone.
        while self.machine.poll_event().is_some() {}
    }
}

fn recover(settings: &Settings, limits: Limits) -> Result<(Machine, Wal, File), StartError> {
    let dir = FsDir::open(&settings.data_dir).map_err(StartError::Io)?;
    let lock = lock_dir(settings)?;
    let started = std::time::Instant::now();
    let mut rebuild = Rebuild {
        machine: Machine::new(limits.clone()),
        refused: 0,
    };
    let (wal, recovered) = Wal::open(Box::new(dir), &mut rebuild).map_err(StartError::Recovery)?;
    for warning in &recovered.warnings {
        log!(Warn, "recovery: {warning}");
    }
    if rebuild.machine.limits() != &limits {
        log!(
            Warn,
            "limits are fixed when the data directory is created; keeping {:?}",
            rebuild.machine.limits()
        );
    }
    if rebuild.refused > 0 {
        log!(
            Warn,
            "recovery: {} logged commands were refused on replay",
            rebuild.refused
        );
    }
    log!(
        Info,
        "recovered {} records after snapshot {:?} in {:?}; next record {}",
        recovered.replayed,
        recovered.snapshot_lsn,
        started.elapsed(),
        recovered.next_lsn
    );
    Ok((rebuild.machine, wal, lock))
}

/// Takes an exclusive advisory lock on `DATA_DIR/LOCK`, released when the
/// process exits (also on SIGKILL), so two servers never share a WAL.
fn lock_dir(settings: &Settings) -> Result<File, StartError> {
    use std::os::fd::AsRawFd;
    let path = settings.data_dir.join("LOCK");
    let file = File::create(&path).map_err(StartError::Io)?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        return Err(StartError::Locked(settings.data_dir.display().to_string()));
    }
    Ok(file)
}

impl Owner {
    /// After recovery: no client of the previous run still waits, so their
    /// waiters go (logged like any command); a fresh directory gets a
    /// snapshot at once, which records the machine's limits.
    fn restart(&mut self) -> Result<(), StartError> {
        self.clock = Clock::new(self.machine.now_ms());
        let now_ms = self.clock.now_ms();
        let command = Command::CancelAllWaiters;
        if let Ok(reply) = self.machine.handle(now_ms, command.clone()) {
            log!(Debug, "restart: {reply:?}");
        }
        if let Some(wal) = &mut self.wal {
            wal.append(now_ms, &command);
            wal.commit(true).map_err(StartError::Io)?;
            if wal.next_lsn() == 1 {
                self.snapshot().map_err(StartError::Io)?;
            }
        }
        Ok(())
    }
}
