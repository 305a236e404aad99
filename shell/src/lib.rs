//! The Mamamia server around the deterministic machine.
pub mod wal;
