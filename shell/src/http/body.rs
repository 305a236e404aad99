//! Reading request bodies and writing responses: content type, size limit,
//! JSON parsing. Nothing here panics on what a client sends.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;

pub type Response = hyper::Response<Full<Bytes>>;

/// Bounds on reading one request body.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub bytes_max: usize,
    /// A body that trickles in slower than this is cut off (408), so a
    /// slow client cannot hold a connection slot forever.
    pub read_timeout: std::time::Duration,
}

/// Reads a JSON body within `limits`. An empty body is `None`.
pub async fn read_json<T: DeserializeOwned>(
    parts: &Parts,
    body: Incoming,
    limits: &BodyLimits,
) -> Result<Option<T>, ApiError> {
    let max_bytes = limits.bytes_max;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the limit of {max_bytes} bytes"),
        )
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |len| len as usize);
    let read = tokio::time::timeout(limits.read_timeout, read_capped(body, max_bytes, capacity));
    let Ok(read) = read.await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {:?}",
                limits.read_timeout
            ),
        ));
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge) => return Err(too_large()),
        Err(ReadError::Unreadable(error)) => {
            return Err(ApiError::bad_request(
                "body_unreadable",
                format!("the request body could not be read: {error}"),
            ))
        }
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the body must be application/json, not {content_type:?}"),
        ));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|error| {
        ApiError::bad_request("invalid_json", format!("invalid request body: {error}"))
    })
}

enum ReadError {
    TooLarge,
    Unreadable(hyper::Error),
}

/// Reads a body's data into one buffer, refusing it as soon as it passes
/// `max_bytes`. Each frame is copied and dropped at once: collecting frames
/// would keep every one as its own allocation, so a body sent in 1-byte
/// chunks would cost dozens of times its size before the limit refused it.
async fn read_capped(
    mut body: Incoming,
    max_bytes: usize,
    capacity: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut buffer = Vec::with_capacity(capacity.min(max_bytes));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Unreadable)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > max_bytes {
                return Err(ReadError::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer)
}

/// Like [`read_json`] for bodies the endpoint cannot do without.
pub async fn require_json<T: DeserializeOwned>(
    parts: &Parts,
    body: Incoming,
    limits: &BodyLimits,
) -> Result<T, ApiError> {
    read_json(parts, body, limits)
        .await?
        .ok_or_else(|| ApiError::bad_request("invalid_json", "the request needs a JSON body"))
}

/// The JSON body, or the type's default when there is none (settings
/// where every field is optional).
pub async fn json_or_default<T: DeserializeOwned + Default>(
    parts: &Parts,
    body: Incoming,
    limits: &BodyLimits,
) -> Result<T, ApiError> {
    Ok(read_json(parts, body, limits).await?.unwrap_or_default())
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value)
        .expect("reply types always serialize: plain data with string keys");
    json_text(status, body)
}

/// A reply already written as JSON text.
pub fn json_text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    respond(status, "application/json", body)
}

pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut response = hyper::Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

pub fn error(error: &ApiError) -> Response {
    let mut response = json_text(error.status, error.body());
    if matches!(
        error.status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        // A capacity limit or a restart: worth another try soon.
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
    }
    if error.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Page bounds of list endpoints: `?after=INDEX&limit=N`.
pub struct Page {
    pub after: Option<u64>,
    pub limit: usize,
}

/// Default and largest page of list endpoints.
pub const PAGE_LEN_DEFAULT: usize = 100;
pub const PAGE_LEN_MAX: usize = 1_000;

pub fn parse_page(query: Option<&str>) -> Result<Page, ApiError> {
    let mut page = Page {
        after: None,
        limit: PAGE_LEN_DEFAULT,
    };
    for pair in query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{name} must be a number, got {value:?}"),
                )
            })
        };
        match name {
            "after" => page.after = Some(number()?),
            "limit" => {
                let limit = number()?;
                if !(1..=PAGE_LEN_MAX as u64).contains(&limit) {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!("limit must be between 1 and {PAGE_LEN_MAX}"),
                    ));
                }
                page.limit = limit as usize;
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown query parameter {name:?}"),
                ))
            }
        }
    }
    Ok(page)
}

pub fn parse_index(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request("invalid_index", format!("{text:?} is not a message index"))
    })
}
