//! Starting the owner: recover the machine from snapshot + WAL tail, cancel
//! the waiters of the previous run, and spawn the owner thread.

use std::fmt;
use std::fs::File;
use std::sync::Arc;

use mamamia_machine::{Command, Limits, Machine};
use tokio::sync::mpsc;

use super::clock::Clock;
use super::run::{self, Owner, Settings};
use super::{OwnerHandle, REQUEST_QUEUE_LEN};
use crate::log;
use crate::metrics::Metrics;
use crate::wal::{FsDir, RecoveryError, Wal};

#[derive(Debug)]
pub enum StartError {
    Recovery(RecoveryError),
    Io(std::io::Error),
    /// Another process holds the data directory.
    Locked(String),
    /// A snapshot that passed its checksum does not decode.
    Snapshot(String),
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
            StartError::Snapshot(reason) => write!(f, "the snapshot does not decode: {reason}"),
            StartError::Shards { recorded, asked } => write!(
                f,
                "the data directory was created with --owners {recorded}, not {asked}: \
                 logs are placed by owner count, so it cannot change"
            ),
        }
    }
}

/// Exit code when the owner thread panicked.
const EXIT_OWNER_PANICKED: i32 = 70;

/// Recovers state and starts the owner thread. Returns once the server may
/// take requests.
pub fn start(
    settings: Settings,
    limits: Limits,
    metrics: Arc<Metrics>,
) -> Result<(OwnerHandle, std::thread::JoinHandle<()>), StartError> {
    let (machine, wal, lock) = if settings.in_memory {
        (Machine::new(limits), None, None)
    } else {
        let (machine, wal, lock) = recover(&settings, limits)?;
        (machine, Some(wal), Some(lock))
    };
    let mut owner = Owner::new(machine, wal, settings, metrics, Clock::new(0));
    owner.restart()?;
    let (sender, receiver) = mpsc::channel(REQUEST_QUEUE_LEN);
    let thread = std::thread::Builder::new()
        .name("mamamia-owner".to_owned())
        .spawn(move || {
            let _lock = lock; // held for the owner's whole life
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run::run(owner, receiver)
            }));
            if ran.is_err() {
                // A bug. Serving on without the machine helps nobody; the
                // WAL holds every acknowledged command, so a restart recovers.
                log!(Error, "the owner thread panicked; exiting");
                std::process::exit(EXIT_OWNER_PANICKED);
            }
        })
        .map_err(StartError::Io)?;
    let handle = OwnerHandle {
        sender,
        next_waiter: Default::default(),
    };
    Ok((handle, thread))
}

fn recover(settings: &Settings, limits: Limits) -> Result<(Machine, Wal, File), StartError> {
    let dir = FsDir::open(&settings.data_dir).map_err(StartError::Io)?;
    let lock = lock_dir(settings)?;
    let (wal, recovered) = Wal::open(Box::new(dir)).map_err(StartError::Recovery)?;
    for warning in &recovered.warnings {
        log!(Warn, "recovery: {warning}");
    }
    let mut machine = match &recovered.snapshot {
        Some((_, state)) => super::state::decode(state).map_err(StartError::Snapshot)?,
        None => Machine::new(limits.clone()),
    };
    if machine.limits() != &limits {
        log!(
            Warn,
            "limits are fixed when the data directory is created; keeping {:?}",
            machine.limits()
        );
    }
    let mut refused = 0;
    for record in &recovered.records {
        if machine
            .handle(record.now_ms, record.command.clone())
            .is_err()
        {
            refused += 1;
        }
    }
    if refused > 0 {
        log!(
            Warn,
            "recovery: {refused} logged commands were refused on replay"
        );
    }
    log!(
        Info,
        "recovered {} records after snapshot {:?}; next record {}",
        recovered.records.len(),
        recovered.snapshot.as_ref().map(|(lsn, _)| *lsn),
        recovered.next_lsn
    );
    Ok((machine, wal, lock))
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
