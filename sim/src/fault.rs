//! Fault sites, switched on or off per seed (swarm testing, BUGGIFY style).
//!
//! Each site is on in about half the seeds; when on, it fires with a rate
//! drawn for that seed. A seed thus stresses a few faults hard instead of
//! every fault a little, which finds the bugs that need one fault often.

use std::fmt;

use crate::rng::Stream;

/// A place where the world may misbehave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultSite {
    /// A request reaches the broker twice.
    RequestDuplicated,
    /// A reply (or long-poll event) never reaches its client.
    ReplyLost,
    /// A reply reaches its client twice.
    ReplyDuplicated,
    /// A message takes much longer than usual, overtaking others.
    DeliveryDelayed,
    /// A consumer dies holding leases, and comes back later.
    ConsumerCrash,
    /// A consumer works past its lease's expiry, then settles late.
    ConsumerStall,
    /// A consumer settles with a token it used before.
    StaleToken,
    /// A consumer settles with a token nobody issued.
    ForgedToken,
    /// A client sends a request the broker must refuse.
    BadRequest,
    /// The broker process dies, losing what it had not synced.
    BrokerCrash,
    /// The broker's clock jumps forward or back.
    ClockJump,
}

impl FaultSite {
    pub const ALL: [FaultSite; 11] = [
        FaultSite::RequestDuplicated,
        FaultSite::ReplyLost,
        FaultSite::ReplyDuplicated,
        FaultSite::DeliveryDelayed,
        FaultSite::ConsumerCrash,
        FaultSite::ConsumerStall,
        FaultSite::StaleToken,
        FaultSite::ForgedToken,
        FaultSite::BadRequest,
        FaultSite::BrokerCrash,
        FaultSite::ClockJump,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultSite::RequestDuplicated => "request_duplicated",
            FaultSite::ReplyLost => "reply_lost",
            FaultSite::ReplyDuplicated => "reply_duplicated",
            FaultSite::DeliveryDelayed => "delivery_delayed",
            FaultSite::ConsumerCrash => "consumer_crash",
            FaultSite::ConsumerStall => "consumer_stall",
            FaultSite::StaleToken => "stale_token",
            FaultSite::ForgedToken => "forged_token",
            FaultSite::BadRequest => "bad_request",
            FaultSite::BrokerCrash => "broker_crash",
            FaultSite::ClockJump => "clock_jump",
        }
    }

    pub fn parse(name: &str) -> Option<FaultSite> {
        FaultSite::ALL.into_iter().find(|site| site.name() == name)
    }

    /// The highest rate a site may draw: per decision for the frequent
    /// sites (each message, each settle), lower for the drastic ones.
    fn rate_max(self) -> f64 {
        match self {
            FaultSite::BrokerCrash => 0.004,
            FaultSite::ClockJump => 0.004,
            FaultSite::ConsumerCrash => 0.02,
            FaultSite::BadRequest => 0.05,
            _ => 0.15,
        }
    }
}

impl fmt::Display for FaultSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which sites are on in one seed, and how often each fires.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    rates: [f64; FaultSite::ALL.len()],
}

impl FaultPlan {
    /// Draws every site, on or off, then a rate for those on. Always draws
    /// the same number of values, so the stream stays aligned.
    pub fn draw(rng: &mut Stream) -> Self {
        let mut rates = [0.0; FaultSite::ALL.len()];
        for (rate, site) in rates.iter_mut().zip(FaultSite::ALL) {
            let on = rng.chance(0.5);
            let drawn = rng.unit() * site.rate_max();
            *rate = if on {
                drawn.max(site.rate_max() / 20.0)
            } else {
                0.0
            };
        }
        FaultPlan { rates }
    }

    pub fn none() -> Self {
        FaultPlan {
            rates: [0.0; FaultSite::ALL.len()],
        }
    }

    pub fn rate(&self, site: FaultSite) -> f64 {
        self.rates[site as usize]
    }

    pub fn switch_off(&mut self, site: FaultSite) {
        self.rates[site as usize] = 0.0;
    }

    pub fn enabled(&self) -> impl Iterator<Item = FaultSite> + '_ {
        FaultSite::ALL
            .into_iter()
            .filter(|&site| self.rate(site) > 0.0)
    }
}
