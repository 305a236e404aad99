//! What the machine reports on its own, outside a command's reply.

use serde::Serialize;

use crate::command::WaiterId;
use crate::name::{ConsumerName, GroupName, LogName};
use crate::reply::{Lease, SettleStatus};

/// An output the machine queues for its driver, drained with
/// [`crate::Machine::poll_event`] in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A parked acquire got its leases (never none).
    WaiterServed {
        waiter: WaiterId,
        leases: Vec<Lease>,
    },
    /// A parked acquire's wait ended with nothing to lease.
    WaiterTimedOut { waiter: WaiterId },
    /// A lease ran out before it was settled: a failed attempt.
    LeaseExpired {
        log: LogName,
        group: GroupName,
        index: u64,
        attempt: u32,
        consumer: ConsumerName,
        /// What became of the message: backoff, available again, or dead.
        status: SettleStatus,
    },
}
