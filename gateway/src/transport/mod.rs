//! Transports: protocol events ⇄ Vumi messages, one module per carrier protocol.
//!
//! A transport is configured as `[transports.<id>]` with `type = "smpp" | "ssmi" | "modem"`;
//! the id is the Vumi `transport_name`, the AMQP routing-key prefix and the `transport`
//! metric label. This module holds the tagged config enum; each protocol's options live in
//! its own file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// One carrier link.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransportConfig {
    Smpp(UnsupportedConfig),
    Ssmi(UnsupportedConfig),
    Modem(UnsupportedConfig),
}

/// Options of a transport type this build cannot run yet: any key is accepted so that
/// `check-config` can report the real problem (the type) rather than a key.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct UnsupportedConfig {
    #[serde(flatten)]
    pub options: toml::Table,
}

impl TransportConfig {
    /// The `type` value, as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Smpp(_) => "smpp",
            Self::Ssmi(_) => "ssmi",
            Self::Modem(_) => "modem",
        }
    }

    pub(crate) fn resolve_secrets(&mut self, _path: &Path, _id: &str) -> Result<(), ConfigError> {
        Ok(())
    }

    pub(crate) fn validate(&self, _id: &str) -> Result<(), String> {
        Err(format!(
            "type = \"{}\" is not available in this build of richmond yet",
            self.kind()
        ))
    }
}
