//! Reconnect backoff with jitter, sans-IO. Used only by `session.rs`.
//!
//! The delay starts at `reconnect_backoff_min`, doubles with every failed attempt up to
//! `reconnect_backoff_max`, and is cut by a random part of up to a quarter (a seeded
//! xorshift, so tests are deterministic). Only a successful *bind* resets it — not a TCP
//! connect, which would let a refusing SMSC see a storm of binds (reference/vumi.md §3.1).

use std::time::{Duration, Instant};

use super::config::Config;

/// Longest delay ever scheduled (guards `Instant` arithmetic).
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    next_attempt_at: Instant,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(config: &Config, now: Instant, seed: u64) -> Self {
        Self {
            min: config.reconnect_backoff_min,
            max: config
                .reconnect_backoff_max
                .max(config.reconnect_backoff_min),
            failures: 0,
            next_attempt_at: now,
            rng: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    pub(crate) const fn next_attempt_at(&self) -> Instant {
        self.next_attempt_at
    }

    /// A bind succeeded.
    pub(crate) const fn reset(&mut self) {
        self.failures = 0;
    }

    /// A connection ended or an attempt failed: the next attempt waits.
    pub(crate) fn schedule(&mut self, now: Instant) {
        let delay = self
            .min
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max)
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        let quarter = delay / 4;
        let jitter = match u64::try_from(quarter.as_nanos()) {
            Ok(0) | Err(_) => Duration::ZERO,
            Ok(nanos) => Duration::from_nanos(self.next_random() % nanos),
        };
        self.next_attempt_at = now.checked_add(delay - jitter).unwrap_or(now);
    }

    /// xorshift64.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}
