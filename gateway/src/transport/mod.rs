//! Transports: protocol events ⇄ Vumi messages, one module per carrier protocol.
//!
//! A transport is configured as `[transports.<id>]` with `type = "smpp" | "ssmi" | "modem" |
//! "smpp_server" | "chikka" | "clickatell" | "opera"`;
//! the id is the Vumi `transport_name`, the AMQP routing-key prefix and the `transport`
//! metric label. This module holds the tagged config enum and [`spawn_all`]; each protocol's
//! options and its worker live in its own folder.
//!
//! Every transport keeps DESIGN.md's no-loss rule: an inbound message is answered to the
//! carrier only after [`Bus::publish`] returned `Ok`; an outbound delivery is acked on the bus
//! only after its `ack`/`nack` event was published.

pub(crate) mod common;
pub mod http_provider;
pub mod modem;
mod multipart;
pub mod smpp;
pub mod smpp_server;
pub mod ssmi;
pub mod telemetry;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Readiness;
use crate::bus::Bus;
use crate::config::error::ConfigError;
use crate::store::Store;

/// What a running transport shares with the rest of the gateway.
#[derive(Clone)]
pub struct Context {
    pub bus: Bus,
    pub store: Store,
    pub readiness: Readiness,
    /// This instance among others sharing the store (shared limits, leases).
    pub cluster: crate::cluster::ClusterConfig,
}

/// One carrier link.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransportConfig {
    Smpp(smpp::SmppConfig),
    SmppServer(smpp_server::SmppServerConfig),
    Ssmi(ssmi::SsmiConfig),
    Modem(modem::ModemConfig),
    Chikka(http_provider::ChikkaConfig),
    Clickatell(http_provider::ClickatellConfig),
    Opera(http_provider::OperaConfig),
}

impl TransportConfig {
    /// The `type` value, as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Smpp(_) => "smpp",
            Self::SmppServer(_) => "smpp_server",
            Self::Ssmi(_) => "ssmi",
            Self::Modem(_) => "modem",
            Self::Chikka(_) => "chikka",
            Self::Clickatell(_) => "clickatell",
            Self::Opera(_) => "opera",
        }
    }

    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        match self {
            Self::Ssmi(c) => c.resolve_secrets(path, id),
            Self::Smpp(c) => c.resolve_secrets(path, id),
            Self::Modem(c) => c.resolve_secrets(path, id),
            Self::SmppServer(_) => Ok(()),
            Self::Chikka(c) => c.resolve_secrets(path, id),
            Self::Clickatell(c) => c.resolve_secrets(path, id),
            Self::Opera(c) => c.resolve_secrets(path, id),
        }
    }

    pub(crate) fn validate(&self, _id: &str) -> Result<(), String> {
        match self {
            Self::Ssmi(c) => c.validate(),
            Self::Smpp(c) => c.validate(),
            Self::Modem(c) => c.validate(),
            Self::SmppServer(c) => c.validate(),
            Self::Chikka(c) => c.validate(),
            Self::Clickatell(c) => c.validate(),
            Self::Opera(c) => c.validate(),
        }
    }
}

/// The transports that consume `<id>.receipts` (SMPP servers), for the routers.
pub fn receipt_takers(
    transports: &std::collections::BTreeMap<String, TransportConfig>,
) -> Vec<String> {
    transports
        .iter()
        .filter(|(_, t)| matches!(t, TransportConfig::SmppServer(_)))
        .map(|(id, _)| id.clone())
        .collect()
}

/// Starts every configured transport on `tracker`; each stops taking new work when `intake`
/// is cancelled and finishes (or hands back) what it holds before its task ends.
///
/// # Errors
/// When a transport cannot be started (its config was validated already).
///
/// Returns the certificates of the transports' own listeners (SMPP servers with TLS), for
/// the gateway's SIGHUP reload.
pub fn spawn_all(
    transports: &std::collections::BTreeMap<String, TransportConfig>,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<Vec<std::sync::Arc<crate::listener_tls::ListenerTls>>, StartError> {
    let mut certificates = Vec::new();
    for (id, t) in transports {
        match t {
            TransportConfig::Ssmi(c) => {
                // Checked now, so a bad setting stops the start rather than each lease.
                c.task_config(id).map_err(|detail| StartError::Config {
                    id: id.clone(),
                    detail,
                })?;
                let (name, c, ctx2) = (id.clone(), c.clone(), ctx.clone());
                leased(id, ctx, tracker, intake, move |t, stop| {
                    if let Err(e) = ssmi::spawn(&name, &c, &ctx2, t, stop) {
                        tracing::error!(message = "Cannot start the transport.", error = %e);
                    }
                });
            }
            TransportConfig::Smpp(c) => smpp::spawn(id, c, ctx, tracker, intake)?,
            TransportConfig::Modem(c) => {
                let (name, c, ctx2) = (id.clone(), c.clone(), ctx.clone());
                leased(id, ctx, tracker, intake, move |t, stop| {
                    modem::spawn(&name, &c, &ctx2, t, stop);
                });
            }
            TransportConfig::SmppServer(c) => {
                certificates.extend(smpp_server::spawn(id, c, ctx, tracker, intake)?);
            }
            TransportConfig::Chikka(c) => {
                http_provider::spawn_chikka(id, c, ctx, tracker, intake)?;
            }
            TransportConfig::Clickatell(c) => {
                http_provider::clickatell::spawn(id, c, ctx, tracker, intake)?;
            }
            TransportConfig::Opera(c) => {
                http_provider::opera::spawn(id, c, ctx, tracker, intake)?;
            }
        }
    }
    Ok(certificates)
}

/// Runs a transport that must be alone on its link under a lease (`crate::cluster::lease`):
/// on one instance of those sharing Redis at a time.
fn leased<F>(id: &str, ctx: &Context, tracker: &TaskTracker, intake: &CancellationToken, start: F)
where
    F: Fn(&TaskTracker, &CancellationToken) + Send + Sync + 'static,
{
    if ctx.cluster.instances <= 1 || !matches!(ctx.store, Store::Redis(_)) {
        // One instance (every instance of a cluster sets `cluster.instances`): nothing to
        // share the link with, and no lease to lose in a Redis failover.
        start(tracker, intake);
        return;
    }
    let lease = crate::cluster::lease::Leased {
        transport: id.to_owned(),
        holder: ctx.cluster.name(),
        lease: Duration::from_secs(ctx.cluster.lease_seconds),
        store: ctx.store.clone(),
        readiness: Some(ctx.readiness.clone()),
        slots: 1,
        patient: false,
    };
    let start = move |_slot: usize, t: &TaskTracker, stop: &CancellationToken| start(t, stop);
    tracker.spawn(lease.run(crate::cluster::lease::start(start), intake.clone()));
}

/// Why a transport could not start. Its configuration was validated at load, so this is
/// what changed since (a certificate file gone) or what only the driver checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The transport's settings cannot be used.
    #[error("transports.{id}: {detail}")]
    Config { id: String, detail: String },
    /// The SMPP driver refused a bind's settings.
    #[error("transports.{id}: the SMPP driver refused the settings")]
    Smpp {
        id: String,
        #[source]
        source: richmond_drivers::smpp::Error,
    },
}

/// A Vumi `failure_message` for an outbound body the transport could not even decode:
/// `message` holds the body's JSON object (or `{"raw": <text>}`), `failure_code` permanent.
pub(crate) fn failure_body(body: &[u8], reason: &str) -> Vec<u8> {
    use richmond_codecs::vumi::{FailureCode, FailureMessage, Metadata, Timestamp};
    let message = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => {
            let mut m = Metadata::new();
            m.insert(
                "raw".into(),
                serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
            );
            m
        }
    };
    FailureMessage {
        timestamp: Timestamp::now(),
        message,
        failure_code: Some(FailureCode::Permanent),
        reason: Some(reason.to_owned()),
        helper_metadata: Metadata::new(),
        routing_metadata: Metadata::new(),
        extra: Metadata::new(),
    }
    .encode()
}
