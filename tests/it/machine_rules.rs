//! One test per broker rule of SPEC §1, through the machine's public API.

use mamamia_machine::*;

use crate::harness::{consumer, group_name, indices, log_name, Harness};

fn processed() -> SettleOutcome {
    SettleOutcome::Processed
}

#[test]
fn appends_get_contiguous_indices_across_batches() {
    // Proves indices start at 0, are contiguous, and a batch is one range.
    let mut h = Harness::default();
    assert_eq!(h.append(&["a", "b", "c"]), 0);
    assert_eq!(h.append(&["d"]), 3);
    let log = h.machine.log(&h.log).unwrap();
    assert_eq!((log.first_index, log.next_index, log.bytes), (0, 4, 4));
    let message = h.machine.message(&h.log, 2).unwrap();
    assert_eq!((message.index(), message.payload()), (2, &b"c"[..]));
}

#[test]
fn a_refused_batch_appends_nothing() {
    // Proves batch atomicity: one oversized message refuses the whole batch.
    let mut h = Harness::default();
    h.append(&["first"]);
    let too_big = vec![0u8; h.machine.limits().payload_bytes_max + 1];
    let batch = vec![NewMessage::new("ok"), NewMessage::new(too_big)];
    let error = h.append_messages(batch).unwrap_err();
    assert!(
        matches!(
            error,
            Error::MessageTooLarge {
                position: 1,
                field: "payload",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(h.machine.log(&h.log).unwrap().next_index, 1);
}

#[test]
fn acquire_leases_lowest_index_first_and_never_more_than_asked() {
    // Proves JIT leasing: `max` bounds each grant, consumers share the log.
    let mut h = Harness::default();
    h.append(&["0", "1", "2", "3", "4"]);
    let first = h.acquire("alice", 2);
    let second = h.acquire("bob", 2);
    let third = h.acquire("carol", 10);
    assert_eq!(
        (indices(&first), indices(&second), indices(&third)),
        (vec![0, 1], vec![2, 3], vec![4])
    );
    assert!(h.acquire("dave", 10).is_empty());
    let summary = h.summary();
    assert_eq!((summary.leased, summary.available, summary.lag), (5, 0, 5));
    assert!(first.iter().all(|lease| lease.attempt == 1));
}

#[test]
fn base_offset_waits_for_the_lowest_unsettled_message() {
    // Proves base_offset never skips a gap, then jumps once the gap settles.
    let mut h = Harness::default();
    h.append(&["0", "1", "2"]);
    let leases = h.acquire("alice", 3);
    h.process(&leases[2]);
    h.process(&leases[1]);
    assert_eq!(h.summary().base_offset, 0);
    h.process(&leases[0]);
    let summary = h.summary();
    assert_eq!(
        (summary.base_offset, summary.processed, summary.lag),
        (3, 3, 0)
    );
}

#[test]
fn retry_waits_out_the_backoff_then_offers_the_message_again() {
    // Proves retry uses the group's exponential backoff per attempt.
    let mut h = Harness::default();
    let backoff = Backoff {
        initial_ms: 100,
        multiplier: 2.0,
        cap_ms: 1_000,
    };
    h.append(&["job"]);
    h.put_group(GroupSettings {
        backoff: Some(backoff),
        ..GroupSettings::default()
    })
    .unwrap();
    let lease = h.acquire("alice", 1).remove(0);
    assert_eq!(h.retry(&lease, None), SettleStatus::RetryAt { at_ms: 100 });
    assert_eq!(h.summary().backoff, 1);
    h.at(99);
    assert!(h.acquire("alice", 1).is_empty(), "still backing off");
    h.at(100);
    let second = h.acquire("alice", 1).remove(0);
    assert_eq!((second.index, second.attempt), (0, 2));
    h.at(150);
    assert_eq!(h.retry(&second, None), SettleStatus::RetryAt { at_ms: 350 });
}

#[test]
fn retry_with_an_explicit_delay_overrides_the_backoff() {
    // Proves delay_ms wins over the backoff, and 0 means available at once.
    let mut h = Harness::default();
    h.append(&["job"]);
    let lease = h.acquire("alice", 1).remove(0);
    assert_eq!(h.retry(&lease, Some(0)), SettleStatus::RetryAt { at_ms: 0 });
    let again = h.acquire("bob", 1).remove(0);
    assert_eq!(again.attempt, 2);
    assert_eq!(
        h.retry(&again, Some(5_000)),
        SettleStatus::RetryAt { at_ms: 5_000 }
    );
}

#[test]
fn the_last_failed_attempt_makes_the_message_dead() {
    // Proves max_attempts: a retry on the last attempt is dead, listed, and settles base.
    let mut h = Harness::default();
    h.append(&["poison", "fine"]);
    h.put_group(GroupSettings {
        max_attempts: Some(2),
        ..GroupSettings::default()
    })
    .unwrap();
    let first = h.acquire("alice", 1).remove(0);
    h.retry(&first, Some(0));
    let second = h.acquire("alice", 1).remove(0);
    assert_eq!((second.index, second.attempt), (0, 2));
    assert_eq!(h.retry(&second, Some(0)), SettleStatus::Dead);
    let dead = h.machine.dead_letters(&h.log, &h.group, None, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].index, dead[0].attempts), (0, 2));
    assert_eq!(h.summary().base_offset, 1);
}

#[test]
fn an_expired_lease_is_a_failed_attempt() {
    // Proves expiry counts as an attempt, raises an event, and fences the old token.
    let mut h = Harness::default();
    h.append(&["job"]);
    let lease = h.acquire_request("alice", 1);
    let lease = h
        .try_acquire(Acquire {
            lease_ms: Some(1_000),
            ..lease
        })
        .unwrap()
        .leases
        .remove(0);
    assert_eq!(h.machine.next_deadline_ms(), Some(1_000));
    assert!(h.advance_to(999).is_empty());
    let events = h.advance_to(1_000);
    assert!(
        matches!(
            &events[..],
            [Event::LeaseExpired {
                index: 0,
                attempt: 1,
                status: SettleStatus::RetryAt { at_ms: 2_000 },
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(
        h.process(&lease),
        SettleStatus::Refused(Refusal::LeaseExpired)
    );
    h.at(2_000);
    let again = h.acquire("bob", 1).remove(0);
    assert_eq!(again.attempt, 2);
    assert_ne!(again.token, lease.token);
}

#[test]
fn expiry_on_the_last_attempt_is_dead() {
    // Proves the expiry path and the retry path share the max_attempts rule.
    let mut h = Harness::default();
    h.append(&["job"]);
    h.put_group(GroupSettings {
        max_attempts: Some(1),
        lease_ms: Some(50),
        ..GroupSettings::default()
    })
    .unwrap();
    h.acquire("alice", 1);
    let events = h.advance_to(50);
    assert!(
        matches!(
            &events[..],
            [Event::LeaseExpired {
                status: SettleStatus::Dead,
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!((h.summary().dead, h.summary().base_offset), (1, 1));
}

#[test]
fn stale_tokens_are_refused_with_the_precise_reason() {
    // Proves each refusal reason, and that a refusal changes nothing.
    let mut h = Harness::default();
    h.append(&["0", "1", "2"]);
    let first = h.acquire("alice", 1).remove(0);
    h.retry(&first, Some(0));
    let second = h.acquire("bob", 1).remove(0);
    assert_eq!(second.index, 0);
    let before = h.snapshot();
    assert_eq!(
        h.process(&first),
        SettleStatus::Refused(Refusal::LeaseSuperseded)
    );
    assert_eq!(
        h.settle(1, second.token, processed()),
        SettleStatus::Refused(Refusal::NotLeased)
    );
    assert_eq!(
        h.settle(9, second.token, processed()),
        SettleStatus::Refused(Refusal::UnknownIndex)
    );
    let forged = LeaseToken::from_str_checked("lt99");
    assert_eq!(
        h.settle(0, forged, processed()),
        SettleStatus::Refused(Refusal::NotLeased)
    );
    assert_eq!(h.snapshot(), before, "refusals leave state untouched");
    assert_eq!(h.process(&second), SettleStatus::Processed);
    assert_eq!(
        h.process(&second),
        SettleStatus::Refused(Refusal::AlreadySettled)
    );
    let retried = h.acquire("carol", 1).remove(0);
    h.retry(&retried, Some(10));
    assert_eq!(
        h.process(&retried),
        SettleStatus::Refused(Refusal::AlreadySettled)
    );
}

#[test]
fn extend_pushes_the_expiry_out() {
    // Proves a heartbeat keeps a lease alive past its first expiry.
    let mut h = Harness::default();
    h.append(&["job"]);
    h.put_group(GroupSettings {
        lease_ms: Some(100),
        ..GroupSettings::default()
    })
    .unwrap();
    let lease = h.acquire("alice", 1).remove(0);
    h.at(90);
    assert_eq!(
        h.extend(&lease, 100),
        ExtendStatus::Extended { expires_at_ms: 190 }
    );
    assert!(
        h.advance_to(150).is_empty(),
        "the first expiry no longer fires"
    );
    assert_eq!(h.process(&lease), SettleStatus::Processed);
    assert_eq!(
        h.extend(&lease, 100),
        ExtendStatus::Refused(Refusal::AlreadySettled)
    );
}

#[test]
fn release_returns_a_consumers_leases_at_once() {
    // Proves release-on-leave: counted as an attempt, no backoff, others untouched.
    let mut h = Harness::default();
    h.append(&["0", "1", "2"]);
    let mine = h.acquire("alice", 2);
    let theirs = h.acquire("bob", 1);
    assert_eq!(h.release("alice"), 2);
    assert_eq!(h.release("alice"), 0);
    let summary = h.summary();
    assert_eq!(
        (summary.leased, summary.available, summary.totals.released),
        (1, 2, 2)
    );
    let again = h.acquire("carol", 5);
    assert_eq!(indices(&again), vec![0, 1]);
    assert!(again.iter().all(|lease| lease.attempt == 2));
    assert_eq!(
        h.process(&mine[0]),
        SettleStatus::Refused(Refusal::LeaseSuperseded)
    );
    assert_eq!(h.process(&theirs[0]), SettleStatus::Processed);
}

#[test]
fn long_poll_waiters_are_served_first_come_first_served() {
    // Proves parked acquires get new messages in arrival order, up to their max.
    let mut h = Harness::default();
    h.put_group_on_empty_log();
    for (waiter, name) in [(1, "alice"), (2, "bob")] {
        let acquired = h.long_poll(name, 2, waiter, 5_000).unwrap();
        assert!(acquired.parked && acquired.leases.is_empty());
    }
    assert_eq!(h.summary().waiters, 2);
    h.at(10);
    h.append(&["0", "1", "2"]);
    let events = h.drain_served();
    assert_eq!(events, vec![(1, vec![0, 1]), (2, vec![2])]);
    assert_eq!(h.summary().waiters, 0);
}

#[test]
fn a_long_poll_times_out_empty_at_its_deadline() {
    // Proves the waiter deadline is a timer and ends the wait with an event.
    let mut h = Harness::default();
    h.put_group_on_empty_log();
    h.long_poll("alice", 1, 7, 300).unwrap();
    assert_eq!(h.machine.next_deadline_ms(), Some(300));
    assert_eq!(
        h.advance_to(300),
        vec![Event::WaiterTimedOut {
            waiter: WaiterId(7)
        }]
    );
    h.append(&["late"]);
    assert!(
        h.drain_events().is_empty(),
        "a timed-out waiter is not served"
    );
}

#[test]
fn a_cancelled_waiter_gets_nothing() {
    // Proves a waiter whose client left is dropped without leasing it anything.
    let mut h = Harness::default();
    h.put_group_on_empty_log();
    h.long_poll("alice", 1, 3, 1_000).unwrap();
    let reply = h
        .run(Command::CancelWaiter {
            waiter: WaiterId(3),
        })
        .unwrap();
    assert_eq!(reply, Reply::WaiterCancelled { found: true });
    h.append(&["0"]);
    assert!(h.drain_events().is_empty());
    assert_eq!(h.summary().leased, 0);
    assert_eq!(h.machine.next_deadline_ms(), None);
}

#[test]
fn key_ordering_leases_one_message_per_key_in_index_order() {
    // Proves per-key ordering holds across retries while other keys flow.
    let mut h = Harness::default();
    h.put_group_on_empty_log_with(GroupSettings {
        ordering: Some(Ordering::Key),
        ..GroupSettings::default()
    });
    let messages = vec![
        NewMessage::new("a0").with_key("a"),
        NewMessage::new("a1").with_key("a"),
        NewMessage::new("b0").with_key("b"),
        NewMessage::new("free"),
    ];
    h.append_messages(messages).unwrap();
    let first = h.acquire("alice", 10);
    assert_eq!(indices(&first), vec![0, 2, 3], "a1 waits behind a0");
    assert_eq!(
        h.retry(&first[0], Some(100)),
        SettleStatus::RetryAt { at_ms: 100 }
    );
    assert!(
        h.acquire("bob", 10).is_empty(),
        "a0 in backoff still blocks key a"
    );
    h.at(100);
    let retried = h.acquire("bob", 10);
    assert_eq!(indices(&retried), vec![0]);
    h.process(&retried[0]);
    assert_eq!(indices(&h.acquire("carol", 10)), vec![1]);
}

#[test]
fn a_repeated_dedup_id_returns_the_original_index() {
    // Proves idempotent append within the window, also inside one batch.
    let mut h = Harness::default();
    h.append_messages(vec![NewMessage::new("x").with_dedup_id("order-1")])
        .unwrap();
    let batch = vec![
        NewMessage::new("y").with_dedup_id("order-2"),
        NewMessage::new("x again").with_dedup_id("order-1"),
        NewMessage::new("y again").with_dedup_id("order-2"),
    ];
    let appended = h.append_messages(batch).unwrap();
    assert_eq!((appended.first_index, appended.count), (1, 1));
    assert_eq!(
        appended.duplicates,
        vec![
            Duplicate {
                position: 1,
                index: 0
            },
            Duplicate {
                position: 2,
                index: 1
            }
        ]
    );
    let window_ms = LogConfig::default().dedup_window_ms;
    h.at(window_ms);
    let later = h
        .append_messages(vec![NewMessage::new("x").with_dedup_id("order-1")])
        .unwrap();
    assert_eq!(
        (later.first_index, later.count),
        (2, 1),
        "the window has passed"
    );
}

#[test]
fn the_unsettled_window_bounds_what_a_group_tracks() {
    // Proves that at the window bound acquire hands out nothing new and says so.
    let mut h = Harness::default();
    h.append(&["0", "1", "2", "3"]);
    h.put_group(GroupSettings {
        unsettled_window: Some(2),
        ..GroupSettings::default()
    })
    .unwrap();
    let leases = h.acquire("alice", 10);
    assert_eq!(indices(&leases), vec![0, 1]);
    let full = h.try_acquire(h.acquire_request("bob", 10)).unwrap();
    assert!(full.leases.is_empty() && full.window_full);
    assert!(h.summary().window_full);
    h.process(&leases[1]);
    assert!(
        h.acquire("bob", 10).is_empty(),
        "index 0 still holds the window"
    );
    h.process(&leases[0]);
    assert_eq!(indices(&h.acquire("bob", 10)), vec![2, 3]);
}

#[test]
fn retention_drops_only_what_every_group_settled() {
    // Proves retention keeps messages a group still needs, drops the rest.
    let mut h = Harness::default();
    let log = h.log.clone();
    h.run(Command::PutLog {
        log: log.clone(),
        settings: LogSettings {
            retention_bytes: Some(Some(0)),
            ..LogSettings::default()
        },
    })
    .unwrap();
    h.put_group(GroupSettings::default()).unwrap();
    let slow = group_name("slow");
    h.run(Command::PutGroup {
        log: log.clone(),
        group: slow.clone(),
        settings: GroupSettings::default(),
    })
    .unwrap();
    h.append(&["0", "1", "2"]);
    for lease in h.acquire("alice", 2) {
        h.process(&lease);
    }
    h.run(Command::ApplyRetention).unwrap();
    assert_eq!(
        h.machine.log(&log).unwrap().first_index,
        0,
        "group slow still needs 0"
    );
    h.group = slow;
    let lease = h.acquire("bob", 1).remove(0);
    h.process(&lease);
    assert_eq!(
        h.run(Command::ApplyRetention).unwrap(),
        Reply::RetentionApplied { dropped: 1 }
    );
    assert_eq!(h.machine.log(&log).unwrap().first_index, 1);
    assert!(matches!(
        h.machine.message(&log, 0),
        Err(Error::IndexNotRetained {
            index: 0,
            first_index: 1
        })
    ));
}

#[test]
fn retention_by_age_waits_for_the_limit() {
    // Proves nothing is dropped before its age limit, even when settled.
    let mut h = Harness::default();
    let log = h.log.clone();
    let settings = LogSettings {
        retention_ms: Some(Some(1_000)),
        retention_bytes: Some(None),
        ..LogSettings::default()
    };
    h.run(Command::PutLog {
        log: log.clone(),
        settings,
    })
    .unwrap();
    h.append(&["0"]);
    let lease = h.acquire("alice", 1).remove(0);
    h.process(&lease);
    h.at(999);
    assert_eq!(
        h.run(Command::ApplyRetention).unwrap(),
        Reply::RetentionApplied { dropped: 0 }
    );
    h.at(1_000);
    assert_eq!(
        h.run(Command::ApplyRetention).unwrap(),
        Reply::RetentionApplied { dropped: 1 }
    );
}

#[test]
fn redrive_makes_dead_messages_available_again_to_one_group() {
    // Proves redrive resets attempts, keeps base_offset, pins retention, spares other groups.
    let mut h = Harness::default();
    h.append(&["0", "1"]);
    let other = group_name("audit");
    h.run(Command::PutGroup {
        log: h.log.clone(),
        group: other.clone(),
        settings: GroupSettings::default(),
    })
    .unwrap();
    let leases = h.acquire("alice", 2);
    h.kill(&leases[0], "bad input");
    h.process(&leases[1]);
    assert_eq!(h.summary().base_offset, 2);
    let other_before = h.machine.group(&h.log, &other).unwrap();
    let redriven = h.redrive(Some(vec![0, 1, 7]));
    assert_eq!((redriven.count, redriven.not_dead), (1, vec![1, 7]));
    let summary = h.summary();
    assert_eq!(
        (
            summary.base_offset,
            summary.dead,
            summary.redriven_pending,
            summary.available
        ),
        (2, 0, 1, 1)
    );
    assert_eq!(h.machine.group(&h.log, &other).unwrap(), other_before);
    let again = h.acquire("bob", 5);
    assert_eq!((indices(&again), again[0].attempt), (vec![0], 1));
    assert_eq!(
        h.process(&leases[0]),
        SettleStatus::Refused(Refusal::LeaseSuperseded),
        "old token stays fenced"
    );
    h.process(&again[0]);
    assert_eq!(h.summary().redriven_pending, 0);
    let history = h.machine.attempts(&h.log, &h.group, 0).unwrap();
    assert!(
        history.is_empty(),
        "processed and below base_offset: forgotten"
    );
}

#[test]
fn attempt_history_records_each_attempt() {
    // Proves the bounded per-message history: consumer, outcome and reason.
    let mut h = Harness::default();
    h.append(&["job"]);
    let first = h.acquire("alice", 1).remove(0);
    h.settle(
        0,
        first.token,
        SettleOutcome::Retry {
            delay_ms: Some(0),
            reason: Some("timeout".into()),
        },
    );
    let second = h.acquire("bob", 1).remove(0);
    h.at(5);
    h.release("bob");
    let history = h.machine.attempts(&h.log, &h.group, 0).unwrap();
    let summary: Vec<(u32, &str, Option<AttemptOutcome>, Option<&str>)> = history
        .iter()
        .map(|r| {
            (
                r.attempt,
                r.consumer.as_str(),
                r.outcome,
                r.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "alice", Some(AttemptOutcome::Retried), Some("timeout")),
            (2, "bob", Some(AttemptOutcome::Released), None)
        ]
    );
    assert_eq!(
        (history[1].token, history[1].ended_at_ms),
        (second.token, Some(5))
    );
}

#[test]
fn a_group_can_start_at_latest_or_at_an_index() {
    // Proves start positions, fixed at creation.
    let mut h = Harness::default();
    h.append(&["0", "1", "2"]);
    h.put_group(GroupSettings {
        start: Some(StartPosition::Latest),
        ..GroupSettings::default()
    })
    .unwrap();
    assert_eq!(h.summary().base_offset, 3);
    assert!(h.acquire("alice", 1).is_empty());
    h.group = group_name("from-one");
    h.put_group(GroupSettings {
        start: Some(StartPosition::Index(1)),
        ..GroupSettings::default()
    })
    .unwrap();
    assert_eq!(indices(&h.acquire("alice", 5)), vec![1, 2]);
    let changed = h.put_group(GroupSettings {
        start: Some(StartPosition::Earliest),
        ..GroupSettings::default()
    });
    assert_eq!(changed, Err(Error::ConfigConflict { field: "start" }));
    let updated = h.put_group(GroupSettings {
        lease_ms: Some(500),
        ..GroupSettings::default()
    });
    assert_eq!(updated, Ok(Reply::GroupPut { created: false }));
    assert_eq!(h.summary().config.lease_ms, 500);
}

#[test]
fn groups_of_one_log_are_independent() {
    // Proves each group keeps its own cursor and message state.
    let mut h = Harness::default();
    h.append(&["0", "1"]);
    let a = h.acquire("alice", 2);
    h.process(&a[0]);
    h.group = group_name("other");
    let b = h.acquire("bob", 2);
    assert_eq!(indices(&b), vec![0, 1], "the other group sees everything");
    assert_eq!(h.summary().base_offset, 0);
    h.group = group_name("billing");
    assert_eq!(h.summary().base_offset, 1);
}

#[test]
fn time_never_goes_back() {
    // Proves an earlier now_ms counts as the machine's current time.
    let mut h = Harness::default();
    h.append(&["job"]);
    h.at(1_000);
    let lease = h.acquire("alice", 1).remove(0);
    h.at(10);
    assert_eq!(
        h.retry(&lease, None),
        SettleStatus::RetryAt { at_ms: 2_000 }
    );
    assert_eq!(h.machine.now_ms(), 1_000);
}

#[test]
fn consumers_and_logs_are_listed_by_name() {
    // Proves listing order is by name, never by hash.
    let mut h = Harness::default();
    for name in ["zeta", "alpha", "mid"] {
        h.log = log_name(name);
        h.append(&["x"]);
    }
    let names: Vec<String> = h
        .machine
        .logs()
        .iter()
        .map(|log| log.name.to_string())
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    let _ = consumer("unused");
}

impl Harness {
    fn put_group_on_empty_log(&mut self) {
        self.put_group_on_empty_log_with(GroupSettings::default());
    }

    fn put_group_on_empty_log_with(&mut self, settings: GroupSettings) {
        let log = self.log.clone();
        self.run(Command::PutLog {
            log,
            settings: LogSettings::default(),
        })
        .unwrap();
        self.put_group(settings).unwrap();
    }

    /// The waiters served since the last drain, as (waiter, indices).
    fn drain_served(&mut self) -> Vec<(u64, Vec<u64>)> {
        self.drain_events()
            .into_iter()
            .map(|event| match event {
                Event::WaiterServed { waiter, leases } => (waiter.0, indices(&leases)),
                other => panic!("expected only waiters served, got {other:?}"),
            })
            .collect()
    }
}

trait TokenText {
    fn from_str_checked(text: &str) -> LeaseToken;
}

impl TokenText for LeaseToken {
    fn from_str_checked(text: &str) -> LeaseToken {
        text.parse().expect("test tokens are well formed")
    }
}

#[test]
fn a_full_log_makes_room_by_retention_or_refuses_untouched() {
    // Proves the size cap counts what retention may drop, and a refusal drops nothing.
    let mut h = Harness::default();
    let settings = LogSettings {
        max_bytes: Some(4),
        retention_ms: Some(Some(1_000)),
        ..LogSettings::default()
    };
    h.run(Command::PutLog {
        log: h.log.clone(),
        settings,
    })
    .unwrap();
    h.put_group(GroupSettings::default()).unwrap();
    h.append(&["ab"]);
    let lease = h.acquire("alice", 1).remove(0);
    h.kill(&lease, "poison");
    h.advance_to(2_000);
    let before = h.snapshot();
    let refused = h.append_messages(vec![NewMessage::new("abcde")]);
    assert_eq!(
        refused,
        Err(Error::LogFull { bytes: 5, max: 4 }),
        "even with index 0 dropped, 5 > 4"
    );
    assert_eq!(h.snapshot(), before, "nothing dropped, dead letter kept");
    let appended = h.append_messages(vec![NewMessage::new("abcd")]).unwrap();
    assert_eq!(appended.first_index, 1);
    assert_eq!(
        h.machine.log(&h.log).unwrap().first_index,
        1,
        "retention made the room"
    );
}

#[test]
fn retrying_an_acknowledged_append_on_a_full_log_is_not_refused() {
    // Proves repeats weigh nothing: an idempotent retry never fails for want of space.
    let mut h = Harness::default();
    let settings = LogSettings {
        max_bytes: Some(4),
        ..LogSettings::default()
    };
    h.run(Command::PutLog {
        log: h.log.clone(),
        settings,
    })
    .unwrap();
    h.put_group(GroupSettings::default()).unwrap();
    let message = NewMessage::new("abc").with_dedup_id("x");
    h.append_messages(vec![message.clone()]).unwrap();
    let retried = h.append_messages(vec![message.clone(), message]).unwrap();
    assert_eq!((retried.count, retried.duplicates.len()), (0, 2));
}

#[test]
fn a_token_from_another_group_matches_nothing() {
    // Proves tokens are unique machine-wide, so a misrouted settle is refused.
    let mut h = Harness::default();
    h.append(&["0"]);
    let first = h.acquire("alice", 1).remove(0);
    h.group = group_name("other");
    let other = h.acquire("bob", 1).remove(0);
    assert_ne!(first.token, other.token);
    assert_eq!(h.process(&first), SettleStatus::Refused(Refusal::NotLeased));
    assert_eq!(h.process(&other), SettleStatus::Processed);
}

#[test]
fn a_key_blocked_acquire_does_not_park_past_the_waiter_limit() {
    // Proves waiters_max holds even when only key-blocked messages remain.
    let mut h = Harness::new(Limits {
        waiters_max: 1,
        ..Limits::default()
    });
    h.put_group_on_empty_log_with(GroupSettings {
        ordering: Some(Ordering::Key),
        ..GroupSettings::default()
    });
    h.append_messages(vec![
        NewMessage::new("a").with_key("k"),
        NewMessage::new("b").with_key("k"),
    ])
    .unwrap();
    assert_eq!(indices(&h.acquire("alice", 5)), vec![0]);
    h.append_messages(vec![NewMessage::new("c").with_key("k")])
        .unwrap();
    h.group = group_name("idle");
    h.put_group(GroupSettings {
        start: Some(StartPosition::Latest),
        ..GroupSettings::default()
    })
    .unwrap();
    assert!(h.long_poll("carol", 1, 1, 1_000).unwrap().parked);
    h.group = group_name("billing");
    let blocked = h.long_poll("bob", 1, 2, 1_000).unwrap();
    assert!(
        blocked.leases.is_empty() && !blocked.parked,
        "answered at once, not parked"
    );
}

#[test]
fn log_settings_tell_null_from_absent() {
    // Proves `null` lifts a retention limit while an absent field keeps it,
    // also after a round trip through the command log's JSON.
    let lifted: LogSettings = serde_json::from_str(r#"{"retention_ms": null}"#).unwrap();
    assert_eq!(
        (lifted.retention_ms, lifted.retention_bytes),
        (Some(None), None)
    );
    let replayed: LogSettings =
        serde_json::from_str(&serde_json::to_string(&lifted).unwrap()).unwrap();
    assert_eq!(replayed, lifted);
    let mut h = Harness::default();
    h.run(Command::PutLog {
        log: h.log.clone(),
        settings: lifted,
    })
    .unwrap();
    let config = h.machine.log(&h.log).unwrap().config;
    assert_eq!(config.retention_ms, None);
    assert_eq!(config.retention_bytes, LogConfig::default().retention_bytes);
}
