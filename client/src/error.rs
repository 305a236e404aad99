//! What can go wrong talking to the server.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server answered with an error status and its JSON error body.
    Api {
        status: u16,
        /// The stable snake_case code, e.g. `unknown_log`, `invalid_json`.
        code: String,
        message: String,
    },
    /// The request did not get an answer (connection refused or reset).
    Transport(String),
    /// The answer was not what the API promises.
    Decode(String),
    /// The base URL or a name could not make a valid request.
    InvalidRequest(String),
}

impl Error {
    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api {
                status,
                code,
                message,
            } => write!(f, "server answered {status} {code}: {message}"),
            Error::Transport(reason) => write!(f, "no answer from the server: {reason}"),
            Error::Decode(reason) => write!(f, "unexpected answer from the server: {reason}"),
            Error::InvalidRequest(reason) => write!(f, "invalid request: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
