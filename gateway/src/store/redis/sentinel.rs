//! Redis through Sentinel: the sentinels are asked which server is the primary of the
//! monitored name (`SENTINEL get-master-addr-by-name`), the answer is checked (`INFO
//! replication` says `role:master`) before it is written to, and asked again when a call
//! fails on the connection or meets `READONLY` (the old primary back as a replica). Written
//! here rather than with redis-rs's `sentinel` feature: its clients stay on the address
//! they resolved, while the store must move its one multiplexed connection and keep the
//! TLS, credentials and database of `store.url`.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::{Primary, StoreError, client, manage};

/// How the store finds its primary through Sentinel.
#[derive(Debug, Clone)]
pub struct SentinelOptions {
    /// `host:port` of each sentinel, asked in turn.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor.
    pub master: String,
    /// `store.url` with Sentinel: its scheme, credentials and database are used to reach the
    /// primary (its host is not); `redis://` when unset.
    pub url: Option<String>,
    pub tls_ca_file: Option<std::path::PathBuf>,
}

/// How long one sentinel may take to answer.
const SENTINEL_TIMEOUT: Duration = Duration::from_secs(2);
/// A failed search is not repeated sooner than this (many calls fail at once).
pub(super) const RETRY_AFTER: Duration = Duration::from_millis(250);

/// What asking the sentinels found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Followed {
    /// The store now writes to another server.
    Moved,
    /// The same server is still the primary (the failure was the connection's).
    Same,
    /// No primary could be confirmed (a failover may be under way).
    Unknown,
}

pub(super) struct Follower {
    options: SentinelOptions,
    /// Serialises searches; holds when the last one failed.
    searching: tokio::sync::Mutex<Option<Instant>>,
}

/// Whether `e` may mean the primary is now another server.
pub(super) fn primary_may_have_moved(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || not_applied(e)
}

/// Whether `e` shows the command was not applied: refused by a replica (`READONLY`, also
/// inside a transaction, which it aborts), or never sent (the connection refused).
pub(super) fn not_applied(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort)
        || e.is_connection_refusal()
}

/// `template` (a Redis URL) pointing at `host:port`, its scheme, credentials, database and
/// options kept.
pub(super) fn url_at(template: &str, host: &str, port: u16) -> String {
    let (scheme, rest) = template.split_once("://").unwrap_or(("redis", ""));
    let (userinfo, rest) = rest.rfind('@').map_or(("", rest), |i| rest.split_at(i + 1));
    let tail = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
    if host.contains(':') {
        format!("{scheme}://{userinfo}[{host}]:{port}{tail}")
    } else {
        format!("{scheme}://{userinfo}{host}:{port}{tail}")
    }
}

impl Follower {
    pub(super) fn new(options: SentinelOptions) -> Self {
        Self {
            options,
            searching: tokio::sync::Mutex::new(None),
        }
    }

    /// What errors name: the monitored name and the sentinels.
    pub(super) fn location(&self) -> String {
        format!(
            "sentinel {} via {}",
            self.options.master,
            self.options.sentinels.join(",")
        )
    }

    /// The primary's `host:port` according to sentinel `addr`.
    async fn ask(&self, addr: &str) -> Result<(String, u16), String> {
        let asked = async {
            // A bare IPv6 address needs its brackets in a URL.
            let url = match addr.rsplit_once(':') {
                Some((h, p)) if h.contains(':') && !h.starts_with('[') => {
                    format!("redis://[{h}]:{p}/")
                }
                _ => format!("redis://{addr}/"),
            };
            let c = redis::Client::open(url)?;
            let mut conn = c.get_multiplexed_async_connection().await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&self.options.master)
                .query_async::<Option<(String, u16)>>(&mut conn)
                .await
        };
        match tokio::time::timeout(SENTINEL_TIMEOUT, asked).await {
            Ok(Ok(Some(found))) => Ok(found),
            Ok(Ok(None)) => Err(format!(
                "sentinel {addr} does not monitor {}",
                self.options.master
            )),
            Ok(Err(e)) => Err(format!("sentinel {addr}: {e}")),
            Err(_) => Err(format!("sentinel {addr}: no answer")),
        }
    }

    /// Connects to the primary a sentinel names, once it says it is one; each sentinel in
    /// turn until one names a server that answers as the primary.
    pub(super) async fn find(&self) -> Result<Primary, StoreError> {
        let location = self.location();
        let mut last = String::from("no sentinel configured");
        for addr in &self.options.sentinels {
            match self.ask(addr).await {
                Ok((host, port)) => match self.connect(&host, port).await {
                    Ok(p) => return Ok(p),
                    Err(e) => last = e,
                },
                Err(e) => last = e,
            }
        }
        Err(StoreError::unavailable(location, last))
    }

    /// A connection to `host:port` if it answers as the primary.
    async fn connect(&self, host: &str, port: u16) -> Result<Primary, String> {
        let location = self.location();
        let template = self.options.url.as_deref().unwrap_or("redis://");
        let url = url_at(template, host, port);
        let address = format!("{host}:{port}");
        let c = client(&url, self.options.tls_ca_file.as_deref(), &location)
            .map_err(|e| e.to_string())?;
        let checked = async {
            let mut manager = manage(c).await?;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut manager)
                .await?;
            Ok::<_, redis::RedisError>((manager, info))
        };
        let (manager, info) = tokio::time::timeout(SENTINEL_TIMEOUT * 2, checked)
            .await
            .map_err(|_| format!("{address}: no answer"))?
            .map_err(|e| format!("{address}: {e}"))?;
        if !info.lines().any(|l| l.trim() == "role:master") {
            return Err(format!(
                "{address}, named by the sentinels, is not a primary (yet)"
            ));
        }
        Ok(Primary { manager, address })
    }

    /// Moves `conn` to the primary the sentinels name now, unless another call already
    /// moved it away from `old`.
    pub(super) async fn follow(&self, conn: &RwLock<Primary>, old: &str) -> Followed {
        let current = || {
            conn.read()
                .unwrap_or_else(PoisonError::into_inner)
                .address
                .clone()
        };
        let mut last_failure = self.searching.lock().await;
        if current() != old {
            return Followed::Moved;
        }
        if last_failure.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            return Followed::Unknown;
        }
        match self.find().await {
            Ok(primary) if primary.address != old => {
                tracing::warn!(
                    message = "The Redis primary moved; following it.",
                    from = old,
                    to = %primary.address
                );
                *conn.write().unwrap_or_else(PoisonError::into_inner) = primary;
                *last_failure = None;
                Followed::Moved
            }
            Ok(primary) => {
                // The same server, still the primary: a passing connection failure.
                *conn.write().unwrap_or_else(PoisonError::into_inner) = primary;
                *last_failure = None;
                Followed::Same
            }
            Err(e) => {
                tracing::warn!(message = "Cannot find the Redis primary through Sentinel.", error = %e);
                *last_failure = Some(Instant::now());
                Followed::Unknown
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_at;

    #[test]
    fn the_url_keeps_all_but_its_host() {
        assert_eq!(
            url_at("redis://", "10.0.0.2", 6380),
            "redis://10.0.0.2:6380"
        );
        assert_eq!(
            url_at(
                "rediss://user:p%40ss@ignored:1/2?protocol=resp3",
                "r2",
                6379
            ),
            "rediss://user:p%40ss@r2:6379/2?protocol=resp3"
        );
        assert_eq!(
            url_at("redis://:pw@x/0", "::1", 7000),
            "redis://:pw@[::1]:7000/0"
        );
    }
}
