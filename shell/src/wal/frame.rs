//! One WAL record on disk: length + CRC32C framing around `(lsn, now_ms, command)`.
//!
//! ```text
//! offset size  field
//! 0      4     body_len: u32 LE, bytes of the body that follows the CRC
//! 4      4     crc: u32 LE, CRC32C of bytes 0..4 (body_len) then the body
//! 8      8     lsn: u64 LE, the record's sequence number (0, 1, 2, ... over all segments)
//! 16     8     now_ms: u64 LE, the logical time the machine handled the command at
//! 24     1     encoding: 1 = the command as JSON text (serde_json of `Command`),
//!                          2 = an append, 3 = a settle, in the binary forms of
//!                          `binary_codec`
//! 25     n     the encoded command
//! ```
//!
//! The CRC covers the length too, so a torn length can never make a frame
//! that reads as valid. A segment's space is reserved as zeros ahead of
//! its records, so a run of zero bytes to the end of the file is its clean
//! end; a zero length followed by anything else is damage.

use mamamia_machine::Command;

/// Bytes before the body: `body_len` and `crc`.
pub const FRAME_HEADER_LEN: usize = 8;

/// Bytes of the body before the encoded command: `lsn`, `now_ms`, `encoding`.
const BODY_PREFIX_LEN: usize = 17;

/// Any command as JSON text.
const ENCODING_JSON: u8 = 1;

/// An append in the binary form of [`super::binary_codec`].
const ENCODING_APPEND: u8 = 2;

/// A settle in the binary form of [`super::binary_codec`].
const ENCODING_SETTLE: u8 = 3;

/// Bytes of the smallest frame: header and body prefix, an empty command.
pub const FRAME_LEN_MIN: usize = FRAME_HEADER_LEN + BODY_PREFIX_LEN;

/// The lsn a frame at the start of `bytes` claims, unchecked: a cheap
/// filter before [`decode`] checks the whole frame.
pub fn lsn_of(bytes: &[u8]) -> Option<u64> {
    let field = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + 8)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

/// Largest body a frame may claim. A request body is at most a few MiB, and
/// its JSON command a few times that; anything larger is corruption, not a
/// record, and must not make recovery allocate it.
pub const BODY_LEN_MAX: usize = 256 << 20;

/// A decoded record: the machine's input at one position of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub lsn: u64,
    pub now_ms: u64,
    pub command: Command,
}

/// What the bytes at one offset hold.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A valid frame of `frame_len` bytes.
    Frame { record: Record, frame_len: usize },
    /// No bytes left, or only reserved zeros: the clean end of the segment.
    End,
    /// The bytes stop inside a frame: a write that did not complete.
    Incomplete,
    /// The bytes are not a valid frame (CRC or length wrong).
    Corrupt(String),
    /// A whole frame whose checksum holds but whose command does not
    /// decode: not a torn write, so never to be cut as one.
    Undecodable(String),
}

/// Appends the frame of one record to `out`.
pub fn encode(lsn: u64, now_ms: u64, command: &Command, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&now_ms.to_le_bytes());
    match command {
        Command::Append { log, messages } => {
            out.push(ENCODING_APPEND);
            super::binary_codec::encode_append(log, messages, out);
        }
        Command::Settle {
            log,
            group,
            settlements,
        } => {
            out.push(ENCODING_SETTLE);
            super::binary_codec::encode_settle(log, group, settlements, out);
        }
        _ => {
            out.push(ENCODING_JSON);
            serde_json::to_writer(&mut *out, command)
                .expect("a Command always serializes: its fields are plain data with string keys");
        }
    }
    let body_len = out.len() - start - FRAME_HEADER_LEN;
    let body_len = u32::try_from(body_len).expect("a command is far below 4 GiB");
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&body_len.to_le_bytes()),
        &out[start + FRAME_HEADER_LEN..],
    );
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    debug_assert!(
        matches!(decode(&out[start..]), Decoded::Frame { record, .. } if record.lsn == lsn),
        "a frame reads back as written"
    );
}

/// Reads the frame at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes.iter().all(|&byte| byte == 0) {
        return Decoded::End;
    }
    if bytes.len() < FRAME_HEADER_LEN {
        return Decoded::Incomplete;
    }
    let body_len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if !(BODY_PREFIX_LEN..=BODY_LEN_MAX).contains(&body_len) {
        return Decoded::Corrupt(format!("frame length {body_len} is out of range"));
    }
    let Some(body) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + body_len) else {
        return Decoded::Incomplete;
    };
    if crc32c::crc32c_append(crc32c::crc32c(&bytes[0..4]), body) != crc {
        return Decoded::Corrupt("checksum mismatch".to_owned());
    }
    let lsn = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let now_ms = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let encoded = &body[BODY_PREFIX_LEN..];
    let command =
        match body[16] {
            ENCODING_JSON => serde_json::from_slice(encoded).map_err(|error| error.to_string()),
            ENCODING_APPEND => super::binary_codec::decode_append(encoded)
                .ok_or_else(|| "malformed append".to_owned()),
            ENCODING_SETTLE => super::binary_codec::decode_settle(encoded)
                .ok_or_else(|| "malformed settle".to_owned()),
            other => Err(format!("unknown command encoding {other}")),
        };
    match command {
        Ok(command) => Decoded::Frame {
            record: Record {
                lsn,
                now_ms,
                command,
            },
            frame_len: FRAME_HEADER_LEN + body_len,
        },
        Err(error) => Decoded::Undecodable(format!("record {lsn} does not decode: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamamia_machine::{LogName, NewMessage};

    fn append(text: &str) -> Command {
        Command::Append {
            log: LogName::new("orders").unwrap(),
            messages: vec![NewMessage::new(text)],
        }
    }

    #[test]
    fn a_frame_round_trips_and_every_prefix_is_incomplete() {
        let mut bytes = Vec::new();
        encode(7, 1234, &append("hello"), &mut bytes);
        let Decoded::Frame { record, frame_len } = decode(&bytes) else {
            panic!("valid frame")
        };
        assert_eq!(
            (record.lsn, record.now_ms, frame_len),
            (7, 1234, bytes.len())
        );
        assert_eq!(record.command, append("hello"));
        let mut json = Vec::new();
        encode(8, 1, &Command::CancelAllWaiters, &mut json);
        assert!(
            matches!(decode(&json), Decoded::Frame { record, .. } if record.command == Command::CancelAllWaiters)
        );
        for len in 1..bytes.len() {
            assert_eq!(decode(&bytes[..len]), Decoded::Incomplete, "prefix {len}");
        }
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let mut bytes = Vec::new();
        encode(1, 2, &append("payload"), &mut bytes);
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            assert!(
                !matches!(decode(&damaged), Decoded::Frame { .. }),
                "flip at {position} went unnoticed"
            );
        }
    }
}
