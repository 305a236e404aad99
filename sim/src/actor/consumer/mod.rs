//! A consumer: acquires (sometimes long-polling), works on each lease for a
//! while, heartbeats long work, settles; and, as faults, crashes, stalls
//! past its leases, reuses old tokens, forges tokens and sends bad requests.

use std::collections::VecDeque;

use mamamia_machine::{
    Acquire, Command, ConsumerName, ExtendStatus, GroupName, LeaseRef, LeaseToken, LogName, Reply,
    SettleOutcome, Settlement, Wait, WaiterId,
};

mod work;

use super::{ActorCx, Delivery};
use crate::coverage::Mark;
use crate::fault::FaultSite;
pub use work::consumer_plan;
use work::count_settle;

/// How a settle item was meant, to tell expected refusals apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Fresh,
    /// Settled after working past the lease.
    Late,
    /// A token used before.
    Stale,
    Forged,
}

#[derive(Debug)]
struct Held {
    index: u64,
    token: LeaseToken,
    done_at_ms: u64,
    /// When to heartbeat, for work that outlasts the lease.
    renew_at_ms: Option<u64>,
    outcome: SettleOutcome,
    late: bool,
}

#[derive(Debug)]
enum Kind {
    Acquire {
        waiter: Option<WaiterId>,
    },
    Settle(Vec<Item>),
    /// The leases it tried to extend, in request order.
    Extend(Vec<LeaseRef>),
    Other,
}

#[derive(Debug)]
struct Outstanding {
    request: u64,
    deadline_ms: u64,
    kind: Kind,
}

/// What a consumer is set up with.
#[derive(Clone, Debug)]
pub struct ConsumerPlan {
    pub log: LogName,
    pub group: GroupName,
    pub lease_ms: u64,
    pub acquire_max: u32,
    pub long_poll_share: f64,
    pub wait_ms_max: u64,
    pub retry_share: f64,
    pub dead_share: f64,
}

#[derive(Debug)]
pub struct Consumer {
    name: ConsumerName,
    plan: ConsumerPlan,
    held: Vec<Held>,
    old_tokens: VecDeque<(u64, LeaseToken)>,
    /// The settle, extend or other request in flight.
    outstanding: Option<Outstanding>,
    /// The acquire in flight (perhaps parked), on its own connection so a
    /// long poll never holds up settles.
    poll: Option<Outstanding>,
    pending_kind: Option<Kind>,
    crashed_until_ms: Option<u64>,
    next_at_ms: u64,
}

/// Old tokens kept for stale-settle faults.
const OLD_TOKENS_MAX: usize = 8;

/// Shortest lease asked for once faults stop: work (a third of the lease)
/// plus two network trips must fit, or nothing would ever settle.
const CALM_LEASE_MS_MIN: u64 = 200;

impl Consumer {
    pub fn new(number: usize, plan: ConsumerPlan) -> Self {
        Consumer {
            name: ConsumerName::new(&format!("consumer-{number}")).expect("a valid name"),
            plan,
            held: Vec::new(),
            old_tokens: VecDeque::new(),
            outstanding: None,
            poll: None,
            pending_kind: None,
            crashed_until_ms: None,
            next_at_ms: 0,
        }
    }

    pub fn sent(&mut self, request: u64, deadline_ms: u64) {
        let kind = self.pending_kind.take().unwrap_or(Kind::Other);
        let deadline_ms = match kind {
            Kind::Acquire { waiter: Some(_) } => deadline_ms + self.plan.wait_ms_max,
            _ => deadline_ms,
        };
        let slot = match kind {
            Kind::Acquire { .. } => &mut self.poll,
            _ => &mut self.outstanding,
        };
        *slot = Some(Outstanding {
            request,
            deadline_ms,
            kind,
        });
    }

    /// Faults stopped: a crashed consumer comes back now.
    pub fn recover(&mut self) {
        self.crashed_until_ms = None;
        self.next_at_ms = 0;
    }

    pub fn wake(&mut self, cx: &mut ActorCx) {
        if let Some(until_ms) = self.crashed_until_ms {
            if cx.now_ms < until_ms {
                return cx.wake_at(until_ms);
            }
            self.crashed_until_ms = None;
        }
        // Gives up on requests whose answer is overdue.
        self.poll.take_if(|poll| poll.deadline_ms <= cx.now_ms);
        self.outstanding.take_if(|o| o.deadline_ms <= cx.now_ms);
        if let Some(outstanding) = &self.outstanding {
            return cx.wake_at(outstanding.deadline_ms);
        }
        if cx.fault(FaultSite::ConsumerCrash) {
            // Its leases are simply forgotten: the broker must expire them.
            self.held.clear();
            self.poll = None;
            let until_ms = cx.now_ms + cx.workload.between(100, 5_000);
            self.crashed_until_ms = Some(until_ms);
            return cx.wake_at(until_ms);
        }
        if self.held.iter().any(|held| held.done_at_ms <= cx.now_ms) {
            return self.settle(cx);
        }
        if self
            .held
            .iter()
            .any(|held| held.renew_at_ms.is_some_and(|at| at <= cx.now_ms))
        {
            return self.extend(cx);
        }
        if cx.fault(FaultSite::BadRequest) {
            return self.bad_request(cx);
        }
        if !cx.calm && cx.workload.chance(0.002) {
            // Leaves gracefully, returning what it holds.
            self.held.clear();
            self.pending_kind = Some(Kind::Other);
            cx.send(Command::Release {
                log: self.plan.log.clone(),
                group: self.plan.group.clone(),
                consumer: self.name.clone(),
            });
            return cx.wake_at(cx.now_ms + cx.request_timeout_ms);
        }
        let idle = self.poll.is_none() && self.held.len() < self.plan.acquire_max as usize;
        if idle && cx.now_ms >= self.next_at_ms {
            return self.acquire(cx);
        }
        let next_ms = self
            .held
            .iter()
            .map(|held| held.done_at_ms.min(held.renew_at_ms.unwrap_or(u64::MAX)))
            .chain(self.poll.as_ref().map(|poll| poll.deadline_ms))
            .chain(idle.then_some(self.next_at_ms))
            .min();
        if let Some(next_ms) = next_ms {
            cx.wake_at(next_ms);
        }
    }

    /// When work on a held lease ends or needs a heartbeat.
    fn next_due_ms(&self) -> Option<u64> {
        self.held
            .iter()
            .map(|held| held.done_at_ms.min(held.renew_at_ms.unwrap_or(u64::MAX)))
            .min()
    }

    fn acquire(&mut self, cx: &mut ActorCx) {
        let max = self.plan.acquire_max - self.held.len() as u32;
        let wait = cx.workload.chance(self.plan.long_poll_share).then(|| Wait {
            waiter: cx.waiter_id(),
            wait_ms: cx.workload.between(1, self.plan.wait_ms_max),
        });
        // Mostly names its lease (the group default may have changed
        // under it); once faults stop, always, and long enough to finish.
        let lease_ms = match cx.calm {
            true => Some(self.plan.lease_ms.max(CALM_LEASE_MS_MIN)),
            false => cx.workload.chance(0.8).then_some(self.plan.lease_ms),
        };
        self.pending_kind = Some(Kind::Acquire {
            waiter: wait.map(|wait| wait.waiter),
        });
        cx.send(Command::Acquire(Acquire {
            log: self.plan.log.clone(),
            group: self.plan.group.clone(),
            consumer: self.name.clone(),
            max,
            lease_ms,
            wait,
        }));
        cx.wake_at(cx.now_ms + cx.request_timeout_ms);
        if let Some(due_ms) = self.next_due_ms() {
            cx.wake_at(due_ms);
        }
    }

    fn settle(&mut self, cx: &mut ActorCx) {
        let (done, kept): (Vec<Held>, Vec<Held>) = self
            .held
            .drain(..)
            .partition(|held| held.done_at_ms <= cx.now_ms);
        self.held = kept;
        let mut items = Vec::new();
        let mut settlements = Vec::new();
        for held in done {
            items.push(if held.late { Item::Late } else { Item::Fresh });
            settlements.push(Settlement {
                index: held.index,
                token: held.token,
                outcome: held.outcome,
            });
            if self.old_tokens.len() == OLD_TOKENS_MAX {
                self.old_tokens.pop_front();
            }
            self.old_tokens.push_back((held.index, held.token));
        }
        if !self.old_tokens.is_empty() && cx.fault(FaultSite::StaleToken) {
            let (index, token) = self.old_tokens[cx.workload.below(self.old_tokens.len())];
            items.push(Item::Stale);
            settlements.push(Settlement {
                index,
                token,
                outcome: SettleOutcome::Processed,
            });
        }
        if cx.fault(FaultSite::ForgedToken) {
            let token: LeaseToken = format!("lt{:x}", cx.workload.any_u64() >> 8)
                .parse()
                .expect("a well-formed token");
            items.push(Item::Forged);
            settlements.push(Settlement {
                index: settlements[0].index,
                token,
                outcome: SettleOutcome::Processed,
            });
        }
        self.pending_kind = Some(Kind::Settle(items));
        cx.send(Command::Settle {
            log: self.plan.log.clone(),
            group: self.plan.group.clone(),
            settlements,
        });
        cx.wake_at(cx.now_ms + cx.request_timeout_ms);
        if let Some(due_ms) = self.next_due_ms() {
            cx.wake_at(due_ms);
        }
    }

    fn extend(&mut self, cx: &mut ActorCx) {
        let mut leases = Vec::new();
        for held in &mut self.held {
            if held.renew_at_ms.is_some_and(|at| at <= cx.now_ms) {
                held.renew_at_ms = None;
                leases.push(LeaseRef {
                    index: held.index,
                    token: held.token,
                });
            }
        }
        self.pending_kind = Some(Kind::Extend(leases.clone()));
        cx.send(Command::Extend {
            log: self.plan.log.clone(),
            group: self.plan.group.clone(),
            leases,
            lease_ms: Some(self.plan.lease_ms),
        });
        cx.wake_at(cx.now_ms + cx.request_timeout_ms);
        if let Some(due_ms) = self.next_due_ms() {
            cx.wake_at(due_ms);
        }
    }

    fn bad_request(&mut self, cx: &mut ActorCx) {
        let acquire = |max, lease_ms| {
            Command::Acquire(Acquire {
                log: self.plan.log.clone(),
                group: self.plan.group.clone(),
                consumer: self.name.clone(),
                max,
                lease_ms,
                wait: None,
            })
        };
        let command = match cx.workload.below(3) {
            0 => acquire(0, None),
            1 => acquire(1, Some(1)),
            _ => Command::Settle {
                log: self.plan.log.clone(),
                group: self.plan.group.clone(),
                settlements: Vec::new(),
            },
        };
        self.pending_kind = Some(Kind::Other);
        cx.send_bad(command);
        cx.wake_at(cx.now_ms + cx.request_timeout_ms);
        if let Some(due_ms) = self.next_due_ms() {
            cx.wake_at(due_ms);
        }
    }

    pub fn deliver(&mut self, delivery: Delivery, cx: &mut ActorCx) {
        if self.crashed_until_ms.is_some() {
            return; // a dead process hears nothing
        }
        match delivery {
            Delivery::Reply { request, result } => {
                let outstanding = match self.outstanding.take_if(|o| o.request == request) {
                    Some(outstanding) => Some(outstanding),
                    None => self.poll.take_if(|poll| poll.request == request),
                };
                let Some(outstanding) = outstanding else {
                    return; // a late or repeated answer
                };
                match (outstanding.kind, result) {
                    (Kind::Acquire { waiter }, Ok(Reply::Acquired(acquired))) => {
                        if acquired.window_full {
                            cx.stats.coverage.hit(Mark::WindowFull);
                        }
                        if acquired.parked {
                            // The leases (or the time-out) come later, as an event.
                            self.poll = Some(Outstanding {
                                request,
                                deadline_ms: outstanding.deadline_ms,
                                kind: Kind::Acquire { waiter },
                            });
                        } else {
                            if acquired.leases.is_empty() {
                                self.next_at_ms = cx.now_ms + cx.workload.between(20, 500);
                            }
                            self.take(acquired.leases, cx);
                        }
                    }
                    (Kind::Acquire { .. }, Err(_)) => {
                        // Refused (say, too many waiters): back off before asking again.
                        self.next_at_ms = cx.now_ms + cx.workload.between(50, 500);
                    }
                    (Kind::Settle(items), Ok(Reply::Settled { results })) => {
                        for (item, result) in items.iter().zip(&results) {
                            count_settle(*item, result.status, cx);
                        }
                    }
                    (Kind::Extend(leases), Ok(Reply::Extended { results })) => {
                        let renew_at_ms = cx.now_ms + self.plan.lease_ms / 3;
                        for (lease, result) in leases.iter().zip(results) {
                            let same = |held: &Held| {
                                (held.index, held.token) == (lease.index, lease.token)
                            };
                            match result.status {
                                // The lease is gone: stop working on it.
                                ExtendStatus::Refused(_) => self.held.retain(|held| !same(held)),
                                ExtendStatus::Extended { .. } => {
                                    for held in self.held.iter_mut().filter(|held| same(held)) {
                                        if held.done_at_ms > renew_at_ms {
                                            held.renew_at_ms = Some(renew_at_ms);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            Delivery::Served { waiter, leases } => {
                if self.waiting_on(waiter) {
                    self.poll = None;
                    cx.stats.coverage.hit(Mark::LongPollServed);
                    self.take(leases, cx);
                }
            }
            Delivery::TimedOut { waiter } => {
                if self.waiting_on(waiter) {
                    self.poll = None;
                    cx.stats.coverage.hit(Mark::LongPollTimeout);
                    self.next_at_ms = cx.now_ms + cx.workload.between(10, 200);
                }
            }
        }
        cx.wake_at(cx.now_ms);
    }

    fn waiting_on(&self, waiter: WaiterId) -> bool {
        matches!(&self.poll, Some(Outstanding { kind: Kind::Acquire { waiter: Some(w) }, .. }) if *w == waiter)
    }
}
