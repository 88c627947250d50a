//! The bus and store sections of the configuration (`[bus]`, `[store]`): which bus carries
//! Vumi messages (RabbitMQ or the embedded spool) and where transports keep their state (redb
//! or Redis), with their defaults. Validation lives with the loader (`super`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// Which message bus carries Vumi messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BusConfig {
    /// In-process queues over a durable spool in `data_dir`.
    Embedded(EmbeddedBusConfig),
    /// RabbitMQ through AMQP 0-9-1.
    Amqp(AmqpConfig),
}

impl Default for BusConfig {
    fn default() -> Self {
        Self::Embedded(EmbeddedBusConfig::default())
    }
}

/// What a publish waits for on the embedded bus.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Committed and fsynced before the publish completes: nothing accepted is ever lost.
    #[default]
    Sync,
    /// Committed without fsync: a crash of the process loses nothing, a power cut or kernel
    /// crash may lose the last moments of accepted messages.
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedBusConfig {
    #[serde(default)]
    pub durability: Durability,
    /// Most messages one queue holds (ready + unacked) before publishers wait.
    #[serde(default = "default_queue_messages")]
    pub max_queue_messages: usize,
    /// Most payload bytes one queue holds before publishers wait.
    #[serde(default = "default_queue_bytes")]
    pub max_queue_bytes: usize,
    /// Memory redb may use to cache the spool's pages (default 32 MiB).
    #[serde(default = "default_spool_cache")]
    pub cache_bytes: usize,
    /// Shortest time between two compactions of the spool while running (default 3600; 0:
    /// only at start). See `crate::compact` for the cool-down.
    #[serde(default = "default_compact_interval")]
    pub compact_interval_seconds: u64,
}

/// Bounds of the redb page caches (`cache_bytes`).
pub(crate) const MIN_CACHE: usize = 1024 * 1024;
pub(crate) const MAX_CACHE: usize = 64 * 1024 * 1024 * 1024;

/// Bounds of `compact_interval_seconds` other than 0 (a minute to a week).
pub(crate) const COMPACT_INTERVAL: std::ops::RangeInclusive<u64> = 60..=7 * 86_400;

fn default_compact_interval() -> u64 {
    3600
}
fn default_store_cache() -> usize {
    64 * 1024 * 1024
}
fn default_spool_cache() -> usize {
    32 * 1024 * 1024
}
fn default_queue_messages() -> usize {
    100_000
}
fn default_queue_bytes() -> usize {
    256 * 1024 * 1024
}

impl Default for EmbeddedBusConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            max_queue_messages: default_queue_messages(),
            max_queue_bytes: default_queue_bytes(),
            cache_bytes: default_spool_cache(),
            compact_interval_seconds: default_compact_interval(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:port/vhost` (the vhost `/` is written `%2f`). The nodes of a
    /// cluster: several URLs separated by spaces (or one per line in `url_file`); the bus
    /// connects to one and moves to the next when it fails.
    #[serde(default)]
    pub url: Option<Secret>,
    /// File holding the URL(s) (for secrets managers); exclusive with `url`.
    #[serde(default, skip_serializing)]
    pub url_file: Option<PathBuf>,
    /// Unacked deliveries the broker may push to one consumer (Vumi's default is 20).
    #[serde(default = "default_prefetch")]
    pub prefetch_count: u16,
    /// Publishes awaiting confirmation at once, per publisher channel.
    #[serde(default = "default_publish_window")]
    pub publish_window: usize,
    #[serde(default = "default_reconnect_initial")]
    pub reconnect_initial_seconds: f64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_seconds: f64,
    /// Extra queue arguments (e.g. `{ "x-queue-type" = "quorum" }`). Every application that
    /// declares these queues must declare exactly the same arguments.
    #[serde(default)]
    pub queue_arguments: BTreeMap<String, toml::Value>,
    /// `"quorum"` or `"classic"`: declare every queue with this `x-queue-type`. Unset (the
    /// default) declares none, so the vhost's default queue type decides, and Vumi
    /// applications that declare the same queues without arguments keep working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_type: Option<QueueType>,
    /// `amqps://` only: the CA certificates (PEM) the broker's certificate must chain to,
    /// instead of the system's roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// `amqps://` only: a client certificate (PEM) and its PKCS#8 key, for brokers that ask.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

/// A queue type Richmond can declare explicitly (`bus.queue_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueType {
    Quorum,
    Classic,
}

impl QueueType {
    /// The `x-queue-type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quorum => "quorum",
            Self::Classic => "classic",
        }
    }
}

impl AmqpConfig {
    /// The broker URLs, in the order they are tried (whitespace separates them).
    pub fn urls(&self) -> Vec<&str> {
        self.url
            .as_ref()
            .map(|u| u.expose().split_whitespace().collect())
            .unwrap_or_default()
    }
}

fn default_prefetch() -> u16 {
    20
}
fn default_publish_window() -> usize {
    1000
}
fn default_reconnect_initial() -> f64 {
    0.5
}
fn default_reconnect_max() -> f64 {
    30.0
}

/// Where transports keep state that must outlive a message (id maps, multipart, sessions).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// A redb file `store.redb` in `data_dir`.
    Redb {
        /// Memory redb may use to cache the file's pages (default 64 MiB); the rest is read
        /// from disk (the OS page cache).
        #[serde(default = "default_store_cache")]
        cache_bytes: usize,
        /// Shortest time between two compactions of the file while running (default 3600;
        /// 0: only at start). See `crate::compact` for the cool-down.
        #[serde(default = "default_compact_interval")]
        compact_interval_seconds: u64,
    },
    /// A Redis server shared by several gateway instances.
    Redis {
        #[serde(default)]
        url: Option<Secret>,
        #[serde(default, skip_serializing)]
        url_file: Option<PathBuf>,
        /// Key prefix, so several deployments can share one Redis.
        #[serde(default = "default_redis_prefix")]
        key_prefix: String,
        /// With `rediss://`: the CA certificates (PEM) trusted for the server's certificate
        /// instead of the system's roots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls_ca_file: Option<PathBuf>,
        /// Sentinels (`host:port`) to ask for the primary instead of `url`'s host; `url`,
        /// when set, then gives only the scheme, credentials and database.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sentinels: Vec<String>,
        /// The name the sentinels monitor.
        #[serde(default = "default_sentinel_master")]
        sentinel_master: String,
        /// Replicas every write waits for (`WAIT`) before it counts as done, so a failover
        /// keeps it; 0 (the default) waits for none.
        #[serde(default)]
        replicas_to_wait: u32,
        /// How long a write waits for them (then it is counted and logged, not failed).
        #[serde(default = "default_replica_wait")]
        replica_wait_ms: u64,
    },
}

fn default_sentinel_master() -> String {
    "mymaster".into()
}
fn default_replica_wait() -> u64 {
    1000
}

fn default_redis_prefix() -> String {
    "richmond:".into()
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self::Redb {
            cache_bytes: default_store_cache(),
            compact_interval_seconds: default_compact_interval(),
        }
    }
}
