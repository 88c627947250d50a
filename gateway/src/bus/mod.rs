//! The message bus transports use to reach applications: publish-with-confirm and
//! consume-with-explicit-ack, over RabbitMQ ([`amqp`]) or the embedded durable spool
//! ([`embedded`]). Both pass one shared test suite (`gateway/tests/suite/bus.rs`).
//!
//! The contract, which decides whether Richmond ever loses a message:
//! - [`Bus::publish`] completes only when the next hop owns the message: a broker confirm
//!   (and not a return: publishes are `mandatory`) or a committed spool write. A caller
//!   acknowledges to the previous hop (the carrier) only after it returns `Ok`.
//! - [`Consumer::next`] yields [`Delivery`]s that stay owned by the bus until
//!   [`Delivery::ack`]; [`Delivery::nack`] with `requeue` hands them back. A consumer that
//!   goes away without acking gets its deliveries redelivered (flagged `redelivered`).
//!
//! Routing follows Vumi (reference/vumi.md §2): exchange `vumi` (direct), queue name =
//! routing key, `<transport>.inbound|.outbound|.event|.failures`.

pub mod amqp;
pub mod embedded;
pub mod telemetry;

use bytes::Bytes;
use richmond_drivers::telemetry::Event as _;

/// Queue suffixes a transport owns; Richmond declares all of them, at start and after every
/// reconnect, so nothing it publishes before an application starts is unroutable.
pub const TRANSPORT_QUEUES: &[&str] = &["inbound", "outbound", "event", "failures"];

/// The queue (= routing key) names for transport `id`.
pub fn transport_queues(id: &str) -> Vec<String> {
    TRANSPORT_QUEUES
        .iter()
        .map(|s| format!("{id}.{s}"))
        .collect()
}

/// A bus failure.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    #[error("the bus is closed")]
    Closed,
    #[error("publish to {routing_key} was returned as unroutable: no queue is bound to it")]
    Unroutable { routing_key: String },
    #[error("the broker refused publish to {routing_key}")]
    Nacked { routing_key: String },
    #[error("queue {queue} exists with different settings: {detail}")]
    QueueMismatch { queue: String, detail: String },
    #[error("{routing_key}: no room on the bus within the publish timeout; not sent")]
    Busy { routing_key: String },
    #[error(
        "{routing_key}: the bus closed after the message went to the broker, before its confirm; it may have been taken"
    )]
    Unconfirmed { routing_key: String },
    #[error("broker: {0}")]
    Broker(String),
    #[error("spool {path}: {detail}")]
    Spool { path: String, detail: String },
    #[error("delivery already settled or its channel is gone: {0}")]
    Settle(String),
}

impl BusError {
    /// Whether publishing again can succeed without an operator: a reconnect, room on the
    /// bus or the broker's confirm can come (busy, unconfirmed, broker, nacked, spool); a
    /// closed bus, a queue with other settings, an unroutable key or a settled delivery stay
    /// so.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Busy { .. }
            | Self::Unconfirmed { .. }
            | Self::Broker(_)
            | Self::Nacked { .. }
            | Self::Spool { .. } => true,
            Self::Closed
            | Self::Unroutable { .. }
            | Self::QueueMismatch { .. }
            | Self::Settle(_) => false,
        }
    }

    /// A stable snake_case code for metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Unroutable { .. } => "unroutable",
            Self::Nacked { .. } => "nacked",
            Self::QueueMismatch { .. } => "queue_mismatch",
            Self::Busy { .. } => "busy",
            Self::Unconfirmed { .. } => "unconfirmed",
            Self::Broker(_) => "broker",
            Self::Spool { .. } => "spool",
            Self::Settle(_) => "settle",
        }
    }
}

/// The bus, cheap to clone.
#[derive(Clone)]
pub enum Bus {
    Amqp(amqp::AmqpBus),
    Embedded(embedded::EmbeddedBus),
}

impl Bus {
    /// Declares (and keeps declared across reconnects) the queues of transport `id`.
    ///
    /// # Errors
    /// When a queue exists with other settings, or the bus is closed.
    pub async fn declare_transport(&self, id: &str) -> Result<(), BusError> {
        self.declare_queues(&transport_queues(id)).await
    }

    /// Declares (and keeps declared across reconnects) the queues `names`.
    ///
    /// # Errors
    /// When a queue exists with other settings, or the bus is closed.
    pub async fn declare_queues(&self, names: &[String]) -> Result<(), BusError> {
        match self {
            Self::Amqp(b) => b.declare_queues(names).await,
            Self::Embedded(b) => {
                b.declare_queues(names);
                Ok(())
            }
        }
    }

    /// Publishes `body` to `routing_key`; returns once the next hop owns it.
    ///
    /// # Errors
    /// When the message could not be handed over; the caller still owns it.
    pub async fn publish(&self, routing_key: &str, body: Bytes) -> Result<(), BusError> {
        self.publish_batch(routing_key, vec![body], None)
            .await
            .pop()
            .unwrap_or(Err(BusError::Closed))
    }

    /// Publishes `bodies` to `routing_key` together: one spool transaction on the embedded
    /// bus, pipelined publishes with their confirms awaited together on RabbitMQ. One result
    /// per body, in order; `Ok` means the next hop owns that message.
    ///
    /// `admit_by` bounds only the wait for room (a full embedded queue, a full confirm window
    /// or no broker connection): a message not handed over by then is refused with
    /// [`BusError::Busy`] and never sent. A message once handed over is always followed to
    /// its commit or confirm, so a timeout never reports as failed a message that still goes
    /// out. The work runs as its own task: dropping the returned future (a client gone, a
    /// caller's timeout) neither cancels a publish half-way nor leaks queue room.
    pub async fn publish_batch(
        &self,
        routing_key: &str,
        bodies: Vec<Bytes>,
        admit_by: Option<tokio::time::Instant>,
    ) -> Vec<Result<(), BusError>> {
        let n = bodies.len();
        let started = std::time::Instant::now();
        let (this, key) = (self.clone(), routing_key.to_owned());
        let task = tokio::spawn(async move {
            match &this {
                Self::Amqp(b) => b.publish_batch(&key, bodies, admit_by).await,
                Self::Embedded(b) => b.publish_batch(&key, bodies, admit_by).await,
            }
        });
        let results = task.await.unwrap_or_else(|e| {
            tracing::error!(message = "A publish task failed.", error = %e);
            vec![Err(BusError::Closed); n]
        });
        telemetry::Published {
            results: &results,
            seconds: started.elapsed().as_secs_f64(),
        }
        .emit();
        results
    }

    /// Starts consuming `queue`.
    ///
    /// # Errors
    /// When the bus is closed or the queue cannot be consumed.
    pub async fn consume(&self, queue: &str) -> Result<Consumer, BusError> {
        match self {
            Self::Amqp(b) => b.consume(queue).await.map(Consumer::Amqp),
            Self::Embedded(b) => Ok(Consumer::Embedded(b.consume(queue))),
        }
    }

    /// Whether the bus can take publishes right now (the broker is connected).
    pub fn is_up(&self) -> bool {
        match self {
            Self::Amqp(b) => b.is_connected(),
            Self::Embedded(_) => true,
        }
    }

    /// Stops the bus: consumers end, publishes fail with [`BusError::Closed`]; pending spool
    /// writes are flushed.
    pub async fn close(&self) {
        match self {
            Self::Amqp(b) => b.close().await,
            Self::Embedded(b) => b.close().await,
        }
    }
}

/// A stream of deliveries from one queue.
pub enum Consumer {
    Amqp(amqp::AmqpConsumer),
    Embedded(embedded::EmbeddedConsumer),
}

impl Consumer {
    /// The next delivery; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        let d = match self {
            Self::Amqp(c) => c.next().await,
            Self::Embedded(c) => c.next().await,
        }?;
        telemetry::Delivered {
            redelivered: d.redelivered,
        }
        .emit();
        Some(d)
    }
}

/// One message handed to a consumer; settle it with [`ack`](Self::ack) or
/// [`nack`](Self::nack). Dropping it unsettled leaves it owned by the bus, which redelivers
/// it when the consumer or the connection goes away.
pub struct Delivery {
    pub body: Bytes,
    /// The bus may have delivered this message before.
    pub redelivered: bool,
    acker: Acker,
}

pub(crate) enum Acker {
    Amqp(amqp::acks::AmqpAcker),
    Embedded(embedded::EmbeddedAcker),
}

impl Delivery {
    pub(crate) fn new(body: Bytes, redelivered: bool, acker: Acker) -> Self {
        Self {
            body,
            redelivered,
            acker,
        }
    }

    /// The message is done with: the bus forgets it. (RabbitMQ: the ack is handed to the
    /// channel's ack task, which may join it with others into one frame within a few ms.)
    ///
    /// # Errors
    /// When the channel it came on is gone (the broker will redeliver it).
    pub async fn ack(self) -> Result<(), BusError> {
        telemetry::Settled::Ack.emit();
        match self.acker {
            Acker::Amqp(a) => a.ack(),
            Acker::Embedded(a) => a.ack(),
        }
    }

    /// Rejects the message: back to the queue with `requeue`, dropped without.
    ///
    /// # Errors
    /// When the channel it came on is gone (the broker will redeliver it).
    pub async fn nack(self, requeue: bool) -> Result<(), BusError> {
        telemetry::Settled::Nack { requeue }.emit();
        match self.acker {
            Acker::Amqp(a) => a.nack(requeue),
            Acker::Embedded(a) => a.nack(requeue),
        }
    }
}
