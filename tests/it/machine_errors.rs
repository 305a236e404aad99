//! Every way a command can be refused: each gives its specific error and
//! leaves the machine's state exactly as it was.

use mamamia_machine::*;

use crate::harness::{consumer, group_name, log_name, Harness};

/// A machine with one log of three messages, a group with one lease out,
/// and one parked waiter on another group.
fn populated(limits: Limits) -> Harness {
    let mut h = Harness::new(limits);
    h.append(&["0", "1"]);
    h.append(&["2"]);
    h.acquire("alice", 1);
    h.group = group_name("idle");
    h.put_group(GroupSettings {
        start: Some(StartPosition::Latest),
        ..GroupSettings::default()
    })
    .unwrap();
    h.long_poll("bob", 1, 1, 1_000).unwrap();
    h.group = group_name("billing");
    h
}

/// Runs `command` on a populated machine and checks it is refused with
/// `expected` and changes nothing.
fn check_refused(limits: Limits, command: Command, expected: Error) {
    let mut h = populated(limits);
    let before = h.snapshot();
    let result = h.run(command);
    assert_eq!(result, Err(expected.clone()));
    assert_eq!(h.snapshot(), before, "{expected:?} changed state");
    assert!(!expected.to_string().is_empty() && !expected.code().is_empty());
}

fn check(command: Command, expected: Error) {
    check_refused(Limits::default(), command, expected);
}

fn orders() -> LogName {
    log_name("orders")
}

fn billing() -> GroupName {
    group_name("billing")
}

fn acquire(max: u32) -> Acquire {
    Acquire {
        log: orders(),
        group: billing(),
        consumer: consumer("carol"),
        max,
        lease_ms: None,
        wait: None,
    }
}

fn settle_item(outcome: SettleOutcome) -> Settlement {
    Settlement {
        index: 0,
        token: "lt1".parse().unwrap(),
        outcome,
    }
}

#[test]
fn unknown_log_and_group() {
    // Proves commands on what does not exist are refused, not created.
    let nowhere = log_name("nowhere");
    check(
        Command::Acquire(Acquire {
            log: nowhere.clone(),
            ..acquire(1)
        }),
        Error::UnknownLog {
            log: nowhere.clone(),
        },
    );
    check(
        Command::PutGroup {
            log: nowhere.clone(),
            group: billing(),
            settings: GroupSettings::default(),
        },
        Error::UnknownLog { log: nowhere },
    );
    let ghost = group_name("ghost");
    let unknown = Error::UnknownGroup {
        log: orders(),
        group: ghost.clone(),
    };
    check(
        Command::Settle {
            log: orders(),
            group: ghost.clone(),
            settlements: vec![settle_item(SettleOutcome::Processed)],
        },
        unknown.clone(),
    );
    check(
        Command::Release {
            log: orders(),
            group: ghost.clone(),
            consumer: consumer("alice"),
        },
        unknown.clone(),
    );
    check(
        Command::Redrive {
            log: orders(),
            group: ghost.clone(),
            indices: None,
        },
        unknown.clone(),
    );
    check(
        Command::Extend {
            log: orders(),
            group: ghost,
            leases: vec![LeaseRef {
                index: 0,
                token: "lt1".parse().unwrap(),
            }],
            lease_ms: None,
        },
        unknown,
    );
}

#[test]
fn batches_empty_or_over_the_limit() {
    // Proves batch bounds on append, settle, extend and redrive.
    let limits = Limits {
        batch_len_max: 2,
        ..Limits::default()
    };
    let too_many = |len| Error::BatchTooLarge { len, max: 2 };
    check(
        Command::Append {
            log: orders(),
            messages: vec![],
        },
        Error::EmptyBatch,
    );
    check_refused(
        limits.clone(),
        Command::Append {
            log: orders(),
            messages: vec![NewMessage::new("x"); 3],
        },
        too_many(3),
    );
    check(
        Command::Settle {
            log: orders(),
            group: billing(),
            settlements: vec![],
        },
        Error::EmptyBatch,
    );
    let settlements = vec![settle_item(SettleOutcome::Processed); 3];
    check_refused(
        limits.clone(),
        Command::Settle {
            log: orders(),
            group: billing(),
            settlements,
        },
        too_many(3),
    );
    check(
        Command::Extend {
            log: orders(),
            group: billing(),
            leases: vec![],
            lease_ms: None,
        },
        Error::EmptyBatch,
    );
    check_refused(
        limits,
        Command::Redrive {
            log: orders(),
            group: billing(),
            indices: Some(vec![0, 1, 2]),
        },
        too_many(3),
    );
}

#[test]
fn oversized_message_fields() {
    // Proves each per-message bound names the field and the batch position.
    let field_error = |field, len, max| Error::MessageTooLarge {
        position: 0,
        field,
        len,
        max,
    };
    let append = |message: NewMessage| Command::Append {
        log: orders(),
        messages: vec![message],
    };
    let key = "k".repeat(KEY_LEN_MAX + 1);
    check(
        append(NewMessage::new("x").with_key(key)),
        field_error("key", KEY_LEN_MAX + 1, KEY_LEN_MAX),
    );
    let id = "d".repeat(DEDUP_ID_LEN_MAX + 1);
    check(
        append(NewMessage::new("x").with_dedup_id(id)),
        field_error("dedup_id", DEDUP_ID_LEN_MAX + 1, DEDUP_ID_LEN_MAX),
    );
    let mut many = NewMessage::new("x");
    for i in 0..=HEADERS_MAX {
        many = many.with_header(format!("h{i}"), "v");
    }
    check(
        append(many),
        field_error("headers", HEADERS_MAX + 1, HEADERS_MAX),
    );
    let long = NewMessage::new("x").with_header("h", "v".repeat(HEADER_LEN_MAX + 1));
    check(
        append(long),
        field_error("header", HEADER_LEN_MAX + 1, HEADER_LEN_MAX),
    );
}

#[test]
fn a_full_log_refuses_appends() {
    // Proves the hard size cap holds when nothing can be dropped.
    let mut h = Harness::default();
    let settings = LogSettings {
        max_bytes: Some(4),
        ..LogSettings::default()
    };
    h.run(Command::PutLog {
        log: orders(),
        settings,
    })
    .unwrap();
    h.put_group(GroupSettings::default()).unwrap();
    h.append(&["abc"]);
    let before = h.snapshot();
    let result = h.append_messages(vec![NewMessage::new("de")]);
    assert_eq!(result, Err(Error::LogFull { bytes: 5, max: 4 }));
    assert_eq!(h.snapshot(), before);
}

#[test]
fn acquire_parameters_out_of_range() {
    // Proves max, lease_ms and wait_ms bounds.
    let limit = Limits::default().acquire_max;
    check(
        Command::Acquire(acquire(0)),
        Error::AcquireMaxOutOfRange { max: 0, limit },
    );
    check(
        Command::Acquire(acquire(limit + 1)),
        Error::AcquireMaxOutOfRange {
            max: limit + 1,
            limit,
        },
    );
    for lease_ms in [LEASE_MS_MIN - 1, LEASE_MS_MAX + 1] {
        check(
            Command::Acquire(Acquire {
                lease_ms: Some(lease_ms),
                ..acquire(1)
            }),
            Error::LeaseOutOfRange {
                lease_ms,
                min: LEASE_MS_MIN,
                max: LEASE_MS_MAX,
            },
        );
    }
    let wait = Some(Wait {
        waiter: WaiterId(9),
        wait_ms: WAIT_MS_MAX + 1,
    });
    check(
        Command::Acquire(Acquire { wait, ..acquire(1) }),
        Error::WaitOutOfRange {
            wait_ms: WAIT_MS_MAX + 1,
            max: WAIT_MS_MAX,
        },
    );
    check(
        Command::Extend {
            log: orders(),
            group: billing(),
            leases: vec![LeaseRef {
                index: 0,
                token: "lt1".parse().unwrap(),
            }],
            lease_ms: Some(0),
        },
        Error::LeaseOutOfRange {
            lease_ms: 0,
            min: LEASE_MS_MIN,
            max: LEASE_MS_MAX,
        },
    );
}

#[test]
fn waiter_limits_and_duplicates() {
    // Proves a waiter id in use and a full waiter table are refused.
    let idle = Acquire {
        group: group_name("idle"),
        ..acquire(1)
    };
    let same_id = Some(Wait {
        waiter: WaiterId(1),
        wait_ms: 100,
    });
    check(
        Command::Acquire(Acquire {
            wait: same_id,
            ..idle.clone()
        }),
        Error::DuplicateWaiter {
            waiter: WaiterId(1),
        },
    );
    let limits = Limits {
        waiters_max: 1,
        ..Limits::default()
    };
    let next_id = Some(Wait {
        waiter: WaiterId(2),
        wait_ms: 100,
    });
    check_refused(
        limits.clone(),
        Command::Acquire(Acquire {
            wait: next_id,
            ..idle
        }),
        Error::TooManyWaiters { max: 1 },
    );
    // With messages to hand out, a full waiter table does not matter.
    let mut h = populated(limits);
    let served = h
        .try_acquire(Acquire {
            wait: next_id,
            ..acquire(1)
        })
        .unwrap();
    assert_eq!(served.leases.len(), 1);
}

#[test]
fn settle_delay_and_reason_bounds() {
    // Proves a bad item refuses the whole settle batch before any item applies.
    let delay_ms = DELAY_MS_MAX + 1;
    let retry = SettleOutcome::Retry {
        delay_ms: Some(delay_ms),
        reason: None,
    };
    check(
        Command::Settle {
            log: orders(),
            group: billing(),
            settlements: vec![settle_item(SettleOutcome::Processed), settle_item(retry)],
        },
        Error::DelayOutOfRange {
            delay_ms,
            max: DELAY_MS_MAX,
        },
    );
    let dead = SettleOutcome::Dead {
        reason: Some("r".repeat(REASON_LEN_MAX + 1)),
    };
    check(
        Command::Settle {
            log: orders(),
            group: billing(),
            settlements: vec![settle_item(dead)],
        },
        Error::ReasonTooLong {
            len: REASON_LEN_MAX + 1,
            max: REASON_LEN_MAX,
        },
    );
}

#[test]
fn invalid_group_configuration() {
    // Proves each group setting is range-checked, and fixed fields stay fixed.
    let put = |settings| Command::PutGroup {
        log: orders(),
        group: group_name("new"),
        settings,
    };
    let backoff = |initial_ms, multiplier, cap_ms| GroupSettings {
        backoff: Some(Backoff {
            initial_ms,
            multiplier,
            cap_ms,
        }),
        ..Default::default()
    };
    let cases = [
        (
            GroupSettings {
                max_attempts: Some(0),
                ..Default::default()
            },
            "max_attempts",
        ),
        (
            GroupSettings {
                max_attempts: Some(ATTEMPTS_MAX + 1),
                ..Default::default()
            },
            "max_attempts",
        ),
        (
            GroupSettings {
                unsettled_window: Some(0),
                ..Default::default()
            },
            "unsettled_window",
        ),
        (backoff(1, 0.5, 10), "backoff.multiplier"),
        (backoff(1, f64::NAN, 10), "backoff.multiplier"),
        (backoff(20, 2.0, 10), "backoff.initial_ms"),
        (backoff(1, 2.0, DELAY_MS_MAX + 1), "backoff.cap_ms"),
        (
            GroupSettings {
                lease_ms: Some(1),
                ..Default::default()
            },
            "lease_ms",
        ),
        (
            GroupSettings {
                start: Some(StartPosition::Index(4)),
                ..Default::default()
            },
            "start",
        ),
    ];
    for (settings, field) in cases {
        let mut h = populated(Limits::default());
        let before = h.snapshot();
        let error = h.run(put(settings.clone())).unwrap_err();
        let refused_field = match &error {
            Error::InvalidConfig { field, .. } => field,
            Error::LeaseOutOfRange { .. } => "lease_ms",
            Error::StartOutOfRange { .. } => "start",
            other => panic!("{settings:?} gave {other:?}"),
        };
        assert_eq!(refused_field, field, "{settings:?} gave {error:?}");
        assert_eq!(h.snapshot(), before);
    }
    check(
        Command::PutGroup {
            log: orders(),
            group: billing(),
            settings: GroupSettings {
                ordering: Some(Ordering::Key),
                ..Default::default()
            },
        },
        Error::ConfigConflict { field: "ordering" },
    );
}

#[test]
fn invalid_log_configuration() {
    // Proves log settings are range-checked.
    let settings = LogSettings {
        max_bytes: Some(0),
        ..LogSettings::default()
    };
    let mut h = populated(Limits::default());
    let before = h.snapshot();
    let error = h
        .run(Command::PutLog {
            log: orders(),
            settings,
        })
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidConfig {
                field: "max_bytes",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(h.snapshot(), before);
    let settings = LogSettings {
        dedup_window_len: Some(DEDUP_WINDOW_LEN_MAX + 1),
        ..LogSettings::default()
    };
    assert!(matches!(
        h.run(Command::PutLog {
            log: orders(),
            settings
        }),
        Err(Error::InvalidConfig {
            field: "dedup_window_len",
            ..
        })
    ));
}

#[test]
fn capacity_limits_on_logs_and_groups() {
    // Proves the machine-wide log and per-log group limits.
    let limits = Limits {
        logs_max: 1,
        groups_per_log_max: 2,
        ..Limits::default()
    };
    check_refused(
        limits.clone(),
        Command::Append {
            log: log_name("second"),
            messages: vec![NewMessage::new("x")],
        },
        Error::TooManyLogs { max: 1 },
    );
    check_refused(
        limits.clone(),
        Command::PutLog {
            log: log_name("second"),
            settings: LogSettings::default(),
        },
        Error::TooManyLogs { max: 1 },
    );
    let third = Acquire {
        group: group_name("third"),
        ..acquire(1)
    };
    check_refused(
        limits,
        Command::Acquire(third),
        Error::TooManyGroups { max: 2 },
    );
}

#[test]
fn reads_of_what_does_not_exist() {
    // Proves reads return not-found errors instead of panicking.
    let h = populated(Limits::default());
    assert_eq!(
        h.machine.message(&orders(), 3),
        Err(Error::UnknownIndex {
            index: 3,
            next_index: 3
        })
    );
    assert!(matches!(
        h.machine.log(&log_name("none")),
        Err(Error::UnknownLog { .. })
    ));
    assert!(matches!(
        h.machine.group(&orders(), &group_name("none")),
        Err(Error::UnknownGroup { .. })
    ));
    assert!(matches!(
        h.machine.attempts(&orders(), &billing(), 99),
        Err(Error::UnknownIndex { .. })
    ));
    assert_eq!(
        Error::UnknownIndex {
            index: 3,
            next_index: 3
        }
        .kind(),
        ErrorKind::NotFound
    );
}
