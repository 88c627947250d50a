//! What a router does with one message: an inbound message to its application, an
//! application's outbound message to a transport (remembered first, or tagged when the
//! transport runs here, so its events find the sender), an event to the application that
//! sent the message (or, a temporary nack of a pool message, the message to the next
//! transport of the pool). Each path is used by the router's queue consumers and by the
//! in-process shortcuts of [`super::local`] alike.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::vumi::{DeliveryStatus, Event as VumiEvent, EventKind, UserMessage};
use richmond_drivers::telemetry::Event as _;

use super::rules::{Peek, Unroutable};
use super::telemetry::{Direction, FailedOver, Unrouted};
use super::{Router, Sent, local, tag};
use crate::bus::{BusError, Delivery};
use crate::transport::common::{self, OnRefusal};

/// What a failover did with a nack.
enum FailOver {
    /// Not a temporary nack of a pool message, or no transport left up: the nack goes on.
    PassOn,
    /// The message went to the next transport (or the nack was stale): nothing to pass on.
    Done,
    /// The store or the bus failed: decide again later.
    Wait,
}

/// Marks a forwarded message's source transport where the memory names an application
/// (`>smpps`; no application name holds it).
const FORWARDED: char = '>';

/// How long a store error keeps a delivery before it goes back to its queue.
const STORE_PAUSE: Duration = Duration::from_secs(1);

/// Settles a queue delivery by what passing it on did: acked once the onward publish is
/// confirmed; left alone when the bus closed (it comes back); back to its queue after a
/// pause when the store could not say (None).
async fn settle(delivery: Delivery, outcome: Option<Result<(), BusError>>) {
    match outcome {
        Some(Ok(())) => {
            let _ = delivery.ack().await;
        }
        Some(Err(_)) => {}
        None => {
            tokio::time::sleep(STORE_PAUSE).await;
            let _ = delivery.nack(true).await;
        }
    }
}

impl Router {
    /// A delivery of `<transport>.inbound`.
    pub(super) async fn inbound(&self, transport: &str, delivery: Delivery) {
        let outcome = self
            .pass_inbound(transport, &delivery.body, OnRefusal::Hold, false)
            .await;
        settle(delivery, outcome).await;
    }

    /// Publishes inbound `body` from `transport` to its application's `<a>.inbound`, or to
    /// the router's failures with the reason; returns once the bus owns it. A body a
    /// transport of this process just encoded (`trusted`) is only peeked at.
    ///
    /// A transport the router forwards (`forward`) has its inbound sent on to a transport
    /// instead. None: the store cannot say now (a forwarded message must be remembered).
    /// Some(Err): the bus closed (or refused for good, with [`OnRefusal::HandBack`]).
    pub(super) async fn pass_inbound(
        &self,
        transport: &str,
        body: &Bytes,
        on_refusal: OnRefusal,
        trusted: bool,
    ) -> Option<Result<(), BusError>> {
        let config = self.rules.config();
        if let Some(pool) = config.forward.get(transport) {
            return self
                .forward_inbound(transport, body, pool.as_slice(), on_refusal)
                .await;
        }
        Some(
            self.route_inbound(transport, body, on_refusal, trusted)
                .await,
        )
    }

    async fn route_inbound(
        &self,
        transport: &str,
        body: &Bytes,
        on_refusal: OnRefusal,
        trusted: bool,
    ) -> Result<(), BusError> {
        let config = self.rules.config();
        let route = if trusted && config.rules.is_empty() {
            // No rule to match: every message goes to the default, unread.
            config
                .default
                .as_deref()
                .map(|d| (d, None))
                .ok_or_else(|| Unroutable::NoRule.to_string())
        } else if trusted {
            Peek::read(body)
                .map_err(|e| e.to_string())
                .and_then(|p| self.route(transport, p))
        } else {
            UserMessage::decode(body)
                .map_err(|e| e.to_string())
                .and_then(|m| self.route(transport, &m))
        };
        match route {
            Ok((app, rule)) => {
                common::publish(&self.bus, app, "inbound", body.to_vec(), on_refusal).await?;
                self.counters.routed(Direction::Inbound, app, rule);
                Ok(())
            }
            Err(why) => {
                self.publish_failure(body, Direction::Inbound, &why, on_refusal)
                    .await
            }
        }
    }

    /// Sends inbound `body` of `source` on to a transport of `pool` (through its outbound
    /// queue, so the source is answered once the bus owns it), remembered as the source's so
    /// its events go to `<source>.receipts`.
    async fn forward_inbound(
        &self,
        source: &str,
        body: &Bytes,
        pool: &[String],
        on_refusal: OnRefusal,
    ) -> Option<Result<(), BusError>> {
        let mut msg = match UserMessage::decode(body) {
            Ok(m) => m,
            Err(e) => {
                let why = e.to_string();
                return Some(
                    self.publish_failure(body, Direction::Inbound, &why, on_refusal)
                        .await,
                );
            }
        };
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let target = self
            .rules
            .pick(pool, &[], turn, |t| self.is_up(t))?
            .to_owned();
        msg.transport_name = Some(target.clone());
        msg.routing_metadata.remove(tag::KEY);
        let out = msg.encode();
        let several = pool.len() > 1;
        let sent = Sent::new(format!("{FORWARDED}{source}"), &target, several, &out);
        if !self.remember(&msg.message_id, &sent).await {
            return None;
        }
        if let Err(e) = common::publish(&self.bus, &target, "outbound", out, on_refusal).await {
            return Some(Err(e));
        }
        self.counters.routed(Direction::Outbound, &target, None);
        Some(Ok(()))
    }

    /// The application for an inbound message and the rule that chose it.
    fn route<'m>(
        &self,
        transport: &str,
        msg: impl Into<Peek<'m>>,
    ) -> Result<(&str, Option<usize>), String> {
        self.rules
            .inbound(transport, msg)
            .map_err(|e| e.to_string())
    }

    /// A delivery of `<application>.outbound`.
    pub(super) async fn outbound(&self, application: &str, delivery: Delivery) {
        let mut msg = match UserMessage::decode(&delivery.body) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .fail(delivery, Direction::Outbound, &e.to_string())
                    .await;
            }
        };
        // Only the router writes its tag: one an application wrote (to have another's
        // events, or copied from an event) is dropped, from the message and from the body
        // that goes on.
        let body = if msg.routing_metadata.remove(tag::KEY).is_some() {
            Bytes::from(msg.encode())
        } else {
            delivery.body.clone()
        };
        let pool = match self.rules.outbound(application, &msg) {
            Ok(p) => p,
            Err(e) => {
                return self
                    .fail(delivery, Direction::Outbound, &e.to_string())
                    .await;
            }
        };
        let turn = if pool.len() > 1 {
            self.turn.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let Some(transport) = self.rules.pick(pool, &[], turn, |t| self.is_up(t)) else {
            let why = Unroutable::NoTransport.to_string();
            return self.fail(delivery, Direction::Outbound, &why).await;
        };
        let transport = transport.to_owned();
        let several = pool.len() > 1;
        let sent = Sent::new(application.to_owned(), &transport, several, &body);
        let handler = local::handler(&transport);
        // A message for a transport of this process that no failover may need again is
        // tagged instead of remembered ([`tag`]).
        let tagged = self.needs_memory() && handler.is_some() && !several;
        // Remembered before the transport can see the message, so its events find the sender
        // (a router with one application and no pool has nothing to remember).
        if self.needs_memory() && !tagged && !self.remember(&msg.message_id, &sent).await {
            tokio::time::sleep(STORE_PAUSE).await;
            let _ = delivery.nack(true).await;
            return;
        }
        // The transport runs here: it takes the delivery itself and acknowledges it once the
        // carrier answered.
        if let Some(handler) = handler {
            self.counters.routed(Direction::Outbound, &transport, None);
            let _held = tagged.then(|| {
                msg.routing_metadata.insert(
                    tag::KEY.into(),
                    serde_json::Value::String(tag::make(&self.name, application)),
                );
                self.in_flight.hold(&msg.message_id, application)
            });
            return handler.run(msg, delivery).await;
        }
        if self.forward(&transport, "outbound", body).await {
            self.counters.routed(Direction::Outbound, &transport, None);
            let _ = delivery.ack().await;
        }
    }

    /// A delivery of `<transport>.event`.
    pub(super) async fn event(&self, delivery: Delivery) {
        let outcome = self
            .pass_event(&delivery.body, OnRefusal::Hold, false)
            .await;
        settle(delivery, outcome).await;
    }

    /// Publishes event `body` to the application that sent its message (a temporary nack of
    /// a pool message: the message to the next transport instead), or to the failures. None:
    /// the store cannot say now. An event a transport of this process just encoded
    /// (`trusted`) for a router that remembers nothing is not even decoded.
    pub(super) async fn pass_event(
        &self,
        body: &Bytes,
        on_refusal: OnRefusal,
        trusted: bool,
    ) -> Option<Result<(), BusError>> {
        if !self.needs_memory() {
            if trusted {
                let app = &self.rules.config().applications[0];
                return Some(self.event_to(app, body, on_refusal).await);
            }
        } else if trusted
            && let Ok(peek) = tag::EventPeek::read(body)
            && let Some(app) = self.tagged_app(&peek.user_message_id, peek.tag())
        {
            return Some(self.event_to(&app, body, on_refusal).await);
        }
        let event = match VumiEvent::decode(body) {
            Ok(e) => e,
            Err(e) => {
                let why = e.to_string();
                return Some(
                    self.publish_failure(body, Direction::Event, &why, on_refusal)
                        .await,
                );
            }
        };
        // An event from the queue is read whole first (one that does not decode goes to the
        // failures), then by its tag like one handed over here.
        if self.needs_memory()
            && let Some(app) = self.tagged_app(
                &event.user_message_id,
                event
                    .routing_metadata
                    .get(tag::KEY)
                    .and_then(|v| v.as_str()),
            )
        {
            return Some(self.event_to(&app, body, on_refusal).await);
        }
        let sent = if self.needs_memory() {
            self.store
                .get(&self.memory_key(&event.user_message_id))
                .await
        } else {
            Ok(Some(
                self.rules.config().applications[0].clone().into_bytes(),
            ))
        };
        let sent = match sent {
            Ok(Some(raw)) => Sent::decode(&raw),
            // A router with one application (and forwards, so it keeps memory): an event of
            // a message it never remembered (sent before the forward was added) is that
            // application's.
            Ok(None) if self.rules.config().applications.len() == 1 => {
                let app = &self.rules.config().applications[0];
                return Some(self.event_to(app, body, on_refusal).await);
            }
            Ok(None) => {
                let reason = "no application of this router sent the message (or its memory \
                              expired: event_memory_seconds)";
                return Some(
                    self.publish_failure(body, Direction::Event, reason, on_refusal)
                        .await,
                );
            }
            Err(e) => {
                tracing::warn!(message = "Store error; the event waits.", router = %self.name, error = %e);
                return None;
            }
        };
        let app = sent.app.clone();
        match self.fail_over(&event, sent).await {
            FailOver::Done => Some(Ok(())),
            FailOver::Wait => None,
            FailOver::PassOn => Some(self.event_to(&app, body, on_refusal).await),
        }
    }

    /// Publishes an event to `<app>.event`, counted.
    async fn event_to(
        &self,
        app: &str,
        body: &Bytes,
        on_refusal: OnRefusal,
    ) -> Result<(), BusError> {
        // A forwarded message's events go to its source transport's receipts, when it takes
        // them (an SMPP server); other sources have no use for them.
        let (to, suffix) = match app.strip_prefix(FORWARDED) {
            Some(source) if self.receipt_takers.iter().any(|t| t == source) => (source, "receipts"),
            Some(source) => {
                // Its source cannot be told; a refusal must not vanish: the failures keep it.
                let refused = VumiEvent::decode(body).is_ok_and(|e| {
                    matches!(
                        e.kind,
                        EventKind::Nack { .. }
                            | EventKind::DeliveryReport {
                                delivery_status: DeliveryStatus::Failed,
                                ..
                            }
                    )
                });
                if refused {
                    let why = format!("a message forwarded from {source} was not delivered");
                    return self
                        .publish_failure(body, Direction::Event, &why, on_refusal)
                        .await;
                }
                tracing::debug!(message = "Event of a forwarded message dropped: its source takes no receipts.", router = %self.name, source);
                return Ok(());
            }
            None => (app, "event"),
        };
        common::publish(&self.bus, to, suffix, body.to_vec(), on_refusal).await?;
        self.counters.routed(Direction::Event, to, None);
        Ok(())
    }

    /// The application of an event whose message this router handed to a transport of its
    /// process ([`tag`]): the one the event's tag names (a delivery report), or the one
    /// handing message `id` off now (an `ack` or `nack`). None: the store decides.
    fn tagged_app(&self, id: &str, tag: Option<&str>) -> Option<String> {
        if let Some(app) = tag.and_then(|t| tag::application(t, &self.name)) {
            let apps = &self.rules.config().applications;
            if let Some(a) = apps.iter().find(|a| *a == app) {
                return Some(a.clone());
            }
        }
        self.in_flight.get(id)
    }

    /// Whether events need the store to find their application: not when the router has
    /// one application and no pool of several transports (every event is that
    /// application's, and there is nothing to fail over to).
    fn needs_memory(&self) -> bool {
        let c = self.rules.config();
        c.applications.len() > 1
            || c.mt_transport.values().any(|p| p.as_slice().len() > 1)
            || !c.forward.is_empty()
    }

    pub(super) fn is_up(&self, transport: &str) -> bool {
        self.readiness.is_up(&format!("transport:{transport}"))
    }

    /// Stores what the router keeps of message `id`; false (logged) when the store failed.
    async fn remember(&self, id: &str, sent: &Sent) -> bool {
        let ttl = Duration::from_secs(self.rules.config().event_memory_seconds);
        match self
            .store
            .put(&self.memory_key(id), &sent.encode(), ttl)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(message = "Store error; the message goes back to the queue.", router = %self.name, error = %e);
                false
            }
        }
    }

    /// A temporary nack of a pool message with a transport left that is up: the message
    /// goes there instead ([`FailOver::Done`]: the nack is not passed on). A nack from a
    /// transport the message has since left (a nack delivered again after its failover) is
    /// stale: dropped, so the message is not sent a third time.
    async fn fail_over(&self, event: &VumiEvent, mut sent: Sent) -> FailOver {
        let temporary = matches!(event.kind, EventKind::Nack { .. })
            && event.transport_metadata.get("temporary") == Some(&serde_json::Value::Bool(true));
        if !temporary || sent.body.is_empty() {
            return FailOver::PassOn;
        }
        if sent.tried.last().map(String::as_str) != event.transport_name.as_deref() {
            return FailOver::Done;
        }
        let config = self.rules.config();
        let pool = match sent.app.strip_prefix(FORWARDED) {
            Some(source) => config.forward.get(source),
            None => config.mt_transport.get(&sent.app),
        };
        let Some(pool) = pool else {
            return FailOver::PassOn;
        };
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        // Only to a link that is up: a message parked on a dead link would leave the
        // application without an answer for as long as the link stays down.
        let next = self
            .rules
            .pick(pool.as_slice(), &sent.tried, turn, |t| self.is_up(t))
            .filter(|t| self.is_up(t));
        let Some(next) = next else {
            return FailOver::PassOn;
        };
        let next = next.to_owned();
        sent.tried.push(next.clone());
        if !self.remember(&event.user_message_id, &sent).await {
            return FailOver::Wait;
        }
        let body = Bytes::from(std::mem::take(&mut sent.body));
        if !self.forward(&next, "outbound", body).await {
            return FailOver::Wait;
        }
        FailedOver {
            router: &self.name,
            from: event.transport_name.as_deref().unwrap_or(""),
            to: &next,
        }
        .emit();
        FailOver::Done
    }

    fn memory_key(&self, message_id: &str) -> String {
        format!("router:{}:msg:{message_id}", self.name)
    }

    /// Publishes `body` to `<to>.<suffix>` until the bus owns it; false when the bus closed
    /// first (the delivery is left unacknowledged and comes back).
    async fn forward(&self, to: &str, suffix: &str, body: Bytes) -> bool {
        common::publish(&self.bus, to, suffix, body.to_vec(), OnRefusal::Hold)
            .await
            .is_ok()
    }

    /// Publishes `body` to `<router>.failures` with `reason`, counted.
    async fn publish_failure(
        &self,
        body: &[u8],
        direction: Direction,
        reason: &str,
        on_refusal: OnRefusal,
    ) -> Result<(), BusError> {
        let failure = crate::transport::failure_body(body, reason);
        common::publish(&self.bus, &self.name, "failures", failure, on_refusal).await?;
        Unrouted {
            router: &self.name,
            direction,
            reason,
        }
        .emit();
        Ok(())
    }

    /// Sends the delivery to `<router>.failures` with `reason`, then acknowledges it.
    async fn fail(&self, delivery: Delivery, direction: Direction, reason: &str) {
        if self
            .publish_failure(&delivery.body, direction, reason, OnRefusal::Hold)
            .await
            .is_ok()
        {
            let _ = delivery.ack().await;
        }
    }
}
