//! Black-box tests of the `mamamia` binary on 127.0.0.1: each test starts
//! the real server on a free port (`--addr 127.0.0.1:0`).

mod api;
mod crash;
mod errors;
mod harness;
mod long_poll;
mod operations;
mod recovery;
