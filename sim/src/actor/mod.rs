//! The clients of the broker: producers, consumers and an admin. Each is a
//! small state machine woken by the world; it sends at most one request at
//! a time and lives with lost, late and repeated answers.

mod consumer;
mod producer;

pub use consumer::{consumer_plan, Consumer, ConsumerPlan};
pub use producer::Producer;

use mamamia_machine::{Command, Error, Lease, Reply, WaiterId};

use crate::fault::{FaultPlan, FaultSite};
use crate::rng::Stream;
use crate::stats::Stats;

/// Who sent a request, and so who gets its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActorId {
    Producer(usize),
    Consumer(usize),
    Admin,
}

impl ActorId {
    /// A number for the trace hash.
    pub fn code(self) -> u64 {
        match self {
            ActorId::Producer(n) => 1_000 + n as u64,
            ActorId::Consumer(n) => 2_000 + n as u64,
            ActorId::Admin => 3_000,
        }
    }
}

/// What reaches a client from the broker.
#[derive(Clone, Debug)]
pub enum Delivery {
    Reply {
        request: u64,
        result: Result<Reply, Error>,
    },
    Served {
        waiter: WaiterId,
        leases: Vec<Lease>,
    },
    TimedOut {
        waiter: WaiterId,
    },
}

/// A request on its way to the broker.
#[derive(Clone, Debug)]
pub struct Request {
    pub from: ActorId,
    pub id: u64,
    pub command: Command,
    /// The sender meant it to be refused (a bad-request fault).
    pub bad: bool,
}

/// What an actor may touch while it acts.
pub struct ActorCx<'a> {
    pub now_ms: u64,
    pub workload: &'a mut Stream,
    pub faults: &'a mut Stream,
    pub plan: &'a FaultPlan,
    pub stats: &'a mut Stats,
    /// Faults have stopped: the liveness phase.
    pub calm: bool,
    /// Requests to send, with whether each is meant to be refused.
    pub outbox: Vec<(Command, bool)>,
    /// Acknowledged appends: `(log position, index, message id)`.
    pub acked: Vec<(usize, u64, u64)>,
    /// When the actor wants to be woken next.
    pub wake_at_ms: Option<u64>,
    pub next_waiter: &'a mut u64,
    /// How long a request may take before its sender gives up.
    pub request_timeout_ms: u64,
}

impl ActorCx<'_> {
    /// Whether `site` fires now (never once faults have stopped).
    pub fn fault(&mut self, site: FaultSite) -> bool {
        let fires = !self.calm && self.faults.chance(self.plan.rate(site));
        if fires {
            self.stats.fault(site);
        }
        fires
    }

    pub fn send(&mut self, command: Command) {
        self.outbox.push((command, false));
    }

    pub fn send_bad(&mut self, command: Command) {
        self.outbox.push((command, true));
    }

    pub fn wake_at(&mut self, at_ms: u64) {
        let at_ms = at_ms.max(self.now_ms + 1);
        self.wake_at_ms = Some(self.wake_at_ms.map_or(at_ms, |earlier| earlier.min(at_ms)));
    }

    pub fn waiter_id(&mut self) -> WaiterId {
        *self.next_waiter += 1;
        WaiterId(*self.next_waiter)
    }
}
