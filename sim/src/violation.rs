//! What a check found: which guarantee broke, and how.

use std::fmt;

/// Every check the simulator makes, each tied to a guarantee of SPEC §1
/// (or to the simulator's own determinism).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// G1: a new message did not get the log's next index.
    IndexContiguity,
    /// G1: an acknowledged message is missing or changed.
    AckedAppendLost,
    /// G1: a message was stored twice, or a repeat not recognised.
    AppendDuplicated,
    /// G1 (and G6): retention dropped a message some group had not settled.
    RetentionDroppedUnsettled,
    /// G2: a message was leased while another lease on it was valid.
    DoubleLease,
    /// G2: a lease token was handed out twice.
    TokenReused,
    /// G3: a settle, extend or release did what the reference model says it must not.
    SettleMismatch,
    /// G3: a stale or forged token changed state.
    StaleTokenAccepted,
    /// G3: a message reached a terminal state twice (without a redrive).
    TerminalTwice,
    /// G3: a settled message was leased again.
    TerminalLeased,
    /// G3: an attempt was not counted, or more attempts than allowed.
    AttemptCount,
    /// G3: a message was leased during its backoff.
    BackoffIgnored,
    /// G3: key ordering: a later message of a key went out first, or two at once.
    KeyOrder,
    /// JIT leasing: an acquire took other than the lowest leasable messages,
    /// passed its byte budget, or came back short while more were leasable
    /// within it.
    LowestFirst,
    /// G4: `base_offset` went back, skipped an unsettled message, or lagged.
    BaseOffset,
    /// G5: a long-poll waiter was served out of order.
    WaiterOrder,
    /// G5: a long-poll waiter outlived its deadline, or waited while work was available.
    WaiterNotServed,
    /// G5: a lease outlived its expiry.
    LeaseStuck,
    /// G5: after faults stopped, messages did not all settle within the bound.
    NotSettled,
    /// G6: a command on one group changed another group.
    GroupInterference,
    /// A refused command (an error) changed state.
    ErrorChangedState,
    /// Restoring a snapshot, or replaying the durable log, rebuilt another state.
    RecoveryDiverged,
    /// The machine's own structural invariants (`check_invariants`) broke.
    MachineInvariant,
    /// The machine or the simulator panicked.
    Panic,
    /// The same seed ran twice gave two traces.
    Nondeterminism,
}

/// How a failure is classified, for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    Safety,
    Liveness,
    Panic,
    Nondeterminism,
}

impl FailureKind {
    /// Distinct exit codes so scripts can tell failures apart.
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Safety => 2,
            FailureKind::Liveness => 3,
            FailureKind::Panic => 4,
            FailureKind::Nondeterminism => 5,
        }
    }
}

/// Exit code when every seed passed but a coverage mark was never hit.
pub const EXIT_COVERAGE: i32 = 6;

impl Check {
    pub fn guarantee(self) -> &'static str {
        use Check::*;
        match self {
            IndexContiguity | AckedAppendLost | AppendDuplicated | RetentionDroppedUnsettled => {
                "G1 indices contiguous, acknowledged appends never lost"
            }
            DoubleLease | TokenReused => "G2 at most one valid lease per message",
            SettleMismatch | StaleTokenAccepted | TerminalTwice | TerminalLeased | AttemptCount
            | BackoffIgnored | KeyOrder => "G3 terminal at most once, stale tokens change nothing",
            BaseOffset => "G4 base_offset monotonic, never past an unsettled message",
            WaiterOrder | WaiterNotServed | LeaseStuck | NotSettled => {
                "G5 liveness: everything settles, waiters are served"
            }
            GroupInterference => "G6 groups are independent",
            LowestFirst => "reference model: acquire leases the lowest leasable messages",
            ErrorChangedState => "errors change nothing",
            RecoveryDiverged => "recovery rebuilds the same state",
            MachineInvariant => "machine invariants",
            Panic => "no panic",
            Nondeterminism => "same seed, same trace",
        }
    }

    pub fn kind(self) -> FailureKind {
        match self {
            Check::NotSettled | Check::WaiterNotServed | Check::LeaseStuck => FailureKind::Liveness,
            Check::Panic | Check::MachineInvariant => FailureKind::Panic,
            Check::Nondeterminism => FailureKind::Nondeterminism,
            _ => FailureKind::Safety,
        }
    }
}

/// A broken check, with what the checker saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: Check,
    pub detail: String,
}

impl Violation {
    pub fn new(check: Check, detail: impl Into<String>) -> Self {
        Violation {
            check,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} ({}): {}",
            self.check,
            self.check.guarantee(),
            self.detail
        )
    }
}

/// A check's result: `Err` stops the world.
pub type Checked<T = ()> = Result<T, Violation>;

/// Fails with `check` unless `condition` holds; the detail is built only on failure.
pub fn ensure(condition: bool, check: Check, detail: impl FnOnce() -> String) -> Checked {
    if condition {
        Ok(())
    } else {
        Err(Violation::new(check, detail()))
    }
}
