//! One stored message as serde sees it: how the JSON of a machine (which
//! the simulator and tests compare byte for byte) spells it, and how
//! snapshots of older versions held it. Binary snapshots pack messages into
//! chunks instead (see `packed`).
//!
//! A stored message is a sequence, not a map, so no field name is repeated
//! per message, and its payload is a byte string (an array of numbers in
//! JSON, which has no byte strings):
//!
//! ```text
//! [payload, appended_at_ms]                                   binary, no key or headers
//! [payload, appended_at_ms, 1]                                JSON, no key or headers
//! [payload, appended_at_ms, format, key or null, {headers}]   otherwise
//! ```
//!
//! `format` is 0 for binary, 1 for JSON. Snapshots from before the compact
//! layout held each message as a map with named fields (the index among
//! them) and the payload as an array of numbers; those still read.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use super::{Extra, PayloadFormat, StoredMessage};

/// Bytes serialized as a byte string (an array of numbers in JSON).
pub(crate) struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

const FORMAT_BINARY: u8 = 0;
const FORMAT_JSON: u8 = 1;

impl Serialize for StoredMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = match (&self.extra, self.payload_format) {
            (None, PayloadFormat::Binary) => 2,
            (None, PayloadFormat::Json) => 3,
            (Some(_), _) => 5,
        };
        let mut tuple = serializer.serialize_tuple(len)?;
        tuple.serialize_element(&Bytes(&self.payload))?;
        tuple.serialize_element(&self.appended_at_ms)?;
        if len > 2 {
            tuple.serialize_element(&match self.payload_format {
                PayloadFormat::Binary => FORMAT_BINARY,
                PayloadFormat::Json => FORMAT_JSON,
            })?;
        }
        if let Some(extra) = &self.extra {
            tuple.serialize_element(&extra.key)?;
            tuple.serialize_element(&extra.headers)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for StoredMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Any, not a sequence: snapshots of older versions hold a map.
        deserializer.deserialize_any(StoredVisitor)
    }
}

impl StoredMessage {
    pub(super) fn from_parts(
        payload: Arc<[u8]>,
        appended_at_ms: u64,
        payload_format: PayloadFormat,
        key: Option<String>,
        headers: BTreeMap<String, String>,
    ) -> Self {
        let extra = (key.is_some() || !headers.is_empty()).then(|| {
            Arc::new(Extra {
                key: key.map(Arc::from),
                headers,
            })
        });
        StoredMessage {
            payload,
            appended_at_ms,
            extra,
            payload_format,
        }
    }
}

pub(super) struct StoredVisitor;

impl<'de> Visitor<'de> for StoredVisitor {
    type Value = StoredMessage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stored message")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StoredMessage, A::Error> {
        let missing = |at, what| de::Error::invalid_length(at, &what);
        let Payload(payload) = seq.next_element()?.ok_or_else(|| missing(0, "a payload"))?;
        let appended_at_ms = seq
            .next_element()?
            .ok_or_else(|| missing(1, "an append time"))?;
        let payload_format = match seq.next_element::<u8>()? {
            None | Some(FORMAT_BINARY) => PayloadFormat::Binary,
            Some(FORMAT_JSON) => PayloadFormat::Json,
            Some(other) => {
                return Err(de::Error::custom(format!("unknown payload format {other}")))
            }
        };
        let key = seq.next_element::<Option<String>>()?.flatten();
        let headers = seq.next_element()?.unwrap_or_default();
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(missing(6, "at most 5 fields"));
        }
        Ok(StoredMessage::from_parts(
            payload,
            appended_at_ms,
            payload_format,
            key,
            headers,
        ))
    }

    /// The named fields of older snapshots.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoredMessage, A::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Field {
            Index,
            Payload,
            PayloadFormat,
            Key,
            Headers,
            AppendedAtMs,
        }
        let mut payload = None;
        let mut appended_at_ms = None;
        let mut payload_format = PayloadFormat::Binary;
        let mut key = None;
        let mut headers = BTreeMap::new();
        while let Some(field) = map.next_key()? {
            match field {
                // The position in the store gives it.
                Field::Index => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                Field::Payload => payload = Some(map.next_value::<Payload>()?.0),
                Field::PayloadFormat => payload_format = map.next_value()?,
                Field::Key => key = map.next_value()?,
                Field::Headers => headers = map.next_value()?,
                Field::AppendedAtMs => appended_at_ms = Some(map.next_value()?),
            }
        }
        Ok(StoredMessage::from_parts(
            payload.ok_or_else(|| de::Error::missing_field("payload"))?,
            appended_at_ms.ok_or_else(|| de::Error::missing_field("appended_at_ms"))?,
            payload_format,
            key,
            headers,
        ))
    }
}

/// A payload read from a byte string, or from an array of numbers (JSON,
/// and older snapshots), straight into its shared allocation.
struct Payload(Arc<[u8]>);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(PayloadVisitor).map(Payload)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Arc<[u8]>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("payload bytes")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Arc<[u8]>, E> {
        Ok(Arc::from(bytes))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arc<[u8]>, A::Error> {
        // The hint comes from the input: trust it only so far.
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(byte) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(Arc::from(bytes))
    }
}
