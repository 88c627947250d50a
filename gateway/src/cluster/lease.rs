//! Transports that must run on exactly one instance (SSMI logins, modems): a lease in
//! Redis. An instance takes the lease when it is free (`SET NX` with the lease time, and a
//! fencing number from a counter that only grows), runs the transport while it renews the
//! lease every third of its time, and stops the transport when a renewal finds the lease
//! another's, or when it could not renew for half the lease time (it fences itself off
//! before the lease can lapse and another instance take it). The others stand by, trying
//! every fifth of the lease time. With the embedded store there is one instance: the
//! transport runs unleased. A standby instance is ready (its transport is not required).

use std::time::Duration;

use richmond_drivers::telemetry::Event as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::telemetry::{Lease, LeaseEvent};
use crate::admin::Readiness;
use crate::store::{Store, redis::RedisStore};

/// Takes the lease when it is free: returns the fencing number, or 0 when it is held.
/// KEYS: the lease, the fencing counter; ARGV: the holder, the lease time in ms.
const TAKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '/' .. fence, 'PX', ARGV[2])
return fence
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
    pub readiness: Readiness,
}

/// How a leased transport is started: on the tracker it is given, stopping when the token
/// is cancelled.
pub type Start = Box<dyn Fn(&TaskTracker, &CancellationToken) + Send + Sync>;

impl Leased {
    /// Runs `start` whenever this instance holds the lease, until `stop` is cancelled (then
    /// waits for the transport to finish and gives the lease up).
    pub async fn run(self, start: Start, stop: CancellationToken) {
        let Store::Redis(redis) = self.store.clone() else {
            let tracker = TaskTracker::new();
            start(&tracker, &stop);
            tracker.close();
            tracker.wait().await;
            return;
        };
        let latch = format!("transport:{}", self.transport);
        let keys = [
            format!("lease:{}", self.transport),
            format!("lease:{}:fence", self.transport),
        ];
        let keys: [&str; 2] = [&keys[0], &keys[1]];
        let ms = u64::try_from(self.lease.as_millis())
            .unwrap_or(u64::MAX)
            .to_string();
        loop {
            self.readiness.stand_by(&latch);
            let fence = match redis.eval_i64(TAKE, &keys, &[&self.holder, &ms]).await {
                Ok(f) if f > 0 => f,
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
            self.event(LeaseEvent::Taken { fence });
            self.readiness.register(&latch);
            let (tracker, running) = (TaskTracker::new(), stop.child_token());
            start(&tracker, &running);
            tracker.close();
            let stopping = self.hold(&redis, &keys, &mine, &ms, &tracker, &stop).await;
            running.cancel();
            tracker.wait().await;
            if stopping {
                if let Ok(1) = redis.eval_i64(RELEASE, &keys[..1], &[&mine]).await {
                    self.event(LeaseEvent::Released);
                }
                self.readiness.stand_by(&latch);
                return;
            }
            self.event(LeaseEvent::Lost);
        }
    }

    /// Renews the lease until it is lost (false) or `stop` (true).
    async fn hold(
        &self,
        redis: &RedisStore,
        keys: &[&str; 2],
        mine: &str,
        ms: &str,
        tracker: &TaskTracker,
        stop: &CancellationToken,
    ) -> bool {
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return true,
                () = tracker.wait() => {
                    // The transport ended by itself: let another instance try.
                    let _ = redis.eval_i64(RELEASE, &keys[..1], &[mine]).await;
                    return false;
                }
                () = tokio::time::sleep(self.lease / 3) => {}
            }
            let asked = tokio::time::timeout(
                self.lease / 4,
                redis.eval_i64(RENEW, &keys[..1], &[mine, ms]),
            )
            .await;
            match asked {
                Ok(Ok(1)) => renewed = Instant::now(),
                Ok(Ok(_)) => return false,
                Ok(Err(e)) => {
                    tracing::warn!(message = "Cannot renew the transport's lease.", transport = %self.transport, error = %e)
                }
                Err(_) => {
                    tracing::warn!(message = "Cannot renew the transport's lease: no answer.", transport = %self.transport)
                }
            }
            if renewed.elapsed() >= self.lease / 2 {
                return false;
            }
        }
    }

    fn event(&self, event: LeaseEvent) {
        Lease {
            transport: &self.transport,
            holder: &self.holder,
            event,
        }
        .emit();
    }
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
    F: Fn(&TaskTracker, &CancellationToken) + Send + Sync + 'static,
{
    Box::new(f)
}
