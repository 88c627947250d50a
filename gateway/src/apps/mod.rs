//! Built-in applications (`[applications.<name>]`, issue 20): ordinary Vumi applications on
//! the bus, run inside the gateway process — examples of the application side, and load
//! generators. Each consumes `<q>.inbound` and `<q>.event` and publishes to `<q>.outbound`,
//! where `q` is its `transport_name` (default: its name, the queues a router feeds).
//!
//! Reference: reference/routing-and-apps.md §6 (Vumi's `ApplicationWorker`: inbound dispatched
//! on `session_event` — `new` to `new_session`, `close` to `close_session` with no reply, the
//! rest to `consume_user_message`; replies built with `reply(content, continue_session)`).

pub mod http_relay;
mod relay_client;
pub mod smitter;
pub mod telemetry;
pub mod ussd_echo;

use std::sync::Arc;

use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use richmond_drivers::telemetry::Event as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::relay_client::GaveUp;
use self::telemetry::{Handled, Kind};
use crate::bus::{Bus, Delivery};
use crate::store::Store;
use crate::transport::common::{self, OnRefusal};

/// One built-in application.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApplicationConfig {
    /// The original Richmond USSD echo worker.
    UssdEcho(ussd_echo::UssdEchoConfig),
    /// The Vumi workshop's join/leave/broadcast app.
    Smitter(smitter::SmitterConfig),
    /// Relays inbound to a web application over HTTP; its answer is the reply.
    HttpRelay(http_relay::HttpRelayConfig),
}

impl ApplicationConfig {
    /// The queue prefix it consumes and publishes on (`transport_name`, else `name`).
    pub fn queues<'a>(&'a self, name: &'a str) -> &'a str {
        match self {
            Self::UssdEcho(c) => c.transport_name.as_deref().unwrap_or(name),
            Self::Smitter(c) => c.transport_name.as_deref().unwrap_or(name),
            Self::HttpRelay(c) => c.transport_name.as_deref().unwrap_or(name),
        }
    }

    /// Checks its options; the message names the key.
    ///
    /// # Errors
    /// A bad option.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::UssdEcho(c) => c.validate(),
            Self::Smitter(c) => c.validate(),
            Self::HttpRelay(c) => c.validate(),
        }
    }
}

/// Why an application could not start.
#[derive(Debug, thiserror::Error)]
#[error("applications.{name}: {reason}")]
pub struct StartError {
    name: String,
    reason: String,
}

/// Declares the application's queues and starts it; it stops taking messages when `intake`
/// is cancelled and finishes the ones it holds.
///
/// # Errors
/// [`StartError`]: an http_relay's client cannot be made (its settings were checked at load).
pub async fn spawn(
    name: &str,
    config: &ApplicationConfig,
    bus: &Bus,
    store: &Store,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<(), StartError> {
    let worker = match config {
        ApplicationConfig::UssdEcho(c) => Worker::UssdEcho(c.clone()),
        ApplicationConfig::Smitter(c) => Worker::Smitter(c.clone()),
        ApplicationConfig::HttpRelay(c) => {
            let relay =
                relay_client::Relay::new(name, c, intake.clone()).map_err(|reason| StartError {
                    name: name.to_owned(),
                    reason,
                })?;
            Worker::HttpRelay(Box::new(relay))
        }
    };
    // A relay waits on web applications: a larger window, so one slow URL (which holds at
    // most its max_requests_per_url requests) leaves room for the others.
    let in_flight = match worker {
        Worker::HttpRelay(..) => RELAY_IN_FLIGHT,
        _ => IN_FLIGHT,
    };
    let queues = config.queues(name).to_owned();
    // A refused topology keeps the bus not ready (and is retried); it is not fatal.
    if let Err(e) = bus.declare_transport(&queues).await {
        tracing::error!(message = "Cannot declare the application's queues.", application = name, error = %e);
    }
    let app = Arc::new(App {
        name: name.to_owned(),
        queues: queues.clone(),
        worker,
        bus: bus.clone(),
        store: store.clone(),
    });
    for suffix in ["inbound", "event"] {
        let (a, i) = (app.clone(), intake.clone());
        tracker.spawn(async move {
            let queue = format!("{}.{suffix}", a.queues);
            let bus = a.bus.clone();
            common::consume(&bus, &queue, in_flight, &i, move |d| {
                let a = a.clone();
                async move {
                    if suffix == "inbound" {
                        a.inbound(d).await;
                    } else {
                        a.event(d).await;
                    }
                }
            })
            .await;
        });
    }
    tracing::info!(message = "Application up.", application = name, queues = %queues);
    Ok(())
}

/// Deliveries worked on at once per queue.
const IN_FLIGHT: usize = 64;
/// … by an http_relay.
const RELAY_IN_FLIGHT: usize = 512;

/// One running application.
struct App {
    name: String,
    queues: String,
    worker: Worker,
    bus: Bus,
    store: Store,
}

/// What the application is, with what it needs at run time.
enum Worker {
    UssdEcho(ussd_echo::UssdEchoConfig),
    Smitter(smitter::SmitterConfig),
    /// The relay keeps its configuration.
    HttpRelay(Box<relay_client::Relay>),
}

/// What became of one delivery.
enum Outcome {
    /// Handled (its replies owned by the bus): counted, then acked.
    Done(Kind),
    /// The store failed: back to the queue after a pause.
    Again,
    /// The gateway is stopping: back to the queue at once.
    Back,
    /// The web application did not take it: to the failures with the reason.
    Failed(String),
    /// The bus closed while publishing: left unacknowledged, it comes back.
    Closed,
}

impl From<GaveUp> for Outcome {
    fn from(g: GaveUp) -> Self {
        match g {
            GaveUp::Failed(reason) => Self::Failed(reason),
            GaveUp::Stopping => Self::Back,
        }
    }
}

impl App {
    async fn inbound(&self, delivery: Delivery) {
        let msg = match UserMessage::decode(&delivery.body) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .to_failures(delivery, Kind::Undecodable, &e.to_string())
                    .await;
            }
        };
        let outcome = match &self.worker {
            Worker::UssdEcho(c) => {
                let (kind, reply) = ussd_echo::answer(c, &msg);
                self.reply(&msg, reply, kind).await
            }
            Worker::Smitter(c) => self.smitter(c, &msg).await,
            Worker::HttpRelay(relay) => {
                let c = relay.config();
                let body = http_relay::message_body(c.format, &msg, &delivery.body);
                match relay.post("message", c.url_for(&msg), body).await {
                    Ok(answer) => {
                        let reply = http_relay::reply(
                            &msg,
                            &answer.body,
                            answer.header("x-richmond-reply"),
                            answer.header("x-richmond-session"),
                        );
                        self.reply(&msg, reply, Kind::Relayed).await
                    }
                    Err(g) => g.into(),
                }
            }
        };
        self.settle(delivery, outcome).await;
    }

    /// Publishes the reply to `msg`, if any (text, and whether a session goes on).
    async fn reply(&self, msg: &UserMessage, reply: Option<(String, bool)>, kind: Kind) -> Outcome {
        if let Some((text, go_on)) = reply {
            let body = msg.reply(Some(text), go_on).encode();
            let sent = common::publish(&self.bus, &self.queues, "outbound", body, OnRefusal::Hold);
            if sent.await.is_err() {
                return Outcome::Closed;
            }
        }
        Outcome::Done(kind)
    }

    async fn smitter(&self, config: &smitter::SmitterConfig, msg: &UserMessage) -> Outcome {
        let members = smitter::Members {
            store: &self.store,
            key: format!("app:{}:members", self.name),
            config,
        };
        match smitter::handle(&members, msg).await {
            Ok((kind, batch, answer)) => {
                if smitter::publish(&self.bus, &self.queues, batch, answer).await {
                    Outcome::Done(kind)
                } else {
                    Outcome::Closed
                }
            }
            Err(e) => {
                tracing::warn!(message = "Store error; the message goes back to the queue.", application = %self.name, error = %e);
                Outcome::Again
            }
        }
    }

    async fn event(&self, delivery: Delivery) {
        let kind = match VumiEvent::decode(&delivery.body) {
            Ok(e) => {
                if let Worker::HttpRelay(relay) = &self.worker
                    && let Some(url) = &relay.config().event_url
                {
                    let body = http_relay::event_body(relay.config().format, &e, &delivery.body);
                    if let Err(g) = relay.post("event", url, body).await {
                        return self.settle(delivery, g.into()).await;
                    }
                }
                Kind::of_event(&e)
            }
            Err(_) => Kind::Undecodable,
        };
        self.settle(delivery, Outcome::Done(kind)).await;
    }

    /// Acknowledges, requeues or fails the delivery as `outcome` says.
    async fn settle(&self, delivery: Delivery, outcome: Outcome) {
        match outcome {
            Outcome::Done(kind) => {
                Handled {
                    application: &self.name,
                    kind,
                }
                .emit();
                let _ = delivery.ack().await;
            }
            Outcome::Again => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let _ = delivery.nack(true).await;
            }
            Outcome::Back => {
                let _ = delivery.nack(true).await;
            }
            Outcome::Failed(reason) => {
                self.to_failures(delivery, Kind::RelayFailed, &reason).await;
            }
            Outcome::Closed => {}
        }
    }

    /// To `<q>.failures` with the reason (counted as `kind`), then acked.
    async fn to_failures(&self, delivery: Delivery, kind: Kind, reason: &str) {
        Handled {
            application: &self.name,
            kind,
        }
        .emit();
        common::to_failures(&self.bus, &self.queues, delivery, reason).await;
    }
}
