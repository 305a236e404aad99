//! Which messages of a group may be leased now: the lowest available
//! ones, and in a key-ordered group only a key's first unsettled message
//! while no other of the key is in flight.

use std::collections::BTreeSet;

use super::{GroupModel, State};
use crate::violation::{ensure, Check, Checked};

impl GroupModel {
    /// A key's message may go out only if it is the key's lowest unsettled
    /// one and no other of the key is leased or in backoff.
    pub(super) fn check_key_head(&self, key: u32, index: u64, at_ms: u64) -> Checked {
        let pending = self.keys.get(&key);
        let busy = pending.and_then(|pending| self.key_busy(pending, at_ms));
        ensure(busy.is_none(), Check::KeyOrder, || {
            format!(
                "{}: {index} (key k{key}) leased while {busy:?} of its key is in flight",
                self.name
            )
        })?;
        let lowest = pending.and_then(|pending| pending.first().copied());
        ensure(lowest == Some(index), Check::KeyOrder, || {
            format!(
                "{}: {index} (key k{key}) leased while {lowest:?} of its key is unsettled",
                self.name
            )
        })?;
        Ok(())
    }

    /// Ends the backoffs due by `now_ms`.
    pub(super) fn end_backoffs(&mut self, now_ms: u64) {
        while let Some(&(until_ms, index)) = self.backoff_ends.first() {
            if until_ms > now_ms {
                break;
            }
            self.backoff_ends.pop_first();
            self.available.insert(index);
            self.message_mut(index).state = State::Available;
        }
    }

    /// Whether `index` (available) may be leased at `at_ms`: in a
    /// key-ordered group, only the first unsettled message of its key, and
    /// only while no other of the key is leased or in backoff.
    fn leasable(&self, index: u64, at_ms: u64) -> bool {
        let key = self.message(index).and_then(|message| message.key);
        let (Some(key), true) = (key, self.keyed()) else {
            return true;
        };
        let pending = self
            .keys
            .get(&key)
            .expect("an unsettled keyed message is pending");
        pending.first() == Some(&index) && self.key_busy(pending, at_ms).is_none()
    }

    /// The message of a key that is leased or in backoff at `at_ms`.
    fn key_busy(&self, pending: &BTreeSet<u64>, at_ms: u64) -> Option<u64> {
        pending.iter().copied().find(|&index| {
            matches!(
                self.state_at(index, at_ms),
                State::Leased | State::Backoff { .. }
            )
        })
    }

    /// JIT leasing takes the lowest leasable messages at `at_ms`, as many
    /// as `grant` allows: up to `max`, and only while the bytes granted stay
    /// within the budget, though the first message goes out whatever its
    /// size. With `grant.exact`, `indices` must be exactly that grant;
    /// otherwise (a full unsettled window may stop a grant early, which the
    /// model cannot see) a prefix of it. Returns whether the budget cut it.
    pub fn check_lowest_first(
        &mut self,
        at_ms: u64,
        indices: &[u64],
        grant: Grant,
    ) -> Checked<bool> {
        self.end_backoffs(at_ms);
        let leasable: Vec<u64> = self
            .available
            .iter()
            .copied()
            .filter(|&index| self.leasable(index, at_ms))
            .take(grant.max)
            .collect();
        let mut within_budget = 0;
        let mut bytes = 0u64;
        for &index in &leasable {
            bytes += grant.sizes[index as usize];
            if within_budget > 0 && bytes > grant.bytes_max {
                break;
            }
            within_budget += 1;
        }
        let expected = &leasable[..within_budget];
        let correct = if grant.exact {
            expected == indices
        } else {
            expected.starts_with(indices)
        };
        ensure(correct, Check::LowestFirst, || {
            format!(
                "{}: leased {indices:?} at {at_ms}, the lowest leasable are {leasable:?}, within {} bytes {expected:?}",
                self.name, grant.bytes_max
            )
        })?;
        Ok(indices.len() == within_budget && within_budget < leasable.len())
    }
}

/// What bounds one grant of leases.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    /// Most leases asked for.
    pub max: usize,
    /// The machine's `acquire_bytes_max`.
    pub bytes_max: u64,
    /// Every message's size in bytes, by index.
    pub sizes: &'a [u64],
    /// Whether the grant must be all of what `max` and the budget allow.
    pub exact: bool,
}
