//! The byte budget of acquire (`Limits::acquire_bytes_max`): fewer leases,
//! still the lowest available ones, never none when one is available.

use mamamia_machine::*;

use crate::harness::{group_name, indices, Harness};

/// A harness whose acquires may grant `acquire_bytes_max` message bytes.
fn with_budget(acquire_bytes_max: u64) -> Harness {
    Harness::new(Limits {
        acquire_bytes_max,
        ..Limits::default()
    })
}

/// Appends messages of `size_bytes` bytes of payload each.
fn append_sized(h: &mut Harness, count: usize, size_bytes: usize) {
    let messages = (0..count)
        .map(|n| NewMessage::new(vec![b'0' + n as u8; size_bytes]))
        .collect();
    h.append_messages(messages).unwrap();
}

/// The waiters served since the last drain, as (waiter, indices).
fn served(h: &mut Harness) -> Vec<(u64, Vec<u64>)> {
    h.drain_events()
        .into_iter()
        .filter_map(|event| match event {
            Event::WaiterServed { waiter, leases } => Some((waiter.0, indices(&leases))),
            _ => None,
        })
        .collect()
}

#[test]
fn the_budget_cuts_a_grant_to_the_lowest_prefix_that_fits() {
    // Proves an acquire stops before the message that would pass the budget,
    // whether it comes back from `ready` or the frontier, and that a grant
    // may fill the budget exactly.
    let mut h = with_budget(10);
    append_sized(&mut h, 6, 4);
    assert_eq!(indices(&h.acquire("alice", 1)), vec![0]);
    assert_eq!(indices(&h.acquire("bob", 10)), vec![1, 2]);
    let summary = h.summary();
    assert_eq!((summary.leased, summary.available), (3, 3));
    // A returned message and a new one share one budget: 4 + 4, not + 4.
    assert_eq!(h.release("alice"), 1);
    assert_eq!(indices(&h.acquire("carol", 10)), vec![0, 3]);
    // 4 + 4 + 2 is exactly ten bytes.
    append_sized(&mut h, 1, 2);
    assert_eq!(indices(&h.acquire("dave", 10)), vec![4, 5, 6]);
    assert!(h.acquire("erin", 10).is_empty());
}

#[test]
fn the_budget_counts_payload_key_and_headers() {
    // Proves the budget measures `Message::size_bytes`, not the payload alone.
    let mut h = with_budget(10);
    h.append_messages(vec![
        NewMessage::new("abcd"),
        NewMessage::new("ab").with_header("h", "vwxyz"),
        NewMessage::new("a"),
    ])
    .unwrap();
    assert_eq!(h.machine.log(&h.log).unwrap().bytes, 4 + 8 + 1);
    // 4 + 8 passes ten bytes, though the payloads (4 + 2 + 1) would fit.
    assert_eq!(indices(&h.acquire("alice", 10)), vec![0]);
    assert_eq!(indices(&h.acquire("bob", 10)), vec![1, 2]);
}

#[test]
fn a_message_over_the_budget_still_goes_out_alone() {
    // Proves progress: the first message of a grant ignores the budget, so a
    // large one is leased by itself and does not block those after it.
    let mut h = with_budget(3);
    h.append_messages(vec![
        NewMessage::new("a"),
        NewMessage::new("too large"),
        NewMessage::new("b"),
        NewMessage::new("c"),
    ])
    .unwrap();
    assert_eq!(indices(&h.acquire("alice", 10)), vec![0]);
    let large = h.acquire("bob", 10);
    assert_eq!(indices(&large), vec![1]);
    assert_eq!(large[0].message.payload(), b"too large");
    assert_eq!(indices(&h.acquire("carol", 10)), vec![2, 3]);
}

#[test]
fn waiters_are_served_under_the_budget_in_turn() {
    // Proves a parked long poll is served within the budget, and the next
    // waiter in line gets the next lowest messages.
    let mut h = with_budget(10);
    append_sized(&mut h, 1, 1);
    h.acquire("busy", 1);
    assert!(h.long_poll("alice", 10, 1, 1_000).unwrap().parked);
    assert!(h.long_poll("bob", 10, 2, 1_000).unwrap().parked);
    served(&mut h);
    append_sized(&mut h, 5, 4);
    assert_eq!(served(&mut h), vec![(1, vec![1, 2]), (2, vec![3, 4])]);
    assert_eq!(indices(&h.acquire("carol", 10)), vec![5]);
}

#[test]
fn a_key_ordered_group_fills_the_budget_with_key_heads() {
    // Proves the budget counts only what is granted: a message held back
    // by its key is skipped, not counted, and goes out after its key frees.
    let mut h = with_budget(10);
    h.key_ordered_group();
    let keyed = |key: &str| NewMessage::new("xxx").with_key(key);
    h.append_messages(vec![
        keyed("a"),
        keyed("a"),
        keyed("b"),
        keyed("c"),
        keyed("d"),
    ])
    .unwrap();
    // Four bytes each: 0 and 2 fit, 3 would make twelve; 1 waits for 0.
    let first = h.acquire("alice", 10);
    assert_eq!(indices(&first), vec![0, 2]);
    assert_eq!(indices(&h.acquire("bob", 10)), vec![3, 4]);
    assert!(h.acquire("carol", 10).is_empty());
    h.process(&first[0]);
    assert_eq!(indices(&h.acquire("carol", 10)), vec![1]);
}

#[test]
fn a_budget_cut_leaves_the_same_state_as_a_smaller_max() {
    // Proves the message an acquire looked at and left is untouched: the
    // state equals that after acquires that asked for just what fit.
    let run = |acquire_bytes_max: u64, max: u32| {
        let mut h = with_budget(acquire_bytes_max);
        h.append_messages(vec![
            NewMessage::new("aaaa").with_key("k"),
            NewMessage::new("bbbb").with_key("k"),
            NewMessage::new("cccc").with_key("j"),
            NewMessage::new("dddd"),
        ])
        .unwrap();
        let unordered = indices(&h.acquire("alice", max));
        h.group = group_name("keyed");
        h.put_group(GroupSettings {
            ordering: Some(Ordering::Key),
            ..GroupSettings::default()
        })
        .unwrap();
        let keyed = indices(&h.acquire("alice", max));
        let state = h.snapshot().replace(
            &format!("\"acquire_bytes_max\":{acquire_bytes_max}"),
            "\"acquire_bytes_max\":_",
        );
        (unordered, keyed, state)
    };
    // Five bytes each: two fit in twelve; the key-ordered group skips 1.
    let (unordered, keyed, cut_state) = run(12, 10);
    assert_eq!((unordered, keyed), (vec![0, 1], vec![0, 2]));
    let (_, _, asked_state) = run(1 << 20, 2);
    assert_eq!(cut_state, asked_state);
}

#[test]
fn limits_without_an_acquire_byte_budget_are_refused() {
    // Proves a zero budget is refused by `Limits::validate` with a clear
    // message, and by loading a serialized machine that carries it.
    let limits = Limits {
        acquire_bytes_max: 0,
        ..Limits::default()
    };
    let error = limits.validate().unwrap_err();
    assert_eq!(
        error,
        LimitsError::Zero {
            field: "acquire_bytes_max"
        }
    );
    assert_eq!(
        error.to_string(),
        "acquire_bytes_max must be at least 1, got 0"
    );
    assert_eq!(Limits::default().validate(), Ok(()));

    let text = serde_json::to_string(&Machine::default()).unwrap();
    let zeroed = text.replace(
        &format!(
            "\"acquire_bytes_max\":{}",
            Limits::default().acquire_bytes_max
        ),
        "\"acquire_bytes_max\":0",
    );
    assert_ne!(zeroed, text);
    let refused = serde_json::from_str::<Machine>(&zeroed).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("acquire_bytes_max must be at least 1"),
        "{refused}"
    );
}

#[test]
#[should_panic(expected = "acquire_bytes_max must be at least 1")]
fn a_machine_cannot_be_made_with_a_zero_budget() {
    // Proves `Machine::new` refuses unvalidated limits loudly (a driver bug).
    Machine::new(Limits {
        acquire_bytes_max: 0,
        ..Limits::default()
    });
}

#[test]
fn a_machine_serialized_before_the_budget_existed_loads_with_the_default() {
    // Proves old snapshots (limits without `acquire_bytes_max`) still load.
    let mut h = Harness::default();
    h.append(&["0", "1"]);
    h.acquire("alice", 1);
    let text = h.snapshot();
    let old = text.replace(
        &format!(
            "\"acquire_bytes_max\":{},",
            Limits::default().acquire_bytes_max
        ),
        "",
    );
    assert_ne!(old, text);
    let machine: Machine = serde_json::from_str(&old).unwrap();
    assert_eq!(machine.limits(), &Limits::default());
    assert_eq!(serde_json::to_string(&machine).unwrap(), text);
}
