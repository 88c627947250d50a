//! What every transport does the same way around the bus: publishing until the bus owns a
//! message, the `<id>.outbound` consumer loop, settling an outbound delivery with its event,
//! the client TLS options of carrier links, and the
//! `richmond_transport_messages_total` counter.
//!
//! Reference: DESIGN.md (the no-loss rule: the previous hop is acknowledged only after the
//! next hop owns the message); reference/vumi.md §2.2 (queues and acks), §2.4 (failures).

use richmond_codecs::vumi::UserMessage;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::vumi::{Event as VumiEvent, EventKind};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{Bus, BusError, Delivery};

/// The system's CA bundle (Debian's path): the default `tls_ca_file` of carrier links.
pub(crate) fn system_cas() -> std::path::PathBuf {
    std::path::PathBuf::from("/etc/ssl/certs/ca-certificates.crt")
}

/// The TLS settings of a carrier link (`None` without `tls = true`): the CA file read, the
/// name checked being `server_name`, or `host` without it. TLS options on a link without
/// `tls = true` are an error, never a silent plain connection.
///
/// # Errors
/// The CA file cannot be read or holds no certificate, or the name is not valid.
pub(crate) fn client_tls(
    enabled: bool,
    ca_file: &std::path::Path,
    server_name: Option<&str>,
    host: &str,
) -> Result<Option<richmond_drivers::tls::Tls>, String> {
    if !enabled {
        // TLS options without `tls = true` would send the login in clear to a TLS port.
        if server_name.is_some() || ca_file != system_cas() {
            return Err(
                "tls_ca_file / tls_server_name: set, but tls is not true (the link would be \
                 plain TCP); set tls = true or remove them"
                    .into(),
            );
        }
        return Ok(None);
    }
    let pem =
        std::fs::read(ca_file).map_err(|e| format!("tls_ca_file {}: {e}", ca_file.display()))?;
    richmond_drivers::tls::Tls::new(server_name.unwrap_or(host), &pem)
        .map(Some)
        .map_err(|e| format!("tls ({}): {e}", ca_file.display()))
}

/// Counts one message of transport `id`.
pub(crate) fn count(id: &str, direction: &'static str, kind: &'static str) {
    richmond_drivers::telemetry::Event::emit(super::telemetry::Message {
        transport: id,
        direction,
        kind,
    });
}

/// What a publisher does when the bus refuses a message for a reason no retry can help
/// ([`BusError::is_retryable`] false: an unroutable key, a queue declared with other
/// settings) while the bus is still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnRefusal {
    /// Give up at once: the caller answers its previous hop "not taken" (SMPP
    /// `ESME_RX_T_APPN`), which keeps the message and offers it again later.
    HandBack,
    /// Keep trying (logged at error each time): the caller cannot hand the message back (an
    /// SSMI line, a USSD answer, the event of a message the carrier already took), so the
    /// link waits for an operator to fix the bus rather than lose it.
    Hold,
}

/// What every transport's shared state gives the helpers here: its bus and id, and what it
/// does with a message the bus refuses for good.
pub(crate) trait Carrier: Sync {
    /// See [`OnRefusal`]: whether the carrier can be asked to offer a message again.
    const ON_REFUSAL: OnRefusal;

    fn bus(&self) -> &Bus;

    fn id(&self) -> &str;

    /// [`publish`] to `<id>.<suffix>` with this transport's [`Carrier::ON_REFUSAL`].
    fn publish(
        &self,
        suffix: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        publish(self.bus(), self.id(), suffix, body, Self::ON_REFUSAL)
    }
}

/// Publishes `body` to `<id>.<suffix>` until the bus owns it, retrying with backoff (100 ms
/// doubling to 5 s) what can pass (a broker reconnect, a full embedded queue); a refusal no
/// retry can help is returned or retried as `on_refusal` says; a closed bus (the gateway is
/// stopping) is always returned, so the caller can leave its own hop unanswered.
///
/// # Errors
/// [`BusError::Closed`]; with [`OnRefusal::HandBack`], any error that is not retryable.
pub(crate) async fn publish(
    bus: &Bus,
    id: &str,
    suffix: &str,
    body: Vec<u8>,
    on_refusal: OnRefusal,
) -> Result<(), BusError> {
    let body = Bytes::from(body);
    // A router beside this transport takes its inbound and events without the queue hop.
    if let Some(taken) = crate::router::local::take(id, suffix, &body, on_refusal).await {
        return taken;
    }
    let key = format!("{id}.{suffix}");
    let mut delay = Duration::from_millis(100);
    loop {
        match bus.publish(&key, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(BusError::Closed) => return Err(BusError::Closed),
            Err(e) if e.is_retryable() => {
                tracing::warn!(message = "Publish failed; retrying.", transport = %id, routing_key = %key, error = %e);
            }
            Err(e) if on_refusal == OnRefusal::HandBack => {
                tracing::error!(message = "Publish refused; handed back to the carrier to offer again later.", transport = %id, routing_key = %key, error = %e);
                return Err(e);
            }
            Err(e) => {
                tracing::error!(message = "Publish refused; held and retried until the bus is fixed.", transport = %id, routing_key = %key, error = %e);
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Publishes `event` on `<id>.event`, then acks `delivery`; when the event cannot be
/// published the delivery stays unacked and the bus redelivers it.
pub(crate) async fn settle(bus: &Bus, id: &str, delivery: Delivery, event: VumiEvent) {
    let kind = match event.kind {
        EventKind::Ack { .. } => "ack",
        EventKind::Nack { .. } => "nack",
        EventKind::DeliveryReport { .. } => "delivery_report",
    };
    // The carrier already took the message: its event cannot be handed back.
    match publish(bus, id, "event", event.encode(), OnRefusal::Hold).await {
        Ok(()) => {
            count(id, "outbound", kind);
            if let Err(e) = delivery.ack().await {
                tracing::warn!(message = "Ack failed; the bus will redeliver.", transport = %id, error = %e);
            }
        }
        Err(e) => tracing::warn!(
            message = "Event not published; the delivery stays unacked for redelivery.",
            transport = %id, error = %e
        ),
    }
}

/// An outbound body that is not a Vumi user message: a `failure_message` on `<id>.failures`,
/// then the delivery is acked (it can never succeed).
pub(crate) async fn reject_undecodable(bus: &Bus, id: &str, delivery: Delivery, error: &str) {
    tracing::warn!(message = "Outbound message does not decode; sent to failures.", transport = %id, error = %error);
    count(id, "outbound", "failure");
    to_failures(bus, id, delivery, error).await;
}

/// Publishes `delivery`'s body to `<prefix>.failures` with `reason` (held until the bus takes
/// it), then acknowledges the delivery; when the bus closes first the delivery is left
/// unacknowledged and comes back.
pub(crate) async fn to_failures(bus: &Bus, prefix: &str, delivery: Delivery, reason: &str) {
    let body = super::failure_body(&delivery.body, reason);
    match publish(bus, prefix, "failures", body, OnRefusal::Hold).await {
        Ok(()) => {
            let _ = delivery.ack().await;
        }
        Err(e) => tracing::warn!(message = "Failure not published.", queue = %prefix, error = %e),
    }
}

/// Consumes `<id>.outbound` until `intake` is cancelled, running `handle` on each decoded
/// message and its delivery in its own task, at most `max_in_flight` at once (a body that is
/// no Vumi message goes to `<id>.failures` instead); see [`consume`]. `handle` is also
/// offered to a router in this process ([`crate::router::local`]), under the same limit.
pub(crate) async fn consume_outbound<F, Fut>(
    bus: &Bus,
    id: &str,
    max_in_flight: usize,
    intake: &CancellationToken,
    handle: F,
) where
    F: Fn(UserMessage, Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let queue = format!("{id}.outbound");
    let limit = Arc::new(Semaphore::new(max_in_flight));
    // Shared with the router's hand-offs, so the transport waits for those too before it
    // stops its carrier link.
    let tasks = TaskTracker::new();
    let handle = Arc::new(handle);
    let direct = handle.clone();
    let local = crate::router::local::Handler::new(
        Arc::new(move |msg, delivery| Box::pin(direct(msg, delivery))),
        limit.clone(),
        intake.clone(),
        tasks.clone(),
    );
    crate::router::local::register_handler(id, local);
    let (bus2, id2) = (bus.clone(), id.to_owned());
    consume_limited(bus, &queue, limit, tasks, intake, move |delivery| {
        let (bus, id) = (bus2.clone(), id2.clone());
        let outcome = match UserMessage::decode(&delivery.body) {
            Ok(msg) => Ok(handle(msg, delivery)),
            Err(e) => Err((delivery, e.to_string())),
        };
        async move {
            match outcome {
                Ok(work) => work.await,
                Err((delivery, error)) => reject_undecodable(&bus, &id, delivery, &error).await,
            }
        }
    })
    .await;
}

/// Consumes `queue` until `intake` is cancelled, running `handle` on each delivery in its
/// own task, at most `max_in_flight` at once; then waits for the running ones to finish
/// before the consumer is closed. A consumer the bus closes (a reconnect) is opened again.
pub(crate) async fn consume<F, Fut>(
    bus: &Bus,
    queue: &str,
    max_in_flight: usize,
    intake: &CancellationToken,
    handle: F,
) where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max_in_flight));
    consume_limited(bus, queue, limit, TaskTracker::new(), intake, handle).await;
}

/// [`consume`] with the limit and the tracker of running deliveries given (shared with the
/// router's hand-offs).
async fn consume_limited<F, Fut>(
    bus: &Bus,
    queue: &str,
    limit: Arc<Semaphore>,
    tasks: TaskTracker,
    intake: &CancellationToken,
    handle: F,
) where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut consumer = None;
    while !intake.is_cancelled() {
        let c = match consumer.as_mut() {
            Some(c) => c,
            None => match bus.consume(queue).await {
                Ok(c) => consumer.insert(c),
                Err(e) => {
                    tracing::warn!(message = "Cannot consume; retrying.", queue = %queue, error = %e);
                    tokio::select! {
                        () = intake.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        let delivery = tokio::select! {
            () = intake.cancelled() => break,
            d = c.next() => d,
        };
        let Some(delivery) = delivery else {
            consumer = None;
            continue;
        };
        // The place is taken after the delivery, so a consumer waiting on an empty queue
        // holds none (a router hands this transport work under the same limit).
        let permit = tokio::select! {
            biased;
            () = intake.cancelled() => {
                let _ = delivery.nack(true).await;
                break;
            }
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => {
                    let _ = delivery.nack(true).await;
                    break;
                }
            },
        };
        let work = handle(delivery);
        tasks.spawn(async move {
            work.await;
            drop(permit);
        });
    }
    // The running deliveries finish (and ack) while their consumer is still open: dropping it
    // first would close a RabbitMQ channel under them, and a message already handed to the
    // carrier would be requeued and sent again after the restart. Deliveries the consumer
    // holds but never handed out go back when it is dropped.
    tasks.close();
    tasks.wait().await;
    drop(consumer);
}

/// Milliseconds since the Unix epoch (the scores of the multipart deadline indexes).
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
