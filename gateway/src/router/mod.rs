//! Routers (`[routers.<name>]`, issue 20): a dispatcher between transports and applications,
//! on either bus, in the gateway process.
//!
//! Reference: reference/routing-and-apps.md §5 (Vumi's dispatchers: a router consumes
//! `<t>.inbound` and `<t>.event` of its transports and `<a>.outbound` of its applications,
//! and publishes `<a>.inbound`, `<a>.event` and `<t>.outbound`; the keyword router remembers
//! `message:<id>` → application so events come back to the sender).
//!
//! Three kinds of consumers per router, each acknowledging a delivery only after its onward
//! publish is confirmed (a crash between the two gives a duplicate, never a loss):
//! - `<t>.inbound` of each transport → the application [`rules::Rules::inbound`] picks →
//!   `<a>.inbound`, the message unchanged (so any Vumi application sits behind it and replies
//!   through the transport it came from);
//! - `<a>.outbound` of each application → the transport [`rules::Rules::outbound`] picks (from
//!   a pool: [`rules::Rules::pick`], by the transports' readiness) → `<t>.outbound`, after
//!   the store remembers `message_id` → application (with the configured TTL; in Redis, every
//!   instance finds it); for a pool of several, the message itself and the transports tried
//!   are remembered too;
//! - `<t>.event` → the application that sent the message → `<a>.event`. A `nack` that the
//!   transport marks temporary (`transport_metadata.temporary`: the carrier took no part and
//!   refused for a passing fault) of a pool message is not passed on while the pool has a
//!   transport left to try: the message goes to that one instead (failover on refusal, not
//!   only on a link that is down).
//!
//! What has nowhere to go (no rule and no default, no transport, an event of a message no
//! application of this router sent, a body that does not decode) goes to `<router>.failures`
//! with the reason, counted. A router owns its transports' inbound and event queues: they
//! are not also the API's (checked at load).

pub mod rules;
pub mod telemetry;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::vumi::{Event as VumiEvent, EventKind, UserMessage};
use richmond_drivers::telemetry::Event as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::rules::{Rules, Unroutable};
use self::telemetry::{Direction, FailedOver, Routed, Unrouted};
use crate::admin::Readiness;
use crate::bus::{Bus, Delivery};
use crate::store::Store;
use crate::transport::common::{self, OnRefusal};

pub use self::rules::{RouterConfig, Rule, Strategy, Transports};

/// Deliveries each consumer of a router works on at once.
const IN_FLIGHT: usize = 64;

/// One router, shared by its consumers.
struct Router {
    name: String,
    rules: Rules,
    bus: Bus,
    store: Store,
    readiness: Readiness,
    /// Pool messages routed so far (round robin's turn).
    turn: AtomicUsize,
}

/// What the router remembers of an outbound message: the application that sent it and, for
/// a pool of several transports, the transports tried and the message (to try the next).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Sent {
    app: String,
    #[serde(default)]
    tried: Vec<String>,
    #[serde(default)]
    body: String,
}

impl Sent {
    /// The stored form: the application's name alone when there is nothing else to keep
    /// (names cannot start with `{`), else JSON.
    fn encode(&self) -> Vec<u8> {
        if self.body.is_empty() {
            self.app.clone().into_bytes()
        } else {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }

    fn decode(raw: &[u8]) -> Self {
        if raw.first() == Some(&b'{')
            && let Ok(sent) = serde_json::from_slice(raw)
        {
            return sent;
        }
        Self {
            app: String::from_utf8_lossy(raw).into_owned(),
            tried: Vec::new(),
            body: String::new(),
        }
    }
}

/// Why a router could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A rule's regex (validated at load, so not expected).
    #[error("routers.{name}: {source}")]
    Regex {
        name: String,
        #[source]
        source: regex::Error,
    },
}

/// Declares the router's queues and starts its consumers; they stop taking deliveries when
/// `intake` is cancelled and finish the ones they hold.
///
/// # Errors
/// [`StartError`].
pub async fn spawn(
    name: &str,
    config: &RouterConfig,
    bus: &Bus,
    store: &Store,
    readiness: &Readiness,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<(), StartError> {
    let rules = Rules::new(config.clone()).map_err(|source| StartError::Regex {
        name: name.to_owned(),
        source,
    })?;
    let mut queues = vec![format!("{name}.failures")];
    for a in &config.applications {
        queues.extend(crate::bus::transport_queues(a));
    }
    // A refused topology keeps the bus not ready (and is retried); it is not fatal.
    if let Err(e) = bus.declare_queues(&queues).await {
        tracing::error!(message = "Cannot declare the router's queues.", router = name, error = %e);
    }
    let router = Arc::new(Router {
        name: name.to_owned(),
        rules,
        bus: bus.clone(),
        store: store.clone(),
        readiness: readiness.clone(),
        turn: AtomicUsize::new(0),
    });
    for t in &config.transports {
        let (r, t2) = (router.clone(), t.clone());
        spawn_consumer(
            tracker,
            intake,
            &router.bus,
            format!("{t}.inbound"),
            move |d| {
                let (r, t) = (r.clone(), t2.clone());
                async move { r.inbound(&t, d).await }
            },
        );
        let r = router.clone();
        spawn_consumer(
            tracker,
            intake,
            &router.bus,
            format!("{t}.event"),
            move |d| {
                let r = r.clone();
                async move { r.event(d).await }
            },
        );
    }
    for a in &config.applications {
        let (r, a2) = (router.clone(), a.clone());
        spawn_consumer(
            tracker,
            intake,
            &router.bus,
            format!("{a}.outbound"),
            move |d| {
                let (r, a) = (r.clone(), a2.clone());
                async move { r.outbound(&a, d).await }
            },
        );
    }
    tracing::info!(
        message = "Router up.",
        router = name,
        transports = config.transports.len(),
        applications = config.applications.len(),
        rules = config.rules.len()
    );
    Ok(())
}

fn spawn_consumer<F, Fut>(
    tracker: &TaskTracker,
    intake: &CancellationToken,
    bus: &Bus,
    queue: String,
    handle: F,
) where
    F: Fn(Delivery) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (bus, intake) = (bus.clone(), intake.clone());
    tracker.spawn(async move { common::consume(&bus, &queue, IN_FLIGHT, &intake, handle).await });
}

impl Router {
    async fn inbound(&self, transport: &str, delivery: Delivery) {
        let msg = match UserMessage::decode(&delivery.body) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .fail(delivery, Direction::Inbound, &e.to_string())
                    .await;
            }
        };
        match self.rules.inbound(transport, &msg) {
            Ok((app, rule)) => {
                let (app, body) = (app.to_owned(), delivery.body.clone());
                if self.forward(&app, "inbound", body).await {
                    Routed {
                        router: &self.name,
                        direction: Direction::Inbound,
                        to: &app,
                        rule,
                    }
                    .emit();
                    let _ = delivery.ack().await;
                }
            }
            Err(e) => self.unroutable(delivery, Direction::Inbound, &e).await,
        }
    }

    async fn outbound(&self, application: &str, delivery: Delivery) {
        let msg = match UserMessage::decode(&delivery.body) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .fail(delivery, Direction::Outbound, &e.to_string())
                    .await;
            }
        };
        let pool = match self.rules.outbound(application, &msg) {
            Ok(p) => p,
            Err(e) => return self.unroutable(delivery, Direction::Outbound, &e).await,
        };
        let turn = if pool.len() > 1 {
            self.turn.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let Some(transport) = self.rules.pick(pool, &[], turn, |t| self.is_up(t)) else {
            return self
                .unroutable(delivery, Direction::Outbound, &Unroutable::NoTransport)
                .await;
        };
        let transport = transport.to_owned();
        let sent = Sent {
            app: application.to_owned(),
            tried: if pool.len() > 1 {
                vec![transport.clone()]
            } else {
                Vec::new()
            },
            body: if pool.len() > 1 {
                String::from_utf8_lossy(&delivery.body).into_owned()
            } else {
                String::new()
            },
        };
        // Remembered before the transport can see the message, so its events find the sender.
        if !self.remember(&msg.message_id, &sent).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = delivery.nack(true).await;
            return;
        }
        if self
            .forward(&transport, "outbound", delivery.body.clone())
            .await
        {
            Routed {
                router: &self.name,
                direction: Direction::Outbound,
                to: &transport,
                rule: None,
            }
            .emit();
            let _ = delivery.ack().await;
        }
    }

    fn is_up(&self, transport: &str) -> bool {
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

    /// A temporary nack of a pool message with a transport left: the message goes there
    /// instead. True when it went (the event is then not passed on).
    async fn fail_over(&self, event: &VumiEvent, mut sent: Sent) -> bool {
        let temporary = matches!(event.kind, EventKind::Nack { .. })
            && event.transport_metadata.get("temporary") == Some(&serde_json::Value::Bool(true));
        if !temporary || sent.body.is_empty() {
            return false;
        }
        let Some(pool) = self.rules.config().mt_transport.get(&sent.app) else {
            return false;
        };
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let Some(next) = self
            .rules
            .pick(pool.as_slice(), &sent.tried, turn, |t| self.is_up(t))
        else {
            return false;
        };
        let next = next.to_owned();
        sent.tried.push(next.clone());
        if !self.remember(&event.user_message_id, &sent).await {
            return false;
        }
        let body = Bytes::from(std::mem::take(&mut sent.body));
        if !self.forward(&next, "outbound", body).await {
            return false;
        }
        FailedOver {
            router: &self.name,
            from: event.transport_name.as_deref().unwrap_or(""),
            to: &next,
        }
        .emit();
        true
    }

    async fn event(&self, delivery: Delivery) {
        let event = match VumiEvent::decode(&delivery.body) {
            Ok(e) => e,
            Err(e) => return self.fail(delivery, Direction::Event, &e.to_string()).await,
        };
        let key = self.memory_key(&event.user_message_id);
        let sent = match self.store.get(&key).await {
            Ok(Some(raw)) => Sent::decode(&raw),
            Ok(None) => {
                let reason = "no application of this router sent the message (or its memory \
                              expired: event_memory_seconds)";
                return self.fail(delivery, Direction::Event, reason).await;
            }
            Err(e) => {
                tracing::warn!(message = "Store error; the event goes back to the queue.", router = %self.name, error = %e);
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = delivery.nack(true).await;
                return;
            }
        };
        let app = sent.app.clone();
        if self.fail_over(&event, sent).await {
            let _ = delivery.ack().await;
            return;
        }
        if self.forward(&app, "event", delivery.body.clone()).await {
            Routed {
                router: &self.name,
                direction: Direction::Event,
                to: &app,
                rule: None,
            }
            .emit();
            let _ = delivery.ack().await;
        }
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

    async fn unroutable(&self, delivery: Delivery, direction: Direction, why: &Unroutable) {
        self.fail(delivery, direction, &why.to_string()).await;
    }

    /// Sends the delivery to `<router>.failures` with `reason`, then acknowledges it.
    async fn fail(&self, delivery: Delivery, direction: Direction, reason: &str) {
        Unrouted {
            router: &self.name,
            direction,
            reason,
        }
        .emit();
        common::to_failures(&self.bus, &self.name, delivery, reason).await;
    }
}
