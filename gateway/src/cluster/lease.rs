//! Transports that must run on exactly one instance (SSMI logins, modems): a lease in
//! Redis. An instance takes the lease when it is free (`SET` if absent, with the lease
//! time, and a number from a counter that only grows, which names the holding in logs and
//! metrics), waits a third of a lease (with the time the lease took to lapse, the last
//! holder's time to finish), runs the transport while it renews the lease every sixth of its
//! time (a failed renewal again every twelfth), and stops taking work for it when a renewal
//! finds the lease another's, or when half a lease has passed since the last renewal was
//! asked for — before the lease can lapse in Redis — then finishes what it holds. The
//! others stand by, trying every fifth of the lease time. A standby instance is ready (its
//! transport is not required). With one instance (`cluster.instances = 1`) or the embedded
//! store the transport runs unleased (see `crate::transport::spawn_all`). The scripts are not
//! waited for by replicas: after a Redis failover that lost the key another instance may
//! take it, and the holder stops at its next renewal.

use std::time::Duration;

use richmond_drivers::telemetry::Event as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::telemetry::{Lease, LeaseEvent};
use crate::admin::Readiness;
use crate::store::{Store, redis::RedisStore};

/// Takes a free one of the lease's slots: returns `fence × 1024 + slot`, or -1 when every
/// slot is held. KEYS: the lease (slot `i` of several is `<lease>:<i>`), the fencing
/// counter; ARGV: the holder, the lease time in ms, the number of slots.
const TAKE: &str = r"
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local k = KEYS[1]
  if n > 1 then k = k .. ':' .. i end
  if redis.call('EXISTS', k) == 0 then
    local fence = redis.call('INCR', KEYS[2])
    redis.call('SET', k, ARGV[1] .. '/' .. fence, 'PX', ARGV[2])
    return fence * 1024 + i
  end
end
return -1
";

/// Extends the lease when it is still ours: 1, else 0. ARGV: holder/fence, lease time.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Gives the lease up when it is still ours. ARGV: holder/fence.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// One transport's lease.
pub struct Leased {
    pub transport: String,
    pub holder: String,
    pub lease: Duration,
    pub store: Store,
    /// The transport's readiness latch, required only while this instance holds the lease
    /// (None: leave readiness to the caller).
    pub readiness: Option<Readiness>,
    /// Slots of the lease (binds of an SMPP transport shared by instances: each worker
    /// holds one); 1 for a transport that runs whole on one instance.
    pub slots: u32,
    /// Wait a lease period before each attempt (a worker beyond this instance's share
    /// lets the others take a slot first).
    pub patient: bool,
}

/// How a leased transport is started: for the slot held (0 for a whole transport), on the
/// tracker it is given, stopping when the token is cancelled.
pub type Start = Box<dyn Fn(usize, &TaskTracker, &CancellationToken) + Send + Sync>;

impl Leased {
    /// Runs `start` whenever this instance holds the lease, until `stop` is cancelled (then
    /// waits for the transport to finish and gives the lease up).
    pub async fn run(self, start: Start, stop: CancellationToken) {
        let Store::Redis(redis) = self.store.clone() else {
            // Callers lease only on Redis; unleased otherwise.
            let tracker = TaskTracker::new();
            start(0, &tracker, &stop);
            tracker.close();
            tracker.wait().await;
            return;
        };
        let latch = format!("transport:{}", self.transport);
        let lease_key = format!("lease:{}", self.transport);
        let fence_key = format!("lease:{}:fence", self.transport);
        let slots = self.slots.max(1).to_string();
        let ms = u64::try_from(self.lease.as_millis())
            .unwrap_or(u64::MAX)
            .to_string();
        loop {
            self.stand_by(&latch);
            if self.patient && sleep_or_stop(self.lease, &stop).await {
                return;
            }
            let taken_at = Instant::now();
            let taken = redis
                .eval_i64(
                    TAKE,
                    &[&lease_key, &fence_key],
                    &[&self.holder, &ms, &slots],
                )
                .await;
            let (fence, slot) = match taken {
                Ok(f) if f >= 0 => (f / 1024, usize::try_from(f % 1024).unwrap_or(0)),
                Ok(_) => {
                    if sleep_or_stop(self.lease / 5, &stop).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(message = "Cannot ask for the transport's lease.", transport = %self.transport, error = %e);
                    if sleep_or_stop(self.lease / 5, &stop).await {
                        return;
                    }
                    continue;
                }
            };
            let mine = format!("{}/{fence}", self.holder);
            let slot_key = if self.slots > 1 {
                format!("{lease_key}:{slot}")
            } else {
                lease_key.clone()
            };
            let keys: [&str; 1] = [&slot_key];
            self.event(LeaseEvent::Taken { fence }, slot);
            // The last holder may still be finishing what it had (it stopped taking work at
            // half its lease, at least half a lease ago): give it a third more.
            let (tracker, running) = (TaskTracker::new(), stop.child_token());
            let ended = if sleep_or_stop(self.lease / 3, &stop).await {
                Held::Stopping
            } else {
                if let Some(r) = &self.readiness {
                    r.register(&latch);
                }
                start(slot, &tracker, &running);
                tracker.close();
                self.hold(&redis, &keys, &mine, &ms, taken_at, &tracker, &stop)
                    .await
            };
            running.cancel();
            tracker.close();
            tracker.wait().await;
            match ended {
                Held::Stopping => {
                    if let Ok(1) = redis.eval_i64(RELEASE, &keys, &[&mine]).await {
                        self.event(LeaseEvent::Released, slot);
                    }
                    self.stand_by(&latch);
                    return;
                }
                Held::Lost => self.event(LeaseEvent::Lost, slot),
                Held::Ended => {
                    // The transport stopped by itself: give the others a turn first.
                    let _ = redis.eval_i64(RELEASE, &keys, &[&mine]).await;
                    self.event(LeaseEvent::Released, slot);
                    if sleep_or_stop(self.lease, &stop).await {
                        return;
                    }
                }
            }
        }
    }

    /// Renews the lease every sixth of its time (a failed renewal is tried again every
    /// twelfth, so a Redis failover of up to a third of a lease costs nothing) until it is
    /// lost, the transport ends, or `stop`. `renewed`: when the request that last took or
    /// renewed it was sent; at half a lease from then without a renewal the lease counts as
    /// lost, well before Redis gives it to another.
    #[allow(clippy::too_many_arguments)]
    async fn hold(
        &self,
        redis: &RedisStore,
        keys: &[&str; 1],
        mine: &str,
        ms: &str,
        mut renewed: Instant,
        tracker: &TaskTracker,
        stop: &CancellationToken,
    ) -> Held {
        let mut next = renewed + self.lease / 6;
        loop {
            let fence_at = renewed + self.lease / 2;
            tokio::select! {
                () = stop.cancelled() => return Held::Stopping,
                () = tracker.wait() => return Held::Ended,
                () = tokio::time::sleep_until(next.min(fence_at)) => {}
            }
            if Instant::now() >= fence_at {
                return Held::Lost;
            }
            let asked = Instant::now();
            let answer = tokio::time::timeout_at(
                (asked + self.lease / 4).min(fence_at),
                redis.eval_i64(RENEW, keys, &[mine, ms]),
            )
            .await;
            match answer {
                Ok(Ok(1)) => {
                    renewed = asked;
                    next = asked + self.lease / 6;
                    continue;
                }
                Ok(Ok(_)) => return Held::Lost,
                Ok(Err(e)) => {
                    tracing::warn!(message = "Cannot renew the transport's lease.", transport = %self.transport, error = %e);
                }
                Err(_) => {
                    tracing::warn!(message = "Cannot renew the transport's lease: no answer.", transport = %self.transport);
                }
            }
            next = Instant::now() + self.lease / 12;
        }
    }

    fn stand_by(&self, latch: &str) {
        if let Some(r) = &self.readiness {
            r.stand_by(latch);
        }
    }

    fn event(&self, event: LeaseEvent, slot: usize) {
        let label = if self.slots > 1 {
            format!("{}#{slot}", self.transport)
        } else {
            self.transport.clone()
        };
        Lease {
            transport: &label,
            holder: &self.holder,
            event,
        }
        .emit();
    }
}

/// How holding a lease ended.
enum Held {
    /// The gateway stops.
    Stopping,
    /// Another instance has it, or it could not be renewed in time.
    Lost,
    /// The transport's tasks ended by themselves.
    Ended,
}

/// Sleeps `d`; true when `stop` came first.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// Boxes a start function.
pub fn start<F>(f: F) -> Start
where
    F: Fn(usize, &TaskTracker, &CancellationToken) + Send + Sync + 'static,
{
    Box::new(f)
}
