//! `mamamia`: the message broker server. See `--help`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mamamia_machine::Limits;
use mamamia_shell::config::{Config, FsyncPolicy};
use mamamia_shell::http::{self, App, BodyLimits, ServerSettings};
use mamamia_shell::metrics::Metrics;
use mamamia_shell::owner::{self, Settings};
use mamamia_shell::{log, logging};

fn main() -> ExitCode {
    let config = Config::parse();
    logging::set_level(config.log_level);
    raise_open_files_limit();
    let runtime = match http::thread_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            log!(Error, "cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log!(Error, "{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let metrics = Arc::new(Metrics::default());
    let limits = Limits {
        batch_len_max: config.batch_len_max,
        acquire_bytes_max: config.acquire_bytes_max,
        payload_bytes_max: config.payload_bytes_max,
        waiters_max: config.waiters_max,
        ..Limits::default()
    };
    limits
        .validate()
        .map_err(|error| format!("invalid limits: {error}"))?;
    let settings = Settings {
        in_memory: config.in_memory,
        data_dir: config.data_dir.clone(),
        fsync: config.fsync,
        snapshot_every_bytes: config.snapshot_every_bytes,
        retention_interval_ms: config.retention_interval_ms.max(1),
    };
    let (owners, owner_tasks) =
        owner::start_owners(settings, limits, metrics.clone(), config.owners as usize)
            .map_err(|error| error.to_string())?;
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.addr))?;
    let addr = listener.local_addr().map_err(|error| error.to_string())?;
    // Tests and scripts read this line to find a port picked with :0.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    log!(
        Info,
        "mamamia {} on http://{addr}, {}, {} owner(s) on {} thread(s), fsync {:?}, auth {}",
        env!("CARGO_PKG_VERSION"),
        if config.in_memory {
            "in memory".to_owned()
        } else {
            format!("data in {}", config.data_dir.display())
        },
        config.owners,
        config.threads.unwrap_or(config.owners),
        config.fsync,
        if config.auth_token.is_some() {
            "on"
        } else {
            "off"
        }
    );
    let app = Arc::new(App {
        owners,
        metrics,
        auth_token: config.auth_token.clone(),
        body_limits: BodyLimits {
            bytes_max: config.body_bytes_max,
            read_timeout: Duration::from_millis(config.body_read_timeout_ms.max(1)),
        },
        durable: !config.in_memory && config.fsync == FsyncPolicy::Always,
        shutting_down: AtomicBool::new(false),
    });
    let server_settings = ServerSettings {
        threads: usize::from(config.threads.unwrap_or(config.owners)),
        connections_max: config.connections_max.max(1),
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms.max(1)),
        shutdown_grace: Duration::from_millis(config.shutdown_grace_ms),
    };
    http::serve(listener, app, owner_tasks, server_settings, shutdown)
        .await
        .map_err(|error| format!("cannot start the server's threads: {error}"))?;
    log!(Info, "stopped cleanly");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when first polled, so a signal that arrives right after the
/// server says it listens is never lost (it would kill the process).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let install = |kind| signal(kind).map_err(|error| format!("cannot handle signals: {error}"));
    let mut interrupt = install(SignalKind::interrupt())?;
    let mut terminate = install(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Long polls hold a connection each: lift the soft limit on open files to
/// the hard one so 10,000 waiters fit.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                log!(Warn, "could not raise the open files limit");
            }
        }
    }
}
