//! A compact binary encoding of `Command::Append`, the hottest record: JSON
//! would spell every payload byte as a decimal number (about 3.5× the
//! bytes, and most of the owner's encoding time).
//!
//! All integers little-endian; strings are UTF-8 with a length prefix.
//!
//! ```text
//! u16 log name length, log name
//! u32 message count
//! per message:
//!   u8  payload format (0 binary, 1 JSON text)
//!   u32 payload length, payload
//!   u8  has key (0/1), [u32 key length, key]
//!   u32 header count, per header: u32 name length, name, u32 value length, value
//!   u8  has dedup id (0/1), [u32 dedup id length, dedup id]
//! ```
//!
//! A record is encoded before the machine validates the command (and taken
//! back if it is refused), so every prefix must hold whatever the HTTP body
//! limit lets through, not just what the machine accepts: counts and field
//! lengths are u32. Only the log name has a u16 prefix, and it was parsed
//! into a `LogName` (at most 128 bytes) at the edge.

use std::collections::BTreeMap;
use std::sync::Arc;

use mamamia_machine::bytes::ByteReader;
use mamamia_machine::{Command, LogName, NewMessage, PayloadFormat};

pub fn encode(log: &LogName, messages: &[NewMessage], out: &mut Vec<u8>) {
    put_bytes16(out, log.as_str().as_bytes());
    out.extend_from_slice(
        &u32::try_from(messages.len())
            .expect("a batch is far below 4G messages")
            .to_le_bytes(),
    );
    for message in messages {
        out.push(match message.payload_format {
            PayloadFormat::Binary => 0,
            PayloadFormat::Json => 1,
        });
        put_bytes32(out, &message.payload);
        put_optional(out, message.key.as_deref());
        let count =
            u32::try_from(message.headers.len()).expect("a request body is far below 4G headers");
        out.extend_from_slice(&count.to_le_bytes());
        for (name, value) in &message.headers {
            put_bytes32(out, name.as_bytes());
            put_bytes32(out, value.as_bytes());
        }
        put_optional(out, message.dedup_id.as_deref());
    }
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

/// Reads what [`encode`] wrote; `None` if the bytes are not such a record.
pub fn decode(bytes: &[u8]) -> Option<Command> {
    let mut reader = ByteReader::new(bytes);
    let log = LogName::new(std::str::from_utf8(reader.take16()?).ok()?).ok()?;
    let count = reader.u32()? as usize;
    // Each message takes at least 11 bytes (format, payload length, key
    // flag, header count, dedup flag): a count that cannot fit is damage,
    // and must not size an allocation.
    if count > reader.remaining() / 11 {
        return None;
    }
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
        encode(&log, &messages, &mut bytes);
        assert_eq!(decode(&bytes), Some(Command::Append { log, messages }));
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), None, "prefix {len}");
        }
    }
}
