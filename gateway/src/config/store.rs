//! `[store]` validation: the redb sizes, and for Redis the URL (a scheme this build can
//! honour, TLS only verified), the sentinels and the replica wait. Never a silent fallback.

use super::error::check_pem_certificates;
use super::sections::{COMPACT_INTERVAL, MAX_CACHE, MIN_CACHE, StoreConfig};

impl StoreConfig {
    /// # Errors
    /// The first problem, naming its key.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::Redb {
                cache_bytes,
                compact_interval_seconds,
            } => {
                if !(MIN_CACHE..=MAX_CACHE).contains(cache_bytes) {
                    return Err("store.cache_bytes: 1048576 (1 MiB) to 68719476736 (64 GiB)".into());
                }
                if *compact_interval_seconds != 0
                    && !COMPACT_INTERVAL.contains(compact_interval_seconds)
                {
                    return Err(
                        "store.compact_interval_seconds: 0 (only at start) or 60 to 604800".into(),
                    );
                }
                Ok(())
            }
            Self::Redis {
                url,
                tls_ca_file,
                sentinels,
                sentinel_master,
                replica_wait_ms,
                ..
            } => {
                for s in sentinels {
                    let ok = s.rsplit_once(':').is_some_and(|(h, p)| {
                        !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0)
                    });
                    if !ok {
                        return Err(format!("store.sentinels: {s:?} is not host:port"));
                    }
                }
                if !sentinels.is_empty() && sentinel_master.is_empty() {
                    return Err("store.sentinel_master: empty".into());
                }
                // Below the 5 s a Redis call may take: a longer WAIT would fail on the client.
                if !(1..=2000).contains(replica_wait_ms) {
                    return Err("store.replica_wait_ms: 1 to 2000".into());
                }
                let Some(url) = url else {
                    if sentinels.is_empty() {
                        return Err(
                            "store.url: required when store.type = \"redis\" (or store.sentinels)"
                                .into(),
                        );
                    }
                    if tls_ca_file.is_some() {
                        return Err("store.tls_ca_file: with store.sentinels, set store.url = \
                                    \"rediss://\" too"
                            .into());
                    }
                    return Ok(());
                };
                let scheme = url.expose().split_once("://").map_or("", |(s, _)| s);
                let allowed: &[&str] = if sentinels.is_empty() {
                    &["redis", "rediss", "unix", "redis+unix"]
                } else {
                    // The sentinels give the host: only a network URL can take it.
                    &["redis", "rediss"]
                };
                if !allowed.contains(&scheme) {
                    return Err(format!(
                        "store.url: scheme {scheme:?} is not supported here ({})",
                        allowed
                            .iter()
                            .map(|s| format!("{s}://"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if url.expose().contains("#insecure") {
                    return Err(
                        "store.url: #insecure (no certificate check) is not accepted; \
                                give the server's CA in store.tls_ca_file"
                            .into(),
                    );
                }
                if let Some(f) = tls_ca_file {
                    if scheme != "rediss" {
                        return Err("store.tls_ca_file: set, but store.url is not rediss://".into());
                    }
                    let pem = std::fs::read(f).map_err(|e| {
                        format!("store.tls_ca_file: cannot read {}: {e}", f.display())
                    })?;
                    check_pem_certificates(&pem)
                        .map_err(|e| format!("store.tls_ca_file {}: {e}", f.display()))?;
                }
                Ok(())
            }
        }
    }
}
