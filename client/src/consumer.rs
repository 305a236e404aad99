//! [`Consumer`]: the acquire → handle → settle loop, with heartbeats.

use std::future::Future;
use std::time::Duration;

use crate::client::{AcquireOptions, Client};
use crate::error::Error;
use crate::types::{Lease, Settlement};

/// What a handler decided about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    /// Try again later: after `delay_ms`, or the group's backoff.
    Retry {
        delay_ms: Option<u64>,
        reason: Option<String>,
    },
    /// Give up on the message.
    Dead {
        reason: Option<String>,
    },
}

/// A consumer of one group: long-polls for leases, hands each to a handler,
/// extends the leases it still holds every third of the lease while the
/// handler runs, and settles each with the handler's outcome.
pub struct Consumer {
    pub client: Client,
    pub log: String,
    pub group: String,
    pub name: String,
    /// Leases per acquire.
    pub max: u32,
    /// Lease duration asked for, and extended by.
    pub lease_ms: u64,
    /// Long-poll wait per acquire.
    pub wait_ms: u64,
}

impl Consumer {
    pub fn new(client: Client, log: &str, group: &str, name: &str) -> Self {
        Consumer {
            client,
            log: log.to_owned(),
            group: group.to_owned(),
            name: name.to_owned(),
            max: 10,
            lease_ms: 30_000,
            wait_ms: 20_000,
        }
    }

    /// Runs until `stop` resolves, then releases what it still holds.
    /// Returns the number of messages settled (settles the server accepted).
    pub async fn run<H, F>(&self, handler: H, stop: impl Future<Output = ()>) -> Result<u64, Error>
    where
        H: Fn(Lease) -> F,
        F: Future<Output = Outcome>,
    {
        tokio::pin!(stop);
        let mut settled = 0;
        loop {
            let options = AcquireOptions {
                max: self.max,
                lease_ms: Some(self.lease_ms),
                wait_ms: Some(self.wait_ms),
            };
            let leases = tokio::select! {
                leases = self.client.acquire(&self.log, &self.group, &self.name, &options) => leases?,
                () = &mut stop => break,
            };
            let mut held: Vec<(u64, String)> = leases
                .iter()
                .map(|lease| (lease.index(), lease.token.clone()))
                .collect();
            for lease in leases {
                let settlement = self.handle_one(&handler, lease, &held).await?;
                held.retain(|(index, _)| *index != settlement.index);
                self.client
                    .settle(&self.log, &self.group, &[settlement])
                    .await?;
                settled += 1;
            }
        }
        self.client
            .release(&self.log, &self.group, &self.name)
            .await?;
        Ok(settled)
    }

    /// Runs the handler on one lease while extending every lease of the
    /// batch still held, so later ones do not expire while they wait.
    async fn handle_one<H, F>(
        &self,
        handler: &H,
        lease: Lease,
        held: &[(u64, String)],
    ) -> Result<Settlement, Error>
    where
        H: Fn(Lease) -> F,
        F: Future<Output = Outcome>,
    {
        let (index, token) = (lease.index(), lease.token.clone());
        let heartbeat = Duration::from_millis((self.lease_ms / 3).max(1));
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let work = handler(lease);
        tokio::pin!(work);
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = ticks.tick() => {
                    self.client.extend(&self.log, &self.group, held, Some(self.lease_ms)).await?;
                }
            }
        };
        let (outcome, delay_ms, reason) = match outcome {
            Outcome::Processed => ("processed", None, None),
            Outcome::Retry { delay_ms, reason } => ("retry", delay_ms, reason),
            Outcome::Dead { reason } => ("dead", None, reason),
        };
        Ok(Settlement {
            index,
            token,
            outcome: outcome.to_owned(),
            delay_ms,
            reason,
        })
    }
}
