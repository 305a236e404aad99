//! A log's messages in a binary snapshot (MessagePack): packed into byte
//! strings of about [`CHUNK_BYTES_TARGET`] each, so that reading millions
//! of messages back is a tight loop over bytes rather than a call into the
//! decoder for every field. Human-readable formats (the JSON the simulator
//! and tests compare) get one tuple per message instead (see `encoding`).
//!
//! A chunk is messages back to back; integers little-endian:
//!
//! ```text
//! u8  flags: 1 = JSON payload, 2 = has a key, 4 = has headers
//! u64 appended_at_ms
//! u32 payload length, payload
//! [u32 key length, key]                                        if flag 2
//! [u32 header count, per header: u32 length, name, u32 length, value]  if flag 4
//! ```
//!
//! Reading accepts chunks, tuples and the maps of older snapshots in any
//! mix, so every snapshot ever written still loads.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};

use super::encoding::{Bytes, StoredVisitor};
use super::{PayloadFormat, StoredMessage};
use crate::bytes::ByteReader;

/// A chunk is closed once it holds this many bytes: big enough that the
/// per-chunk cost vanishes, small enough that the encoder's buffer is no
/// burden. (A single message larger than this makes a chunk of its own.)
const CHUNK_BYTES_TARGET: usize = 1 << 20;

const FLAG_JSON: u8 = 1;
const FLAG_KEY: u8 = 2;
const FLAG_HEADERS: u8 = 4;

/// Serializes a store's `len` messages, oldest first.
pub(crate) fn serialize<'a, S: Serializer>(
    messages: impl Iterator<Item = &'a StoredMessage> + Clone,
    len: usize,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return serializer.collect_seq(messages);
    }
    let chunks = chunk_lens(messages.clone(), len).count();
    let mut seq = serializer.serialize_seq(Some(chunks))?;
    let mut chunk = Vec::with_capacity(CHUNK_BYTES_TARGET);
    let mut messages = messages;
    for chunk_len in chunk_lens(messages.clone(), len) {
        chunk.clear();
        for message in messages.by_ref().take(chunk_len) {
            pack(message, &mut chunk);
        }
        seq.serialize_element(&Bytes(&chunk))?;
    }
    seq.end()
}

/// How many messages each chunk holds, in order.
fn chunk_lens<'a, I: Iterator<Item = &'a StoredMessage>>(
    messages: I,
    len: usize,
) -> impl Iterator<Item = usize> + use<'a, I> {
    let (mut bytes, mut count) = (0, 0);
    messages.enumerate().filter_map(move |(position, message)| {
        bytes += packed_len(message);
        count += 1;
        let last = position + 1 == len;
        (bytes >= CHUNK_BYTES_TARGET || last).then(|| {
            let chunk_len = count;
            (bytes, count) = (0, 0);
            chunk_len
        })
    })
}

fn packed_len(message: &StoredMessage) -> usize {
    let key = message.key().map_or(0, |key| 4 + key.len());
    let headers = message.headers();
    let headers = if headers.is_empty() {
        0
    } else {
        4 + headers
            .iter()
            .map(|(name, value)| 8 + name.len() + value.len())
            .sum::<usize>()
    };
    1 + 8 + 4 + message.payload.len() + key + headers
}

fn pack(message: &StoredMessage, out: &mut Vec<u8>) {
    let mut flags = 0;
    if message.payload_format == PayloadFormat::Json {
        flags |= FLAG_JSON;
    }
    let key = message.key();
    let headers = Some(message.headers()).filter(|headers| !headers.is_empty());
    if key.is_some() {
        flags |= FLAG_KEY;
    }
    if headers.is_some() {
        flags |= FLAG_HEADERS;
    }
    out.push(flags);
    out.extend_from_slice(&message.appended_at_ms.to_le_bytes());
    put(out, &message.payload);
    if let Some(key) = key {
        put(out, key.as_bytes());
    }
    if let Some(headers) = headers {
        out.extend_from_slice(&len32(headers.len()).to_le_bytes());
        for (name, value) in headers {
            put(out, name.as_bytes());
            put(out, value.as_bytes());
        }
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("a payload, key or header list is far below 4 GiB")
}

/// Reads what [`serialize`] wrote (or an older layout), handing each
/// message to `push`, oldest first.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
    push: &mut dyn FnMut(StoredMessage),
) -> Result<(), D::Error> {
    deserializer.deserialize_seq(MessagesVisitor(push))
}

struct MessagesVisitor<'a>(&'a mut dyn FnMut(StoredMessage));

impl<'de> Visitor<'de> for MessagesVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of messages or message chunks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Piece(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One element of the sequence: a chunk, or a single message.
struct Piece<'a>(&'a mut dyn FnMut(StoredMessage));

impl<'de> DeserializeSeed<'de> for Piece<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Piece<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message chunk or a message")
    }

    fn visit_bytes<E: de::Error>(self, chunk: &[u8]) -> Result<(), E> {
        let mut reader = ByteReader::new(chunk);
        while !reader.is_empty() {
            let message =
                unpack(&mut reader).ok_or_else(|| E::custom("a damaged message chunk"))?;
            (self.0)(message);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        (self.0)(StoredVisitor.visit_seq(seq)?);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        (self.0)(StoredVisitor.visit_map(map)?);
        Ok(())
    }
}

fn unpack(reader: &mut ByteReader) -> Option<StoredMessage> {
    let flags = reader.u8()?;
    if flags & !(FLAG_JSON | FLAG_KEY | FLAG_HEADERS) != 0 {
        return None;
    }
    let appended_at_ms = reader.u64()?;
    let payload = Arc::from(reader.take32()?);
    let payload_format = if flags & FLAG_JSON != 0 {
        PayloadFormat::Json
    } else {
        PayloadFormat::Binary
    };
    if flags & (FLAG_KEY | FLAG_HEADERS) == 0 {
        // Most messages: nothing more to read, no map to make.
        return Some(StoredMessage {
            payload,
            appended_at_ms,
            extra: None,
            payload_format,
        });
    }
    let key = if flags & FLAG_KEY != 0 {
        Some(reader.string()?)
    } else {
        None
    };
    let mut headers = BTreeMap::new();
    if flags & FLAG_HEADERS != 0 {
        for _ in 0..reader.u32()? {
            let name = reader.string()?;
            headers.insert(name, reader.string()?);
        }
    }
    Some(StoredMessage::from_parts(
        payload,
        appended_at_ms,
        payload_format,
        key,
        headers,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::NewMessage;

    fn messages() -> Vec<StoredMessage> {
        let new = [
            NewMessage::new(vec![0, 1, 255]),
            NewMessage::json("{\"a\":1}").with_key("k"),
            NewMessage::new(Vec::new())
                .with_header("h", "v")
                .with_header("i", ""),
            NewMessage::json("2").with_key("").with_header("x", "y"),
        ];
        new.into_iter()
            .enumerate()
            .map(|(n, new)| StoredMessage::new(new, 1_000 + n as u64))
            .collect()
    }

    #[test]
    fn every_kind_of_message_reads_back_as_packed() {
        let messages = messages();
        let mut chunk = Vec::new();
        for message in &messages {
            let before = chunk.len();
            pack(message, &mut chunk);
            assert_eq!(chunk.len() - before, packed_len(message));
        }
        let mut reader = ByteReader::new(&chunk);
        let read: Vec<StoredMessage> = std::iter::from_fn(|| unpack(&mut reader)).collect();
        assert_eq!(read, messages);
        assert!(reader.is_empty());
    }

    #[test]
    fn a_cut_or_bad_chunk_is_refused_not_misread() {
        let mut chunk = Vec::new();
        pack(&messages()[3], &mut chunk);
        for len in 0..chunk.len() {
            let mut reader = ByteReader::new(&chunk[..len]);
            assert_eq!(unpack(&mut reader), None, "cut at {len}");
        }
        chunk[0] |= 8;
        assert_eq!(unpack(&mut ByteReader::new(&chunk)), None, "unknown flag");
    }

    #[test]
    fn chunks_close_at_the_target_and_cover_every_message() {
        let big = |n: u64| StoredMessage::new(NewMessage::new(vec![7; 300_000]), n);
        let messages: Vec<StoredMessage> = (0..10).map(big).collect();
        let lens: Vec<usize> = chunk_lens(messages.iter(), messages.len()).collect();
        // 300,000 + 13 bytes each: the fourth message passes 1 MiB.
        assert_eq!(lens, [4, 4, 2]);
        assert_eq!(chunk_lens(std::iter::empty(), 0).count(), 0);
    }
}
