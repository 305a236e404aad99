//! A thin driver around the machine for tests: one log and group by
//! default, an explicit clock, and a readable trace of everything that
//! happened, for snapshots.

use std::fmt::Write;

use mamamia_machine::*;

pub fn log_name(name: &str) -> LogName {
    LogName::new(name).expect("test log names are valid")
}

pub fn group_name(name: &str) -> GroupName {
    GroupName::new(name).expect("test group names are valid")
}

pub fn consumer(name: &str) -> ConsumerName {
    ConsumerName::new(name).expect("test consumer names are valid")
}

pub struct Harness {
    pub machine: Machine,
    pub now_ms: u64,
    pub log: LogName,
    pub group: GroupName,
    /// Every command, reply and event, one line each.
    pub trace: String,
    /// Events raised since the last [`Harness::drain_events`].
    events: Vec<Event>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new(Limits::default())
    }
}

impl Harness {
    pub fn new(limits: Limits) -> Self {
        Harness {
            machine: Machine::new(limits),
            now_ms: 0,
            log: log_name("orders"),
            group: group_name("billing"),
            trace: String::new(),
            events: Vec::new(),
        }
    }

    /// Sets the clock for the next commands.
    pub fn at(&mut self, now_ms: u64) -> &mut Self {
        self.now_ms = now_ms;
        self
    }

    /// Lets time pass to `now_ms`, firing what is due, and traces events.
    pub fn advance_to(&mut self, now_ms: u64) -> Vec<Event> {
        self.now_ms = now_ms;
        self.machine.handle_timeout(now_ms);
        self.drain_events()
    }

    /// Runs any command and traces it with its reply and events.
    pub fn run(&mut self, command: Command) -> Result<Reply, Error> {
        let line = describe_command(&command);
        let result = self.machine.handle(self.now_ms, command);
        let answer = match &result {
            Ok(reply) => describe_reply(reply),
            Err(error) => format!("error {}: {error}", error.code()),
        };
        writeln!(self.trace, "t={:<6} {line} -> {answer}", self.now_ms).unwrap();
        self.collect_events();
        result
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            writeln!(
                self.trace,
                "t={:<6}   event {}",
                self.machine.now_ms(),
                describe_event(&event)
            )
            .unwrap();
            self.events.push(event);
        }
    }

    /// The events raised since the last call, oldest first.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.collect_events();
        std::mem::take(&mut self.events)
    }

    pub fn put_group(&mut self, settings: GroupSettings) -> Result<Reply, Error> {
        self.run(Command::PutGroup {
            log: self.log.clone(),
            group: self.group.clone(),
            settings,
        })
    }

    /// Creates the log and its group with key ordering.
    pub fn key_ordered_group(&mut self) {
        self.run(Command::PutLog {
            log: self.log.clone(),
            settings: LogSettings::default(),
        })
        .expect("a new log is accepted");
        self.put_group(GroupSettings {
            ordering: Some(Ordering::Key),
            ..GroupSettings::default()
        })
        .expect("a key-ordered group is accepted");
    }

    pub fn append_messages(&mut self, messages: Vec<NewMessage>) -> Result<Appended, Error> {
        let reply = self.run(Command::Append {
            log: self.log.clone(),
            messages,
        })?;
        match reply {
            Reply::Appended(appended) => Ok(appended),
            other => panic!("append answered {other:?}"),
        }
    }

    /// Appends one message per payload and returns the first index.
    pub fn append(&mut self, payloads: &[&str]) -> u64 {
        let messages = payloads
            .iter()
            .map(|p| NewMessage::new(p.as_bytes()))
            .collect();
        self.append_messages(messages)
            .expect("append is valid")
            .first_index
    }

    pub fn acquire_request(&self, consumer_name: &str, max: u32) -> Acquire {
        Acquire {
            log: self.log.clone(),
            group: self.group.clone(),
            consumer: consumer(consumer_name),
            max,
            lease_ms: None,
            wait: None,
        }
    }

    pub fn try_acquire(&mut self, request: Acquire) -> Result<Acquired, Error> {
        match self.run(Command::Acquire(request))? {
            Reply::Acquired(acquired) => Ok(acquired),
            other => panic!("acquire answered {other:?}"),
        }
    }

    /// An acquire that parks for up to `wait_ms` when nothing is available.
    pub fn long_poll(
        &mut self,
        consumer_name: &str,
        max: u32,
        waiter: u64,
        wait_ms: u64,
    ) -> Result<Acquired, Error> {
        let wait = Some(Wait {
            waiter: WaiterId(waiter),
            wait_ms,
        });
        let request = Acquire {
            wait,
            ..self.acquire_request(consumer_name, max)
        };
        self.try_acquire(request)
    }

    /// Leases up to `max` messages for `consumer_name`.
    pub fn acquire(&mut self, consumer_name: &str, max: u32) -> Vec<Lease> {
        let request = self.acquire_request(consumer_name, max);
        self.try_acquire(request).expect("acquire is valid").leases
    }

    pub fn settle_all(&mut self, settlements: Vec<Settlement>) -> Result<Vec<SettleStatus>, Error> {
        let reply = self.run(Command::Settle {
            log: self.log.clone(),
            group: self.group.clone(),
            settlements,
        })?;
        match reply {
            Reply::Settled { results } => Ok(results.into_iter().map(|r| r.status).collect()),
            other => panic!("settle answered {other:?}"),
        }
    }

    /// Settles one lease (by index and token) and returns its status.
    pub fn settle(
        &mut self,
        index: u64,
        token: LeaseToken,
        outcome: SettleOutcome,
    ) -> SettleStatus {
        let settlement = Settlement {
            index,
            token,
            outcome,
        };
        self.settle_all(vec![settlement]).expect("settle is valid")[0]
    }

    pub fn process(&mut self, lease: &Lease) -> SettleStatus {
        self.settle(lease.index, lease.token, SettleOutcome::Processed)
    }

    pub fn retry(&mut self, lease: &Lease, delay_ms: Option<u64>) -> SettleStatus {
        let outcome = SettleOutcome::Retry {
            delay_ms,
            reason: None,
        };
        self.settle(lease.index, lease.token, outcome)
    }

    pub fn kill(&mut self, lease: &Lease, reason: &str) -> SettleStatus {
        let outcome = SettleOutcome::Dead {
            reason: Some(reason.to_owned()),
        };
        self.settle(lease.index, lease.token, outcome)
    }

    pub fn extend(&mut self, lease: &Lease, lease_ms: u64) -> ExtendStatus {
        let reply = self.run(Command::Extend {
            log: self.log.clone(),
            group: self.group.clone(),
            leases: vec![LeaseRef {
                index: lease.index,
                token: lease.token,
            }],
            lease_ms: Some(lease_ms),
        });
        match reply.expect("extend is valid") {
            Reply::Extended { results } => results[0].status,
            other => panic!("extend answered {other:?}"),
        }
    }

    pub fn release(&mut self, consumer_name: &str) -> u64 {
        let reply = self.run(Command::Release {
            log: self.log.clone(),
            group: self.group.clone(),
            consumer: consumer(consumer_name),
        });
        match reply.expect("release is valid") {
            Reply::Released { count } => count,
            other => panic!("release answered {other:?}"),
        }
    }

    pub fn redrive(&mut self, indices: Option<Vec<u64>>) -> Redriven {
        let reply = self.run(Command::Redrive {
            log: self.log.clone(),
            group: self.group.clone(),
            indices,
        });
        match reply.expect("redrive is valid") {
            Reply::Redriven(redriven) => redriven,
            other => panic!("redrive answered {other:?}"),
        }
    }

    pub fn summary(&self) -> GroupSummary {
        self.machine
            .group(&self.log, &self.group)
            .expect("the group exists")
    }

    /// The machine's persistent state, serialized: equal text, equal state.
    pub fn snapshot(&self) -> String {
        serde_json::to_string(&self.machine).expect("a machine serializes")
    }
}

/// Indices of leases, for compact assertions.
pub fn indices(leases: &[Lease]) -> Vec<u64> {
    leases.iter().map(|lease| lease.index).collect()
}

fn describe_command(command: &Command) -> String {
    match command {
        Command::PutLog { log, settings } => format!("put_log {log} {}", json(settings)),
        Command::Append { log, messages } => {
            let payloads: Vec<String> = messages
                .iter()
                .map(|m| {
                    let mut text = String::from_utf8_lossy(&m.payload).into_owned();
                    if let Some(key) = &m.key {
                        write!(text, "@{key}").unwrap();
                    }
                    if let Some(id) = &m.dedup_id {
                        write!(text, "#{id}").unwrap();
                    }
                    text
                })
                .collect();
            format!("append {log} [{}]", payloads.join(", "))
        }
        Command::PutGroup {
            log,
            group,
            settings,
        } => format!("put_group {log}/{group} {}", json(settings)),
        Command::Acquire(a) => {
            let mut text = format!(
                "acquire {}/{} by {} max={}",
                a.log, a.group, a.consumer, a.max
            );
            if let Some(lease_ms) = a.lease_ms {
                write!(text, " lease_ms={lease_ms}").unwrap();
            }
            if let Some(wait) = a.wait {
                write!(text, " wait_ms={} waiter={}", wait.wait_ms, wait.waiter.0).unwrap();
            }
            text
        }
        Command::Settle {
            log,
            group,
            settlements,
        } => {
            let items: Vec<String> = settlements
                .iter()
                .map(|s| format!("{} {} {}", s.index, s.token, json(&s.outcome)))
                .collect();
            format!("settle {log}/{group} [{}]", items.join("; "))
        }
        Command::Extend {
            log,
            group,
            leases,
            lease_ms,
        } => {
            let items: Vec<String> = leases
                .iter()
                .map(|l| format!("{} {}", l.index, l.token))
                .collect();
            format!(
                "extend {log}/{group} [{}] lease_ms={lease_ms:?}",
                items.join(", ")
            )
        }
        Command::Release {
            log,
            group,
            consumer,
        } => format!("release {log}/{group} {consumer}"),
        Command::Redrive {
            log,
            group,
            indices,
        } => format!("redrive {log}/{group} {indices:?}"),
        Command::CancelWaiter { waiter } => format!("cancel_waiter {}", waiter.0),
        Command::CancelAllWaiters => "cancel_all_waiters".into(),
        Command::ApplyRetention => "apply_retention".into(),
        Command::Tick => "tick".into(),
    }
}

fn describe_leases(leases: &[Lease]) -> String {
    let items: Vec<String> = leases
        .iter()
        .map(|l| {
            format!(
                "{} attempt {} {} until {}",
                l.index, l.attempt, l.token, l.expires_at_ms
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn describe_reply(reply: &Reply) -> String {
    match reply {
        Reply::Acquired(acquired) => {
            let mut text = format!("leases {}", describe_leases(&acquired.leases));
            if acquired.parked {
                text.push_str(" parked");
            }
            if acquired.window_full {
                text.push_str(" window_full");
            }
            text
        }
        Reply::Settled { results } => {
            let items: Vec<String> = results
                .iter()
                .map(|r| format!("{} {}", r.index, json(&r.status)))
                .collect();
            format!("settled [{}]", items.join(", "))
        }
        other => json(other),
    }
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::WaiterServed { waiter, leases } => {
            format!("waiter {} served {}", waiter.0, describe_leases(leases))
        }
        Event::WaiterTimedOut { waiter } => format!("waiter {} timed out", waiter.0),
        Event::LeaseExpired {
            log,
            group,
            index,
            attempt,
            consumer,
            status,
        } => format!(
            "lease expired {log}/{group} index {index} attempt {attempt} of {consumer} -> {}",
            json(status)
        ),
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("test values serialize")
}
