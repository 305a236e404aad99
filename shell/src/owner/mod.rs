//! The owner: one task that owns the machine and its WAL.
//!
//! Connection tasks send [`Request`]s over a bounded channel and await the
//! answer on a oneshot, so the machine is never locked. The owner drains
//! every request that queued up while it was busy (most of all, while the
//! last fsync ran), applies them in order, writes their WAL records with a
//! single write and fsync, and only then answers: that is group commit,
//! and batching falls out of it without any tuning knob.
//!
//! Each owner runs as a task on a server thread (see `http::server`),
//! beside the connections that thread serves, and fsyncs right there: the
//! thread reads no new requests while the disk works, which is what lets
//! them pile up into the next batch. Handing fsyncs to a thread of their
//! own measured slower on the project's 2-vCPU machine: each fsync then
//! cost two thread wake-ups, more than the overlap it bought.

mod clock;
mod run;
mod shards;
mod snapshot;
mod start;
mod state;

use std::sync::Arc;

use mamamia_machine::{Command, Error, Machine, Reply, WaiterId};
use tokio::sync::{mpsc, oneshot};

pub use run::Settings;
pub use shards::{start_owners, Owners, OWNERS_MAX};
pub use start::{start, OwnerTask, StartError};
pub use state::{decode as decode_state, encode as encode_state};

/// Requests queued for the owner at most; past it, senders wait, which
/// pushes back on clients instead of growing memory.
pub const REQUEST_QUEUE_LEN: usize = 65_536;

/// A read runs on the machine inside the owner and returns the sending of
/// its answer, which the owner runs once the batch is durable: a reader
/// must never see state that a crash could still take back.
pub type ReadFn = Box<dyn FnOnce(&Machine) -> Deferred + Send>;

/// An answer held until the batch it saw is durable.
pub type Deferred = Box<dyn FnOnce() + Send>;

pub enum Request {
    /// A command; answered once its WAL record is durable (per policy).
    /// A long-poll acquire that parks is answered when it is served or
    /// times out.
    Command {
        command: Command,
        reply: oneshot::Sender<Result<Reply, Error>>,
    },
    /// A read of the current state.
    Read(ReadFn),
    /// The client of a parked long poll went away.
    CancelWaiter(WaiterId),
    /// Answer parked waiters, make the WAL durable, snapshot, and stop.
    Shutdown(oneshot::Sender<()>),
}

/// The owner is gone: it is shutting down or has failed.
#[derive(Debug)]
pub struct Unavailable;

/// How connection tasks reach the owner; cheap to clone.
#[derive(Clone)]
pub struct OwnerHandle {
    sender: mpsc::Sender<Request>,
    next_waiter: Arc<std::sync::atomic::AtomicU64>,
}

impl OwnerHandle {
    pub async fn command(&self, command: Command) -> Result<Result<Reply, Error>, Unavailable> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request::Command { command, reply })
            .await
            .map_err(|_| Unavailable)?;
        answer.await.map_err(|_| Unavailable)
    }

    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Machine) -> T + Send + 'static,
    ) -> Result<T, Unavailable> {
        let (reply, answer) = oneshot::channel();
        let read: ReadFn = Box::new(move |machine| {
            let answer = read(machine);
            Box::new(move || {
                let _ = reply.send(answer);
            })
        });
        self.sender
            .send(Request::Read(read))
            .await
            .map_err(|_| Unavailable)?;
        answer.await.map_err(|_| Unavailable)
    }

    /// A waiter id unique within this process; after a restart no waiter is
    /// parked (recovery cancels them all), so ids may start over.
    pub fn new_waiter(&self) -> WaiterId {
        WaiterId(
            self.next_waiter
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Tells the owner a parked client left; never waits (it runs from a
    /// destructor).
    pub fn cancel_waiter(&self, waiter: WaiterId) {
        if let Err(mpsc::error::TrySendError::Full(request)) =
            self.sender.try_send(Request::CancelWaiter(waiter))
        {
            let sender = self.sender.clone();
            tokio::spawn(async move {
                let _ = sender.send(request).await;
            });
        }
    }

    /// Asks the owner to stop; resolves when the WAL is durable.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Request::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}
