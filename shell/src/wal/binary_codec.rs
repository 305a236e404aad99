//! Compact binary encodings of the two hottest records, `Command::Append`
//! and `Command::Settle`. As JSON an append would spell every payload byte
//! as a decimal number (about 3.5× the bytes, and most of the owner's
//! encoding time), and a settle takes about 55 bytes per settlement where
//! it needs 17: a third of a batched run's WAL bytes, which every fsync
//! has to write.
//!
//! All integers little-endian; strings are UTF-8 with a length prefix.
//!
//! ```text
//! append:
//! u16 log name length, log name
//! u32 message count
//! per message:
//!   u8  payload format (0 binary, 1 JSON text)
//!   u32 payload length, payload
//!   u8  has key (0/1), [u32 key length, key]
//!   u32 header count, per header: u32 name length, name, u32 value length, value
//!   u8  has dedup id (0/1), [u32 dedup id length, dedup id]
//!
//! settle:
//! u16 log name length, log name
//! u16 group name length, group name
//! u32 settlement count
//! per settlement:
//!   u64 index
//!   u64 lease token
//!   u8  outcome: 0 processed; 1 retry, then u8 has delay (0/1) [u64 delay_ms]
//!       and an optional reason; 2 dead, then an optional reason
//!       (optional: u8 0, or u8 1 and u32 length and the text)
//! ```
//!
//! A record is encoded before the machine validates the command (and taken
//! back if it is refused), so every prefix must hold whatever the HTTP body
//! limit lets through, not just what the machine accepts: counts and field
//! lengths are u32. Only the log and group names have u16 prefixes: they
//! were parsed into a `LogName` and a `GroupName` (at most 128 bytes) at
//! the edge.

use std::collections::BTreeMap;
use std::sync::Arc;

use mamamia_machine::bytes::ByteReader;
use mamamia_machine::{
    Command, GroupName, LeaseToken, LogName, NewMessage, PayloadFormat, SettleOutcome, Settlement,
};

pub fn encode_append(log: &LogName, messages: &[NewMessage], out: &mut Vec<u8>) {
    put_bytes16(out, log.as_str().as_bytes());
    put_count(out, messages.len());
    for message in messages {
        out.push(match message.payload_format {
            PayloadFormat::Binary => 0,
            PayloadFormat::Json => 1,
        });
        put_bytes32(out, &message.payload);
        put_optional(out, message.key.as_deref());
        put_count(out, message.headers.len());
        for (name, value) in &message.headers {
            put_bytes32(out, name.as_bytes());
            put_bytes32(out, value.as_bytes());
        }
        put_optional(out, message.dedup_id.as_deref());
    }
}

pub fn encode_settle(
    log: &LogName,
    group: &GroupName,
    settlements: &[Settlement],
    out: &mut Vec<u8>,
) {
    put_bytes16(out, log.as_str().as_bytes());
    put_bytes16(out, group.as_str().as_bytes());
    put_count(out, settlements.len());
    for settlement in settlements {
        out.extend_from_slice(&settlement.index.to_le_bytes());
        out.extend_from_slice(&settlement.token.number().to_le_bytes());
        match &settlement.outcome {
            SettleOutcome::Processed => out.push(0),
            SettleOutcome::Retry { delay_ms, reason } => {
                out.push(1);
                match delay_ms {
                    Some(delay_ms) => {
                        out.push(1);
                        out.extend_from_slice(&delay_ms.to_le_bytes());
                    }
                    None => out.push(0),
                }
                put_optional(out, reason.as_deref());
            }
            SettleOutcome::Dead { reason } => {
                out.push(2);
                put_optional(out, reason.as_deref());
            }
        }
    }
}

/// A u32 count of what follows (messages, headers, settlements): a request
/// body is far below 4G of anything.
fn put_count(out: &mut Vec<u8>, count: usize) {
    let count = u32::try_from(count).expect("a request body is far below 4G items");
    out.extend_from_slice(&count.to_le_bytes());
}

fn put_bytes16(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("names are at most 128 bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_bytes32(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a field is far below 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            out.push(1);
            put_bytes32(out, text.as_bytes());
        }
        None => out.push(0),
    }
}

/// Reads what [`encode_append`] wrote; `None` if the bytes are not such a
/// record.
pub fn decode_append(bytes: &[u8]) -> Option<Command> {
    let mut reader = ByteReader::new(bytes);
    let log = name(&mut reader, LogName::new)?;
    // Each message takes at least 11 bytes: format, payload length, key
    // flag, header count, dedup flag.
    let count = count(&mut reader, 11)?;
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        let payload_format = match reader.u8()? {
            0 => PayloadFormat::Binary,
            1 => PayloadFormat::Json,
            _ => return None,
        };
        let payload = Arc::from(reader.take32()?);
        let key = optional(&mut reader)?;
        let mut headers = BTreeMap::new();
        for _ in 0..reader.u32()? {
            let name = reader.string()?;
            headers.insert(name, reader.string()?);
        }
        let dedup_id = optional(&mut reader)?;
        messages.push(NewMessage {
            payload,
            payload_format,
            key,
            headers,
            dedup_id,
        });
    }
    reader
        .is_empty()
        .then_some(Command::Append { log, messages })
}

/// Reads what [`encode_settle`] wrote; `None` if the bytes are not such a
/// record.
pub fn decode_settle(bytes: &[u8]) -> Option<Command> {
    let mut reader = ByteReader::new(bytes);
    let log = name(&mut reader, LogName::new)?;
    let group = name(&mut reader, GroupName::new)?;
    // Each settlement takes at least 17 bytes: index, token, outcome.
    let count = count(&mut reader, 17)?;
    let mut settlements = Vec::with_capacity(count);
    for _ in 0..count {
        let index = reader.u64()?;
        let token = LeaseToken::from_number(reader.u64()?);
        let outcome = match reader.u8()? {
            0 => SettleOutcome::Processed,
            1 => {
                let delay_ms = match reader.u8()? {
                    0 => None,
                    1 => Some(reader.u64()?),
                    _ => return None,
                };
                let reason = optional(&mut reader)?;
                SettleOutcome::Retry { delay_ms, reason }
            }
            2 => SettleOutcome::Dead {
                reason: optional(&mut reader)?,
            },
            _ => return None,
        };
        settlements.push(Settlement {
            index,
            token,
            outcome,
        });
    }
    reader.is_empty().then_some(Command::Settle {
        log,
        group,
        settlements,
    })
}

/// A name with a u16 length prefix, checked by `new` as at the edge.
fn name<T, E>(reader: &mut ByteReader, new: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
    new(std::str::from_utf8(reader.take16()?).ok()?).ok()
}

/// A u32 count of items that take at least `min_bytes` each: a count that
/// cannot fit in what is left is damage, and must not size an allocation.
fn count(reader: &mut ByteReader, min_bytes: usize) -> Option<usize> {
    let count = reader.u32()? as usize;
    (count <= reader.remaining() / min_bytes).then_some(count)
}

/// An optional string: a 0 byte, or a 1 byte and the string.
fn optional(reader: &mut ByteReader) -> Option<Option<String>> {
    match reader.u8()? {
        0 => Some(None),
        1 => Some(Some(reader.string()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_round_trip_and_every_truncation_is_refused() {
        let log = LogName::new("orders").unwrap();
        let messages = vec![
            NewMessage::json("{\"a\":1}")
                .with_key("k")
                .with_header("h", "v")
                .with_dedup_id("d"),
            NewMessage::new(vec![0, 255, 7]),
            NewMessage::new(Vec::new()),
        ];
        let mut bytes = Vec::new();
        encode_append(&log, &messages, &mut bytes);
        assert_eq!(
            decode_append(&bytes),
            Some(Command::Append { log, messages })
        );
        for len in 0..bytes.len() {
            assert_eq!(decode_append(&bytes[..len]), None, "prefix {len}");
        }
    }

    #[test]
    fn settles_round_trip_and_every_truncation_is_refused() {
        let log = LogName::new("orders").unwrap();
        let group = GroupName::new("billing").unwrap();
        let settlement = |index: u64, outcome| Settlement {
            index,
            token: LeaseToken::from_number(u64::MAX - index),
            outcome,
        };
        let settlements = vec![
            settlement(0, SettleOutcome::Processed),
            settlement(
                7,
                SettleOutcome::Retry {
                    delay_ms: Some(250),
                    reason: Some("busy ✓".to_owned()),
                },
            ),
            settlement(
                8,
                SettleOutcome::Retry {
                    delay_ms: None,
                    reason: None,
                },
            ),
            settlement(u64::MAX, SettleOutcome::Dead { reason: None }),
            settlement(
                9,
                SettleOutcome::Dead {
                    reason: Some(String::new()),
                },
            ),
        ];
        let mut bytes = Vec::new();
        encode_settle(&log, &group, &settlements, &mut bytes);
        let command = Command::Settle {
            log,
            group,
            settlements,
        };
        assert_eq!(decode_settle(&bytes), Some(command));
        for len in 0..bytes.len() {
            assert_eq!(decode_settle(&bytes[..len]), None, "prefix {len}");
        }
        let mut unknown_outcome = bytes.clone();
        unknown_outcome[2 + 6 + 2 + 7 + 4 + 16] = 3;
        assert_eq!(decode_settle(&unknown_outcome), None);
    }
}
