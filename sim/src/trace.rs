//! The trace of a world: a running hash of every step (for determinism
//! checks and snapshots), plus, when asked, the steps as text.

use std::cell::RefCell;
use std::collections::VecDeque;

thread_local! {
    /// The text tail lives outside the world, so a panic does not lose it.
    static TAIL: RefCell<VecDeque<String>> = const { RefCell::new(VecDeque::new()) };
}

/// Takes the text tail of the last world run on this thread.
pub fn take_tail() -> Vec<String> {
    TAIL.with(|tail| tail.borrow_mut().drain(..).collect())
}

/// How much of the trace to keep as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceMode {
    /// Only the hash: the fast path for thousands of seeds.
    Hash,
    /// The last `n` steps as text, for a failure report.
    Tail(usize),
    /// Every step printed as it happens (`--trace`).
    Print,
}

#[derive(Debug)]
pub struct Trace {
    mode: TraceMode,
    hash: u64,
}

impl Trace {
    pub fn new(mode: TraceMode) -> Self {
        TAIL.with(|tail| tail.borrow_mut().clear());
        Trace {
            mode,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// Mixes a step's words into the hash (FxHash-style: cheap and
    /// platform-independent, unlike `std`'s randomly keyed hasher).
    pub fn mix(&mut self, words: &[u64]) {
        for &word in words {
            self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Whether lines are wanted; callers skip formatting when not.
    pub fn wants_text(&self) -> bool {
        self.mode != TraceMode::Hash
    }

    pub fn line(&mut self, text: impl FnOnce() -> String) {
        match self.mode {
            TraceMode::Hash => {}
            TraceMode::Print => println!("{}", text()),
            TraceMode::Tail(capacity) => TAIL.with(|tail| {
                let mut tail = tail.borrow_mut();
                if tail.len() == capacity {
                    tail.pop_front();
                }
                tail.push_back(text());
            }),
        }
    }
}
