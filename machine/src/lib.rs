//! The Mamamia broker as a deterministic state machine.
//!
//! Producers append messages to named logs; consumer groups lease them just
//! in time, one consumer per message, and settle each once. Every rule of
//! the broker lives here, and nothing else does: this crate does no IO,
//! reads no clock, starts no thread and draws no random number. Time is an
//! argument. The network shell, the simulator and the benchmark all drive
//! the same [`Machine`].
//!
//! # Contract
//!
//! - **Input** is a [`Command`] with the logical time `now_ms`, through
//!   [`Machine::handle`], or just the time, through
//!   [`Machine::handle_timeout`]. Time never goes back: an earlier `now_ms`
//!   counts as the machine's current time.
//! - **Output** is the command's [`Reply`] (or an [`Error`], which means the
//!   command changed nothing), plus [`Event`]s the machine raises on its own
//!   (a long-poll waiter served or timed out, a lease expired), drained in
//!   order with [`Machine::poll_event`].
//! - **Timers**: [`Machine::next_deadline_ms`] tells when the machine next
//!   has work of its own; the driver calls `handle_timeout` then. Whatever
//!   falls due happens at its own due time, so the state never depends on
//!   how late or how often the driver calls.
//! - **Determinism**: the same commands at the same times give the same
//!   replies, events and state, byte for byte. No `HashMap` is ever
//!   iterated where its order could reach an output.
//! - **Durability** is the driver's: logging each `(now_ms, Command)` that
//!   changed state and replaying the log into a [`Machine::new`] with the
//!   same [`Limits`] (or into a machine deserialized from a snapshot taken
//!   at a point of the log) rebuilds the same machine. Tokens and indices
//!   come from the replicated state, so they never repeat across restarts.
//!
//! # Run loop
//!
//! ```
//! use mamamia_machine::*;
//!
//! let mut machine = Machine::default();
//! let log = LogName::new("orders").unwrap();
//! let group = GroupName::new("billing").unwrap();
//! let worker = ConsumerName::new("worker-1").unwrap();
//!
//! let append = Command::Append { log: log.clone(), messages: vec![NewMessage::new("hello")] };
//! machine.handle(0, append).unwrap();
//!
//! let acquire = Acquire { log: log.clone(), group: group.clone(), consumer: worker, max: 10, lease_ms: None, wait: None };
//! let Ok(Reply::Acquired(acquired)) = machine.handle(5, Command::Acquire(acquire)) else { unreachable!() };
//! let lease = &acquired.leases[0];
//! assert_eq!((lease.index, lease.attempt, lease.message.payload()), (0, 1, &b"hello"[..]));
//!
//! let settle = Settlement { index: lease.index, token: lease.token, outcome: SettleOutcome::Processed };
//! machine.handle(7, Command::Settle { log: log.clone(), group: group.clone(), settlements: vec![settle] }).unwrap();
//! assert_eq!(machine.group(&log, &group).unwrap().base_offset, 1);
//!
//! // A driver sleeps until the next deadline, then lets time pass.
//! if let Some(deadline_ms) = machine.next_deadline_ms() {
//!     machine.handle_timeout(deadline_ms);
//! }
//! while let Some(event) = machine.poll_event() {
//!     println!("{event:?}");
//! }
//! ```
//!
//! # Errors and panics
//!
//! Bad input is an [`Error`] whose [`ErrorKind`] tells who is at fault; it
//! leaves the state as it was (time-driven work due by `now_ms`, such as
//! expiries, still happens). A panic is a bug. In debug builds every
//! command ends with [`Machine::check_invariants`].

pub mod bugs;
pub mod bytes;
mod command;
mod deadline;
mod error;
mod event;
mod group;
mod limits;
mod log;
mod machine;
mod message;
mod name;
mod reply;
mod store;

pub use command::{Acquire, Command, LeaseRef, Wait, WaiterId};
pub use error::{Error, ErrorKind};
pub use event::Event;
pub use group::{
    AttemptOutcome, AttemptRecord, Backoff, GroupConfig, GroupSettings, LeaseToken, MalformedToken,
    Ordering, Refusal, SlotState, StartPosition,
};
pub use limits::*;
pub use log::{Appended, Duplicate, LogConfig, LogSettings, DEDUP_WINDOW_LEN_MAX};
pub use machine::Machine;
pub use message::{Message, NewMessage, PayloadFormat};
pub use name::{ConsumerName, GroupName, LogName, NameError};
pub use reply::{
    Acquired, DeadLetter, ExtendResult, ExtendStatus, GroupSummary, GroupTotals, Lease, LeaseView,
    LogSummary, Redriven, Reply, SettleOutcome, SettleResult, SettleStatus, Settlement,
};
