//! The REST API of SPEC §2 on hyper: routing, auth, and one handler per
//! endpoint. Handlers parse and validate at the edge, send the owner a
//! command or a read, and render the answer; they decide nothing.

mod body;
mod consume;
mod error;
mod inspect;
mod produce;
pub mod route;
mod server;
mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::StatusCode;

pub use body::{BodyLimits, Response};
pub use error::ApiError;
pub use server::{serve, thread_runtime, ServerSettings, THREADS_MAX};

use crate::metrics::Metrics;
use crate::owner::{OwnerHandle, Owners};
use route::{Endpoint, Matched, ROUTES};

/// What every request handler shares.
pub struct App {
    pub owners: Owners,
    pub metrics: Arc<Metrics>,
    pub auth_token: Option<String>,
    pub body_limits: BodyLimits,
    /// Whether an acknowledged write survives a crash (`durable` in replies).
    pub durable: bool,
    pub shutting_down: AtomicBool,
}

impl App {
    /// The owner of a log's shard.
    pub fn owner(&self, log: &mamamia_machine::LogName) -> &OwnerHandle {
        self.owners.for_log(log)
    }

    /// Every log of every shard, by name.
    pub async fn all_logs(&self) -> Result<Vec<mamamia_machine::LogSummary>, ApiError> {
        let mut logs = Vec::new();
        for owner in self.owners.all() {
            logs.extend(owner.read(|machine| machine.logs()).await?);
        }
        logs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(logs)
    }

    pub async fn handle(&self, request: hyper::Request<Incoming>) -> Response {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let (metric, result) = match route::find(parts.method.as_str(), &path) {
            Matched::Found(position, params) => {
                let endpoint = ROUTES[position].endpoint;
                (
                    position,
                    self.dispatch(endpoint, &params, &parts, body).await,
                )
            }
            Matched::WrongMethod => (
                ROUTES.len(),
                Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{} is not allowed on {path}", parts.method),
                )),
            ),
            Matched::NotFound => (
                ROUTES.len(),
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_route",
                    format!("no endpoint at {path}"),
                )),
            ),
        };
        self.metrics.request_seconds[metric].observe(started.elapsed());
        result.unwrap_or_else(|error| body::error(&error))
    }

    fn check_auth(&self, parts: &hyper::http::request::Parts) -> Result<(), ApiError> {
        let Some(token) = &self.auth_token else {
            return Ok(());
        };
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token",
            ))
        }
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        params: &[&str],
        parts: &hyper::http::request::Parts,
        body: Incoming,
    ) -> Result<Response, ApiError> {
        use Endpoint::*;
        let public = matches!(endpoint, Dashboard | Healthz | OpenApi);
        if !public {
            self.check_auth(parts)?;
        }
        if self.shutting_down.load(Ordering::Relaxed) && endpoint != OpenApi {
            return Err(ApiError::unavailable());
        }
        let param = |position: usize| params.get(position).copied().unwrap_or("");
        let (log, group) = (param(0), param(1));
        let query = parts.uri.query();
        match endpoint {
            Dashboard => Ok(dashboard()),
            Healthz => Ok(body::json(
                StatusCode::OK,
                &serde_json::json!({ "status": "ok" }),
            )),
            OpenApi => Ok(body::json(StatusCode::OK, &crate::openapi::document())),
            Metrics => {
                let logs = self.all_logs().await?;
                let text = self.metrics.render(&logs);
                Ok(body::respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    text,
                ))
            }
            ListLogs => produce::list_logs(self).await,
            GetLog => produce::get_log(self, log).await,
            PutLog => produce::put_log(self, log, parts, body).await,
            Append => produce::append(self, log, parts, body).await,
            GetMessage => produce::get_message(self, log, param(1)).await,
            PutGroup => consume::put_group(self, log, group, parts, body).await,
            GetGroup => consume::get_group(self, log, group).await,
            Acquire => consume::acquire(self, log, group, parts, body).await,
            Settle => consume::settle(self, log, group, parts, body).await,
            Extend => consume::extend(self, log, group, parts, body).await,
            Release => consume::release(self, log, group, param(2)).await,
            ListDead => inspect::list_dead(self, log, group, query).await,
            Redrive => inspect::redrive(self, log, group, parts, body).await,
            ListLeases => inspect::list_leases(self, log, group, query).await,
            ListAttempts => inspect::list_attempts(self, log, group, param(2)).await,
        }
    }
}

const DASHBOARD: &str = include_str!("dashboard.html");

/// The page may run its own inline script and style and call this server's
/// API, and nothing else: no CDN, no other host, not framed.
const DASHBOARD_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

fn dashboard() -> Response {
    use hyper::header::{HeaderValue, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
    let mut response = body::respond(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_POLICY),
    );
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Compares secrets without leaking, through timing, where they differ.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = given.len() ^ expected.len();
    for (position, byte) in expected.iter().enumerate() {
        difference |= (byte ^ given.get(position).copied().unwrap_or(0)) as usize;
    }
    difference == 0
}
