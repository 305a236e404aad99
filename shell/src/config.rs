//! Command-line flags and environment variables: everything an operator tunes.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::logging::Level;

/// Default port: unassigned by IANA, easy to remember.
pub const PORT_DEFAULT: u16 = 7780;

/// When the WAL is fsynced relative to replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before every reply to a state-changing request (group commit).
    Always,
    /// At most every `ms` milliseconds: replies may precede the fsync, so a
    /// power cut can lose that much acknowledged data (a process crash
    /// cannot: the bytes are in the kernel's page cache).
    BatchMs(u64),
    /// Never: the kernel writes back when it likes.
    Never,
}

/// Largest `--body-bytes-max`: a request becomes one WAL frame, and a frame
/// body above `wal::frame::BODY_LEN_MAX` (256 MiB) would read back as damage;
/// 64 MiB keeps every append, even one inflated by encoding, well below it.
pub const BODY_BYTES_MAX_LIMIT: usize = 64 << 20;

fn parse_body_bytes_max(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if (1..=BODY_BYTES_MAX_LIMIT).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "takes 1..={BODY_BYTES_MAX_LIMIT} bytes, got {text:?}"
        )),
    }
}

fn parse_fsync(text: &str) -> Result<FsyncPolicy, String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '=' || c == ':')
        .filter(|word| !word.is_empty())
        .collect();
    match words.as_slice() {
        ["always"] => Ok(FsyncPolicy::Always),
        ["never"] => Ok(FsyncPolicy::Never),
        ["batch-ms", ms] => match ms.parse::<u64>() {
            Ok(ms) if (1..=60_000).contains(&ms) => Ok(FsyncPolicy::BatchMs(ms)),
            _ => Err(format!("batch-ms takes 1..=60000 milliseconds, got {ms:?}")),
        },
        _ => Err(format!(
            "expected always, never or batch-ms=N, got {text:?}"
        )),
    }
}

/// The Mamamia message broker: durable logs, consumer groups, REST API.
#[derive(Clone, Debug, Parser)]
#[command(name = "mamamia", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the bound address is
    /// printed on stdout as `listening on http://ADDR`).
    #[arg(long, env = "MAMAMIA_ADDR", default_value_t = SocketAddr::from(([127, 0, 0, 1], PORT_DEFAULT)))]
    pub addr: SocketAddr,

    /// Directory of the write-ahead log and snapshots.
    #[arg(long, env = "MAMAMIA_DATA_DIR", default_value = "./mamamia-data")]
    pub data_dir: PathBuf,

    /// Keep everything in memory: nothing survives a restart (for tests).
    #[arg(long, env = "MAMAMIA_IN_MEMORY")]
    pub in_memory: bool,

    /// WAL fsync policy: `always` (fsync before replying, group commit),
    /// `batch-ms=N` (fsync at most every N ms) or `never`.
    #[arg(long, env = "MAMAMIA_FSYNC", default_value = "always", value_parser = parse_fsync)]
    pub fsync: FsyncPolicy,

    /// Owner threads; logs are spread over them by a hash of their name,
    /// each with its own WAL (in `DATA_DIR/shard-K` when more than one).
    /// Fixed when the data directory is created.
    #[arg(long, env = "MAMAMIA_OWNERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=crate::owner::OWNERS_MAX as i64))]
    pub owners: u16,

    /// Threads that serve connections (default: one per owner). Owner K
    /// runs on thread K % THREADS beside the connections of that thread.
    /// Fewer threads than owners saves cores; more than owners measured
    /// slower, since requests then wait on another thread's owner.
    #[arg(long, env = "MAMAMIA_THREADS", value_parser = clap::value_parser!(u16).range(1..=crate::http::THREADS_MAX as i64))]
    pub threads: Option<u16>,

    /// Largest request body, in bytes.
    #[arg(long, env = "MAMAMIA_BODY_BYTES_MAX", default_value_t = 8 << 20, value_parser = parse_body_bytes_max)]
    pub body_bytes_max: usize,

    /// Most messages in one append, and items in one settle or extend.
    /// Fixed when the data directory is created.
    #[arg(long, env = "MAMAMIA_BATCH_LEN_MAX", default_value_t = 10_000)]
    pub batch_len_max: usize,

    /// Most message bytes (payload, key and headers) one acquire or served
    /// long poll returns: leasing stops before the message that would pass
    /// it, but at least one message is always returned. At least 1.
    /// Fixed when the data directory is created.
    #[arg(long, env = "MAMAMIA_ACQUIRE_BYTES_MAX", default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub acquire_bytes_max: u64,

    /// Largest message payload, in bytes. Fixed when the data directory is created.
    #[arg(long, env = "MAMAMIA_PAYLOAD_BYTES_MAX", default_value_t = 1 << 20)]
    pub payload_bytes_max: usize,

    /// Most long-poll requests waiting at once. Fixed when the data directory is created.
    #[arg(long, env = "MAMAMIA_WAITERS_MAX", default_value_t = 100_000)]
    pub waiters_max: usize,

    /// Most open client connections; further ones wait to be accepted.
    #[arg(long, env = "MAMAMIA_CONNECTIONS_MAX", default_value_t = 16_384)]
    pub connections_max: usize,

    /// Time a client has to send a request's headers, in ms.
    #[arg(long, env = "MAMAMIA_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,

    /// Time a client has to send a request's body, in ms (408 after it).
    #[arg(long, env = "MAMAMIA_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_read_timeout_ms: u64,

    /// Require `Authorization: Bearer TOKEN` on /v1 and /metrics.
    #[arg(long, env = "MAMAMIA_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// Take a snapshot once this many WAL bytes (and at least as many as
    /// the last snapshot's size) were written since the last one, to bound
    /// recovery time at a cost linear in the work done.
    #[arg(long, env = "MAMAMIA_SNAPSHOT_EVERY_BYTES", default_value_t = 64 << 20)]
    pub snapshot_every_bytes: u64,

    /// How often retention drops settled messages, in ms.
    #[arg(long, env = "MAMAMIA_RETENTION_INTERVAL_MS", default_value_t = 1_000)]
    pub retention_interval_ms: u64,

    /// On SIGINT/SIGTERM, how long open requests get to finish, in ms.
    #[arg(long, env = "MAMAMIA_SHUTDOWN_GRACE_MS", default_value_t = 5_000)]
    pub shutdown_grace_ms: u64,

    /// Log level (to stderr).
    #[arg(long, env = "MAMAMIA_LOG", value_enum, default_value = "info")]
    pub log_level: Level,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policies_parse_in_every_spelling() {
        assert_eq!(parse_fsync("always"), Ok(FsyncPolicy::Always));
        assert_eq!(parse_fsync("never"), Ok(FsyncPolicy::Never));
        for text in ["batch-ms=5", "batch-ms:5", "batch-ms 5"] {
            assert_eq!(parse_fsync(text), Ok(FsyncPolicy::BatchMs(5)), "{text}");
        }
        assert!(parse_fsync("batch-ms=0").is_err());
        assert!(parse_fsync("sometimes").is_err());
    }

    #[test]
    fn the_acquire_byte_budget_is_at_least_one() {
        let parse = |value: &str| Config::try_parse_from(["mamamia", "--acquire-bytes-max", value]);
        assert_eq!(parse("1").unwrap().acquire_bytes_max, 1);
        assert!(parse("0").is_err());
        let default = Config::try_parse_from(["mamamia"]).unwrap();
        assert_eq!(
            default.acquire_bytes_max,
            mamamia_machine::Limits::default().acquire_bytes_max
        );
    }

    #[test]
    fn the_flags_are_consistent() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }
}
