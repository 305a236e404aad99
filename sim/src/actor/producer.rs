//! A producer: appends batches of unique messages to one log, and resends
//! a batch (same dedup ids) until it is acknowledged.

use mamamia_machine::{Command, LogName, NewMessage, Reply};

use super::{ActorCx, Delivery};
use crate::fault::FaultSite;

#[derive(Debug)]
pub struct Producer {
    number: usize,
    log: LogName,
    log_position: usize,
    key_count: u64,
    batch_len_max: u64,
    next_sequence: u32,
    /// Messages still to make.
    quota: u64,
    think_ms_max: u64,
    /// The batch in flight, resent as is until acknowledged.
    batch: Option<Vec<NewMessage>>,
    /// The request in flight and when to give up on it.
    outstanding: Option<(u64, u64)>,
    next_at_ms: u64,
}

impl Producer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        number: usize,
        log: LogName,
        log_position: usize,
        key_count: u64,
        batch_len_max: u64,
        quota: u64,
        think_ms_max: u64,
    ) -> Self {
        Producer {
            number,
            log,
            log_position,
            key_count,
            batch_len_max,
            next_sequence: 0,
            quota,
            think_ms_max,
            batch: None,
            outstanding: None,
            next_at_ms: 0,
        }
    }

    /// Faults stopped: finish the batch in flight, make no new one.
    pub fn stop(&mut self) {
        self.quota = 0;
    }

    pub fn is_done(&self) -> bool {
        self.quota == 0 && self.batch.is_none()
    }

    /// Called with the id the world gave the request it sends.
    pub fn sent(&mut self, request: u64, deadline_ms: u64) {
        self.outstanding = Some((request, deadline_ms));
    }

    pub fn wake(&mut self, cx: &mut ActorCx) {
        if let Some((_, deadline_ms)) = self.outstanding {
            if cx.now_ms < deadline_ms {
                cx.wake_at(deadline_ms);
                return;
            }
            // Gave up waiting: the batch goes again, with the same dedup ids.
            self.outstanding = None;
        }
        if cx.now_ms < self.next_at_ms {
            cx.wake_at(self.next_at_ms);
            return;
        }
        if cx.fault(FaultSite::BadRequest) {
            cx.send_bad(Command::Append {
                log: self.log.clone(),
                messages: Vec::new(),
            });
            cx.wake_at(cx.now_ms + cx.request_timeout_ms);
            return;
        }
        if self.batch.is_none() && self.quota > 0 && !cx.calm {
            self.batch = Some(self.make_batch(cx));
        }
        if let Some(batch) = &self.batch {
            cx.send(Command::Append {
                log: self.log.clone(),
                messages: batch.clone(),
            });
            cx.wake_at(cx.now_ms + cx.request_timeout_ms);
        }
    }

    fn make_batch(&mut self, cx: &mut ActorCx) -> Vec<NewMessage> {
        let len = cx.workload.between(1, self.batch_len_max).min(self.quota);
        self.quota -= len;
        (0..len)
            .map(|_| {
                let id = (self.number as u64) << 32 | self.next_sequence as u64;
                self.next_sequence += 1;
                let mut message = NewMessage::new(id.to_le_bytes().to_vec());
                message.dedup_id = Some(format!("{id:x}"));
                if self.key_count > 0 {
                    message.key = Some(format!("k{}", cx.workload.between(1, self.key_count)));
                }
                message
            })
            .collect()
    }

    pub fn deliver(&mut self, delivery: Delivery, cx: &mut ActorCx) {
        let Delivery::Reply { request, result } = delivery else {
            return;
        };
        if self.outstanding.map(|(id, _)| id) != Some(request) {
            return; // a late or repeated answer
        }
        self.outstanding = None;
        if let (Ok(Reply::Appended(appended)), Some(batch)) = (&result, self.batch.take()) {
            let mut next = appended.first_index;
            let mut duplicates = appended.duplicates.iter().peekable();
            for (position, message) in batch.iter().enumerate() {
                let id = crate::model::message_id(&message.payload);
                let index = match duplicates.next_if(|d| d.position == position) {
                    Some(duplicate) => duplicate.index,
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                cx.acked.push((self.log_position, index, id));
            }
            cx.stats.messages_acked += batch.len() as u64;
        }
        self.next_at_ms = cx.now_ms + cx.workload.between(0, self.think_ms_max);
        cx.wake_at(self.next_at_ms);
    }
}
