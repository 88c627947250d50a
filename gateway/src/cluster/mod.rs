//! Several gateway instances sharing one Redis (`[cluster]`): one throughput limit per
//! transport across them ([`rate`]) and transports that must run on exactly one instance at a
//! time ([`lease`]: SSMI, modems). What is shared lives in the store (`store.type = "redis"`);
//! with the embedded store there is one instance, and these fall back to local limits and an
//! always-held lease. Does not handle: the bus (several broker URLs, `crate::bus::amqp`) or
//! the store's own failover (`crate::store::redis`).

pub mod lease;
pub mod rate;
pub mod telemetry;

pub use telemetry::METRICS;

use serde::{Deserialize, Serialize};

/// `[cluster]`: this instance among the others sharing the store.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// How many instances run this configuration. A shared limit falls back to its share
    /// (limit / instances) when Redis cannot be reached, so together they never exceed it.
    #[serde(default = "one")]
    pub instances: u32,
    /// This instance's name, in leases and logs (default: host name and process id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// How long a lease (SSMI, modem transports) outlives its holder: the time another
    /// instance takes over after a crash.
    #[serde(default = "lease_seconds")]
    pub lease_seconds: u64,
}

fn one() -> u32 {
    1
}
fn lease_seconds() -> u64 {
    10
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            instances: one(),
            instance_name: None,
            lease_seconds: lease_seconds(),
        }
    }
}

impl ClusterConfig {
    /// # Errors
    /// Zero instances, or a lease shorter than 3 s or longer than an hour.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.instances) {
            return Err("cluster.instances: 1 to 1000".into());
        }
        if !(3..=3600).contains(&self.lease_seconds) {
            return Err("cluster.lease_seconds: 3 to 3600".into());
        }
        if self
            .instance_name
            .as_deref()
            .is_some_and(|n| n.is_empty() || n.len() > 200 || n.contains(char::is_whitespace))
        {
            return Err("cluster.instance_name: 1 to 200 characters, no spaces".into());
        }
        Ok(())
    }

    /// This instance's name.
    pub fn name(&self) -> String {
        self.instance_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "richmond".into());
            format!("{host}-{}", std::process::id())
        })
    }
}
