//! Messages: what producers send in and what the log keeps.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::{DEDUP_ID_LEN_MAX, HEADERS_MAX, HEADER_LEN_MAX, KEY_LEN_MAX};

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
    pub payload: Vec<u8>,
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
            payload: payload.into(),
            ..NewMessage::default()
        }
    }

    /// A message whose payload is one JSON value.
    pub fn json(value_text: impl Into<String>) -> Self {
        NewMessage {
            payload: value_text.into().into_bytes(),
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

/// A message in a log: immutable once appended, shared by every lease of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub index: u64,
    pub payload: Vec<u8>,
    #[serde(default, skip_serializing_if = "PayloadFormat::is_binary")]
    pub payload_format: PayloadFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub appended_at_ms: u64,
}

impl Message {
    pub(crate) fn new(index: u64, new: NewMessage, appended_at_ms: u64) -> Self {
        Message {
            index,
            payload: new.payload,
            payload_format: new.payload_format,
            key: new.key.map(Arc::from),
            headers: new.headers,
            appended_at_ms,
        }
    }

    /// Bytes this message counts against its log's retention and size limits.
    pub fn size_bytes(&self) -> u64 {
        size_bytes(&self.payload, self.key.as_deref(), &self.headers)
    }
}

fn size_bytes(payload: &[u8], key: Option<&str>, headers: &BTreeMap<String, String>) -> u64 {
    let key = key.map_or(0, str::len);
    let headers: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    (payload.len() + key + headers) as u64
}
