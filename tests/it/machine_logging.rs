//! Which commands a driver must log: `Reply::changed_state`. A command
//! that changed nothing but the time may be left out of the log, and a
//! consumer polling an empty group then costs no fsync.

use mamamia_machine::*;

use crate::harness::Harness;

fn state(harness: &Harness) -> Vec<u8> {
    serde_json::to_vec(&harness.machine).expect("a machine serializes")
}

#[test]
fn an_empty_poll_of_an_existing_group_changes_nothing() {
    let mut harness = Harness::default();
    let log = harness.log.clone();
    harness
        .run(Command::PutLog {
            log,
            settings: LogSettings::default(),
        })
        .unwrap();
    let request = harness.acquire_request("worker", 10);
    let first = harness.try_acquire(request.clone()).unwrap();
    assert!(first.leases.is_empty());
    assert!(first.changed_state, "the first acquire created the group");

    let before = state(&harness);
    let again = harness.try_acquire(request.clone()).unwrap();
    assert!(again.leases.is_empty() && !again.parked);
    assert!(!again.changed_state);
    assert!(!Reply::Acquired(again).changed_state());
    assert_eq!(state(&harness), before, "and indeed nothing changed");

    harness.append(&["m"]);
    let leased = harness.try_acquire(request).unwrap();
    assert_eq!(leased.leases.len(), 1);
    assert!(leased.changed_state, "a lease is a change");
    let parked = harness.long_poll("other", 1, 7, 1_000).unwrap();
    assert!(
        parked.parked && parked.changed_state,
        "a parked waiter is a change"
    );
}

#[test]
fn an_empty_poll_that_moves_a_key_ordered_window_changes_state() {
    let mut harness = Harness::default();
    harness.key_ordered_group();
    harness
        .append_messages(vec![
            NewMessage::new("first").with_key("k"),
            NewMessage::new("second").with_key("k"),
        ])
        .unwrap();
    let request = harness.acquire_request("worker", 1);
    assert_eq!(
        harness.try_acquire(request.clone()).unwrap().leases.len(),
        1
    );

    // The second message waits behind its key: it joins the window, which
    // a replay must repeat, though nothing is leased.
    let before = state(&harness);
    let held_back = harness.try_acquire(request.clone()).unwrap();
    assert!(held_back.leases.is_empty());
    assert!(held_back.changed_state);
    assert_ne!(state(&harness), before);

    let before = state(&harness);
    let idle = harness.try_acquire(request).unwrap();
    assert!(
        !idle.changed_state,
        "the window has nothing more to take in"
    );
    assert_eq!(state(&harness), before);
}

#[test]
fn only_no_op_replies_say_nothing_changed() {
    assert!(!Reply::RetentionApplied { dropped: 0 }.changed_state());
    assert!(Reply::RetentionApplied { dropped: 1 }.changed_state());
    assert!(!Reply::WaiterCancelled { found: false }.changed_state());
    assert!(Reply::WaiterCancelled { found: true }.changed_state());
}

/// A message leased to "a" until 1,000 (then 1 ms of backoff) and a
/// waiter "b" parked for it: the log up to the crash.
fn leased_with_a_waiter() -> Harness {
    let mut harness = Harness::default();
    harness.append(&["m"]);
    harness
        .put_group(GroupSettings {
            lease_ms: Some(1_000),
            backoff: Some(Backoff {
                initial_ms: 1,
                multiplier: 1.0,
                cap_ms: 1,
            }),
            ..GroupSettings::default()
        })
        .unwrap();
    assert_eq!(harness.acquire("a", 1).len(), 1);
    assert!(harness.long_poll("b", 1, 9, 5_000).unwrap().parked);
    harness
}

/// A restart whose wall clock reads 500: the shell cancels the waiters
/// then; a new consumer asks at 1,001. What it is leased.
fn restart_at_500(harness: &mut Harness) -> Vec<Lease> {
    harness.at(500).run(Command::CancelAllWaiters).unwrap();
    harness.at(1_001);
    harness.acquire("c", 1)
}

#[test]
fn a_logged_tick_keeps_timer_made_leases_across_a_restart_with_the_clock_set_back() {
    // Live: at 1,001 the backoff ends and the timer hands the message to
    // the waiter, whose client sees that lease.
    let mut live = leased_with_a_waiter();
    let served = live
        .advance_to(1_001)
        .into_iter()
        .find_map(|event| match event {
            Event::WaiterServed { leases, .. } => Some(leases),
            _ => None,
        })
        .expect("the backoff end served the waiter");
    let seen_token = served[0].token;

    // Replayed with the Tick the shell now logs before that answer goes out.
    let mut with_tick = leased_with_a_waiter();
    assert_eq!(
        with_tick.at(1_001).run(Command::Tick).unwrap(),
        Reply::Ticked
    );
    assert!(Reply::Ticked.changed_state());
    assert!(
        restart_at_500(&mut with_tick).is_empty(),
        "the replayed waiter keeps its lease"
    );

    // Without it, the same token goes to another consumer.
    let mut without_tick = leased_with_a_waiter();
    let leased = restart_at_500(&mut without_tick);
    assert_eq!(leased.first().map(|lease| lease.token), Some(seen_token));
}
