//! The Mamamia server: the deterministic machine behind a write-ahead log
//! and a REST API (SPEC §2).
//!
//! - [`owner`]: the one thread that owns the machine and the WAL; requests
//!   reach it over a channel and are applied and made durable in batches.
//! - [`wal`]: segment files of CRC-framed `(lsn, now_ms, command)` records
//!   and snapshots; recovery truncates a torn tail and refuses other damage.
//! - [`http`]: routing, parsing at the edge, rendering; decides nothing.
//! - [`metrics`], [`openapi`]: what operators and tools read.

pub mod config;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod owner;
pub mod wal;
