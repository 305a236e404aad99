//! `bench`: how fast Mamamia is, measured, with a correctness verdict.
//!
//! A run takes a list of [`Scenario`]s (JSON) and a [`Target`]: the state
//! machine itself (`--machine`), a server the bench starts (`--internal`)
//! or one at an address (`--addr`). Each scenario's producers append
//! messages that carry their own id and send time; consumers acquire and
//! settle them; a [`Ledger`](ledger::Ledger) counts every settle per id, so
//! the verdict (every message settled exactly once) does not trust the
//! server, and is then cross-checked against the server's group summary.
//!
//! - [`scenario`]: the config format and its limits.
//! - [`run`]: one run over a target; [`rest_mode`] and [`workers`] drive a
//!   server through the client crate, [`machine_mode`] the machine.
//! - [`report`]: the raw results (`--json`); [`table`] the terminal
//!   summary and `--compare`; [`html`] the self-contained report;
//!   [`server_work`] the fsyncs, requests and CPU behind each result.

pub mod chart;
pub mod html;
pub mod ledger;
pub mod machine_mode;
pub mod observations;
pub mod process_stats;
pub mod report;
pub mod rest_mode;
pub mod run;
pub mod scenario;
pub mod server;
pub mod server_work;
pub mod table;
pub mod workers;

pub use report::{Report, ScenarioResult};
pub use run::Target;
pub use scenario::Scenario;
