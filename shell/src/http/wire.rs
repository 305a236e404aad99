//! The JSON shapes of the REST API (SPEC §2), and their conversion to and
//! from the machine's types. Request types deny unknown fields, so a typo
//! is an error rather than a silently ignored option.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

use base64::Engine;
use mamamia_machine::{
    Acquired, AttemptRecord, DeadLetter, ExtendResult, ExtendStatus, LeaseToken, Message,
    NewMessage, PayloadFormat, Refusal, SettleOutcome, SettleResult, SettleStatus, Settlement,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::error::ApiError;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ----- requests -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendBody {
    pub messages: Vec<WireNewMessage>,
}

/// Deserializes a present field, `null` included, as `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Deepest nesting of arrays and objects in a JSON payload. JSON parsers
/// commonly stop at 128 levels (serde_json's default), so a deeper payload
/// would be a message its consumers cannot read; half that leaves room for
/// the reply around it.
pub const PAYLOAD_JSON_DEPTH_MAX: usize = 64;

/// Checks that any consumer can parse a JSON payload back: nesting within
/// [`PAYLOAD_JSON_DEPTH_MAX`] and every number within a 64-bit float's
/// range. `text` is valid JSON (serde_json captured it).
fn check_json_payload(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                // Skip the string, escapes included.
                at += 1;
                while let Some(&inner) = bytes.get(at) {
                    match inner {
                        b'\\' if bytes.get(at + 1) == Some(&b'u') => {
                            at = check_unicode_escape(bytes, at)?;
                            continue;
                        }
                        b'\\' => at += 1,
                        b'"' => break,
                        _ => {}
                    }
                    at += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > PAYLOAD_JSON_DEPTH_MAX {
                    return Err(format!(
                        "the payload nests deeper than {PAYLOAD_JSON_DEPTH_MAX} levels"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = at;
                while bytes.get(at + 1).is_some_and(|next| {
                    matches!(next, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                }) {
                    at += 1;
                }
                let number = &text[start..=at];
                if !number.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(format!(
                        "the payload number {number} is beyond a 64-bit float's range"
                    ));
                }
            }
            _ => {}
        }
        at += 1;
    }
    Ok(())
}

/// Checks the `\uXXXX` escape at `at` (serde_json lets a lone surrogate
/// through, which strict parsers, the Rust client's among them, refuse):
/// a high surrogate must be followed by an escaped low one, and a low one
/// must not stand alone. Returns the offset after the escape (or pair).
fn check_unicode_escape(bytes: &[u8], at: usize) -> Result<usize, String> {
    let unit = |at: usize| {
        bytes
            .get(at + 2..at + 6)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    let lone = || "the payload holds a lone UTF-16 surrogate escape".to_owned();
    match unit(at) {
        Some(0xD800..=0xDBFF) => {
            let low = (bytes.get(at + 6..at + 8) == Some(b"\\u"))
                .then(|| unit(at + 6))
                .flatten();
            match low {
                Some(0xDC00..=0xDFFF) => Ok(at + 12),
                _ => Err(lone()),
            }
        }
        Some(0xDC00..=0xDFFF) => Err(lone()),
        // serde_json checked the escape's form when it captured the text.
        _ => Ok(at + 6),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireNewMessage {
    #[serde(default, deserialize_with = "present")]
    pub payload: Option<Box<RawValue>>,
    #[serde(default)]
    pub payload_base64: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub dedup_id: Option<String>,
}

impl WireNewMessage {
    /// The machine's message; `position` names it in errors.
    pub fn into_message(self, position: usize) -> Result<NewMessage, ApiError> {
        let (payload, payload_format) = match (self.payload, self.payload_base64) {
            (Some(value), None) => {
                if let Err(reason) = check_json_payload(value.get()) {
                    return Err(ApiError::bad_request(
                        "invalid_payload",
                        format!("message {position}: {reason}"),
                    ));
                }
                (Arc::from(value.get().as_bytes()), PayloadFormat::Json)
            }
            (None, Some(text)) => match BASE64.decode(text.as_bytes()) {
                Ok(bytes) => (Arc::from(bytes), PayloadFormat::Binary),
                Err(error) => {
                    return Err(ApiError::bad_request(
                        "invalid_base64",
                        format!("message {position}: payload_base64 is not base64: {error}"),
                    ))
                }
            },
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_payload",
                    format!("message {position}: give exactly one of payload and payload_base64"),
                ))
            }
        };
        Ok(NewMessage {
            payload,
            payload_format,
            key: self.key,
            headers: self.headers,
            dedup_id: self.dedup_id,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquireBody {
    pub consumer: String,
    #[serde(default = "one")]
    pub max: u32,
    #[serde(default)]
    pub lease_ms: Option<u64>,
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WireOutcome {
    Processed,
    Retry,
    Dead,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireSettlement {
    pub index: u64,
    pub token: WireToken,
    pub outcome: WireOutcome,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    pub settlements: Vec<WireSettlement>,
}

/// A lease token as a request names it, parsed as the body is read: a
/// settle names a hundred, and keeping each as a `String` first cost an
/// allocation apiece. Text that is no token is kept for the error.
pub struct WireToken(Result<LeaseToken, String>);

impl WireToken {
    pub fn parse(self) -> Result<LeaseToken, ApiError> {
        self.0.map_err(|text| {
            ApiError::bad_request("invalid_token", format!("{text:?} is not a lease token"))
        })
    }
}

impl<'de> Deserialize<'de> for WireToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = WireToken;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a lease token string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireToken, E> {
                Ok(WireToken(text.parse().map_err(|_| text.to_owned())))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

impl WireSettlement {
    pub fn into_settlement(self) -> Result<Settlement, ApiError> {
        let token = self.token.parse()?;
        let outcome = match (self.outcome, self.delay_ms, self.reason) {
            (WireOutcome::Processed, None, None) => SettleOutcome::Processed,
            (WireOutcome::Retry, delay_ms, reason) => SettleOutcome::Retry { delay_ms, reason },
            (WireOutcome::Dead, None, reason) => SettleOutcome::Dead { reason },
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_settlement",
                    format!(
                        "index {}: delay_ms goes only with retry, reason only with retry or dead",
                        self.index
                    ),
                ))
            }
        };
        Ok(Settlement {
            index: self.index,
            token,
            outcome,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireLeaseRef {
    pub index: u64,
    pub token: WireToken,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    pub leases: Vec<WireLeaseRef>,
    #[serde(default)]
    pub lease_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    #[serde(default)]
    pub indices: Option<Vec<u64>>,
}

// ----- replies -----

/// A message as the API shows it, written as JSON text directly: an
/// acquire reply holds up to a hundred leases, and through serde each
/// base64 payload and token went through `Display`, a string escaper and
/// `#[serde(flatten)]`'s map. Only the key and headers, which can need
/// escaping, go through serde_json.
pub struct WireMessage<'a>(&'a Message);

impl<'a> WireMessage<'a> {
    pub fn of(message: &'a Message) -> Self {
        WireMessage(message)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json_len_hint());
        out.push(b'{');
        self.write_fields(&mut out).expect(WRITING_TO_A_VEC);
        out.push(b'}');
        out
    }

    fn json_len_hint(&self) -> usize {
        self.0.payload().len() * 4 / 3 + 128
    }

    /// The message's fields, without braces: the payload as the JSON value
    /// it was appended as, or base64 for binary.
    fn write_fields(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let message = self.0;
        write!(out, "\"index\":{}", message.index())?;
        match json_payload(message) {
            Some(json) => {
                out.extend_from_slice(b",\"payload\":");
                out.extend_from_slice(json.get().as_bytes());
            }
            None => {
                out.extend_from_slice(b",\"payload_base64\":\"");
                let start = out.len();
                out.resize(
                    start
                        + base64::encoded_len(message.payload().len(), true)
                            .expect("a payload's base64 fits in memory"),
                    0,
                );
                BASE64
                    .encode_slice(message.payload(), &mut out[start..])
                    .expect("sized for the encoding");
                out.push(b'"');
            }
        }
        out.extend_from_slice(b",\"key\":");
        serde_json::to_writer(&mut *out, &message.key())?;
        out.extend_from_slice(b",\"headers\":");
        serde_json::to_writer(&mut *out, message.headers())?;
        write!(out, ",\"appended_at_ms\":{}", message.appended_at_ms())
    }
}

const WRITING_TO_A_VEC: &str = "writing to a Vec cannot fail";

/// The payload of a JSON message, borrowed. The append checked it; a
/// payload that somehow is not JSON goes out as base64 rather than as
/// broken JSON.
fn json_payload(message: &Message) -> Option<&RawValue> {
    match message.payload_format() {
        PayloadFormat::Json => std::str::from_utf8(message.payload())
            .ok()
            .and_then(|text| serde_json::from_str(text).ok()),
        PayloadFormat::Binary => None,
    }
}

/// The answer to an acquire: `{"leases":[...],"window_full":...}`, each
/// lease's own fields beside its message's.
pub fn acquired_json(acquired: &Acquired) -> Vec<u8> {
    let hint: usize = acquired
        .leases
        .iter()
        .map(|lease| WireMessage(&lease.message).json_len_hint() + 64)
        .sum();
    let mut out = Vec::with_capacity(hint + 64);
    write_acquired(acquired, &mut out).expect(WRITING_TO_A_VEC);
    out
}

fn write_acquired(acquired: &Acquired, out: &mut Vec<u8>) -> io::Result<()> {
    out.extend_from_slice(b"{\"leases\":[");
    for (position, lease) in acquired.leases.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        // A token's text is `lt` and hex digits: nothing to escape.
        write!(
            out,
            "{{\"token\":\"{}\",\"attempt\":{},\"expires_at_ms\":{},",
            lease.token, lease.attempt, lease.expires_at_ms
        )?;
        WireMessage(&lease.message).write_fields(out)?;
        out.push(b'}');
    }
    write!(out, "],\"window_full\":{}}}", acquired.window_full)
}

/// A value written as the string its `Display` gives, straight into the
/// output rather than through a `String`.
struct DisplayText<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for DisplayText<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// The per-item status of a settle or extend: `ok`, `stale_lease` (with
/// the refusal that made it stale) or `unknown_index`.
fn refusal_status(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownIndex => "unknown_index",
        Refusal::LeaseExpired
        | Refusal::LeaseSuperseded
        | Refusal::AlreadySettled
        | Refusal::NotLeased => "stale_lease",
    }
}

fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::LeaseExpired => "lease_expired",
        Refusal::LeaseSuperseded => "lease_superseded",
        Refusal::AlreadySettled => "already_settled",
        Refusal::NotLeased => "not_leased",
        Refusal::UnknownIndex => "unknown_index",
    }
}

#[derive(Serialize)]
pub struct WireItemResult {
    index: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'static str>,
}

impl WireItemResult {
    fn refused(index: u64, refusal: Refusal) -> Self {
        WireItemResult {
            index,
            status: refusal_status(refusal),
            state: None,
            retry_at_ms: None,
            expires_at_ms: None,
            refusal: Some(refusal_name(refusal)),
        }
    }

    fn ok(index: u64) -> Self {
        WireItemResult {
            index,
            status: "ok",
            state: None,
            retry_at_ms: None,
            expires_at_ms: None,
            refusal: None,
        }
    }

    pub fn of_settle(result: &SettleResult) -> Self {
        let ok = WireItemResult::ok(result.index);
        match result.status {
            SettleStatus::Processed => WireItemResult {
                state: Some("processed"),
                ..ok
            },
            SettleStatus::Dead => WireItemResult {
                state: Some("dead"),
                ..ok
            },
            SettleStatus::RetryAt { at_ms } => WireItemResult {
                state: Some("retry"),
                retry_at_ms: Some(at_ms),
                ..ok
            },
            SettleStatus::Refused(refusal) => WireItemResult::refused(result.index, refusal),
        }
    }

    pub fn of_extend(result: &ExtendResult) -> Self {
        match result.status {
            ExtendStatus::Extended { expires_at_ms } => WireItemResult {
                expires_at_ms: Some(expires_at_ms),
                ..WireItemResult::ok(result.index)
            },
            ExtendStatus::Refused(refusal) => WireItemResult::refused(result.index, refusal),
        }
    }
}

#[derive(Serialize)]
pub struct WireDeadLetter<'a> {
    index: u64,
    attempts: u32,
    reason: Option<&'a str>,
    dead_at_ms: u64,
}

impl<'a> WireDeadLetter<'a> {
    pub fn of(dead: &'a DeadLetter) -> Self {
        WireDeadLetter {
            index: dead.index,
            attempts: dead.attempts,
            reason: dead.reason.as_deref(),
            dead_at_ms: dead.dead_at_ms,
        }
    }
}

#[derive(Serialize)]
pub struct WireAttempt<'a> {
    attempt: u32,
    token: DisplayText<'a, LeaseToken>,
    consumer: &'a str,
    leased_at_ms: u64,
    expires_at_ms: u64,
    ended_at_ms: Option<u64>,
    outcome: Option<mamamia_machine::AttemptOutcome>,
    reason: Option<&'a str>,
}

impl<'a> WireAttempt<'a> {
    pub fn of(record: &'a AttemptRecord) -> Self {
        WireAttempt {
            attempt: record.attempt,
            token: DisplayText(&record.token),
            consumer: record.consumer.as_str(),
            leased_at_ms: record.leased_at_ms,
            expires_at_ms: record.expires_at_ms,
            ended_at_ms: record.ended_at_ms,
            outcome: record.outcome,
            reason: record.reason.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamamia_machine::{Acquire, Command, ConsumerName, GroupName, LogName, Machine, Reply};
    use serde_json::{json, Value};

    /// Two messages, binary with a key and headers that need escaping,
    /// and JSON, acquired at once.
    fn acquired() -> Acquired {
        let mut machine = Machine::default();
        let log = LogName::new("orders").unwrap();
        let binary = NewMessage {
            key: Some("say \"hi\"\n".to_owned()),
            headers: BTreeMap::from([("tab\t".to_owned(), "ü/\\".to_owned())]),
            ..NewMessage::new(vec![0u8, 1, 2, 255])
        };
        let json = NewMessage {
            payload_format: PayloadFormat::Json,
            ..NewMessage::new(r#"{"x": [1, 2.5, "\u00e9"]}"#)
        };
        let append = Command::Append {
            log: log.clone(),
            messages: vec![binary, json],
        };
        machine.handle(3, append).unwrap();
        let acquire = Acquire {
            log,
            group: GroupName::new("billing").unwrap(),
            consumer: ConsumerName::new("worker").unwrap(),
            max: 10,
            lease_ms: Some(1_000),
            wait: None,
        };
        match machine.handle(5, Command::Acquire(acquire)) {
            Ok(Reply::Acquired(acquired)) => acquired,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_acquire_answer_is_json_with_each_lease_beside_its_message() {
        let acquired = acquired();
        let text = acquired_json(&acquired);
        let answer: Value = serde_json::from_slice(&text).unwrap();
        let token = |at: usize| acquired.leases[at].token.to_string();
        assert_eq!(
            answer,
            json!({
                "leases": [
                    {
                        "token": token(0), "attempt": 1, "expires_at_ms": 1_005,
                        "index": 0, "payload_base64": "AAEC/w==",
                        "key": "say \"hi\"\n", "headers": {"tab\t": "ü/\\"},
                        "appended_at_ms": 3
                    },
                    {
                        "token": token(1), "attempt": 1, "expires_at_ms": 1_005,
                        "index": 1, "payload": {"x": [1, 2.5, "é"]},
                        "key": null, "headers": {}, "appended_at_ms": 3
                    }
                ],
                "window_full": false
            })
        );
    }

    #[test]
    fn a_message_alone_has_the_same_fields_as_in_a_lease() {
        let acquired = acquired();
        for lease in &acquired.leases {
            let alone: Value =
                serde_json::from_slice(&WireMessage::of(&lease.message).to_json()).unwrap();
            let answer: Value = serde_json::from_slice(&acquired_json(&acquired)).unwrap();
            let mut in_lease = answer["leases"][lease.index as usize].clone();
            for field in ["token", "attempt", "expires_at_ms"] {
                in_lease.as_object_mut().unwrap().remove(field);
            }
            assert_eq!(alone, in_lease);
        }
    }

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn json_payloads_any_consumer_can_parse_back_pass() {
        for text in [
            nested(PAYLOAD_JSON_DEPTH_MAX),
            r#"{"a":[1,-2.5e3,{"b":"[[[[\" 1e999 ]"}],"c":null}"#.to_owned(),
            "123456789012345678901234567890".to_owned(),
            "-1e-400".to_owned(),
            r#""\\""#.to_owned(),
        ] {
            assert_eq!(check_json_payload(&text), Ok(()), "{text}");
        }
    }

    #[test]
    fn lone_surrogate_escapes_are_refused_and_pairs_pass() {
        for text in [r#""\ud83d\ude00""#, r#"["\u00e9\\u", "\uD83D\uDE00x"]"#] {
            assert_eq!(check_json_payload(text), Ok(()), "{text}");
        }
        for text in [
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#"{"k": "\udc00"}"#,
            r#""\ud800x""#,
        ] {
            let error = check_json_payload(text).unwrap_err();
            assert!(error.contains("lone UTF-16 surrogate"), "{text}: {error}");
        }
    }

    #[test]
    fn too_deep_or_out_of_range_json_payloads_are_refused() {
        let deep = check_json_payload(&nested(PAYLOAD_JSON_DEPTH_MAX + 1)).unwrap_err();
        assert!(deep.contains("deeper than 64"), "{deep}");
        for number in ["1e400", "-1e309", r#"{"a":[1E999]}"#] {
            let error = check_json_payload(number).unwrap_err();
            assert!(error.contains("beyond a 64-bit float"), "{number}: {error}");
        }
    }
}
