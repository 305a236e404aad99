//! Messages: what producers send in and what the log keeps.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::Error;
use crate::limits::{DEDUP_ID_LEN_MAX, HEADERS_MAX, HEADER_LEN_MAX, KEY_LEN_MAX};

mod encoding;
pub(crate) mod packed;

use encoding::Bytes;

/// How a payload's bytes are meant to be read. The machine never looks
/// inside a payload; drivers use this to hand it back the way it came
/// (the REST API as a JSON value, or as base64 for binary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// Opaque bytes.
    #[default]
    Binary,
    /// The bytes are one JSON value, as UTF-8 text.
    Json,
}

impl PayloadFormat {
    fn is_binary(&self) -> bool {
        *self == PayloadFormat::Binary
    }
}

/// A message as a producer hands it in, before it has an index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Allocated once, as the log keeps it: appending moves it in.
    pub payload: Arc<[u8]>,
    #[serde(default, skip_serializing_if = "PayloadFormat::is_binary")]
    pub payload_format: PayloadFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A repeat of this id within the log's dedup window is not appended again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_id: Option<String>,
}

impl NewMessage {
    /// A message with only a payload.
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        NewMessage {
            payload: Arc::from(payload.into()),
            ..NewMessage::default()
        }
    }

    /// A message whose payload is one JSON value.
    pub fn json(value_text: impl Into<String>) -> Self {
        NewMessage {
            payload: Arc::from(value_text.into().into_bytes()),
            payload_format: PayloadFormat::Json,
            ..NewMessage::default()
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_dedup_id(mut self, dedup_id: impl Into<String>) -> Self {
        self.dedup_id = Some(dedup_id.into());
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Bytes this message will count against its log's limits.
    pub(crate) fn size_bytes(&self) -> u64 {
        size_bytes(&self.payload, self.key.as_deref(), &self.headers)
    }

    /// Checks every bound on one message; `position` names it in the error.
    pub(crate) fn validate(&self, position: usize, payload_bytes_max: usize) -> Result<(), Error> {
        let invalid = |field: &'static str, len: usize, max: usize| {
            Err(Error::MessageTooLarge {
                position,
                field,
                len,
                max,
            })
        };
        if self.payload.len() > payload_bytes_max {
            return invalid("payload", self.payload.len(), payload_bytes_max);
        }
        if let Some(key) = &self.key {
            if key.len() > KEY_LEN_MAX {
                return invalid("key", key.len(), KEY_LEN_MAX);
            }
        }
        if self.headers.len() > HEADERS_MAX {
            return invalid("headers", self.headers.len(), HEADERS_MAX);
        }
        for (name, value) in &self.headers {
            let len = name.len().max(value.len());
            if len > HEADER_LEN_MAX {
                return invalid("header", len, HEADER_LEN_MAX);
            }
        }
        if let Some(dedup_id) = &self.dedup_id {
            if dedup_id.len() > DEDUP_ID_LEN_MAX {
                return invalid("dedup_id", dedup_id.len(), DEDUP_ID_LEN_MAX);
            }
        }
        Ok(())
    }
}

/// A message in a log: immutable once appended. A cheap handle: cloning it
/// (for a lease or a read) shares the payload with the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    index: u64,
    stored: StoredMessage,
}

impl Message {
    pub(crate) fn new(index: u64, stored: StoredMessage) -> Self {
        Message { index, stored }
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn payload(&self) -> &[u8] {
        &self.stored.payload
    }

    pub fn payload_format(&self) -> PayloadFormat {
        self.stored.payload_format
    }

    pub fn key(&self) -> Option<&str> {
        self.stored.key().map(|key| &**key)
    }

    /// The headers, by name; empty for most messages.
    pub fn headers(&self) -> &BTreeMap<String, String> {
        self.stored.headers()
    }

    pub fn appended_at_ms(&self) -> u64 {
        self.stored.appended_at_ms
    }

    /// Bytes this message counts against its log's retention and size limits.
    pub fn size_bytes(&self) -> u64 {
        self.stored.size_bytes()
    }
}

/// A message as views and traces show it: every field by name.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            index: u64,
            payload: Bytes<'a>,
            #[serde(skip_serializing_if = "PayloadFormat::is_binary")]
            payload_format: PayloadFormat,
            #[serde(skip_serializing_if = "Option::is_none")]
            key: Option<&'a str>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            headers: &'a BTreeMap<String, String>,
            appended_at_ms: u64,
        }
        View {
            index: self.index,
            payload: Bytes(self.payload()),
            payload_format: self.payload_format(),
            key: self.key(),
            headers: self.headers(),
            appended_at_ms: self.appended_at_ms(),
        }
        .serialize(serializer)
    }
}

/// What a log keeps of one message, in its store: the index is implied by
/// the position. Kept small because there are millions: 40 bytes inline,
/// the payload in one shared allocation (its 16-byte reference counts
/// included, 128 bytes from glibc's malloc for a 100-byte payload), and
/// the key and headers, which most messages lack, behind one pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredMessage {
    payload: Arc<[u8]>,
    appended_at_ms: u64,
    extra: Option<Arc<Extra>>,
    payload_format: PayloadFormat,
}

const _: () = assert!(std::mem::size_of::<StoredMessage>() == 40);

/// The rarely used parts of a message.
#[derive(Debug, PartialEq, Eq)]
struct Extra {
    key: Option<Arc<str>>,
    headers: BTreeMap<String, String>,
}

/// The headers of every message that has none.
static NO_HEADERS: BTreeMap<String, String> = BTreeMap::new();

impl StoredMessage {
    pub(crate) fn new(new: NewMessage, appended_at_ms: u64) -> Self {
        let extra = (new.key.is_some() || !new.headers.is_empty()).then(|| {
            Arc::new(Extra {
                key: new.key.map(Arc::from),
                headers: new.headers,
            })
        });
        StoredMessage {
            payload: new.payload,
            appended_at_ms,
            extra,
            payload_format: new.payload_format,
        }
    }

    pub(crate) fn appended_at_ms(&self) -> u64 {
        self.appended_at_ms
    }

    /// The ordering key, shared with the key queues of key-ordered groups.
    pub(crate) fn key(&self) -> Option<&Arc<str>> {
        self.extra.as_ref()?.key.as_ref()
    }

    pub(crate) fn headers(&self) -> &BTreeMap<String, String> {
        self.extra
            .as_ref()
            .map_or(&NO_HEADERS, |extra| &extra.headers)
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        size_bytes(&self.payload, self.key().map(|key| &**key), self.headers())
    }
}

fn size_bytes(payload: &[u8], key: Option<&str>, headers: &BTreeMap<String, String>) -> u64 {
    let key = key.map_or(0, str::len);
    let headers: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    (payload.len() + key + headers) as u64
}
