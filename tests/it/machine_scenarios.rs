//! Scripted scenarios whose full trace is pinned with insta, in
//! `snapshots/`. They double as a readable tour of the semantics: each
//! line is `t=<ms> <command> -> <reply>`, with events indented below.

use mamamia_machine::*;

use crate::harness::Harness;

fn check_trace(name: &str, harness: &Harness) {
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, harness.trace);
    });
}

#[test]
fn two_consumers_share_a_log() {
    // Proves the trace of JIT leasing across two consumers, in index order.
    let mut h = Harness::default();
    h.append(&["a", "b", "c", "d", "e"]);
    let alice = h.acquire("alice", 2);
    h.at(5);
    let bob = h.acquire("bob", 2);
    h.at(10);
    h.process(&bob[0]);
    h.process(&alice[0]);
    h.process(&alice[1]);
    h.at(20);
    h.acquire("alice", 5);
    check_trace("two_consumers_share_a_log", &h);
}

#[test]
fn lease_expiry_then_retry_with_backoff() {
    // Proves the trace of an expiry, its backoff, and a late settle refused.
    let mut h = Harness::default();
    let backoff = Backoff {
        initial_ms: 100,
        multiplier: 3.0,
        cap_ms: 1_000,
    };
    h.put_group_after_append(GroupSettings {
        lease_ms: Some(50),
        backoff: Some(backoff),
        ..GroupSettings::default()
    });
    let stalled = h.acquire("alice", 1).remove(0);
    h.advance_to(50);
    h.at(120);
    h.process(&stalled);
    h.at(150);
    let second = h.acquire("bob", 1).remove(0);
    h.at(160);
    h.retry(&second, None);
    h.advance_to(460);
    let third = h.acquire("bob", 1).remove(0);
    h.at(470);
    h.process(&third);
    check_trace("lease_expiry_then_retry_with_backoff", &h);
}

#[test]
fn dead_letter_and_redrive() {
    // Proves the trace of max attempts, the dead letter, and its redrive.
    let mut h = Harness::default();
    h.put_group_after_append(GroupSettings {
        max_attempts: Some(2),
        ..GroupSettings::default()
    });
    let first = h.acquire("alice", 1).remove(0);
    h.at(10);
    h.retry(&first, Some(0));
    let second = h.acquire("alice", 1).remove(0);
    h.at(20);
    h.retry(&second, Some(0));
    h.at(30);
    h.redrive(None);
    let third = h.acquire("bob", 1).remove(0);
    h.at(40);
    h.process(&third);
    check_trace("dead_letter_and_redrive", &h);
}

#[test]
fn base_offset_held_at_a_gap() {
    // Proves the trace of base_offset waiting for a slow message, then jumping.
    let mut h = Harness::default();
    h.append(&["slow", "fast-1", "fast-2"]);
    let leases = h.acquire("alice", 3);
    h.at(10);
    h.process(&leases[1]);
    h.process(&leases[2]);
    h.at(20);
    h.extend(&leases[0], 60_000);
    h.at(30);
    h.process(&leases[0]);
    let summary = h.summary();
    h.trace.push_str(&format!(
        "base_offset {} lag {}\n",
        summary.base_offset, summary.lag
    ));
    check_trace("base_offset_held_at_a_gap", &h);
}

#[test]
fn long_poll_with_key_ordering() {
    // Proves the trace of parked waiters served in order, one message per key.
    let mut h = Harness::default();
    h.key_ordered_group();
    for (waiter, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        h.long_poll(name, 2, waiter, 1_000).unwrap();
    }
    h.at(100);
    let batch = ["k1", "k1", "k2"]
        .iter()
        .map(|key| NewMessage::new(format!("for {key}")).with_key(*key))
        .collect();
    h.append_messages(batch).unwrap();
    let served = h.drain_events();
    let Some(Event::WaiterServed { leases, .. }) = served.first() else {
        panic!("the first waiter is served at once, got {served:?}")
    };
    h.at(200);
    h.process(&leases[0].clone());
    h.advance_to(1_000);
    check_trace("long_poll_with_key_ordering", &h);
}

impl Harness {
    fn put_group_after_append(&mut self, settings: GroupSettings) {
        self.append(&["job"]);
        self.put_group(settings).unwrap();
    }
}
