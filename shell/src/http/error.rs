//! API errors: the JSON body `{"error":{"code","message"}}` and, in one
//! place, the HTTP status of every error class.

use hyper::StatusCode;
use mamamia_machine::{Error, ErrorKind, GroupName, LogName, NameError};

/// An error answer: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A malformed request: bad JSON, a wrong field, a bad query.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unavailable() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
    }

    pub fn body(&self) -> String {
        serde_json::json!({"error": {"code": self.code, "message": self.message}}).to_string()
    }
}

/// The one mapping from the machine's error classes to HTTP statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        // A capacity limit: the client may retry later.
        ErrorKind::Exhausted => StatusCode::TOO_MANY_REQUESTS,
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::new(status_of(error.kind()), error.code(), error.to_string())
    }
}

impl From<crate::owner::Unavailable> for ApiError {
    fn from(_: crate::owner::Unavailable) -> Self {
        ApiError::unavailable()
    }
}

/// Parses a path segment into a name type, as the machine would refuse it.
pub fn parse_name<T>(raw: &str, parse: fn(&str) -> Result<T, NameError>) -> Result<T, ApiError> {
    parse(raw).map_err(|reason| Error::invalid_name(raw, reason).into())
}

/// The log and group names of a `/v1/logs/{log}/groups/{group}/…` path.
pub fn parse_group_path(log: &str, group: &str) -> Result<(LogName, GroupName), ApiError> {
    Ok((
        parse_name(log, LogName::new)?,
        parse_name(group, GroupName::new)?,
    ))
}
