//! Pacing of outbound submits, sans-IO: the `mt_tps` limit and the pause after the SMSC
//! throttles. Used only by `session.rs`.
//!
//! * Rate: a GCRA (virtual scheduling) with emission interval `1 s / mt_tps` and a burst of
//!   `max(1, mt_tps / 50)` (20 ms worth, so a late timer does not lower the rate). Only sends
//!   advance it; responses never reset it (Vumi #1076).
//! * Throttling (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`): nothing leaves for `throttle_backoff`,
//!   doubling while the SMSC keeps throttling, capped at `throttle_backoff_max`; reset by an
//!   accepted submit.

use std::time::{Duration, Instant};

use super::config::Config;

#[derive(Debug)]
pub(crate) struct Pace {
    tps: u32,
    /// Theoretical arrival time of the next send.
    tat: Instant,
    backoff: Duration,
    backoff_max: Duration,
    throttled_until: Option<Instant>,
    level: u32,
    throttled: bool,
}

impl Pace {
    pub(crate) fn new(config: &Config, now: Instant) -> Self {
        Self {
            tps: config.mt_tps,
            tat: now,
            backoff: config.throttle_backoff,
            backoff_max: config.throttle_backoff_max.max(config.throttle_backoff),
            throttled_until: None,
            level: 0,
            throttled: false,
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1) / self.tps.max(1)
    }

    /// When the next submit may leave.
    pub(crate) fn send_allowed_at(&self) -> Instant {
        let mut at = self.tat;
        if self.tps > 0 {
            let burst = (self.tps / 50).max(1);
            let tolerance = self.interval() * (burst - 1);
            at = self.tat.checked_sub(tolerance).unwrap_or(self.tat);
        }
        match self.throttled_until {
            Some(until) if until > at => until,
            _ => at,
        }
    }

    /// A submit left at `now`.
    pub(crate) fn on_send(&mut self, now: Instant) {
        if self.tps > 0 {
            let start = self.tat.max(now);
            self.tat = start.checked_add(self.interval()).unwrap_or(start);
        }
    }

    /// The SMSC throttled: pause.
    pub(crate) fn throttle(&mut self, now: Instant) {
        let pause = self
            .backoff
            .saturating_mul(1u32 << self.level.min(16))
            .min(self.backoff_max);
        self.level = self.level.saturating_add(1);
        self.throttled_until = Some(now.checked_add(pause).unwrap_or(now));
        self.throttled = true;
    }

    /// A submit was accepted. Returns `true` when this ends a throttled spell.
    pub(crate) fn on_accepted(&mut self) -> bool {
        self.level = 0;
        std::mem::replace(&mut self.throttled, false)
    }
}
