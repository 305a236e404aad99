//! Endpoints of logs and messages: append, read, configure.

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::StatusCode;
use mamamia_machine::{Command, LogName, LogSettings, Reply};
use serde_json::json;

use super::body::{self, parse_index, Response};
use super::error::{parse_name, ApiError};
use super::wire::{AppendBody, WireMessage};
use super::App;

pub async fn append(
    app: &App,
    log: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let log = parse_name(log, LogName::new)?;
    let body: AppendBody = body::require_json(parts, body, &app.body_limits).await?;
    let messages = body
        .messages
        .into_iter()
        .enumerate()
        .map(|(position, message)| message.into_message(position))
        .collect::<Result<Vec<_>, _>>()?;
    let owner = app.owner(&log);
    match owner.command(Command::Append { log, messages }).await?? {
        Reply::Appended(appended) => Ok(body::json(
            StatusCode::CREATED,
            &json!({
                "first_index": appended.first_index,
                "count": appended.count,
                "durable": app.durable,
                "duplicates": appended.duplicates,
            }),
        )),
        other => Err(unexpected(other)),
    }
}

pub async fn list_logs(app: &App) -> Result<Response, ApiError> {
    let logs = app.all_logs().await?;
    Ok(body::json(StatusCode::OK, &json!({ "logs": logs })))
}

pub async fn get_log(app: &App, log: &str) -> Result<Response, ApiError> {
    let log = parse_name(log, LogName::new)?;
    let owner = app.owner(&log);
    let summary = owner.read(move |machine| machine.log(&log)).await??;
    Ok(body::json(StatusCode::OK, &summary))
}

pub async fn put_log(
    app: &App,
    log: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let log = parse_name(log, LogName::new)?;
    let settings: LogSettings = body::json_or_default(parts, body, &app.body_limits).await?;
    let owner = app.owner(&log);
    match owner.command(Command::PutLog { log, settings }).await?? {
        Reply::LogPut { created } => Ok(created_or_ok(created)),
        other => Err(unexpected(other)),
    }
}

pub async fn get_message(app: &App, log: &str, index: &str) -> Result<Response, ApiError> {
    let log = parse_name(log, LogName::new)?;
    let index = parse_index(index)?;
    let owner = app.owner(&log);
    let message = owner
        .read(move |machine| machine.message(&log, index))
        .await??;
    Ok(body::json_text(
        StatusCode::OK,
        WireMessage::of(&message).to_json(),
    ))
}

pub fn created_or_ok(created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    body::json(status, &json!({ "created": created }))
}

/// A reply of another kind than the command's: a bug in the shell or the
/// machine, answered as a server error rather than a panic.
pub fn unexpected(reply: Reply) -> ApiError {
    crate::log!(Error, "unexpected reply {reply:?}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "unexpected reply from the machine",
    )
}
