//! The machine's state as a snapshot stores it: MessagePack with named
//! fields (rmp-serde). Like JSON it is self-describing, which the machine's
//! serde attributes (skipped empty fields, integer map keys) need, but it
//! is binary: the log's messages, nearly all of a snapshot, go in as byte
//! strings of about 1 MiB that pack many messages each, so decoding them
//! is a loop over bytes, not a decoder call per field (see the machine's
//! `message/packed.rs`). Snapshots of the previous layout (a map per
//! message, payloads as arrays of numbers) still load.

use std::io::{self, Write};

use mamamia_machine::Machine;

/// Writes the machine's state to `out`, which may be a file: a failure to
/// write keeps its own error (a full disk stays a full disk).
pub fn encode(machine: &Machine, out: &mut dyn Write) -> io::Result<()> {
    rmp_serde::encode::write_named(out, machine).map_err(|error| match error {
        rmp_serde::encode::Error::InvalidValueWrite(write) => io::Error::from(write),
        // Not expected: the machine is plain data, every map key a string
        // or an integer.
        other => io::Error::other(other),
    })
}

pub fn decode(bytes: &[u8]) -> Result<Machine, String> {
    rmp_serde::from_slice(bytes).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use mamamia_machine::*;

    fn names() -> (LogName, GroupName, GroupName, ConsumerName) {
        (
            LogName::new("orders").unwrap(),
            GroupName::new("billing").unwrap(),
            GroupName::new("keyed").unwrap(),
            ConsumerName::new("worker").unwrap(),
        )
    }

    /// A machine that uses every part of the state: keys, headers, dedup
    /// ids, key ordering, leases, backoff, dead letters, redrive, waiters.
    fn busy_machine() -> Machine {
        let (log, billing, keyed, worker) = names();
        let mut machine = Machine::default();
        let messages = (0..6)
            .map(|n| {
                NewMessage::json(format!("{{\"n\":{n}}}"))
                    .with_key(format!("k{}", n % 2))
                    .with_header("h", "v")
                    .with_dedup_id(format!("d{n}"))
            })
            .chain([NewMessage::new(vec![0, 200, 255])])
            .collect();
        machine
            .handle(
                1,
                Command::Append {
                    log: log.clone(),
                    messages,
                },
            )
            .unwrap();
        let settings = GroupSettings {
            ordering: Some(Ordering::Key),
            max_attempts: Some(1),
            ..Default::default()
        };
        machine
            .handle(
                2,
                Command::PutGroup {
                    log: log.clone(),
                    group: keyed.clone(),
                    settings,
                },
            )
            .unwrap();
        let acquire = |group: &GroupName, max, wait| {
            Command::Acquire(Acquire {
                log: log.clone(),
                group: group.clone(),
                consumer: worker.clone(),
                max,
                lease_ms: Some(1_000),
                wait,
            })
        };
        let Ok(Reply::Acquired(leased)) = machine.handle(3, acquire(&billing, 4, None)) else {
            panic!("leased")
        };
        let settle = |index, token, outcome| Settlement {
            index,
            token,
            outcome,
        };
        let settlements = vec![
            settle(
                leased.leases[0].index,
                leased.leases[0].token,
                SettleOutcome::Processed,
            ),
            settle(
                leased.leases[1].index,
                leased.leases[1].token,
                SettleOutcome::Retry {
                    delay_ms: Some(500),
                    reason: Some("later".into()),
                },
            ),
            settle(
                leased.leases[2].index,
                leased.leases[2].token,
                SettleOutcome::Dead {
                    reason: Some("poison".into()),
                },
            ),
        ];
        machine
            .handle(
                4,
                Command::Settle {
                    log: log.clone(),
                    group: billing.clone(),
                    settlements,
                },
            )
            .unwrap();
        machine
            .handle(
                5,
                Command::Redrive {
                    log: log.clone(),
                    group: billing.clone(),
                    indices: None,
                },
            )
            .unwrap();
        machine.handle(6, acquire(&keyed, 2, None)).unwrap();
        machine
            .handle(
                7,
                acquire(
                    &keyed,
                    10,
                    Some(Wait {
                        waiter: WaiterId(9),
                        wait_ms: 60_000,
                    }),
                ),
            )
            .unwrap();
        machine.handle(1_500, Command::ApplyRetention).unwrap(); // lease expiries fire on the way
                                                                 // Events are outputs, not state: the owner drains them before any snapshot.
        while machine.poll_event().is_some() {}
        machine
    }

    fn encoded(machine: &Machine) -> Vec<u8> {
        let mut state = Vec::new();
        super::encode(machine, &mut state).expect("a Vec takes any write");
        state
    }

    fn json(machine: &Machine) -> String {
        serde_json::to_string(machine).unwrap()
    }

    #[test]
    fn a_snapshot_from_before_the_compact_message_layout_still_loads() {
        // `busy_machine()` as the previous version encoded it: each message
        // a map with its index, the payload an array of numbers.
        let old = include_bytes!("../../testdata/busy-machine-v1.msgpack");
        let restored = super::decode(old).expect("an old snapshot decodes");
        assert_eq!(json(&restored), json(&busy_machine()));
        assert!(
            encoded(&restored).len() < old.len(),
            "the new layout is smaller"
        );
    }

    #[test]
    fn a_log_larger_than_a_chunk_round_trips() {
        let (log, ..) = names();
        let mut machine = Machine::default();
        for batch in 0..5u32 {
            let messages = (0..100u32)
                .map(|n| {
                    let message = NewMessage::new(vec![(batch + n) as u8; 5_000]);
                    match n % 3 {
                        0 => message.with_key(format!("k{n}")),
                        1 => message.with_header("n", n.to_string()),
                        _ => message,
                    }
                })
                .collect();
            let append = Command::Append {
                log: log.clone(),
                messages,
            };
            machine.handle(u64::from(batch), append).unwrap();
        }
        let state = encoded(&machine);
        assert!(state.len() > 2_500_000, "several chunks");
        let restored = super::decode(&state).expect("decodes");
        assert_eq!(json(&restored), json(&machine));
    }

    #[test]
    fn a_busy_machine_round_trips_and_then_behaves_the_same() {
        let original = busy_machine();
        let mut restored = super::decode(&encoded(&original)).expect("decodes");
        let mut original = original;
        assert_eq!(
            serde_json::to_string(&restored).unwrap(),
            serde_json::to_string(&original).unwrap()
        );
        let (log, billing, keyed, worker) = names();
        for (now_ms, group) in [(2_000, &billing), (70_000, &keyed), (80_000, &billing)] {
            let acquire = Command::Acquire(Acquire {
                log: log.clone(),
                group: group.clone(),
                consumer: worker.clone(),
                max: 10,
                lease_ms: None,
                wait: None,
            });
            assert_eq!(
                restored.handle(now_ms, acquire.clone()),
                original.handle(now_ms, acquire)
            );
            assert_eq!(restored.poll_event(), original.poll_event());
        }
        assert_eq!(restored.next_deadline_ms(), original.next_deadline_ms());
    }

    /// Writes up to `room` bytes, then fails as a full disk does.
    struct FullDisk {
        room: usize,
    }

    impl std::io::Write for FullDisk {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::ErrorKind::StorageFull.into());
            }
            let taken = bytes.len().min(self.room);
            self.room -= taken;
            Ok(taken)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_encode_that_cannot_write_fails_with_the_writers_own_error() {
        let machine = busy_machine();
        let state_len = encoded(&machine).len();
        for room in [0, 1, state_len / 2, state_len - 1] {
            let error = super::encode(&machine, &mut FullDisk { room })
                .expect_err("the state does not fit");
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::StorageFull,
                "{room}: {error}"
            );
        }
        super::encode(&machine, &mut FullDisk { room: state_len }).expect("the state fits");
    }
}
