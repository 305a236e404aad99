//! Scaling observations computed from a run's results.
