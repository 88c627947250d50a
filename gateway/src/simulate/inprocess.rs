//! Simulators run inside the gateway process, from the `[simulator.*]` config tables: the quick
//! start's SMSC, so `cargo run --release` on `config/richmond.toml` has a carrier to talk to
//! without an operator contract.
//!
//! Reference: the simulator itself is [`super::smsc`]; its events are logged at debug level
//! (they carry phone numbers and text, which never go to info).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::smsc;

/// `[simulator]`: simulators to start inside the gateway.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// `[simulator.smsc]`: an SMPP SMSC on loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smsc: Option<SmscSimulatorConfig>,
}

/// `[simulator.smsc]`: what `richmond simulate smsc` takes on its command line.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmscSimulatorConfig {
    /// Where it listens; loopback only.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "richmond")]
    pub system_id: String,
    #[serde(default = "richmond", serialize_with = "redacted")]
    pub password: String,
    /// Delay before each delivery receipt (and each `reply`), in milliseconds.
    #[serde(default = "receipt_delay")]
    pub receipt_delay_ms: u64,
    /// The simulated handsets answer every message with an MO of this text (`{text}`: the
    /// message received); absent: no answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2775))
}
fn richmond() -> String {
    "richmond".into()
}
const fn receipt_delay() -> u64 {
    500
}

impl SimulatorConfig {
    /// Checks the tables.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = &self.smsc
            && !s.listen.ip().is_loopback()
        {
            return Err(format!(
                "simulator.smsc.listen: {} is not a loopback address; the simulator is for \
                 trying Richmond out and must not be reachable from the network",
                s.listen
            ));
        }
        Ok(())
    }

    /// Binds and starts the configured simulators; they run until `stop` fires.
    ///
    /// # Errors
    /// When a listen address cannot be bound.
    pub async fn start(&self, stop: &CancellationToken) -> Result<(), super::SimulateError> {
        let Some(s) = &self.smsc else {
            return Ok(());
        };
        let listener = tokio::net::TcpListener::bind(s.listen)
            .await
            .map_err(super::io(format!(
                "simulator.smsc.listen {}: cannot listen",
                s.listen
            )))?;
        let args = smsc::Args {
            listen: s.listen,
            system_id: s.system_id.clone(),
            password: s.password.clone(),
            receipt_delay_ms: s.receipt_delay_ms,
            reply: s.reply.clone(),
            ..smsc::Args::default()
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                tracing::debug!(message = "SMSC simulator.", event = %event);
            }
        });
        tracing::info!(message = "SMSC simulator up (in process).", address = %s.listen);
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = smsc::serve(args, listener, smsc::Events::Channel(tx), None, stop).await
            {
                tracing::error!(message = "SMSC simulator stopped.", error = %e);
            }
        });
        Ok(())
    }
}

/// Serializes a secret as `<redacted>` (`check-config --print`).
fn redacted<S: serde::Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}
