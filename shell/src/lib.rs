//! The Mamamia server: the deterministic machine behind a write-ahead log
//! and a REST API (SPEC §2). The shell adds wall-clock time, durability and
//! HTTP; it decides nothing the machine decides.
//!
//! - [`owner`]: the threads that own a machine and its WAL each (one by
//!   default, `--owners N` shards logs by a hash of their name). Requests
//!   reach an owner over a channel; it applies whatever queued up as one
//!   batch, writes and fsyncs the batch's records once (group commit), and
//!   only then answers. It also drives the machine's timers from a
//!   monotonic logical clock and takes snapshots.
//! - [`wal`]: segment files of CRC-framed `(lsn, now_ms, command)` records
//!   and snapshot files; recovery truncates a torn tail (and says so) and
//!   refuses damage anywhere else.
//! - [`http`]: routing, parsing and validating at the edge, rendering; the
//!   one mapping from error classes to HTTP statuses.
//! - [`metrics`], [`openapi`]: what operators and tools read.
//! - [`config`]: every flag, each with its environment variable.

pub mod config;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod owner;
pub mod wal;
