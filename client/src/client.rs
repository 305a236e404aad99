//! [`Client`]: one method per endpoint, over a pooled hyper connection.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Error;
use crate::types::{
    Appended, DeadLetter, GroupState, ItemResult, Lease, LogState, Message, NewMessage, Settlement,
    WireNewMessage,
};

/// A handle to one server; cheap to clone, connections are pooled.
#[derive(Clone)]
pub struct Client {
    base_url: String,
    token: Option<String>,
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

/// Options of an acquire beyond the consumer's name.
#[derive(Clone, Debug)]
pub struct AcquireOptions {
    pub max: u32,
    /// The group's default when `None`.
    pub lease_ms: Option<u64>,
    /// Long poll: wait up to this long for a message when none is available.
    pub wait_ms: Option<u64>,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            max: 1,
            lease_ms: None,
            wait_ms: None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl Client {
    /// A client of the server at `base_url`, e.g. `http://127.0.0.1:7780`.
    pub fn new(base_url: &str) -> Result<Client, Error> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        base_url.parse::<hyper::Uri>().map_err(|error| {
            Error::InvalidRequest(format!("bad base URL {base_url:?}: {error}"))
        })?;
        // Without TCP_NODELAY, a body written after its headers can wait
        // for the server's delayed ACK (Nagle's algorithm), up to 40 ms.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        Ok(Client {
            base_url,
            token: None,
            http,
        })
    }

    /// Sends `Authorization: Bearer TOKEN` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Any request: the status and the JSON answer (`Null` if the body is
    /// not JSON). Error statuses are returned, not turned into [`Error`].
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Error> {
        let (status, bytes) = self.send(method, path, body.map(json_body)).await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .map_err(|error| Error::InvalidRequest(error.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|error| Error::Transport(error.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| Error::Transport(error.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let (status, bytes) = self.send(method, path, body).await?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Error::Api {
                    status: status.as_u16(),
                    code: body.error.code,
                    message: body.error.message,
                },
                Err(_) => Error::Api {
                    status: status.as_u16(),
                    code: "unknown".into(),
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|error| Error::Decode(error.to_string()))
    }

    pub async fn append(&self, log: &str, messages: &[NewMessage]) -> Result<Appended, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            messages: Vec<WireNewMessage<'a>>,
        }
        let messages = messages.iter().map(NewMessage::to_wire).collect();
        self.call(
            Method::POST,
            &format!("/v1/logs/{log}/messages"),
            Some(json_body(&Body { messages })),
        )
        .await
    }

    /// The server's metrics, in the Prometheus text format.
    pub async fn metrics(&self) -> Result<String, Error> {
        let (status, bytes) = self.send(Method::GET, "/metrics", None).await?;
        if !status.is_success() {
            return Err(Error::Api {
                status: status.as_u16(),
                code: "unknown".into(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        String::from_utf8(bytes.to_vec()).map_err(|error| Error::Decode(error.to_string()))
    }

    pub async fn message(&self, log: &str, index: u64) -> Result<Message, Error> {
        self.call(
            Method::GET,
            &format!("/v1/logs/{log}/messages/{index}"),
            None,
        )
        .await
    }

    pub async fn log(&self, log: &str) -> Result<LogState, Error> {
        self.call(Method::GET, &format!("/v1/logs/{log}"), None)
            .await
    }

    pub async fn logs(&self) -> Result<Vec<LogState>, Error> {
        #[derive(Deserialize)]
        struct Logs {
            logs: Vec<LogState>,
        }
        Ok(self.call::<Logs>(Method::GET, "/v1/logs", None).await?.logs)
    }

    /// Creates or configures a log; true when it was created.
    pub async fn put_log(&self, log: &str, settings: &Value) -> Result<bool, Error> {
        let answer: Value = self
            .call(
                Method::PUT,
                &format!("/v1/logs/{log}"),
                Some(json_body(settings)),
            )
            .await?;
        Ok(answer["created"] == true)
    }

    /// Creates or configures a group; true when it was created.
    pub async fn put_group(&self, log: &str, group: &str, settings: &Value) -> Result<bool, Error> {
        let path = format!("/v1/logs/{log}/groups/{group}");
        let answer: Value = self
            .call(Method::PUT, &path, Some(json_body(settings)))
            .await?;
        Ok(answer["created"] == true)
    }

    pub async fn group(&self, log: &str, group: &str) -> Result<GroupState, Error> {
        self.call(Method::GET, &format!("/v1/logs/{log}/groups/{group}"), None)
            .await
    }

    pub async fn acquire(
        &self,
        log: &str,
        group: &str,
        consumer: &str,
        options: &AcquireOptions,
    ) -> Result<Vec<Lease>, Error> {
        #[derive(Deserialize)]
        struct Acquired {
            leases: Vec<Lease>,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            consumer: &'a str,
            max: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            lease_ms: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            wait_ms: Option<u64>,
        }
        let body = Body {
            consumer,
            max: options.max,
            lease_ms: options.lease_ms,
            wait_ms: options.wait_ms,
        };
        let path = format!("/v1/logs/{log}/groups/{group}/acquire");
        Ok(self
            .call::<Acquired>(Method::POST, &path, Some(json_body(&body)))
            .await?
            .leases)
    }

    pub async fn settle(
        &self,
        log: &str,
        group: &str,
        settlements: &[Settlement],
    ) -> Result<Vec<ItemResult>, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            settlements: &'a [Settlement],
        }
        let body = json_body(&Body { settlements });
        let path = format!("/v1/logs/{log}/groups/{group}/settle");
        Ok(self
            .call::<Results>(Method::POST, &path, Some(body))
            .await?
            .results)
    }

    /// Extends leases named by `(index, token)` to `lease_ms` from now.
    pub async fn extend(
        &self,
        log: &str,
        group: &str,
        leases: &[(u64, String)],
        lease_ms: Option<u64>,
    ) -> Result<Vec<ItemResult>, Error> {
        #[derive(Serialize)]
        struct LeaseRef<'a> {
            index: u64,
            token: &'a str,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            leases: Vec<LeaseRef<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            lease_ms: Option<u64>,
        }
        let leases = leases
            .iter()
            .map(|(index, token)| LeaseRef {
                index: *index,
                token,
            })
            .collect();
        let body = json_body(&Body { leases, lease_ms });
        let path = format!("/v1/logs/{log}/groups/{group}/extend");
        Ok(self
            .call::<Results>(Method::POST, &path, Some(body))
            .await?
            .results)
    }

    /// Returns every lease `consumer` holds; the count released.
    pub async fn release(&self, log: &str, group: &str, consumer: &str) -> Result<u64, Error> {
        let path = format!("/v1/logs/{log}/groups/{group}/consumers/{consumer}/release");
        let answer: Value = self.call(Method::POST, &path, None).await?;
        answer["released"]
            .as_u64()
            .ok_or_else(|| Error::Decode("no released count".into()))
    }

    /// Dead letters after `after`, at most `limit`.
    pub async fn dead_letters(
        &self,
        log: &str,
        group: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, Error> {
        #[derive(Deserialize)]
        struct Dead {
            dead: Vec<DeadLetter>,
        }
        let mut path = format!("/v1/logs/{log}/groups/{group}/dead?limit={limit}");
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        Ok(self.call::<Dead>(Method::GET, &path, None).await?.dead)
    }

    /// Makes dead letters available again (all of them when `indices` is None).
    pub async fn redrive(
        &self,
        log: &str,
        group: &str,
        indices: Option<&[u64]>,
    ) -> Result<u64, Error> {
        let body = match indices {
            Some(indices) => json!({ "indices": indices }),
            None => json!({}),
        };
        let path = format!("/v1/logs/{log}/groups/{group}/dead/redrive");
        let answer: Value = self
            .call(Method::POST, &path, Some(json_body(&body)))
            .await?;
        answer["redriven"]
            .as_u64()
            .ok_or_else(|| Error::Decode("no redriven count".into()))
    }
}

/// A request body as JSON text. Serializing these shapes cannot fail: they
/// hold only strings, numbers and JSON values, with string keys.
fn json_body(body: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(body).expect("request bodies serialize")
}

#[derive(Deserialize)]
struct Results {
    results: Vec<ItemResult>,
}
