//! The owner's loop: wait for requests or the next deadline, apply a batch,
//! make it durable, answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mamamia_machine::{
    Acquire, Acquired, Command, Error, Event, Machine, Reply, SettleStatus, Wait, WaiterId,
};
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::snapshot::SnapshotDone;
use super::{Deferred, Request};
use crate::config::FsyncPolicy;
use crate::log;
use crate::metrics::Metrics;
use crate::wal::Wal;

/// Most requests applied between two commits. Bounds the latency one batch
/// adds to the replies waiting on it; at this size a batch already
/// amortizes its fsync over plenty of requests.
pub const BATCH_REQUESTS_MAX: usize = 4_096;

/// Exit code when the WAL cannot be written: the state on disk is unknown,
/// so continuing could acknowledge writes that are lost (fsyncgate).
const EXIT_WAL_FAILED: i32 = 70;

type ReplySender = oneshot::Sender<Result<Reply, Error>>;

/// Stops the process: after a failed write or fsync the state on disk is
/// unknown, so no later write may be acknowledged.
pub(super) fn wal_failed(error: &std::io::Error) -> ! {
    log!(
        Error,
        "cannot write the WAL ({error}); stopping so that no lost write is acknowledged"
    );
    std::process::exit(EXIT_WAL_FAILED);
}

/// What the owner needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub in_memory: bool,
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub snapshot_every_bytes: u64,
    pub retention_interval_ms: u64,
}

pub struct Owner {
    pub(super) machine: Machine,
    pub(super) wal: Option<Wal>,
    pub(super) clock: Clock,
    pub(super) settings: Settings,
    pub(super) metrics: Arc<Metrics>,
    /// Parked long polls, answered when the machine serves or times them out.
    parked: HashMap<WaiterId, ReplySender>,
    /// Answers held until the batch is durable.
    outbox: Vec<(ReplySender, Result<Reply, Error>)>,
    /// Read answers held likewise.
    deferred: Vec<Deferred>,
    last_sync: Instant,
    /// Written but not fsynced (only with `--fsync batch-ms`).
    unsynced: bool,
    last_retention: Instant,
    /// Size of the last snapshot, see [`Owner::maybe_snapshot`].
    pub(super) last_snapshot_bytes: u64,
}

impl Owner {
    pub(super) fn new(
        machine: Machine,
        wal: Option<Wal>,
        settings: Settings,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        Owner {
            machine,
            wal,
            clock,
            settings,
            metrics,
            parked: HashMap::new(),
            outbox: Vec::new(),
            deferred: Vec::new(),
            last_sync: Instant::now(),
            unsynced: false,
            last_retention: Instant::now(),
            last_snapshot_bytes: 0,
        }
    }

    /// When the loop must wake up even without requests.
    fn next_wake(&self) -> Instant {
        let retention =
            self.last_retention + Duration::from_millis(self.settings.retention_interval_ms);
        let mut wake = retention;
        if let Some(deadline_ms) = self.machine.next_deadline_ms() {
            wake = wake.min(self.clock.instant_at(deadline_ms));
        }
        if let (true, FsyncPolicy::BatchMs(ms)) = (self.unsynced, self.settings.fsync) {
            wake = wake.min(self.last_sync + Duration::from_millis(ms));
        }
        wake
    }

    /// Applies one batch of requests; returns the shutdown request, if any.
    fn step(&mut self, batch: &mut Vec<Request>) -> Option<oneshot::Sender<()>> {
        let now_ms = self.clock.now_ms();
        self.machine.handle_timeout(now_ms);
        let mut shutdown = None;
        for request in batch.drain(..) {
            match request {
                Request::Command { command, reply } => self.apply(now_ms, command, reply),
                Request::Read(read) => self.deferred.push(read(&self.machine)),
                Request::CancelWaiter(waiter) => {
                    if self.parked.remove(&waiter).is_some() {
                        self.metrics.waiters_cancelled.fetch_add(1, Relaxed);
                        self.apply_internal(now_ms, Command::CancelWaiter { waiter });
                    }
                }
                Request::Shutdown(done) => {
                    // Requests queued behind it are dropped: their senders
                    // see the owner gone and answer 503.
                    shutdown = Some(done);
                    break;
                }
            }
        }
        if self.last_retention.elapsed()
            >= Duration::from_millis(self.settings.retention_interval_ms)
        {
            self.last_retention = Instant::now();
            self.apply_internal(now_ms, Command::ApplyRetention);
        }
        let leased_to_waiters = self.drain_events();
        if leased_to_waiters && self.wal.as_ref().is_some_and(|wal| !wal.has_buffered()) {
            // Timers alone leased messages to parked waiters (an expiry or
            // a backoff end freed them). Log the time they did so before
            // the leases go out: a restart then reaches that time again,
            // whatever the wall clock says, rather than cancel those
            // waiters earlier and hand the same tokens to someone else.
            self.apply_internal(now_ms, Command::Tick);
        }
        self.make_durable(false);
        for (sender, reply) in self.outbox.drain(..) {
            let _ = sender.send(reply); // the client may have left; nothing to undo
        }
        for answer in self.deferred.drain(..) {
            answer();
        }
        shutdown
    }

    /// Applies a client's command, logging it if the machine accepted it.
    fn apply(&mut self, now_ms: u64, command: Command, reply: ReplySender) {
        let waiter = match &command {
            Command::Acquire(Acquire {
                wait: Some(Wait { waiter, .. }),
                ..
            }) => Some(*waiter),
            _ => None,
        };
        let result = self.handle_logged(now_ms, command);
        match &result {
            Ok(Reply::Appended(appended)) => {
                self.metrics
                    .appended_messages
                    .fetch_add(appended.count, Relaxed);
            }
            Ok(Reply::Acquired(acquired)) => {
                self.metrics
                    .leases_granted
                    .fetch_add(acquired.leases.len() as u64, Relaxed);
                if acquired.parked {
                    let waiter = waiter.expect("only an acquire with a wait parks");
                    self.parked.insert(waiter, reply);
                    return;
                }
            }
            Ok(Reply::Settled { results }) => {
                for result in results {
                    self.metrics.count_settle(&result.status);
                }
            }
            _ => {}
        }
        self.outbox.push((reply, result));
    }

    /// A command of the server's own (cancel, retention), logged if it did anything.
    fn apply_internal(&mut self, now_ms: u64, command: Command) {
        let result = self.handle_logged(now_ms, command);
        if let Ok(Reply::RetentionApplied { dropped }) = result {
            if dropped > 0 {
                log!(Debug, "retention dropped {dropped} messages");
            }
        }
    }

    /// Hands a command to the machine; an accepted one goes to the WAL
    /// buffer. The record is encoded first and taken back on refusal, so
    /// the command need not be cloned.
    fn handle_logged(&mut self, now_ms: u64, command: Command) -> Result<Reply, Error> {
        let mark = self.wal.as_mut().map(|wal| {
            let mark = wal.mark();
            wal.append(now_ms, &command);
            mark
        });
        let result = self.machine.handle(now_ms, command);
        let unchanged = !result.as_ref().is_ok_and(Reply::changed_state);
        if let (true, Some(wal), Some(mark)) = (unchanged, self.wal.as_mut(), mark) {
            wal.rollback(mark);
        }
        result
    }

    /// Answers what the machine's events settle; true if any parked waiter
    /// was leased messages.
    fn drain_events(&mut self) -> bool {
        let mut leased_to_waiters = false;
        while let Some(event) = self.machine.poll_event() {
            match event {
                Event::WaiterServed { waiter, leases } => {
                    leased_to_waiters |= !leases.is_empty();
                    self.metrics
                        .leases_granted
                        .fetch_add(leases.len() as u64, Relaxed);
                    self.answer_waiter(waiter, leases);
                }
                Event::WaiterTimedOut { waiter } => self.answer_waiter(waiter, Vec::new()),
                Event::LeaseExpired { status, .. } => {
                    self.metrics.lease_expiries.fetch_add(1, Relaxed);
                    if status == SettleStatus::Dead {
                        self.metrics.expiries_dead.fetch_add(1, Relaxed);
                    }
                }
            }
        }
        leased_to_waiters
    }

    fn answer_waiter(&mut self, waiter: WaiterId, leases: Vec<mamamia_machine::Lease>) {
        if let Some(sender) = self.parked.remove(&waiter) {
            self.outbox
                .push((sender, Ok(Reply::Acquired(Acquired::served(leases)))));
        }
    }

    /// Writes the batch's records and fsyncs per policy (always, if `force`).
    fn make_durable(&mut self, force: bool) {
        let Some(wal) = self.wal.as_mut() else { return };
        let sync = force
            || match self.settings.fsync {
                FsyncPolicy::Always => wal.has_buffered(),
                FsyncPolicy::BatchMs(ms) => {
                    (self.unsynced || wal.has_buffered())
                        && self.last_sync.elapsed() >= Duration::from_millis(ms)
                }
                FsyncPolicy::Never => false,
            };
        let started = Instant::now();
        match wal.commit(sync) {
            Ok(bytes) => {
                self.metrics.wal_bytes.fetch_add(bytes, Relaxed);
                if sync {
                    self.metrics.fsyncs.fetch_add(1, Relaxed);
                    self.metrics.fsync_seconds.observe(started.elapsed());
                    self.last_sync = Instant::now();
                    self.unsynced = false;
                } else if bytes > 0 {
                    self.unsynced = true;
                }
            }
            Err(error) => wal_failed(&error),
        }
    }

    /// Answers every parked waiter with nothing, makes the WAL durable and
    /// snapshots (after any snapshot still being written), so the next
    /// start recovers fast.
    async fn stop(&mut self, pending: Option<SnapshotDone>) {
        if let Some(written) = pending {
            let written = written.await;
            self.finish_snapshot(written);
        }
        let now_ms = self.clock.now_ms();
        self.apply_internal(now_ms, Command::CancelAllWaiters);
        for (_, sender) in self.parked.drain() {
            let _ = sender.send(Ok(Reply::Acquired(Acquired::served(Vec::new()))));
        }
        self.make_durable(true);
        if self
            .wal
            .as_ref()
            .is_some_and(|wal| wal.bytes_since_snapshot() > 0)
        {
            if let Err(error) = self.snapshot() {
                log!(Warn, "final snapshot failed: {error}");
            }
        }
    }
}

/// The owner's loop: runs on its thread until a shutdown request or until
/// every sender is gone.
pub async fn serve(mut owner: Owner, mut receiver: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(BATCH_REQUESTS_MAX);
    // A snapshot being written on its own thread, at most one at a time.
    let mut pending: Option<SnapshotDone> = None;
    loop {
        let wake = owner.next_wake();
        tokio::select! {
            count = receiver.recv_many(&mut batch, BATCH_REQUESTS_MAX) => {
                if count == 0 {
                    owner.stop(pending.take()).await;
                    return;
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
            written = async { pending.as_mut().expect("polled only while pending").await }, if pending.is_some() => {
                pending = None;
                owner.finish_snapshot(written);
            }
        }
        if !batch.is_empty() {
            // Let the connections that became readable meanwhile hand in
            // their requests too: they then share this batch's fsync rather
            // than wait for the next one. A yield costs one non-blocking
            // poll of the sockets.
            tokio::task::yield_now().await;
            while batch.len() < BATCH_REQUESTS_MAX {
                match receiver.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
        }
        if let Some(done) = owner.step(&mut batch) {
            owner.stop(pending.take()).await;
            let _ = done.send(());
            return;
        }
        if pending.is_none() {
            pending = owner.maybe_snapshot();
        }
    }
}
