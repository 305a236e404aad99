//! Endpoints for operators: dead letters and their redrive, leases held,
//! attempt histories.

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::StatusCode;
use mamamia_machine::{Command, Reply};
use serde_json::json;

use super::body::{self, parse_index, parse_page, Response};
use super::error::{parse_group_path, ApiError};
use super::produce::unexpected;
use super::wire::{RedriveBody, WireAttempt, WireDeadLetter};
use super::App;

pub async fn list_dead(
    app: &App,
    log: &str,
    group: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let page = parse_page(query)?;
    let limit = page.limit;
    let owner = app.owner(&log);
    let dead = owner
        .read(move |machine| machine.dead_letters(&log, &group, page.after, limit))
        .await??;
    let next_after = (dead.len() == limit).then(|| dead.last().map(|letter| letter.index));
    let listed: Vec<WireDeadLetter> = dead.iter().map(WireDeadLetter::of).collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({ "dead": listed, "next_after": next_after.flatten() }),
    ))
}

pub async fn redrive(
    app: &App,
    log: &str,
    group: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let body: RedriveBody = body::json_or_default(parts, body, &app.body_limits).await?;
    let owner = app.owner(&log);
    let command = Command::Redrive {
        log,
        group,
        indices: body.indices,
    };
    match owner.command(command).await?? {
        Reply::Redriven(redriven) => Ok(body::json(
            StatusCode::OK,
            &json!({ "redriven": redriven.count, "not_dead": redriven.not_dead }),
        )),
        other => Err(unexpected(other)),
    }
}

pub async fn list_leases(
    app: &App,
    log: &str,
    group: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let page = parse_page(query)?;
    let owner = app.owner(&log);
    let leases = owner
        .read(move |machine| machine.leases(&log, &group, page.after, page.limit))
        .await??;
    Ok(body::json(StatusCode::OK, &json!({ "leases": leases })))
}

pub async fn list_attempts(
    app: &App,
    log: &str,
    group: &str,
    index: &str,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let index = parse_index(index)?;
    let owner = app.owner(&log);
    let attempts = owner
        .read(move |machine| machine.attempts(&log, &group, index))
        .await??;
    let listed: Vec<WireAttempt> = attempts.iter().map(WireAttempt::of).collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({ "index": index, "attempts": listed }),
    ))
}
