//! A guided tour of the broker's rules, driving the machine directly:
//! `cargo run --release --example machine_tour -p mamamia-machine`.
//!
//! Each step prints the command at its logical time and what the machine
//! answered, then the events it raised on its own.

use mamamia_machine::*;

struct Tour {
    machine: Machine,
    log: LogName,
    group: GroupName,
}

impl Tour {
    fn run(&mut self, now_ms: u64, what: &str, command: Command) -> Reply {
        let reply = self
            .machine
            .handle(now_ms, command)
            .expect("the tour sends valid commands");
        println!("t={now_ms:>6} ms  {what}");
        println!("            -> {}", describe(&reply));
        self.print_events();
        reply
    }

    fn wait_until(&mut self, now_ms: u64) {
        println!("t={now_ms:>6} ms  (time passes)");
        self.machine.handle_timeout(now_ms);
        self.print_events();
    }

    fn print_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            println!(
                "            event {}",
                serde_json::to_string(&event).expect("events serialize")
            );
        }
    }

    fn acquire(&mut self, now_ms: u64, consumer: &str, max: u32) -> Vec<Lease> {
        let acquire = Acquire {
            log: self.log.clone(),
            group: self.group.clone(),
            consumer: ConsumerName::new(consumer).expect("valid name"),
            max,
            lease_ms: None,
            wait: None,
        };
        let what = format!("{consumer} acquires up to {max}");
        match self.run(now_ms, &what, Command::Acquire(acquire)) {
            Reply::Acquired(acquired) => acquired.leases,
            other => unreachable!("acquire answers Acquired, got {other:?}"),
        }
    }

    fn settle(&mut self, now_ms: u64, what: &str, lease: &Lease, outcome: SettleOutcome) {
        let settlement = Settlement {
            index: lease.index,
            token: lease.token,
            outcome,
        };
        let command = Command::Settle {
            log: self.log.clone(),
            group: self.group.clone(),
            settlements: vec![settlement],
        };
        self.run(now_ms, what, command);
    }

    fn summary(&self) {
        let group = self
            .machine
            .group(&self.log, &self.group)
            .expect("the group exists");
        println!(
            "            group: base_offset={} lag={} available={} leased={} backoff={} dead={} processed={}",
            group.base_offset, group.lag, group.available, group.leased, group.backoff, group.dead, group.processed
        );
    }
}

/// Replies as JSON, except leases, shown with their payload as text.
fn describe(reply: &Reply) -> String {
    let Reply::Acquired(acquired) = reply else {
        return serde_json::to_string(reply).expect("replies serialize");
    };
    let leases: Vec<String> = acquired
        .leases
        .iter()
        .map(|lease| {
            let payload = String::from_utf8_lossy(lease.message.payload());
            format!(
                "index {} {payload:?} (attempt {}, token {}, expires at {} ms)",
                lease.index, lease.attempt, lease.token, lease.expires_at_ms
            )
        })
        .collect();
    format!("leased [{}]", leases.join("; "))
}

fn main() {
    let mut tour = Tour {
        machine: Machine::default(),
        log: LogName::new("orders").expect("valid name"),
        group: GroupName::new("billing").expect("valid name"),
    };
    let messages = ["pay #1", "pay #2", "pay #3"].map(NewMessage::new).to_vec();
    tour.run(
        0,
        "append three messages",
        Command::Append {
            log: tour.log.clone(),
            messages,
        },
    );
    let settings = GroupSettings {
        lease_ms: Some(1_000),
        max_attempts: Some(2),
        backoff: Some(Backoff {
            initial_ms: 500,
            multiplier: 2.0,
            cap_ms: 10_000,
        }),
        ..GroupSettings::default()
    };
    let command = Command::PutGroup {
        log: tour.log.clone(),
        group: tour.group.clone(),
        settings,
    };
    tour.run(
        0,
        "configure the group: 1 s leases, 2 attempts, 500 ms backoff",
        command,
    );

    let alice = tour.acquire(10, "alice", 2);
    let bob = tour.acquire(20, "bob", 2);
    tour.settle(
        30,
        "bob processes #3 first: base_offset stays at the gap",
        &bob[0],
        SettleOutcome::Processed,
    );
    tour.summary();
    tour.settle(
        40,
        "alice processes #1",
        &alice[0],
        SettleOutcome::Processed,
    );
    tour.summary();
    println!("\nalice stalls on #2; her lease expires, a failed attempt with backoff:");
    tour.wait_until(1_010);
    tour.settle(
        1_100,
        "alice's late settle is fenced off",
        &alice[1],
        SettleOutcome::Processed,
    );
    let retry = tour.acquire(1_510, "bob", 1);
    let outcome = SettleOutcome::Retry {
        delay_ms: None,
        reason: Some("downstream timeout".into()),
    };
    tour.settle(
        1_600,
        "bob fails #2 on its last attempt: dead",
        &retry[0],
        outcome,
    );
    tour.summary();
    let command = Command::Redrive {
        log: tour.log.clone(),
        group: tour.group.clone(),
        indices: None,
    };
    tour.run(2_000, "an operator redrives the dead letter", command);
    let last = tour.acquire(2_010, "carol", 1);
    tour.settle(
        2_020,
        "carol processes #2",
        &last[0],
        SettleOutcome::Processed,
    );
    tour.summary();
}
