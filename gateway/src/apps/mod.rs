//! Built-in applications (`[applications.<name>]`, issue 20): ordinary Vumi applications on
//! the bus, run inside the gateway process — examples of the application side, and load
//! generators. Each consumes `<q>.inbound` and `<q>.event` and publishes to `<q>.outbound`,
//! where `q` is its `transport_name` (default: its name, the queues a router feeds).
//!
//! Reference: reference/routing-and-apps.md §6 (Vumi's `ApplicationWorker`: inbound dispatched
//! on `session_event` — `new` to `new_session`, `close` to `close_session` with no reply, the
//! rest to `consume_user_message`; replies built with `reply(content, continue_session)`).
//!
//! Not here yet: `smitter` and `http_relay` (issue 20 lists them).

pub mod telemetry;
pub mod ussd_echo;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::Bus;

/// One built-in application.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApplicationConfig {
    /// The original Richmond USSD echo worker.
    UssdEcho(ussd_echo::UssdEchoConfig),
}

impl ApplicationConfig {
    /// The queue prefix it consumes and publishes on (`transport_name`, else `name`).
    pub fn queues<'a>(&'a self, name: &'a str) -> &'a str {
        match self {
            Self::UssdEcho(c) => c.transport_name.as_deref().unwrap_or(name),
        }
    }

    /// Checks its options; the message names the key.
    ///
    /// # Errors
    /// A bad option.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::UssdEcho(c) => c.validate(),
        }
    }
}

/// Declares the application's queues and starts it; it stops taking messages when `intake`
/// is cancelled and finishes the ones it holds.
pub async fn spawn(
    name: &str,
    config: &ApplicationConfig,
    bus: &Bus,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) {
    let queues = config.queues(name).to_owned();
    // A refused topology keeps the bus not ready (and is retried); it is not fatal.
    if let Err(e) = bus.declare_transport(&queues).await {
        tracing::error!(message = "Cannot declare the application's queues.", application = name, error = %e);
    }
    match config {
        ApplicationConfig::UssdEcho(c) => ussd_echo::spawn(name, &queues, c, bus, tracker, intake),
    }
    tracing::info!(message = "Application up.", application = name, queues = %queues);
}
