//! The Mamamia simulator: seeded worlds that drive the machine through
//! producers, consumers, an admin, a faulty network and a crashing broker,
//! checking every guarantee of SPEC §1 on every step.
//!
//! # Contract
//!
//! - **One seed, one world.** [`WorldConfig::draw`] turns a seed into a
//!   configuration (swarm testing: how many logs, groups and clients, which
//!   fault sites are on and how often they fire); separate ChaCha streams of
//!   the same seed drive the workload, the faults and the network, so a new
//!   draw in one does not shift the others.
//! - **Determinism.** A world's trace hash depends on its seed (and the
//!   overrides and planted bug) only: no wall clock, no thread, no `HashMap`
//!   order reaches it. A share of seeds runs twice to prove it.
//! - **Checks.** The reference [`model`] is fed every command, reply and
//!   event the machine produces and must agree with each; the world adds
//!   checks that read the machine (base offsets, timers, acknowledged
//!   appends, the machine's own invariants) and the liveness bound.
//! - **Durability.** The broker logs each accepted command, syncs in
//!   groups, and holds every answer until the commands it depends on are
//!   synced. A crash loses the unsynced tail (perhaps tearing its last
//!   record); recovery replays the log, from the start or from a snapshot.
//!
//! # Map
//!
//! [`config`] and [`fault`] draw a world; [`actor`] holds the clients;
//! `world` runs them with the broker and the network; [`model`] and
//! [`violation`] are the checkers; [`runner`], [`report`], [`shrink`] and
//! [`bug_matrix`] run seeds and say what they found.

pub mod actor;
pub mod bug_matrix;
pub mod config;
pub mod coverage;
pub mod digest;
pub mod fault;
pub mod model;
mod panics;
pub mod report;
pub mod rng;
pub mod runner;
pub mod shrink;
pub mod stats;
pub mod trace;
pub mod violation;
pub mod wal;
mod world;

pub use config::{Overrides, WorldConfig};
pub use runner::{check_seed, run_seeds, run_world, RunOptions, SeedReport};
pub use trace::TraceMode;
pub use violation::{Check, FailureKind, Violation};
pub use world::WorldResult;
