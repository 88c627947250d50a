//! `store.replicas_to_wait`: a write counts as done once that many replicas have it, so a
//! failover (which promotes a replica) keeps what Richmond acknowledged. `WAIT` counts the
//! writes of its own connection, and blocks that connection while it waits: on the one
//! multiplexed connection every write shares, the waits are coalesced — one `WAIT` at a time,
//! covering every write finished before it was sent — and after a `WAIT` the replicas did not
//! answer in time (a replica down), writes go unconfirmed for a while rather than each
//! stalling the connection. A write never fails for want of replicas: it is counted
//! (`richmond_store_unreplicated_writes_total`) and logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use richmond_drivers::telemetry::Event as _;
use tokio::time::Instant;

use super::Primary;
use crate::store::telemetry::Unreplicated;

#[derive(Default)]
struct Covered {
    /// Writes up to here are on the replicas.
    confirmed: u64,
    /// Writes up to here were waited for in vain (counted already).
    failed: u64,
}

/// How long writes go unconfirmed after the replicas did not answer a `WAIT` in time.
const COOL_DOWN: Duration = Duration::from_secs(5);

pub(super) struct Replication {
    wanted: u32,
    wait_ms: u64,
    /// Writes finished so far (a sequence number each).
    written: AtomicU64,
    /// What the `WAIT`s so far covered; held while a `WAIT` runs.
    covered: tokio::sync::Mutex<Covered>,
    /// Until when writes are not waited for.
    skip_until: Mutex<Option<Instant>>,
}

impl Replication {
    pub(super) fn new(wanted: u32, wait_ms: u64) -> Self {
        Self {
            wanted,
            wait_ms,
            written: AtomicU64::new(0),
            covered: tokio::sync::Mutex::new(Covered::default()),
            skip_until: Mutex::new(None),
        }
    }

    fn unconfirmed(&self, got: u32) {
        Unreplicated {
            wanted: self.wanted,
            got,
        }
        .emit();
    }

    /// Waits until a write just finished on server `at` is on the replicas (or gives up,
    /// counted). `primary` is the connection now.
    pub(super) async fn confirm(&self, primary: &Primary, at: &str) {
        let seq = self.written.fetch_add(1, Ordering::AcqRel) + 1;
        if self.skipping() || primary.address != at {
            // Replicas known to lag, or the write went to a server that is no longer the
            // one this connection reaches (a WAIT here would not count it).
            return self.unconfirmed(0);
        }
        let mut covered = self.covered.lock().await;
        if covered.confirmed >= seq {
            return;
        }
        // A WAIT that failed while this write queued covered it too; so does a cool-down
        // that began meanwhile: never one WAIT after another.
        if covered.failed >= seq || self.skipping() {
            return self.unconfirmed(0);
        }
        let upto = self.written.load(Ordering::Acquire);
        let mut c = primary.manager.clone();
        let got: Result<u32, _> = redis::cmd("WAIT")
            .arg(self.wanted)
            .arg(self.wait_ms)
            .query_async(&mut c)
            .await;
        match got {
            Ok(n) if n >= self.wanted => covered.confirmed = upto,
            Ok(n) => {
                covered.failed = upto;
                self.cool_down();
                self.unconfirmed(n);
            }
            Err(e) => {
                tracing::warn!(message = "WAIT for the Redis replicas failed.", error = %e);
                covered.failed = upto;
                self.cool_down();
                self.unconfirmed(0);
            }
        }
    }

    fn skipping(&self) -> bool {
        self.skip_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    fn cool_down(&self) {
        *self
            .skip_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + COOL_DOWN);
    }
}
