//! RabbitMQ through lapin, following Vumi's conventions (reference/vumi.md §2, §8).
//!
//! Topology: exchange `vumi` (direct, durable); every queue durable, non-exclusive,
//! non-auto-delete, no arguments unless `bus.queue_arguments` says otherwise, bound with
//! routing key = queue name. Richmond declares the queues it publishes to as well as those it
//! consumes, at start and after every reconnect.
//!
//! Publishes are persistent (delivery mode 2), `mandatory`, on a channel in confirm mode; a
//! publish completes on the broker's ack, and a returned (unroutable) or nacked message is an
//! error, never "owned". A supervisor task keeps one connection: on loss it reconnects —
//! to the next node of the cluster when `bus.url` lists several, with exponential backoff
//! and full jitter once every node was tried — declares the topology again on the node it
//! reached and starts a new generation; publishes in flight are retried on it and consumers re-subscribe, while the
//! broker redelivers what was unacked. `amqps://` is TLS, verified ([`tls`]). One channel per purpose: one for publishing, one per
//! consumer, one short-lived per declaration. Acks are coalesced per consumer channel
//! ([`acks`]); closing the bus sends the waiting ones before the connection goes.

pub(crate) mod acks;
mod consume;
mod tls;
mod topology;

use crate::bus::telemetry::{Connected, Returned};
use richmond_drivers::telemetry::Event as _;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::BusError;
use crate::config::AmqpConfig;
pub use consume::AmqpConsumer;
use consume::consume_loop;
use topology::declare;

pub(crate) use tls::check as check_tls;

/// The Vumi exchange.
pub const EXCHANGE: &str = "vumi";

/// How long connecting to one broker node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection lost sooner than this after it was made counts as a failed attempt (with
/// its backoff), so a problem that recurs at each connect does not cycle the nodes at once.
const SHORT_LIVED: Duration = Duration::from_secs(5);

/// One connected generation: the connection and its publishing channel.
struct Link {
    generation: u64,
    connection: Connection,
    publisher: Channel,
    /// The queues declared when this connection was made.
    declared: Vec<String>,
}

struct Inner {
    /// The cluster's nodes, tried in turn.
    urls: Vec<String>,
    config: AmqpConfig,
    link: watch::Sender<Option<Arc<Link>>>,
    queues: Mutex<BTreeSet<String>>,
    /// A topology problem that blocks readiness (e.g. a queue declared with other arguments).
    topology_error: Mutex<Option<BusError>>,
    window: Semaphore,
    stop: CancellationToken,
    /// The consume loops, waited for on close so their last acks go out first.
    consumers: TaskTracker,
}

/// The RabbitMQ bus; clones share one connection.
#[derive(Clone)]
pub struct AmqpBus {
    inner: Arc<Inner>,
}

impl AmqpBus {
    /// Starts the connection supervisor. Returns at once; [`is_connected`](Self::is_connected)
    /// tells when the broker is there.
    pub fn start(config: &AmqpConfig) -> Self {
        let urls = config.urls().into_iter().map(str::to_owned).collect();
        let (link, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            urls,
            config: config.clone(),
            link,
            queues: Mutex::new(BTreeSet::new()),
            topology_error: Mutex::new(None),
            window: Semaphore::new(config.publish_window),
            stop: CancellationToken::new(),
            consumers: TaskTracker::new(),
        });
        tokio::spawn(supervise(inner.clone()));
        Self { inner }
    }

    /// Whether a connection with the full topology is up.
    pub fn is_connected(&self) -> bool {
        self.inner.link.borrow().is_some() && self.topology_error().is_none()
    }

    /// The topology problem that keeps the bus from being ready, if any.
    pub fn topology_error(&self) -> Option<BusError> {
        self.inner
            .topology_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds queues to the topology and declares them now if connected.
    ///
    /// # Errors
    /// When a queue exists with other settings.
    pub async fn declare_queues(&self, names: &[String]) -> Result<(), BusError> {
        {
            let mut q = self
                .inner
                .queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            q.extend(names.iter().cloned());
        }
        let link = self.inner.link.borrow().clone();
        if let Some(link) = link
            && let Err(e) = declare(&link.connection, names, &self.inner.config).await
        {
            {
                if let BusError::QueueMismatch { .. } = &e {
                    // Not ready until the topology is accepted: drop this connection so the
                    // supervisor retries the whole declaration with backoff.
                    *self
                        .inner
                        .topology_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
                    let _ = link.connection.close(320, "topology refused".into()).await;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn current(&self) -> Result<Arc<Link>, BusError> {
        let mut rx = self.inner.link.subscribe();
        loop {
            if self.inner.stop.is_cancelled() {
                return Err(BusError::Closed);
            }
            if let Some(link) = rx.borrow_and_update().clone() {
                return Ok(link);
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return Err(BusError::Closed) },
                () = self.inner.stop.cancelled() => return Err(BusError::Closed),
            }
        }
    }

    /// Publishes and waits for the broker's confirm, retrying across reconnects.
    ///
    /// # Errors
    /// Unroutable or nacked by the broker, or the bus closed.
    pub async fn publish(&self, routing_key: &str, body: Bytes) -> Result<(), BusError> {
        self.publish_by(routing_key, body, None).await
    }

    /// Publishes `bodies` pipelined (each holds a place in the confirm window; their confirms
    /// are awaited together); one result per body, in order. See [`crate::bus::Bus::publish_batch`]
    /// for `admit_by`.
    pub(crate) async fn publish_batch(
        &self,
        routing_key: &str,
        bodies: Vec<Bytes>,
        admit_by: Option<tokio::time::Instant>,
    ) -> Vec<Result<(), BusError>> {
        futures_util::future::join_all(
            bodies
                .into_iter()
                .map(|body| self.publish_by(routing_key, body, admit_by)),
        )
        .await
    }

    /// [`publish`](Self::publish), refused with [`BusError::Busy`] when no window place or
    /// no connection is had by `admit_by`. Once the message is on the wire it is followed to
    /// its confirm, across reconnects, whatever the time.
    async fn publish_by(
        &self,
        routing_key: &str,
        body: Bytes,
        admit_by: Option<tokio::time::Instant>,
    ) -> Result<(), BusError> {
        let busy = || BusError::Busy {
            routing_key: routing_key.to_owned(),
        };
        let acquire = self.inner.window.acquire();
        let _permit = match admit_by {
            None => acquire.await,
            Some(at) => tokio::time::timeout_at(at, acquire)
                .await
                .map_err(|_| busy())?,
        }
        .map_err(|_| BusError::Closed)?;
        let mut first = true;
        loop {
            let link = match admit_by {
                Some(at) if first => tokio::time::timeout_at(at, self.current())
                    .await
                    .map_err(|_| busy())??,
                _ => self.current().await?,
            };
            first = false;
            let props = BasicProperties::default().with_delivery_mode(2);
            let opts = BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            };
            let sent = link
                .publisher
                .basic_publish(EXCHANGE.into(), routing_key.into(), opts, &body, props)
                .await;
            let failure = match sent {
                Ok(confirm) => match confirm.await {
                    Ok(c) if c.is_ack() => {
                        return match c.take_message() {
                            None => Ok(()),
                            Some(_) => {
                                Returned.emit();
                                Err(BusError::Unroutable {
                                    routing_key: routing_key.to_owned(),
                                })
                            }
                        };
                    }
                    Ok(_) => {
                        return Err(BusError::Nacked {
                            routing_key: routing_key.to_owned(),
                        });
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            // The channel or connection failed before the confirm: the broker may or may not
            // have the message. Retry on the next generation (at-least-once).
            tracing::warn!(message = "Publish not confirmed; retrying after reconnect.", error = %failure);
            crate::bus::telemetry::Republished.emit();
            if self.wait_for_new_generation(link.generation).await.is_err() {
                // Closed with the message on the wire: the broker may have it.
                return Err(BusError::Unconfirmed {
                    routing_key: routing_key.to_owned(),
                });
            }
        }
    }

    async fn wait_for_new_generation(&self, old: u64) -> Result<(), BusError> {
        let mut rx = self.inner.link.subscribe();
        loop {
            if matches!(&*rx.borrow_and_update(), Some(l) if l.generation != old) {
                return Ok(());
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return Err(BusError::Closed) },
                () = self.inner.stop.cancelled() => return Err(BusError::Closed),
                // The supervisor may not have noticed the failure yet; look again soon.
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if matches!(&*rx.borrow(), Some(l) if l.generation == old && !l.connection.status().connected()) {
                        continue;
                    }
                }
            }
        }
    }

    /// Consumes `queue` with manual acks and the configured prefetch, re-subscribing after
    /// every reconnect.
    ///
    /// # Errors
    /// When the bus is closed.
    pub async fn consume(&self, queue: &str) -> Result<AmqpConsumer, BusError> {
        if self.inner.stop.is_cancelled() {
            return Err(BusError::Closed);
        }
        let (tx, rx) = mpsc::channel(usize::from(self.inner.config.prefetch_count));
        self.inner
            .consumers
            .spawn(consume_loop(self.clone(), queue.to_owned(), tx));
        Ok(AmqpConsumer { rx })
    }

    /// Stops the supervisor and consumers and closes the connection.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        // Consume loops send their waiting acks and close their channels first: an ack lost
        // here would mean a redelivery (a message sent twice) after the restart.
        self.inner.consumers.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.consumers.wait()).await;
        let link = self.inner.link.send_replace(None);
        if let Some(link) = link {
            let _ = link
                .connection
                .close(200, "richmond shutting down".into())
                .await;
        }
    }
}

async fn connect(inner: &Inner, url: &str, generation: u64) -> Result<Link, BusError> {
    let broker = |e: lapin::Error| BusError::Broker(e.to_string());
    // The URL holds the broker password: never let it reach the error (logged at every retry).
    let scrubbed =
        |e: lapin::Error| BusError::Broker(crate::config::scrub_url(&e.to_string(), url));
    let runtime = lapin::runtime::default_runtime().map_err(scrubbed)?;
    // A node that drops packets would hold the connect for the kernel's SYN retries (about
    // two minutes): the next node is tried well before.
    let connection = tokio::time::timeout(
        CONNECT_TIMEOUT,
        Connection::connect_with_config(
            url,
            ConnectionProperties::default(),
            tls::config(&inner.config)?,
            runtime,
        ),
    )
    .await
    .map_err(|_| {
        BusError::Broker(format!(
            "no answer from {} in {CONNECT_TIMEOUT:?}",
            crate::config::redact_url(url)
        ))
    })?
    .map_err(scrubbed)?;
    let names: Vec<String> = inner
        .queues
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    declare(&connection, &names, &inner.config).await?;
    let publisher = connection.create_channel().await.map_err(broker)?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(broker)?;
    Ok(Link {
        generation,
        connection,
        publisher,
        declared: names,
    })
}

/// Keeps one connection up until the bus is closed: to the first of the URLs that answers,
/// the next one after a failure (each node of a cluster in turn, a backoff after every
/// round that reached none).
async fn supervise(inner: Arc<Inner>) {
    let mut generation = 0u64;
    let mut failures = 0u32;
    let mut node = 0usize;
    let nodes = inner.urls.len().max(1);
    let mut tried_this_round = 0usize;
    loop {
        if inner.stop.is_cancelled() {
            return;
        }
        generation += 1;
        let url = inner.urls.get(node % nodes).map_or("", String::as_str);
        let shown = crate::config::redact_url(url);
        match connect(&inner, url, generation).await {
            Ok(link) => {
                tried_this_round = 0;
                *inner
                    .topology_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                let link = Arc::new(link);
                let mut events = link.connection.events_listener();
                inner.link.send_replace(Some(link.clone()));
                // Queues added while this connection was made saw no link to declare them
                // on, and the connection's own declaration may have missed them: declare
                // them now.
                let late: Vec<String> = inner
                    .queues
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .filter(|q| !link.declared.contains(q))
                    .cloned()
                    .collect();
                if !late.is_empty()
                    && let Err(e) = declare(&link.connection, &late, &inner.config).await
                {
                    tracing::warn!(message = "Cannot declare queues added during the connect; reconnecting.", error = %e);
                    let _ = link.connection.close(320, "topology refused".into()).await;
                }
                Connected {
                    generation,
                    node: &shown,
                }
                .emit();
                let connected_at = tokio::time::Instant::now();
                let mut check = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tokio::select! {
                        () = inner.stop.cancelled() => return,
                        ev = events.next() => if matches!(ev, Some(lapin::Event::Error(_)) | None) { break },
                        _ = check.tick() => if !link.connection.status().connected() || !link.publisher.status().connected() { break },
                    }
                }
                inner.link.send_replace(None);
                tracing::warn!(
                    message = "Lost the broker connection; reconnecting.",
                    generation,
                    node = %shown,
                );
                let _ = link.connection.close(320, "reconnecting".into()).await;
                // That node may be gone: another one of the cluster first.
                node = node.wrapping_add(1);
                if connected_at.elapsed() < SHORT_LIVED {
                    // Counted as a failure: the backoff grows while it recurs.
                    failures += 1;
                } else {
                    failures = 0;
                    if nodes > 1 {
                        continue;
                    }
                }
            }
            Err(e) => {
                node = node.wrapping_add(1);
                tried_this_round += 1;
                if tried_this_round < nodes && !matches!(e, BusError::QueueMismatch { .. }) {
                    tracing::warn!(message = "Cannot connect to this broker node; trying the next.", node = %shown, error = %e);
                    continue;
                }
                tried_this_round = 0;
                failures += 1;
                if let BusError::QueueMismatch { .. } = &e {
                    tracing::error!(message = "Queue topology refused by the broker; not ready.", error = %e);
                    *inner
                        .topology_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(e);
                } else {
                    tracing::warn!(message = "Cannot connect to the broker.", node = %shown, error = %e, failures);
                }
            }
        }
        let delay = backoff(&inner.config, failures);
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Exponential backoff with full jitter, capped.
fn backoff(config: &AmqpConfig, failures: u32) -> Duration {
    let exp =
        config.reconnect_initial_seconds * 2f64.powi(i32::try_from(failures.min(16)).unwrap_or(16));
    let cap = exp.min(config.reconnect_max_seconds);
    Duration::from_secs_f64(cap * (0.5 + fastrand::f64() * 0.5))
}
