//! Planted bugs: known mistakes the simulator must catch.
//!
//! Each variant names one realistic bug, hooked into the machine by a single
//! `planted(Bug::X)` test at its site. Without the `planted-bugs` feature
//! [`planted`] is a `const fn` returning `false`, so the hooks compile away
//! and no build can switch a bug on. With the feature, the simulator picks
//! at most one bug per thread with [`plant`] (thread-local, so worlds on
//! other threads and parallel tests are unaffected).

/// A bug the simulator's bug matrix plants, one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// `base_offset` moves past a message waiting out its backoff.
    BaseOffsetPastBackoff,
    /// A token of an earlier lease still settles after the message was leased again.
    StaleTokenAccepted,
    /// A lease expiry does not count as a failed attempt.
    ExpiryNotCounted,
    /// Restoring a snapshot loses each log's last message.
    SnapshotLosesLastMessage,
    /// Long-poll waiters are served newest first instead of oldest first.
    WaiterServedOutOfOrder,
    /// A message in backoff no longer holds its key, so later ones overtake it.
    KeyOrderBrokenOnRetry,
    /// The group summary reports the lowest redriven index as `base_offset`.
    RedriveMovesBaseBackwards,
    /// Retention drops the message at the retention floor too.
    RetentionOffByOne,
    /// A message gets one attempt more than `max_attempts`.
    ExtraAttempt,
    /// The dedup window forgets ids, so a retried append is stored twice.
    DedupForgotten,
    /// A backoff that ends does not wake the group's long-poll waiters.
    BackoffEndForgetsWaiters,
    /// An acquire stops before a message that would fill its byte budget
    /// exactly, leasing one message fewer than it should.
    AcquireBudgetOffByOne,
    /// An empty acquire that moved a key-ordered group's window reports
    /// that it changed nothing, so it is left out of the log.
    WindowMoveNotLogged,
}

impl Bug {
    pub const ALL: [Bug; 13] = [
        Bug::BaseOffsetPastBackoff,
        Bug::StaleTokenAccepted,
        Bug::ExpiryNotCounted,
        Bug::SnapshotLosesLastMessage,
        Bug::WaiterServedOutOfOrder,
        Bug::KeyOrderBrokenOnRetry,
        Bug::RedriveMovesBaseBackwards,
        Bug::RetentionOffByOne,
        Bug::ExtraAttempt,
        Bug::DedupForgotten,
        Bug::BackoffEndForgetsWaiters,
        Bug::AcquireBudgetOffByOne,
        Bug::WindowMoveNotLogged,
    ];
}

#[cfg(feature = "planted-bugs")]
thread_local! {
    static PLANTED: std::cell::Cell<Option<Bug>> = const { std::cell::Cell::new(None) };
}

/// Plants `bug` (or none) in every machine driven on this thread.
#[cfg(feature = "planted-bugs")]
pub fn plant(bug: Option<Bug>) {
    PLANTED.with(|planted| planted.set(bug));
}

/// Whether `bug` is planted on this thread.
#[cfg(feature = "planted-bugs")]
#[inline]
pub(crate) fn planted(bug: Bug) -> bool {
    PLANTED.with(|planted| planted.get() == Some(bug))
}

/// Whether `bug` is planted: never, in a build without `planted-bugs`.
#[cfg(not(feature = "planted-bugs"))]
#[inline(always)]
pub(crate) const fn planted(_bug: Bug) -> bool {
    false
}
