//! A limit on failed password checks per source address: after `api.failed_login_limit`
//! wrong passwords from one address within `api.failed_login_window_seconds`, that address's
//! Basic logins that would need an argon2 run are answered 429 until the window ends. A
//! password already verified (cached, see [`super::credentials`]) is still admitted from
//! that address, and other addresses are not affected: a password guesser can neither lock
//! the real user out nor make the gateway run argon2 for it. Tokens need no limit (a SHA-256
//! lookup; guessing 256 bits is hopeless).
//!
//! The map holds at most [`MAX_SOURCES`] addresses; expired entries are dropped when it is
//! full, and a new address finding it still full is not tracked (the argon2 pool's bound
//! still holds). Per instance, in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most source addresses tracked at once.
pub const MAX_SOURCES: usize = 100_000;

/// Failed logins per source address.
#[derive(Debug)]
pub(crate) struct FailedLogins {
    limit: u32,
    window: Duration,
    sources: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailedLogins {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            sources: Mutex::default(),
        }
    }

    /// Seconds until `ip` may try passwords again, when it is over its limit.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let &(started, count) = sources.get(&ip)?;
        let left = self
            .window
            .checked_sub(now.duration_since(started))
            .filter(|left| !left.is_zero())?;
        (count >= self.limit).then(|| left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Counts one wrong password from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
            let window = self.window;
            sources.retain(|_, (started, _)| now.duration_since(*started) < window);
            if sources.len() >= MAX_SOURCES {
                return;
            }
        }
        let entry = sources.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_limit_until_the_window_ends() {
        let f = FailedLogins::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..2 {
            f.failed(a, t0);
        }
        assert_eq!(f.blocked(a, t0), None);
        f.failed(a, t0);
        assert_eq!(f.blocked(a, t0 + Duration::from_millis(500)), Some(60));
        assert_eq!(f.blocked(b, t0), None, "another address is not affected");
        assert_eq!(f.blocked(a, t0 + Duration::from_secs(60)), None);
        f.failed(a, t0 + Duration::from_secs(61));
        assert_eq!(
            f.blocked(a, t0 + Duration::from_secs(61)),
            None,
            "a fresh window"
        );
    }
}
