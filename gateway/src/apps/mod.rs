//! Built-in applications (`[applications.<name>]`, issue 20): ordinary Vumi applications on
//! the bus, run inside the gateway process — examples of the application side, and load
//! generators. Each consumes `<q>.inbound` and `<q>.event` and publishes to `<q>.outbound`,
//! where `q` is its `transport_name` (default: its name, the queues a router feeds).
//!
//! Reference: reference/routing-and-apps.md §6 (Vumi's `ApplicationWorker`: inbound dispatched
//! on `session_event` — `new` to `new_session`, `close` to `close_session` with no reply, the
//! rest to `consume_user_message`; replies built with `reply(content, continue_session)`).
//!
//! Not here yet: `http_relay` (issue 20 lists it).

pub mod smitter;
pub mod telemetry;
pub mod ussd_echo;

use std::sync::Arc;

use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use richmond_drivers::telemetry::Event as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
}

impl ApplicationConfig {
    /// The queue prefix it consumes and publishes on (`transport_name`, else `name`).
    pub fn queues<'a>(&'a self, name: &'a str) -> &'a str {
        match self {
            Self::UssdEcho(c) => c.transport_name.as_deref().unwrap_or(name),
            Self::Smitter(c) => c.transport_name.as_deref().unwrap_or(name),
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
        }
    }
}

/// Declares the application's queues and starts it; it stops taking messages when `intake`
/// is cancelled and finishes the ones it holds.
pub async fn spawn(
    name: &str,
    config: &ApplicationConfig,
    bus: &Bus,
    store: &Store,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) {
    let queues = config.queues(name).to_owned();
    // A refused topology keeps the bus not ready (and is retried); it is not fatal.
    if let Err(e) = bus.declare_transport(&queues).await {
        tracing::error!(message = "Cannot declare the application's queues.", application = name, error = %e);
    }
    let app = Arc::new(App {
        name: name.to_owned(),
        queues: queues.clone(),
        config: config.clone(),
        bus: bus.clone(),
        store: store.clone(),
    });
    for suffix in ["inbound", "event"] {
        let (a, i) = (app.clone(), intake.clone());
        tracker.spawn(async move {
            let queue = format!("{}.{suffix}", a.queues);
            let bus = a.bus.clone();
            common::consume(&bus, &queue, IN_FLIGHT, &i, move |d| {
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
}

/// Deliveries worked on at once per queue.
const IN_FLIGHT: usize = 64;

/// One running application.
struct App {
    name: String,
    queues: String,
    config: ApplicationConfig,
    bus: Bus,
    store: Store,
}

impl App {
    async fn inbound(&self, delivery: Delivery) {
        let msg = match UserMessage::decode(&delivery.body) {
            Ok(m) => m,
            Err(e) => return self.fail(delivery, &e.to_string()).await,
        };
        let kind = match &self.config {
            ApplicationConfig::UssdEcho(c) => {
                let (kind, reply) = ussd_echo::answer(c, &msg);
                if let Some((text, go_on)) = reply {
                    let body = msg.reply(Some(text), go_on).encode();
                    let sent =
                        common::publish(&self.bus, &self.queues, "outbound", body, OnRefusal::Hold);
                    if sent.await.is_err() {
                        return; // the bus closed: the delivery comes back
                    }
                }
                kind
            }
            ApplicationConfig::Smitter(c) => {
                let members = smitter::Members {
                    store: &self.store,
                    key: format!("app:{}:members", self.name),
                    config: c,
                };
                match smitter::handle(&members, &msg).await {
                    Ok((kind, batch, answer)) => {
                        if !smitter::publish(&self.bus, &self.queues, batch, answer).await {
                            return;
                        }
                        kind
                    }
                    Err(e) => {
                        tracing::warn!(message = "Store error; the message goes back to the queue.", application = %self.name, error = %e);
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        let _ = delivery.nack(true).await;
                        return;
                    }
                }
            }
        };
        Handled {
            application: &self.name,
            kind,
        }
        .emit();
        let _ = delivery.ack().await;
    }

    async fn event(&self, delivery: Delivery) {
        let kind = match VumiEvent::decode(&delivery.body) {
            Ok(e) => Kind::of_event(&e),
            Err(_) => Kind::Undecodable,
        };
        Handled {
            application: &self.name,
            kind,
        }
        .emit();
        let _ = delivery.ack().await;
    }

    /// A body that is no Vumi message: to `<q>.failures` with the reason, then acked.
    async fn fail(&self, delivery: Delivery, reason: &str) {
        Handled {
            application: &self.name,
            kind: Kind::Undecodable,
        }
        .emit();
        common::to_failures(&self.bus, &self.queues, delivery, reason).await;
    }
}
