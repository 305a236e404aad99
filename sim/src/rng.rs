//! Seeded random streams: one seed, separate streams per concern.
//!
//! The configuration, the workload, the faults and the network schedule
//! each draw from their own ChaCha stream of the same seed, so a new draw in
//! one concern (say, one more fault site) leaves the others' sequences as
//! they were.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One seeded stream with the few draws the simulator needs.
#[derive(Clone, Debug)]
pub struct Stream(ChaCha8Rng);

impl Stream {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Stream(rng)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.0.gen_bool(p.min(1.0))
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0.gen_range(low..=high)
    }

    /// Uniform in `0..len`; `len` must be positive.
    pub fn below(&mut self, len: usize) -> usize {
        self.0.gen_range(0..len)
    }

    pub fn unit(&mut self) -> f64 {
        self.0.gen()
    }

    pub fn any_u64(&mut self) -> u64 {
        self.0.gen()
    }

    /// One of `choices`, uniformly.
    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len())]
    }
}

/// The streams of one world.
#[derive(Clone, Debug)]
pub struct Streams {
    /// What producers send, what consumers do and decide.
    pub workload: Stream,
    /// Whether and when each fault fires.
    pub faults: Stream,
    /// Network delays and other scheduling.
    pub schedule: Stream,
}

impl Streams {
    /// The configuration stream is drawn first and separately (see
    /// [`crate::config::WorldConfig::draw`]).
    pub const CONFIG: u64 = 0;

    pub fn new(seed: u64) -> Self {
        Streams {
            workload: Stream::new(seed, 1),
            faults: Stream::new(seed, 2),
            schedule: Stream::new(seed, 3),
        }
    }
}
