//! One parts-per-second limit for a transport across every instance (`shared_mt_tps`):
//! a reservation in Redis (GCRA, the schedule kept as the next free slot, in the server's
//! clock) so each part waits for its own slot. Slots are spaced (1 s + guard) / limit
//! apart: delays between the reservation and the carrier of up to the guard
//! (`shared_mt_tps_guard_ms`, default 50 ms) cannot put more than `limit` parts in any second
//! the carrier counts. When Redis cannot be asked an instance paces at limit /
//! `cluster.instances` until it can (with all of them cut off, together they stay under the
//! limit; one cut off while the others reach Redis adds its share); with the embedded store
//! the whole limit is this process's. Counted in parts (SMPP PDUs), not messages.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use richmond_drivers::telemetry::Event as _;
use tokio::time::Instant;

use crate::store::Store;

/// How long a reservation may take before the local schedule is used instead.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// Reserves the next free slot: returns how many microseconds to wait for it.
/// KEYS[1]: the schedule; ARGV[1]: the slot spacing in µs.
const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next)
local after = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.floor((after - now) / 1000) + 1000)
return slot - now
";

/// A limit shared by the instances running one transport.
pub struct SharedRate {
    key: String,
    store: Store,
    /// Slot spacing with Redis (the whole limit) and locally (this instance's share).
    shared: Duration,
    local: Duration,
    next_local: Mutex<Instant>,
    transport: String,
}

fn spacing(per_second: f64, guard: Duration) -> Duration {
    (Duration::from_secs(1) + guard).div_f64(per_second.max(0.001))
}

impl SharedRate {
    /// A limit of `per_second` parts for `transport`, shared by `instances`, slots spaced to
    /// absorb `guard` of jitter.
    pub fn new(
        transport: &str,
        per_second: u32,
        guard: Duration,
        instances: u32,
        store: Store,
    ) -> Self {
        let limit = f64::from(per_second);
        let local_share = match store {
            Store::Redis(_) => limit / f64::from(instances.max(1)),
            // Nothing shared: this process is the only one.
            Store::Redb(_) => limit,
        };
        Self {
            key: format!("rate:{transport}"),
            store,
            shared: spacing(limit, guard),
            local: spacing(local_share, guard),
            next_local: Mutex::new(Instant::now()),
            transport: transport.to_owned(),
        }
    }

    /// Waits for this part's slot.
    pub async fn acquire(&self) {
        if let Store::Redis(redis) = &self.store {
            let spacing = u64::try_from(self.shared.as_micros()).unwrap_or(u64::MAX);
            let asked = tokio::time::timeout(
                ASK_TIMEOUT,
                redis.eval_i64(RESERVE, &[&self.key], &[&spacing.to_string()]),
            )
            .await;
            match asked {
                Ok(Ok(wait_us)) => {
                    let wait = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0));
                    tokio::time::sleep(wait).await;
                    return;
                }
                Ok(Err(e)) => super::telemetry::LocalRate {
                    transport: &self.transport,
                    why: &e.to_string(),
                }
                .emit(),
                Err(_) => super::telemetry::LocalRate {
                    transport: &self.transport,
                    why: "no answer in time",
                }
                .emit(),
            }
        }
        let slot = {
            let mut next = self
                .next_local
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + self.local;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::spacing;
    use std::time::Duration;

    #[test]
    fn slots_leave_the_guard_free() {
        // 50 parts: 21 ms apart, so 51 parts span 1,050 ms.
        let guard = Duration::from_millis(50);
        assert_eq!(spacing(50.0, guard), Duration::from_millis(21));
        assert_eq!(spacing(25.0, guard), Duration::from_millis(42));
        assert_eq!(spacing(10.0, Duration::ZERO), Duration::from_millis(100));
    }
}
