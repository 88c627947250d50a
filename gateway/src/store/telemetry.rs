//! The store's telemetry events (see `richmond_drivers::telemetry`): operations and their
//! failures, entries by kind (redb), the embedded store's group commits, and Redis writes the
//! replicas did not confirm.

use metrics::{counter, gauge, histogram};
use richmond_drivers::telemetry::{Event, Metric};

use super::StoreError;

pub const OPERATIONS: Metric =
    Metric::counter("richmond_store_operations_total", "State-store operations.");
pub const ERRORS: Metric = Metric::counter(
    "richmond_store_errors_total",
    "State-store operations that failed.",
);
pub const ENTRIES: Metric = Metric::gauge(
    "richmond_store_entries",
    "Live entries of the redb store by kind (smpp:id, api:msg, …), counted at each purge.",
);
pub const COMMIT_BATCH: Metric = Metric::histogram(
    "richmond_store_commit_batch_size",
    "Writes per group commit of the embedded (redb) store.",
);

pub const UNREPLICATED: Metric = Metric::counter(
    "richmond_store_unreplicated_writes_total",
    "Redis writes fewer replicas confirmed than store.replicas_to_wait, in time.",
);

/// Every metric of the store.
pub const METRICS: &[Metric] = &[OPERATIONS, ERRORS, ENTRIES, COMMIT_BATCH, UNREPLICATED];

/// One store operation `op` and how it ended.
pub(crate) struct Operated<'a> {
    pub(crate) op: &'static str,
    pub(crate) error: Option<&'a StoreError>,
}

impl Event for Operated<'_> {
    const METRICS: &'static [Metric] = &[OPERATIONS, ERRORS];

    fn emit(self) {
        counter!(OPERATIONS.name, "op" => self.op).increment(1);
        if let Some(e) = self.error {
            counter!(ERRORS.name, "op" => self.op, "code" => e.code()).increment(1);
        }
    }
}

/// The entries of one kind in the embedded store, counted by a purge.
pub(crate) struct Entries {
    pub(crate) kind: &'static str,
    pub(crate) count: u64,
}

impl Event for Entries {
    const METRICS: &'static [Metric] = &[ENTRIES];

    // Gauges are f64; entry counts stay far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    fn emit(self) {
        gauge!(ENTRIES.name, "kind" => self.kind).set(self.count as f64);
    }
}

/// One group commit of the embedded store, of `writes` writes.
pub(crate) struct Committed {
    pub(crate) writes: usize,
}

impl Event for Committed {
    const METRICS: &'static [Metric] = &[COMMIT_BATCH];

    #[allow(clippy::cast_precision_loss)]
    fn emit(self) {
        histogram!(COMMIT_BATCH.name).record(self.writes as f64);
    }
}

/// A write the replicas did not all confirm within `store.replica_wait_ms`.
pub(crate) struct Unreplicated {
    pub(crate) wanted: u32,
    pub(crate) got: u32,
}

impl Event for Unreplicated {
    const METRICS: &'static [Metric] = &[UNREPLICATED];

    fn emit(self) {
        counter!(UNREPLICATED.name).increment(1);
        tracing::warn!(
            message = "A Redis write was not confirmed by the replicas in time; a failover now could lose it.",
            wanted = self.wanted,
            got = self.got
        );
    }
}
