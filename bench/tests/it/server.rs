//! A server for the tests: the `mamamia` binary when one is built in this
//! target directory (`--internal`, as users run it), else the same server
//! started in this process through the shell's library, so `cargo test -p
//! mamamia-bench` passes even before the shell's binary exists (a test
//! cannot build it: cargo holds the target directory's lock meanwhile).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use mamamia_bench::{server, Target};
use mamamia_machine::Limits;
use mamamia_shell::config::FsyncPolicy;
use mamamia_shell::http::{self, App, BodyLimits, ServerSettings};
use mamamia_shell::metrics::Metrics;
use mamamia_shell::owner::{self, Settings};

pub fn target() -> Target {
    match server::find_binary() {
        Some(binary) => Target::Internal {
            binary,
            fsync: "never".into(),
        },
        None => Target::Addr(start_in_process()),
    }
}

/// Starts an in-memory server on a thread of its own; it lives as long as
/// the test process. Returns its `HOST:PORT`.
fn start_in_process() -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = http::thread_runtime().expect("a runtime starts");
        runtime.block_on(async move {
            let metrics = Arc::new(Metrics::default());
            let settings = Settings {
                in_memory: true,
                data_dir: std::env::temp_dir().join("mamamia-bench-test-unused"),
                fsync: FsyncPolicy::Never,
                snapshot_every_bytes: 64 << 20,
                retention_interval_ms: 1_000,
            };
            let (owners, owner_tasks) =
                owner::start_owners(settings, Limits::default(), metrics.clone(), 1)
                    .expect("in-memory owners start");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port is free");
            let addr = listener
                .local_addr()
                .expect("a bound listener has an address");
            sender
                .send(addr.to_string())
                .expect("the test waits for the address");
            let app = Arc::new(App {
                owners,
                metrics,
                auth_token: None,
                body_limits: BodyLimits {
                    bytes_max: 8 << 20,
                    read_timeout: Duration::from_secs(30),
                },
                durable: false,
                shutting_down: AtomicBool::new(false),
            });
            let settings = ServerSettings {
                threads: 1,
                connections_max: 1024,
                header_read_timeout: Duration::from_secs(10),
                shutdown_grace: Duration::from_secs(1),
            };
            http::serve(listener, app, owner_tasks, settings, std::future::pending())
                .await
                .expect("the server's threads start");
        });
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the in-process server binds")
}
