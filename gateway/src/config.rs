//! Configuration: one TOML file (default `config/richmond.toml`), unknown keys rejected,
//! environment overrides `RICHMOND__SECTION__KEY`, `*_file` variants for secrets.
//!
//! Loading happens in two passes so that every error names its origin: the file is first
//! deserialised on its own (a bad key is reported with the file and line), then the environment
//! overrides are laid over it (a bad override names the variable). Secrets are read from their
//! `*_file` paths last. The per-transport option structs live beside their transports.
//! Reference: DESIGN.md "Conventions / Config", style-and-operations.md B.1.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod error;
pub mod secret;
mod sections;

pub(crate) use self::error::valid_transport_id;
pub use self::error::{
    ConfigError, MAX_BACKOFF_SECONDS, MAX_DURATION_SECONDS, check_pem_certificates, check_seconds,
};
pub use self::secret::{Secret, redact_url, resolve_secret, scrub_url};

pub use self::sections::{
    AmqpConfig, BusConfig, Durability, EmbeddedBusConfig, QueueType, StoreConfig,
};
use self::sections::{COMPACT_INTERVAL, MAX_CACHE, MIN_CACHE};
pub use crate::api::ApiConfig;
pub use crate::transport::TransportConfig;

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "RICHMOND__";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the embedded spool and the redb store (created if missing).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    #[serde(default)]
    pub bus: BusConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// Carrier links, keyed by transport id (the Vumi `transport_name`).
    #[serde(default)]
    pub transports: BTreeMap<String, TransportConfig>,
    /// The HTTP API; absent: no API listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiConfig>,
    /// Simulated carriers inside this process (the quick start's SMSC).
    #[serde(default)]
    pub simulator: crate::simulate::inprocess::SimulatorConfig,
    /// Routers between transports and applications, keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routers: BTreeMap<String, crate::router::RouterConfig>,
    /// Built-in applications, keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applications: BTreeMap<String, crate::apps::ApplicationConfig>,
    /// This instance among several sharing the store.
    #[serde(default)]
    pub cluster: crate::cluster::ClusterConfig,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// The admin listener: `/metrics`, `/live`, `/ready`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default = "default_admin_address")]
    pub address: SocketAddr,
    /// Serve HTTPS: the certificate chain (PEM; re-read on SIGHUP) and its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
}

fn default_admin_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            address: default_admin_address(),
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// How long a drain may take after SIGTERM.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    #[serde(default = "default_drain")]
    pub drain_timeout_seconds: u64,
}

fn default_drain() -> u64 {
    25
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_timeout_seconds: default_drain(),
        }
    }
}

/// Keys whose values are secrets: taken from the environment as strings, whatever they look
/// like.
const SECRET_KEYS: &[&str] = &["password", "pin", "url", "password_hash"];

impl Config {
    /// Loads `path`, applies `RICHMOND__*` variables from `env`, reads `*_file` secrets and
    /// validates the result.
    ///
    /// # Errors
    /// Any [`ConfigError`]; each names the file (and line) or the variable at fault.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: describe_toml_error(&text, &e),
        };
        let mut config: Self = toml::from_str(&text).map_err(parse_err)?;
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(&text).map_err(parse_err)?;
            for (var, raw) in &overrides {
                apply_override(&mut table, var, raw)?;
            }
            config = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let vars: Vec<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
                    ConfigError::Env {
                        var: vars.join(", "),
                        message: e.message().to_owned(),
                    }
                })?;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_secrets(path)?;
        config.validate(path, base)?;
        Ok(config)
    }

    fn resolve_secrets(&mut self, path: &Path) -> Result<(), ConfigError> {
        if let BusConfig::Amqp(amqp) = &mut self.bus {
            resolve_secret(path, "bus.url", &mut amqp.url, amqp.url_file.as_deref())?;
        }
        if let StoreConfig::Redis { url, url_file, .. } = &mut self.store {
            resolve_secret(path, "store.url", url, url_file.as_deref())?;
        }
        for (id, t) in &mut self.transports {
            t.resolve_secrets(path, id)?;
        }
        if let Some(api) = &mut self.api {
            api.resolve_secrets(path)?;
        }
        Ok(())
    }

    /// Each application's options, and its queues: one consumer each (not a routed
    /// transport's, not one of `api.transports`, not another application's).
    fn validate_applications(&self) -> Result<(), String> {
        let api: &[String] = self.api.as_ref().map_or(&[], |a| &a.transports);
        let mut taken: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, app) in &self.applications {
            let q = app.queues(name);
            if !valid_transport_id(name) || !valid_transport_id(q) {
                return Err(format!(
                    "applications.{name}: names and transport_name are routing key prefixes: \
                     use only lower-case letters, digits, '_' and '-'"
                ));
            }
            app.validate()
                .map_err(|m| format!("applications.{name}: {m}"))?;
            if let Some(other) = taken.insert(q, name) {
                return Err(format!(
                    "applications.{name}: the queues {q}.* are applications.{other}'s already"
                ));
            }
            if api.iter().any(|t| t == q) {
                return Err(format!(
                    "applications.{name}: {q:?} is one of api.transports too"
                ));
            }
            for (router, r) in &self.routers {
                if r.transports.iter().any(|t| t == q) {
                    return Err(format!(
                        "applications.{name}: {q:?} is routed by routers.{router} (name the \
                         application in its applications instead)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Each router's own checks, then what routers must not share: a transport's inbound and
    /// event queues, or an application's outbound queue, have one consumer; a router's name
    /// (its failures queue) is no transport's or application's.
    fn validate_routers(&self) -> Result<(), String> {
        let transports: Vec<&str> = self.transports.keys().map(String::as_str).collect();
        let api: &[String] = self.api.as_ref().map_or(&[], |a| &a.transports);
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, r) in &self.routers {
            if !valid_transport_id(name) {
                return Err(format!(
                    "routers.{name}: a router name is a routing key prefix: use only lower-case \
                     letters, digits, '_' and '-'"
                ));
            }
            r.validate(&transports)
                .map_err(|m| format!("routers.{name}: {m}"))?;
            if self.transports.contains_key(name) {
                return Err(format!("routers.{name}: the name of a transport too"));
            }
            for t in r.transports.iter().chain(&r.applications) {
                if let Some(other) = owner.insert(t, name) {
                    return Err(format!(
                        "routers.{name}: {t:?} is routed by routers.{other} already (one router \
                         per transport and per application)"
                    ));
                }
                if api.contains(t) {
                    return Err(format!(
                        "routers.{name}: {t:?} is one of api.transports too (its messages would \
                         go to one of them at random)"
                    ));
                }
            }
        }
        for name in self.routers.keys() {
            if let Some(other) = owner.get(name.as_str()) {
                return Err(format!(
                    "routers.{name}: the name of an application or transport of routers.{other}"
                ));
            }
        }
        Ok(())
    }

    fn validate(&mut self, path: &Path, base: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        for (id, t) in &self.transports {
            if !valid_transport_id(id) {
                return Err(invalid(format!(
                    "transports.{id}: a transport id is the Vumi transport_name and a routing \
                     key prefix: use only lower-case letters, digits, '_' and '-'"
                )));
            }
            t.validate(id)
                .map_err(|m| invalid(format!("transports.{id}: {m}")))?;
        }
        if self.data_dir.is_relative() && !base.as_os_str().is_empty() {
            // A relative data_dir is relative to the working directory, as operators expect
            // from `cargo run`; nothing to rewrite, but it must not be empty.
            if self.data_dir.as_os_str().is_empty() {
                return Err(invalid("data_dir: must not be empty".into()));
            }
        }
        self.simulator.validate().map_err(invalid)?;
        self.cluster.validate().map_err(invalid)?;
        self.validate_routers().map_err(invalid)?;
        self.validate_applications().map_err(invalid)?;
        check_seconds(
            "shutdown.drain_timeout_seconds",
            self.shutdown.drain_timeout_seconds,
        )
        .map_err(invalid)?;
        match &self.bus {
            BusConfig::Amqp(a) => {
                if a.url.is_none() {
                    return Err(invalid(
                        "bus.url: required when bus.type = \"amqp\" (or set bus.url_file)".into(),
                    ));
                }
                crate::bus::amqp::check_tls(a).map_err(invalid)?;
                if a.queue_type.is_some() && a.queue_arguments.contains_key("x-queue-type") {
                    return Err(invalid(
                        "bus.queue_type and bus.queue_arguments.x-queue-type are both set: keep one"
                            .into(),
                    ));
                }
                if a.prefetch_count == 0 || a.publish_window == 0 {
                    return Err(invalid(
                        "bus.prefetch_count and bus.publish_window must be at least 1".into(),
                    ));
                }
                if !(a.reconnect_initial_seconds > 0.0
                    && a.reconnect_max_seconds >= a.reconnect_initial_seconds
                    && a.reconnect_max_seconds <= MAX_BACKOFF_SECONDS)
                {
                    return Err(invalid("bus.reconnect_initial_seconds must be > 0 and <= bus.reconnect_max_seconds, at most 86400".into()));
                }
            }
            BusConfig::Embedded(e) => {
                if !(MIN_CACHE..=MAX_CACHE).contains(&e.cache_bytes) {
                    return Err(invalid(
                        "bus.cache_bytes: 1048576 (1 MiB) to 68719476736 (64 GiB)".into(),
                    ));
                }
                if e.compact_interval_seconds != 0
                    && !COMPACT_INTERVAL.contains(&e.compact_interval_seconds)
                {
                    return Err(invalid(
                        "bus.compact_interval_seconds: 0 (only at start) or 60 to 604800".into(),
                    ));
                }
                if e.max_queue_messages == 0 || e.max_queue_bytes == 0 {
                    return Err(invalid(
                        "bus.max_queue_messages and bus.max_queue_bytes must be at least 1".into(),
                    ));
                }
            }
        }
        self.store.validate().map_err(invalid)?;
        if let Some(api) = &self.api {
            api.validate(self.admin.address).map_err(invalid)?;
        }
        crate::listener_tls::check(
            "admin",
            self.admin.tls_cert_file.as_deref(),
            self.admin.tls_key_file.as_deref(),
        )
        .map_err(invalid)?;
        Ok(())
    }

    /// Whether anything in this config keeps files in `data_dir`.
    pub fn uses_data_dir(&self) -> bool {
        matches!(self.bus, BusConfig::Embedded(_)) || matches!(self.store, StoreConfig::Redb { .. })
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn apply_override(table: &mut toml::Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let env_err = |message: &str| ConfigError::Env {
        var: var.to_owned(),
        message: message.to_owned(),
    };
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(env_err("empty key segment (use RICHMOND__SECTION__KEY)"));
    }
    let (last, parents) = path.split_last().ok_or_else(|| env_err("no key"))?;
    // A value that parses as TOML keeps its type (numbers, booleans, arrays); anything else is
    // taken as a plain string. Secrets are always strings: a numeric PIN or password must not
    // turn into a number (and into a type error that would print it).
    let value = if SECRET_KEYS.contains(&last.as_str()) {
        toml::Value::String(raw.to_owned())
    } else {
        toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
    };
    let mut cur = table;
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(env_err(&format!("`{seg}` is not a table"))),
        };
    }
    cur.insert(last.clone(), value);
    Ok(())
}

fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_owned(),
    }
}

#[cfg(test)]
mod cluster_tests;
mod store;

#[cfg(test)]
mod tests;
