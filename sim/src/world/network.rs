//! The network between clients and broker: every message takes its own
//! delay (so messages overtake each other), and as faults some take much
//! longer, some arrive twice, and some answers never arrive.

use super::{World, WorldEvent};
use crate::actor::{ActorId, Delivery, Request};
use crate::fault::FaultSite;

impl World {
    fn fault(&mut self, site: FaultSite) -> bool {
        let fires = !self.calm && self.streams.faults.chance(self.config.faults.rate(site));
        if fires {
            self.stats.fault(site);
        }
        fires
    }

    fn delay_ms(&mut self) -> u64 {
        let mut delay_ms = self
            .streams
            .schedule
            .between(1, self.config.network_delay_ms_max);
        if self.fault(FaultSite::DeliveryDelayed) {
            delay_ms += self.streams.schedule.between(50, 1_000);
        }
        delay_ms
    }

    pub(super) fn send_request(&mut self, request: Request) {
        if self.fault(FaultSite::RequestDuplicated) {
            let at_ms = self.now_ms + self.delay_ms();
            self.schedule(at_ms, WorldEvent::ToBroker(request.clone()));
        }
        let at_ms = self.now_ms + self.delay_ms();
        self.schedule(at_ms, WorldEvent::ToBroker(request));
    }

    pub(super) fn send_output(&mut self, to: ActorId, delivery: Delivery) {
        if to == ActorId::Admin || self.fault(FaultSite::ReplyLost) {
            return;
        }
        if self.fault(FaultSite::ReplyDuplicated) {
            let at_ms = self.now_ms + self.delay_ms();
            self.schedule(at_ms, WorldEvent::ToActor(to, delivery.clone()));
        }
        let at_ms = self.now_ms + self.delay_ms();
        self.schedule(at_ms, WorldEvent::ToActor(to, delivery));
    }
}
