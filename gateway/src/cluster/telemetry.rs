//! The cluster's telemetry events (see `richmond_drivers::telemetry`): a shared limit served
//! locally, and leases taken, lost and given up.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{counter, gauge};
use richmond_drivers::telemetry::{Event, Metric};

pub const RATE_LOCAL: Metric = Metric::counter(
    "richmond_rate_local_total",
    "Parts paced by this instance's share of a shared limit because Redis could not be asked.",
);
pub const LEASE_HELD: Metric = Metric::gauge(
    "richmond_lease_held",
    "1 while this instance holds a transport's lease (runs it), 0 while it stands by.",
);
pub const LEASE_CHANGES: Metric = Metric::counter(
    "richmond_lease_changes_total",
    "A transport's lease taken, renewed too late (lost) or released, by event.",
);

/// Every metric of the cluster.
pub const METRICS: &[Metric] = &[RATE_LOCAL, LEASE_HELD, LEASE_CHANGES];

/// When the last local-rate warning was logged (Unix seconds), to log one a second.
static LAST_WARNING: AtomicU64 = AtomicU64::new(u64::MAX);

/// A part paced locally because Redis could not be asked.
pub(crate) struct LocalRate<'a> {
    pub(crate) transport: &'a str,
    pub(crate) why: &'a str,
}

impl Event for LocalRate<'_> {
    const METRICS: &'static [Metric] = &[RATE_LOCAL];

    fn emit(self) {
        counter!(RATE_LOCAL.name, "transport" => self.transport.to_owned()).increment(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if LAST_WARNING.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(
                message = "Cannot reserve a slot of the shared limit in Redis; pacing at this instance's share.",
                transport = self.transport,
                error = self.why
            );
        }
    }
}

/// What happened to a lease.
#[derive(Clone, Copy)]
pub(crate) enum LeaseEvent {
    Taken { fence: i64 },
    Lost,
    Released,
}

pub(crate) struct Lease<'a> {
    pub(crate) transport: &'a str,
    pub(crate) holder: &'a str,
    pub(crate) event: LeaseEvent,
}

impl Event for Lease<'_> {
    const METRICS: &'static [Metric] = &[LEASE_HELD, LEASE_CHANGES];

    fn emit(self) {
        let t = self.transport.to_owned();
        let (name, held) = match self.event {
            LeaseEvent::Taken { fence } => {
                tracing::info!(
                    message = "Lease taken: this instance runs the transport.",
                    transport = self.transport,
                    holder = self.holder,
                    fence
                );
                ("taken", 1.0)
            }
            LeaseEvent::Lost => {
                tracing::warn!(
                    message = "Lease lost: stopping the transport here.",
                    transport = self.transport,
                    holder = self.holder
                );
                ("lost", 0.0)
            }
            LeaseEvent::Released => {
                tracing::info!(
                    message = "Lease released.",
                    transport = self.transport,
                    holder = self.holder
                );
                ("released", 0.0)
            }
        };
        gauge!(LEASE_HELD.name, "transport" => t.clone()).set(held);
        counter!(LEASE_CHANGES.name, "transport" => t, "event" => name).increment(1);
    }
}
