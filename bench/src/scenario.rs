//! Scenarios: what one benchmark run asks of the broker, read from JSON.
//!
//! A config file is `{"scenarios": [ {...}, ... ]}`; unknown fields are
//! refused so a typo never silently runs a different benchmark.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The config shipped with the bench, used when `--config` is not given.
pub const DEFAULT_CONFIG_JSON: &str = include_str!("../default.json");

/// Most scenarios in one config: each takes seconds, a longer list is a mistake.
pub const SCENARIOS_MAX: usize = 100;
/// Most messages in one scenario: the ledger keeps a counter per message.
pub const MSGS_MAX: u64 = 100_000_000;
/// Most producer or consumer tasks: each holds a connection to the server.
pub const WORKERS_MAX: u32 = 10_000;
/// Most messages per append or acquire: the server's own default limit.
pub const BATCH_MAX: u32 = 10_000;
/// Smallest payload: it carries the message's id and send time (8 bytes each).
pub const PAYLOAD_BYTES_MIN: usize = 16;
/// Largest payload: the server's default per-message limit.
pub const PAYLOAD_BYTES_MAX: usize = 1 << 20;
/// Bounds of the lease the consumers ask for (the machine's own bounds).
pub const LEASE_MS_MIN: u64 = 10;
pub const LEASE_MS_MAX: u64 = 12 * 60 * 60 * 1000;
/// Longest long poll an acquire may ask for (the machine's own bound).
pub const WAIT_MS_MAX: u64 = 5 * 60 * 1000;
/// Highest failure rate: above it most work is retries and a run may not end.
pub const FAILURE_RATE_MAX: f64 = 0.9;

/// One scenario as written in the config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Messages produced (and to be settled exactly once).
    pub msgs: u64,
    pub producers: u32,
    pub consumers: u32,
    pub payload_bytes: usize,
    /// Messages per append call.
    pub batch: u32,
    /// Most leases per acquire call.
    pub max: u32,
    /// Most settlements per settle call; absent: everything one acquire
    /// returned, in one call. `1` acknowledges each message with its own
    /// call, as a Redis Streams consumer does with one XACK per message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_batch: Option<u32>,
    pub lease_ms: u64,
    /// Long-poll wait of each acquire.
    pub wait_ms: u64,
    /// Share of deliveries the consumers settle `retry` instead of `processed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// Share of deliveries a consumer abandons without settling, as if it
    /// crashed holding the lease: the message comes back when the lease
    /// expires, so keep `lease_ms` short in such scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_rate: Option<f64>,
    /// Open loop: offered load in msg/s over all producers; latency is then
    /// measured from each message's intended send time (wrk2's correction
    /// for coordinated omission). Absent: closed loop, as fast as answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    scenarios: Vec<Scenario>,
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Vec<Scenario>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    parse(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Parses and checks config text.
pub fn parse(text: &str) -> Result<Vec<Scenario>, String> {
    let config: ConfigFile =
        serde_json::from_str(text).map_err(|error| format!("bad config JSON: {error}"))?;
    if config.scenarios.is_empty() {
        return Err("the config lists no scenarios".into());
    }
    if config.scenarios.len() > SCENARIOS_MAX {
        return Err(format!("at most {SCENARIOS_MAX} scenarios per config"));
    }
    for (position, scenario) in config.scenarios.iter().enumerate() {
        scenario
            .validate()
            .map_err(|reason| format!("scenario {position} ({:?}): {reason}", scenario.name))?;
        if config.scenarios[..position]
            .iter()
            .any(|earlier| earlier.name == scenario.name)
        {
            return Err(format!("two scenarios are named {:?}", scenario.name));
        }
    }
    Ok(config.scenarios)
}

impl Scenario {
    fn validate(&self) -> Result<(), String> {
        let within = |field: &str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!("{field} must be in {min}..={max}, got {value}"))
            }
        };
        if self.name.is_empty() || self.name.len() > 64 {
            return Err("name must have 1 to 64 characters".into());
        }
        within("msgs", self.msgs, 1, MSGS_MAX)?;
        within("producers", self.producers.into(), 1, WORKERS_MAX.into())?;
        within("consumers", self.consumers.into(), 1, WORKERS_MAX.into())?;
        within(
            "payload_bytes",
            self.payload_bytes as u64,
            PAYLOAD_BYTES_MIN as u64,
            PAYLOAD_BYTES_MAX as u64,
        )?;
        within("batch", self.batch.into(), 1, BATCH_MAX.into())?;
        within("max", self.max.into(), 1, BATCH_MAX.into())?;
        if let Some(settle_batch) = self.settle_batch {
            within("settle_batch", settle_batch.into(), 1, BATCH_MAX.into())?;
        }
        within("lease_ms", self.lease_ms, LEASE_MS_MIN, LEASE_MS_MAX)?;
        within("wait_ms", self.wait_ms, 0, WAIT_MS_MAX)?;
        if let Some(rate) = self.failure_rate {
            if !(0.0..=FAILURE_RATE_MAX).contains(&rate) {
                return Err(format!(
                    "failure_rate must be in 0..={FAILURE_RATE_MAX}, got {rate}"
                ));
            }
        }
        if let Some(rate) = self.crash_rate {
            if !(0.0..=FAILURE_RATE_MAX).contains(&rate) {
                return Err(format!(
                    "crash_rate must be in 0..={FAILURE_RATE_MAX}, got {rate}"
                ));
            }
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!("rate must be a positive msg/s, got {rate}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid_and_covers_the_issue() {
        let scenarios = parse(DEFAULT_CONFIG_JSON).expect("the shipped config parses");
        assert!(scenarios
            .iter()
            .any(|s| s.producers == 1 && s.consumers == 1));
        assert!(scenarios
            .iter()
            .any(|s| s.producers == 10 && s.consumers == 50 && s.msgs >= 10_000 && s.batch == 1));
        assert!(scenarios
            .iter()
            .any(|s| s.producers == 10 && s.consumers == 50 && s.batch == 100));
    }

    #[test]
    fn bad_config_gets_a_clear_error_not_a_panic() {
        let error = parse("{\"scenarios\": [{\"name\": \"x\"}]}").unwrap_err();
        assert!(error.contains("missing field"), "{error}");
        let error = parse("not json").unwrap_err();
        assert!(error.starts_with("bad config JSON"), "{error}");
        let scenario = r#"{"scenarios": [{"name": "x", "msgs": 10, "producers": 0,
            "consumers": 1, "payload_bytes": 100, "batch": 1, "max": 1,
            "lease_ms": 1000, "wait_ms": 10}]}"#;
        let error = parse(scenario).unwrap_err();
        assert!(error.contains("producers must be in 1..="), "{error}");
        let error = parse(&scenario.replace("\"msgs\"", "\"msg\"")).unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }
}
