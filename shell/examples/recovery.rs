//! Measures recovery: how long the server takes to come back with N
//! messages from a snapshot plus a WAL tail, and how much memory they take.
//!
//! ```text
//! cargo run --release -p mamamia-shell --example recovery -- --messages 10000000
//! ```
//!
//! It writes a data directory the way the server would have left it: a
//! snapshot (encoded as the owner encodes it) of a machine holding
//! `--messages` messages in one log with one group, some leased (an hour,
//! so they are still leased at restart) and every other one of those
//! settled, then `--tail` more messages (and the same lease and settle mix)
//! as WAL records after the snapshot. Then it runs itself again to time, in
//! a fresh process, `owner::start_owners`: exactly what `mamamia` does
//! before it listens. Resident memory (VmRSS) is compared with the payload
//! bytes the log retains, once for the machine as appends built it and
//! once for the recovered one.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use mamamia_machine::{
    Acquire, Command, ConsumerName, GroupName, GroupSettings, Limits, LogName, LogSettings,
    Machine, NewMessage, Reply, SettleOutcome, Settlement,
};
use mamamia_shell::config::FsyncPolicy;
use mamamia_shell::metrics::Metrics;
use mamamia_shell::owner::{self, Settings};
use mamamia_shell::wal::{Collect, FsDir, Wal};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Messages in the snapshot.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Messages appended after the snapshot, replayed from the WAL.
    #[arg(long, default_value_t = 100_000)]
    tail: u64,
    #[arg(long, default_value_t = 100)]
    payload_bytes: usize,
    /// Messages leased (every other one then settled) in the snapshot's
    /// part and again in the tail.
    #[arg(long, default_value_t = 2_000)]
    leased: u32,
    /// The data directory; a fresh temporary one by default. Its contents
    /// are replaced.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Only time the recovery of an existing `--dir` (the second half).
    #[arg(long)]
    recover_only: bool,
}

const LOG: &str = "bench";
const GROUP: &str = "workers";
/// Messages per append command, as a batching producer sends them.
const BATCH_LEN: u64 = 1_000;
/// Leases outlive the measurement, so none expires at restart.
const LEASE_MS: u64 = 3_600_000;

fn main() {
    let args = Args::parse();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mamamia-recovery-{}", std::process::id()))
    });
    if args.recover_only {
        recover(&args, &dir);
        return;
    }
    prepare(&args, &dir);
    let mut child = Process::new(std::env::current_exe().expect("the example knows its path"));
    child.args(std::env::args().skip(1)).arg("--recover-only");
    if args.dir.is_none() {
        child.arg("--dir").arg(&dir);
    }
    let status = child.status().expect("the example runs itself");
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::process::exit(status.code().unwrap_or(1));
}

fn prepare(args: &Args, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the data directory can be made");
    let rss_before = rss_bytes();
    let started = Instant::now();
    let mut now_ms = wall_clock_ms();
    let mut machine = Machine::new(Limits::default());
    let mut next_payload = 0u64;
    for command in setup() {
        machine.handle(now_ms, command).expect("setup is valid");
    }
    for command in workload(args, &mut next_payload, args.messages) {
        now_ms += 1;
        if let Some(settle) = apply(&mut machine, now_ms, command) {
            apply(&mut machine, now_ms, settle);
        }
    }
    let built = started.elapsed();
    let rss_built = rss_bytes();
    let payload = args.messages * args.payload_bytes as u64;
    println!(
        "built {} messages of {} bytes in {:.2} s: RSS +{} MiB, {:.2}x the {} MiB of payload",
        args.messages,
        args.payload_bytes,
        built.as_secs_f64(),
        (rss_built - rss_before) >> 20,
        (rss_built - rss_before) as f64 / payload as f64,
        payload >> 20
    );

    let fs = FsDir::open(dir).expect("the data directory opens");
    let (mut wal, _) = Wal::open(Box::new(fs), &mut Collect::default()).expect("a fresh WAL");
    let rss_before_snapshot = rss_bytes();
    let peak_reset = reset_peak_rss();
    let started = Instant::now();
    let state_len = wal
        .snapshot(|out| owner::encode_state(&machine, out))
        .expect("the snapshot is written");
    println!(
        "snapshot: {} MiB, encoded and written in {:.2} s",
        state_len >> 20,
        started.elapsed().as_secs_f64()
    );
    if peak_reset {
        let peak = status_kib("VmHWM:") * 1024;
        println!(
            "snapshot: peak RSS +{} MiB over the {} MiB before it, {:.2}x the payload",
            peak.saturating_sub(rss_before_snapshot) >> 20,
            rss_before_snapshot >> 20,
            peak.saturating_sub(rss_before_snapshot) as f64 / payload as f64
        );
    }
    let started = Instant::now();
    let mut records = 0;
    for command in workload(args, &mut next_payload, args.tail) {
        now_ms += 1;
        wal.append(now_ms, &command);
        records += 1;
        if let Some(settle) = apply(&mut machine, now_ms, command) {
            wal.append(now_ms, &settle);
            records += 1;
            apply(&mut machine, now_ms, settle);
        }
        wal.commit(false).expect("the WAL is written");
    }
    wal.commit(true).expect("the WAL is synced");
    println!(
        "tail: {records} records, {} MiB, written in {:.2} s",
        wal.bytes_total() >> 20,
        started.elapsed().as_secs_f64()
    );
}

fn recover(args: &Args, dir: &Path) {
    let rss_before = rss_bytes();
    let settings = Settings {
        in_memory: false,
        data_dir: dir.to_owned(),
        fsync: FsyncPolicy::Always,
        snapshot_every_bytes: 64 << 20,
        retention_interval_ms: 1_000,
    };
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let (owners, tasks) =
        owner::start_owners(settings, Limits::default(), Arc::new(Metrics::default()), 1)
            .unwrap_or_else(|error| panic!("recovery failed: {error}"));
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let rss_after = rss_bytes();
    let messages = args.messages + args.tail;
    let payload = messages * args.payload_bytes as u64;
    let runtime = mamamia_shell::http::thread_runtime().expect("a runtime");
    let log = LogName::new(LOG).expect("a valid name");
    let summary = runtime
        .block_on(async move {
            // Started, never awaited: the process exits below.
            let _running: Vec<_> = tasks.into_iter().map(owner::OwnerTask::spawn).collect();
            owners
                .for_log(&log)
                .read(move |machine| machine.log(&log))
                .await
        })
        .expect("the owner answers")
        .expect("the log was recovered");
    assert_eq!(summary.next_index, messages, "every message was recovered");
    println!(
        "recovered {messages} messages in {seconds:.3} s ({cpu:.3} s of CPU): \
         {:.3} µs per message, {:.2} s for 10M at that rate",
        seconds * 1e6 / messages as f64,
        seconds * 1e7 / messages as f64
    );
    println!(
        "RSS +{} MiB after recovery, {:.2}x the {} MiB of payload; peak RSS {} MiB",
        (rss_after - rss_before) >> 20,
        (rss_after - rss_before) as f64 / payload as f64,
        payload >> 20,
        status_kib("VmHWM:") >> 10
    );
    // No shutdown: it would write another snapshot into the directory.
    std::process::exit(0);
}

fn setup() -> Vec<Command> {
    let log = LogName::new(LOG).expect("a valid name");
    let settings = LogSettings {
        retention_ms: Some(None),
        retention_bytes: Some(None),
        max_bytes: Some(u64::MAX),
        ..LogSettings::default()
    };
    vec![
        Command::PutLog {
            log: log.clone(),
            settings,
        },
        Command::PutGroup {
            log,
            group: GroupName::new(GROUP).expect("a valid name"),
            settings: GroupSettings::default(),
        },
    ]
}

/// Appends of `count` messages, then an acquire of `--leased` of them.
/// Settles come from [`apply`], which sees the tokens. Made one at a
/// time, as requests arrive.
fn workload<'a>(
    args: &'a Args,
    next_payload: &'a mut u64,
    count: u64,
) -> impl Iterator<Item = Command> + 'a {
    let log = LogName::new(LOG).expect("a valid name");
    let batches = count.div_ceil(BATCH_LEN);
    let appends = (0..batches).map(move |batch| {
        let len = (count - batch * BATCH_LEN).min(BATCH_LEN);
        let messages = (0..len)
            .map(|_| {
                *next_payload += 1;
                NewMessage::new(payload(*next_payload, args.payload_bytes))
            })
            .collect();
        Command::Append {
            log: LogName::new(LOG).expect("a valid name"),
            messages,
        }
    });
    let acquire = Command::Acquire(Acquire {
        log,
        group: GroupName::new(GROUP).expect("a valid name"),
        consumer: ConsumerName::new("consumer").expect("a valid name"),
        max: args.leased,
        lease_ms: Some(LEASE_MS),
        wait: None,
    });
    appends.chain(std::iter::once(acquire))
}

/// Applies a command; after an acquire, returns the settle of every
/// other lease.
fn apply(machine: &mut Machine, now_ms: u64, command: Command) -> Option<Command> {
    let reply = machine
        .handle(now_ms, command)
        .expect("the workload is valid");
    let Reply::Acquired(acquired) = reply else {
        return None;
    };
    let settlements = acquired
        .leases
        .iter()
        .skip(1)
        .step_by(2)
        .map(|lease| Settlement {
            index: lease.index,
            token: lease.token,
            outcome: SettleOutcome::Processed,
        })
        .collect();
    Some(Command::Settle {
        log: LogName::new(LOG).expect("a valid name"),
        group: GroupName::new(GROUP).expect("a valid name"),
        settlements,
    })
}

/// A payload that differs per message, as real ones do.
fn payload(n: u64, len: usize) -> Vec<u8> {
    let mut bytes = format!("message {n} ").into_bytes();
    bytes.resize(len, b'.');
    bytes
}

fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_millis() as u64
}

/// User and system time of this process: unlike the wall clock, not
/// inflated when other work competes for the cores.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given, nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Resets the peak RSS (VmHWM) to the current RSS, so the next reading is
/// the peak of what follows; false where the kernel does not allow it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn rss_bytes() -> u64 {
    status_kib("VmRSS:") * 1024
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field is in /proc/self/status")
}
