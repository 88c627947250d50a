//! The bus's telemetry events (see `richmond_drivers::telemetry`): publishes and their
//! confirmations, deliveries, acks and nacks, broker returns and reconnections, the embedded
//! queues' sizes and spool commits, and AMQP ack frames.

use metrics::{counter, gauge, histogram};
use richmond_drivers::telemetry::{Event, Metric};

use super::BusError;

pub const PUBLISHES: Metric = Metric::counter(
    "richmond_bus_publishes_total",
    "Messages handed to the bus.",
);
pub const PUBLISH_ERRORS: Metric = Metric::counter(
    "richmond_bus_publish_errors_total",
    "Publishes the bus did not confirm.",
);
pub const PUBLISH_DURATION: Metric = Metric::histogram(
    "richmond_bus_publish_duration_seconds",
    "Time from publish to confirmation (broker confirm or spool commit).",
);
pub const DELIVERIES: Metric = Metric::counter(
    "richmond_bus_deliveries_total",
    "Messages delivered to consumers.",
);
pub const REDELIVERIES: Metric = Metric::counter(
    "richmond_bus_redeliveries_total",
    "Deliveries flagged as redelivered.",
);
pub const ACKS: Metric = Metric::counter("richmond_bus_acks_total", "Deliveries acknowledged.");
pub const NACKS: Metric = Metric::counter(
    "richmond_bus_nacks_total",
    "Deliveries rejected (requeued or not).",
);
pub const RETURNS: Metric = Metric::counter(
    "richmond_bus_returns_total",
    "Publishes the broker returned as unroutable.",
);
pub const REPUBLISHES: Metric = Metric::counter(
    "richmond_bus_republishes_total",
    "Publishes sent again after the connection failed before the broker's confirm (the broker may hold two).",
);
pub const RECONNECTS: Metric = Metric::counter(
    "richmond_bus_reconnects_total",
    "Reconnections to the broker.",
);
pub const QUEUE_MESSAGES: Metric = Metric::gauge(
    "richmond_bus_queue_messages",
    "Messages in an embedded queue (ready + unacked).",
);
pub const QUEUE_BYTES: Metric = Metric::gauge(
    "richmond_bus_queue_bytes",
    "Payload bytes in an embedded queue.",
);
pub const SPOOL_COMMIT_DURATION: Metric = Metric::histogram(
    "richmond_spool_commit_duration_seconds",
    "Duration of one spool group commit, sync included.",
);
pub const SPOOL_COMMIT_BATCH: Metric = Metric::histogram(
    "richmond_spool_commit_batch_size",
    "Operations per spool group commit.",
);
pub const ACK_FRAMES: Metric = Metric::counter(
    "richmond_amqp_ack_frames_total",
    "basic.ack frames sent to RabbitMQ, by kind: multiple (covering several deliveries) or single.",
);
pub const ACKS_PER_FRAME: Metric = Metric::histogram(
    "richmond_amqp_acks_per_frame",
    "Deliveries acknowledged by one basic.ack multiple frame.",
);

/// Every metric of the bus.
pub const METRICS: &[Metric] = &[
    PUBLISHES,
    PUBLISH_ERRORS,
    PUBLISH_DURATION,
    DELIVERIES,
    REDELIVERIES,
    ACKS,
    NACKS,
    RETURNS,
    RECONNECTS,
    REPUBLISHES,
    QUEUE_MESSAGES,
    QUEUE_BYTES,
    SPOOL_COMMIT_DURATION,
    SPOOL_COMMIT_BATCH,
    ACK_FRAMES,
    ACKS_PER_FRAME,
];

/// A batch of publishes and how each ended, `seconds` after it started.
pub(crate) struct Published<'a> {
    pub(crate) results: &'a [Result<(), BusError>],
    pub(crate) seconds: f64,
}

impl Event for Published<'_> {
    const METRICS: &'static [Metric] = &[PUBLISHES, PUBLISH_ERRORS, PUBLISH_DURATION];

    fn emit(self) {
        counter!(PUBLISHES.name).increment(self.results.len() as u64);
        for r in self.results {
            match r {
                Ok(()) => histogram!(PUBLISH_DURATION.name).record(self.seconds),
                Err(e) => counter!(PUBLISH_ERRORS.name, "code" => e.code()).increment(1),
            }
        }
    }
}

/// A delivery handed to a consumer.
pub(crate) struct Delivered {
    pub(crate) redelivered: bool,
}

impl Event for Delivered {
    const METRICS: &'static [Metric] = &[DELIVERIES, REDELIVERIES];

    fn emit(self) {
        counter!(DELIVERIES.name).increment(1);
        if self.redelivered {
            counter!(REDELIVERIES.name).increment(1);
        }
    }
}

/// A delivery settled: acked, or nacked (requeued or dropped).
pub(crate) enum Settled {
    Ack,
    Nack { requeue: bool },
}

impl Event for Settled {
    const METRICS: &'static [Metric] = &[ACKS, NACKS];

    fn emit(self) {
        match self {
            Self::Ack => counter!(ACKS.name).increment(1),
            Self::Nack { requeue } => {
                let kind = if requeue { "requeue" } else { "drop" };
                counter!(NACKS.name, "kind" => kind).increment(1);
            }
        }
    }
}

/// The broker returned a publish as unroutable.
pub(crate) struct Returned;

impl Event for Returned {
    const METRICS: &'static [Metric] = &[RETURNS];

    fn emit(self) {
        counter!(RETURNS.name).increment(1);
    }
}

/// A publish sent again on a new connection: the broker may already have had it.
pub(crate) struct Republished;

impl Event for Republished {
    const METRICS: &'static [Metric] = &[REPUBLISHES];

    fn emit(self) {
        counter!(REPUBLISHES.name).increment(1);
    }
}

/// Connected to the broker (`generation` 1 is the first connection).
pub(crate) struct Connected<'a> {
    pub(crate) generation: u64,
    /// The node's URL, without its credentials.
    pub(crate) node: &'a str,
}

impl Event for Connected<'_> {
    const METRICS: &'static [Metric] = &[RECONNECTS];

    fn emit(self) {
        if self.generation > 1 {
            counter!(RECONNECTS.name).increment(1);
        }
        tracing::info!(
            message = "Connected to the broker.",
            generation = self.generation,
            node = self.node
        );
    }
}

/// An embedded queue's size now.
pub(crate) struct QueueSize<'a> {
    pub(crate) queue: &'a str,
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
}

impl Event for QueueSize<'_> {
    const METRICS: &'static [Metric] = &[QUEUE_MESSAGES, QUEUE_BYTES];

    #[allow(clippy::cast_precision_loss)] // a gauge; exact beyond 2^53 is not needed
    fn emit(self) {
        gauge!(QUEUE_MESSAGES.name, "queue" => self.queue.to_owned()).set(self.messages as f64);
        gauge!(QUEUE_BYTES.name, "queue" => self.queue.to_owned()).set(self.bytes as f64);
    }
}

/// One spool group commit of `batch` operations, sync included.
pub(crate) struct SpoolCommitted {
    pub(crate) seconds: f64,
    pub(crate) batch: usize,
}

impl Event for SpoolCommitted {
    const METRICS: &'static [Metric] = &[SPOOL_COMMIT_DURATION, SPOOL_COMMIT_BATCH];

    #[allow(clippy::cast_precision_loss)]
    fn emit(self) {
        histogram!(SPOOL_COMMIT_DURATION.name).record(self.seconds);
        histogram!(SPOOL_COMMIT_BATCH.name).record(self.batch as f64);
    }
}

/// One `basic.ack` frame: covering `Some(n)` deliveries (multiple), or one (None).
pub(crate) struct AckFrame {
    pub(crate) multiple: Option<usize>,
}

impl Event for AckFrame {
    const METRICS: &'static [Metric] = &[ACK_FRAMES, ACKS_PER_FRAME];

    #[allow(clippy::cast_precision_loss)]
    fn emit(self) {
        match self.multiple {
            Some(n) => {
                counter!(ACK_FRAMES.name, "kind" => "multiple").increment(1);
                histogram!(ACKS_PER_FRAME.name).record(n as f64);
            }
            None => counter!(ACK_FRAMES.name, "kind" => "single").increment(1),
        }
    }
}
