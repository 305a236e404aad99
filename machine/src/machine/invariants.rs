//! The machine's structural invariants, checked after every command in
//! debug builds (and on demand by tests and the simulator).

use super::Machine;

impl Machine {
    pub(super) fn debug_check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }

    /// Panics with a description if any invariant is broken:
    ///
    /// - every group's window, counts, ready set and key queues agree with
    ///   its slots, its front slot is unsettled (so `base_offset` never
    ///   passes an unsettled message), and retention kept what it needs;
    /// - every lease, backoff and waiter has exactly one live timer;
    /// - every waiter is queued on exactly its group.
    pub fn check_invariants(&self) {
        let mut timers = self.waiters.len();
        let mut queued = 0;
        for (log_id, log) in self.logs.iter().enumerate() {
            assert_eq!(
                self.log_ids.get(&log.name),
                Some(&(log_id as u32)),
                "log index of {}",
                log.name
            );
            for (group_id, group) in log.groups.iter().enumerate() {
                assert_eq!(
                    log.group_id(&group.name),
                    Some(group_id),
                    "group index of {}",
                    group.name
                );
                group.check_invariants(&log.store, self.next_token);
                timers += group.live_timers();
                queued += group.waiting.len();
                for waiter in &group.waiting {
                    let parked = &self.waiters[waiter];
                    assert_eq!(
                        (parked.group.log, parked.group.group),
                        (log_id as u32, group_id as u32)
                    );
                }
            }
        }
        assert_eq!(self.log_ids.len(), self.logs.len(), "log index size");
        assert_eq!(queued, self.waiters.len(), "queued waiters");
        assert_eq!(self.deadlines.live(), timers, "live timers");
        if let Some(due_ms) = self.deadlines.next_due_ms() {
            assert!(
                due_ms > self.now_ms,
                "a timer due at {due_ms} did not fire by {}",
                self.now_ms
            );
        }
    }
}
