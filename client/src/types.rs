//! The API's JSON shapes as Rust types.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A message's payload: a JSON value, or bytes (sent as base64).
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Json(Value),
    Binary(Vec<u8>),
}

/// A message to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    pub payload: Payload,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub dedup_id: Option<String>,
}

impl NewMessage {
    pub fn json(value: Value) -> Self {
        NewMessage {
            payload: Payload::Json(value),
            key: None,
            headers: BTreeMap::new(),
            dedup_id: None,
        }
    }

    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        NewMessage {
            payload: Payload::Binary(bytes.into()),
            ..NewMessage::json(Value::Null)
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    pub fn with_dedup_id(mut self, dedup_id: impl Into<String>) -> Self {
        self.dedup_id = Some(dedup_id.into());
        self
    }

    /// The message as the API takes it, borrowed: nothing is copied but
    /// the base64 text of a binary payload.
    pub(crate) fn to_wire(&self) -> WireNewMessage<'_> {
        let (payload, payload_base64) = match &self.payload {
            Payload::Json(value) => (Some(value), None),
            Payload::Binary(bytes) => (None, Some(BASE64.encode(bytes))),
        };
        WireNewMessage {
            payload,
            payload_base64,
            key: self.key.as_deref(),
            headers: &self.headers,
            dedup_id: self.dedup_id.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct WireNewMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dedup_id: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Duplicate {
    pub position: usize,
    pub index: u64,
}

/// The answer to an append.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Appended {
    pub first_index: u64,
    pub count: u64,
    pub durable: bool,
    #[serde(default)]
    pub duplicates: Vec<Duplicate>,
}

/// A message as read back.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "WireMessage")]
pub struct Message {
    pub index: u64,
    pub payload: Payload,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub appended_at_ms: u64,
}

/// A message as the API sends it, alone or leased: a lease's own fields
/// come beside the message's. One struct serves both, the lease's fields
/// optional, rather than `#[serde(flatten)]`, which buffers every field
/// of every lease into an intermediate map first.
#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    attempt: Option<u32>,
    #[serde(default)]
    expires_at_ms: Option<u64>,
    index: u64,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    payload_base64: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    appended_at_ms: u64,
}

impl TryFrom<WireMessage> for Message {
    type Error = String;

    fn try_from(wire: WireMessage) -> Result<Self, String> {
        let payload = match (wire.payload, wire.payload_base64) {
            (_, Some(text)) => {
                Payload::Binary(BASE64.decode(text).map_err(|error| error.to_string())?)
            }
            (Some(value), None) => Payload::Json(value),
            (None, None) => Payload::Json(Value::Null),
        };
        Ok(Message {
            index: wire.index,
            payload,
            key: wire.key,
            headers: wire.headers,
            appended_at_ms: wire.appended_at_ms,
        })
    }
}

/// A leased message.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "WireMessage")]
pub struct Lease {
    pub token: String,
    pub attempt: u32,
    pub expires_at_ms: u64,
    pub message: Message,
}

impl TryFrom<WireMessage> for Lease {
    type Error = String;

    fn try_from(mut wire: WireMessage) -> Result<Self, String> {
        let missing = |field: &str| format!("a lease without its {field}");
        let token = wire.token.take().ok_or_else(|| missing("token"))?;
        let attempt = wire.attempt.ok_or_else(|| missing("attempt"))?;
        let expires_at_ms = wire.expires_at_ms.ok_or_else(|| missing("expires_at_ms"))?;
        Ok(Lease {
            token,
            attempt,
            expires_at_ms,
            message: Message::try_from(wire)?,
        })
    }
}

impl Lease {
    pub fn index(&self) -> u64 {
        self.message.index
    }
}

/// What a consumer reports about one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settlement {
    pub index: u64,
    pub token: String,
    /// `processed`, `retry` or `dead`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Settlement {
    pub fn processed(lease: &Lease) -> Self {
        Settlement {
            index: lease.index(),
            token: lease.token.clone(),
            outcome: "processed".into(),
            delay_ms: None,
            reason: None,
        }
    }
}

/// The per-item answer of a settle or extend.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ItemResult {
    pub index: u64,
    /// `ok`, `stale_lease` or `unknown_index`.
    pub status: String,
    /// For an accepted settle: `processed`, `retry` or `dead`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub retry_at_ms: Option<u64>,
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// Why a stale lease was refused: `lease_expired`, `lease_superseded`, ...
    #[serde(default)]
    pub refusal: Option<String>,
}

impl ItemResult {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// A group's state (the fields clients most need; see the API for all).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct GroupState {
    pub group: String,
    pub base_offset: u64,
    pub next_index: u64,
    pub lag: u64,
    pub available: u64,
    pub leased: u64,
    pub backoff: u64,
    pub dead: u64,
    pub processed: u64,
    pub waiters: u64,
}

/// A log's state.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LogState {
    pub name: String,
    pub first_index: u64,
    pub next_index: u64,
    pub bytes: u64,
    pub groups: Vec<GroupState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DeadLetter {
    pub index: u64,
    pub attempts: u32,
    pub reason: Option<String>,
    pub dead_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lease_decodes_with_its_message_fields_beside_its_own() {
        let lease: Lease = serde_json::from_value(json!({
            "token": "7-3", "attempt": 2, "expires_at_ms": 900,
            "index": 41, "payload_base64": "AAEC", "key": "k",
            "headers": {"h": "v"}, "appended_at_ms": 5, "added_later": true
        }))
        .unwrap();
        assert_eq!(lease.token, "7-3");
        assert_eq!((lease.attempt, lease.expires_at_ms), (2, 900));
        assert_eq!(lease.index(), 41);
        assert_eq!(lease.message.payload, Payload::Binary(vec![0, 1, 2]));
        assert_eq!(lease.message.key.as_deref(), Some("k"));
        assert_eq!(lease.message.headers["h"], "v");
        assert_eq!(lease.message.appended_at_ms, 5);
    }

    #[test]
    fn a_lease_keeps_a_json_payload_and_refuses_bad_base64() {
        let json_lease = json!({
            "token": "1", "attempt": 1, "expires_at_ms": 1,
            "index": 0, "payload": {"n": [1, 2]}, "key": null, "headers": {},
            "appended_at_ms": 0
        });
        let lease: Lease = serde_json::from_value(json_lease.clone()).unwrap();
        assert_eq!(lease.message.payload, Payload::Json(json!({"n": [1, 2]})));

        let mut bad = json_lease.clone();
        bad["payload_base64"] = "not base64!".into();
        assert!(serde_json::from_value::<Lease>(bad).is_err());

        let mut tokenless = json_lease;
        tokenless.as_object_mut().unwrap().remove("token");
        let error = serde_json::from_value::<Lease>(tokenless).unwrap_err();
        assert!(error.to_string().contains("without its token"), "{error}");
    }

    #[test]
    fn a_new_message_sends_only_the_fields_it_has() {
        let plain = serde_json::to_value(NewMessage::binary(vec![255]).to_wire()).unwrap();
        assert_eq!(plain, json!({"payload_base64": "/w=="}));

        let full = NewMessage::json(json!([1]))
            .with_key("k")
            .with_header("h", "v")
            .with_dedup_id("d");
        assert_eq!(
            serde_json::to_value(full.to_wire()).unwrap(),
            json!({"payload": [1], "key": "k", "headers": {"h": "v"}, "dedup_id": "d"})
        );
    }
}
