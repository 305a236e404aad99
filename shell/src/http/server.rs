//! Accepting connections and the server's threads: a connection limit, a
//! header read timeout, and graceful shutdown.
//!
//! The server runs `--threads` threads, each a single-threaded runtime that
//! serves a share of the connections and runs the owners placed on it
//! (owner K on thread K % threads). The main thread is thread 0 and also
//! accepts; it hands connections to the threads in turn. A request whose
//! log's owner runs on the thread serving its connection reaches it without
//! waking another thread; other threads parse and render requests in
//! parallel, which large batches need.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::App;
use crate::log;
use crate::owner::OwnerTask;

/// Most threads: each costs a runtime and a share of connections.
pub const THREADS_MAX: usize = 256;

pub struct ServerSettings {
    /// Threads serving connections, at least one.
    pub threads: usize,
    pub connections_max: usize,
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// An accepted connection on its way to the thread that serves it.
struct Handoff {
    stream: std::net::TcpStream,
    /// Held while the connection lives: the connection limit.
    permit: OwnedSemaphorePermit,
    /// Lets shutdown wait for the connection, whichever thread serves it.
    watcher: Watcher,
}

/// Serves one connection on the current thread's runtime.
#[derive(Clone)]
struct Connections {
    app: Arc<App>,
    builder: http1::Builder,
}

impl Connections {
    fn spawn(&self, handoff: Handoff) {
        let Handoff {
            stream,
            permit,
            watcher,
        } = handoff;
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(error) => {
                log!(Warn, "cannot serve an accepted connection: {error}");
                return;
            }
        };
        let app = self.app.clone();
        let service = service_fn(move |request| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(request).await) }
        });
        let connection =
            watcher.watch(self.builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await; // a client's broken connection is its own business
            drop(permit);
        });
    }
}

/// Threads 1 and up; thread 0 is the caller's.
struct OtherThreads {
    inboxes: Vec<mpsc::UnboundedSender<Handoff>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl OtherThreads {
    /// Starts a thread for each list of owners.
    fn spawn(owners: Vec<Vec<OwnerTask>>, connections: &Connections) -> std::io::Result<Self> {
        let mut others = OtherThreads {
            inboxes: Vec::with_capacity(owners.len()),
            threads: Vec::with_capacity(owners.len()),
        };
        // Every runtime first: failing then leaves no thread behind.
        let runtimes = (0..owners.len())
            .map(|_| thread_runtime())
            .collect::<std::io::Result<Vec<_>>>()?;
        for (position, (owners, runtime)) in owners.into_iter().zip(runtimes).enumerate() {
            let (inbox, mut handoffs) = mpsc::unbounded_channel::<Handoff>();
            let connections = connections.clone();
            let thread = std::thread::Builder::new()
                .name(format!("mamamia-{}", position + 1))
                .spawn(move || {
                    runtime.block_on(async move {
                        let owners = run_owners(owners);
                        while let Some(handoff) = handoffs.recv().await {
                            connections.spawn(handoff);
                        }
                        owners.await;
                    });
                })?;
            others.inboxes.push(inbox);
            others.threads.push(thread);
        }
        Ok(others)
    }

    /// Waits for every thread to finish (after shutdown).
    async fn join(self) {
        drop(self.inboxes);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// The runtime of one server thread.
pub fn thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs owners on the current thread; resolves when all have stopped.
fn run_owners(owners: Vec<OwnerTask>) -> impl Future<Output = ()> {
    let running: Vec<_> = owners.into_iter().map(OwnerTask::spawn).collect();
    async move {
        for owner in running {
            owner.await;
        }
    }
}

/// Deals owner K to thread K % threads.
fn place(owners: Vec<OwnerTask>, threads: usize) -> Vec<Vec<OwnerTask>> {
    let mut placed: Vec<Vec<OwnerTask>> = (0..threads).map(|_| Vec::new()).collect();
    for (shard, owner) in owners.into_iter().enumerate() {
        placed[shard % threads].push(owner);
    }
    placed
}

/// Runs every owner and serves until `shutdown` resolves; then stops
/// accepting, lets the owners answer their waiters and flush, and gives
/// open requests the grace period. Must run on a runtime from
/// [`thread_runtime`]: it is thread 0.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    owners: Vec<OwnerTask>,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    let connections = Connections {
        app: app.clone(),
        builder,
    };
    let mut placed = place(owners, settings.threads.max(1)).into_iter();
    let own_owners = run_owners(placed.next().expect("at least one thread"));
    let others = OtherThreads::spawn(placed.collect(), &connections)?;
    let permits = Arc::new(Semaphore::new(settings.connections_max));
    let graceful = GracefulShutdown::new();
    let mut turn = 0;
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    log!(Warn, "accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handoff = match stream.into_std() {
            Ok(stream) => Handoff {
                stream,
                permit,
                watcher: graceful.watcher(),
            },
            Err(error) => {
                log!(Warn, "cannot hand over an accepted connection: {error}");
                continue;
            }
        };
        // Turn 0 is this thread's.
        turn = (turn + 1) % (others.inboxes.len() + 1);
        match turn.checked_sub(1) {
            None => connections.spawn(handoff),
            Some(other) => {
                if let Err(unsent) = others.inboxes[other].send(handoff) {
                    connections.spawn(unsent.0); // that thread is gone; serve here
                }
            }
        }
    }
    drop(listener);
    log!(Info, "shutting down: no new connections");
    app.shutting_down.store(true, Ordering::Relaxed);
    app.owners.shutdown().await;
    if tokio::time::timeout(settings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        log!(
            Warn,
            "some connections were still open after the grace period"
        );
    }
    own_owners.await;
    others.join().await;
    Ok(())
}
