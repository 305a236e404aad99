//! Endpoints of consumer groups: configure, acquire (long poll included),
//! settle, extend, release.

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::StatusCode;
use mamamia_machine::{
    Acquire, Command, ConsumerName, GroupSettings, LeaseRef, Reply, Wait, WaiterId,
};
use serde_json::json;

use super::body::{self, Response};
use super::error::{parse_group_path, parse_name, ApiError};
use super::produce::{created_or_ok, unexpected};
use super::wire::{acquired_json, AcquireBody, ExtendBody, SettleBody, WireItemResult};
use super::App;
use crate::owner::OwnerHandle;

pub async fn put_group(
    app: &App,
    log: &str,
    group: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let settings: GroupSettings = body::json_or_default(parts, body, &app.body_limits).await?;
    let owner = app.owner(&log);
    match owner
        .command(Command::PutGroup {
            log,
            group,
            settings,
        })
        .await??
    {
        Reply::GroupPut { created } => Ok(created_or_ok(created)),
        other => Err(unexpected(other)),
    }
}

pub async fn get_group(app: &App, log: &str, group: &str) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let owner = app.owner(&log);
    let summary = owner
        .read(move |machine| machine.group(&log, &group))
        .await??;
    Ok(body::json(StatusCode::OK, &summary))
}

/// Cancels a parked long poll if the request future is dropped before its
/// answer arrived: hyper drops it when the client disconnects.
struct WaiterGuard<'a> {
    owner: &'a OwnerHandle,
    waiter: Option<WaiterId>,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter {
            self.owner.cancel_waiter(waiter);
        }
    }
}

pub async fn acquire(
    app: &App,
    log: &str,
    group: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let body: AcquireBody = body::require_json(parts, body, &app.body_limits).await?;
    let consumer = parse_name(&body.consumer, ConsumerName::new)?;
    let owner = app.owner(&log);
    let wait = body
        .wait_ms
        .filter(|&wait_ms| wait_ms > 0)
        .map(|wait_ms| Wait {
            waiter: owner.new_waiter(),
            wait_ms,
        });
    let mut guard = WaiterGuard {
        owner,
        waiter: wait.map(|wait| wait.waiter),
    };
    let command = Command::Acquire(Acquire {
        log,
        group,
        consumer,
        max: body.max,
        lease_ms: body.lease_ms,
        wait,
    });
    let reply = owner.command(command).await;
    guard.waiter = None; // answered: nothing parked remains
    match reply?? {
        Reply::Acquired(acquired) => Ok(body::json_text(StatusCode::OK, acquired_json(&acquired))),
        other => Err(unexpected(other)),
    }
}

pub async fn settle(
    app: &App,
    log: &str,
    group: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let body: SettleBody = body::require_json(parts, body, &app.body_limits).await?;
    let settlements = body
        .settlements
        .into_iter()
        .map(|settlement| settlement.into_settlement())
        .collect::<Result<Vec<_>, _>>()?;
    let owner = app.owner(&log);
    match owner
        .command(Command::Settle {
            log,
            group,
            settlements,
        })
        .await??
    {
        Reply::Settled { results } => Ok(item_results(&results, WireItemResult::of_settle)),
        other => Err(unexpected(other)),
    }
}

pub async fn extend(
    app: &App,
    log: &str,
    group: &str,
    parts: &Parts,
    body: Incoming,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let body: ExtendBody = body::require_json(parts, body, &app.body_limits).await?;
    let leases = body
        .leases
        .into_iter()
        .map(|lease| {
            Ok(LeaseRef {
                index: lease.index,
                token: lease.token.parse()?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let owner = app.owner(&log);
    let command = Command::Extend {
        log,
        group,
        leases,
        lease_ms: body.lease_ms,
    };
    match owner.command(command).await?? {
        Reply::Extended { results } => Ok(item_results(&results, WireItemResult::of_extend)),
        other => Err(unexpected(other)),
    }
}

pub async fn release(
    app: &App,
    log: &str,
    group: &str,
    consumer: &str,
) -> Result<Response, ApiError> {
    let (log, group) = parse_group_path(log, group)?;
    let consumer = parse_name(consumer, ConsumerName::new)?;
    let owner = app.owner(&log);
    match owner
        .command(Command::Release {
            log,
            group,
            consumer,
        })
        .await??
    {
        Reply::Released { count } => Ok(body::json(StatusCode::OK, &json!({ "released": count }))),
        other => Err(unexpected(other)),
    }
}

/// The answer to a settle or extend: one result per item, in order.
fn item_results<T>(results: &[T], of: fn(&T) -> WireItemResult) -> Response {
    #[derive(serde::Serialize)]
    struct Answer {
        results: Vec<WireItemResult>,
    }
    let results = results.iter().map(of).collect();
    body::json(StatusCode::OK, &Answer { results })
}
