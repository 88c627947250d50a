//! The shared state store: a Redis server, through the `redis` crate's tokio connection
//! manager (which reconnects by itself). Keys get the configured prefix; expiries are native
//! (`PX` / `PEXPIRE`), so several gateway instances see one consistent state. `rediss://` is
//! TLS (rustls), the server's certificate verified against the system's roots or only
//! `store.tls_ca_file`.
//!
//! With Sentinel ([`sentinel`]) the primary is asked of the sentinels, and asked again when a
//! call fails on the connection or is refused by a server that is no longer the primary
//! (`READONLY`): the store then moves to the new primary and the call is tried once more
//! there (a read always; a write only when it certainly was not applied). With
//! `store.replicas_to_wait`, a write is done once the replicas have it ([`replication`]).

mod replication;
mod sentinel;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::StoreError;
pub use sentinel::SentinelOptions;

/// The Redis-backed store; clones share one multiplexed connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Arc<RwLock<Primary>>,
    prefix: String,
    location: String,
    sentinel: Option<Arc<sentinel::Follower>>,
    /// Replicas each write waits for (`WAIT`).
    replicas: Option<Arc<replication::Replication>>,
}

/// The connection to the server written to, and which one it is.
#[derive(Clone)]
struct Primary {
    manager: ConnectionManager,
    /// `host:port` with Sentinel (empty otherwise).
    address: String,
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// How long a Redis call may take to connect, or to be answered.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for `url`, with the CA of `tls_ca_file` for `rediss://`.
fn client(
    url: &str,
    tls_ca_file: Option<&std::path::Path>,
    location: &str,
) -> Result<redis::Client, StoreError> {
    let err = |e: redis::RedisError| StoreError::redis(location.to_owned(), e);
    match tls_ca_file {
        None => redis::Client::open(url).map_err(err),
        Some(f) => {
            let pem = std::fs::read(f).map_err(|e| {
                StoreError::unavailable(
                    location.to_owned(),
                    format!("store.tls_ca_file {}: {e}", f.display()),
                )
            })?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            redis::Client::build_with_tls(url, certs).map_err(err)
        }
    }
}

/// A connection manager on `client`.
async fn manage(client: redis::Client) -> Result<ConnectionManager, redis::RedisError> {
    // redis-rs gives up on an answer after 500 ms by default: a busy host (or Redis
    // saving its snapshot) then fails store calls that a moment's patience would have
    // served. Seconds are what a gateway can afford to wait.
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_connection_timeout(Some(REDIS_TIMEOUT));
    ConnectionManager::new_with_config(client, config).await
}

impl RedisStore {
    /// Connects to `url`.
    ///
    /// # Errors
    /// When the URL is invalid or the server does not answer.
    pub async fn connect(
        url: &str,
        prefix: &str,
        tls_ca_file: Option<&std::path::Path>,
    ) -> Result<Self, StoreError> {
        let location = crate::config::redact_url(url);
        let manager = manage(client(url, tls_ca_file, &location)?)
            .await
            .map_err(|e| StoreError::redis(location.clone(), e))?;
        Ok(Self {
            conn: Arc::new(RwLock::new(Primary {
                manager,
                address: String::new(),
            })),
            prefix: prefix.to_owned(),
            location,
            sentinel: None,
            replicas: None,
        })
    }

    /// Connects to the primary the sentinels of `options` name, and follows it.
    ///
    /// # Errors
    /// When no sentinel names a primary that answers as one.
    pub async fn connect_sentinel(
        options: SentinelOptions,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        let follower = sentinel::Follower::new(options);
        let location = follower.location();
        let primary = follower.find().await?;
        Ok(Self {
            conn: Arc::new(RwLock::new(primary)),
            prefix: prefix.to_owned(),
            location,
            sentinel: Some(Arc::new(follower)),
            replicas: None,
        })
    }

    /// Every write then waits for `replicas` replicas (`WAIT`, at most `wait_ms`); 0: none.
    #[must_use]
    pub fn waiting_for(mut self, replicas: u32, wait_ms: u64) -> Self {
        self.replicas =
            (replicas > 0).then(|| Arc::new(replication::Replication::new(replicas, wait_ms)));
        self
    }

    /// The connection to the primary now.
    fn current(&self) -> Primary {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs a read; with Sentinel, once more on the primary found after a failure that may
    /// mean the primary changed.
    async fn query<C: Query, T: redis::FromRedisValue>(&self, cmd: &C) -> Result<T, StoreError> {
        self.run(cmd, true).await.map(|(v, _)| v)
    }

    /// Runs `cmd`; `repeatable`: it may be sent again whatever became of the first try (a
    /// read). A write is sent again only when it certainly was not applied (`READONLY`, an
    /// aborted transaction, a refused connection). Returns the value and the server it came
    /// from.
    async fn run<C: Query, T: redis::FromRedisValue>(
        &self,
        cmd: &C,
        repeatable: bool,
    ) -> Result<(T, String), StoreError> {
        let primary = self.current();
        let mut c = primary.manager.clone();
        let e = match cmd.run(&mut c).await {
            Ok(v) => return Ok((v, primary.address)),
            Err(e) => e,
        };
        let Some(follower) = &self.sentinel else {
            return Err(self.err(e));
        };
        if !sentinel::primary_may_have_moved(&e) {
            return Err(self.err(e));
        }
        let again = repeatable || sentinel::not_applied(&e);
        // A failover takes a moment to be decided (the sentinels' down-after time and vote):
        // ask again for as long as one call may wait.
        let deadline = tokio::time::Instant::now() + REDIS_TIMEOUT;
        loop {
            let followed =
                tokio::time::timeout_at(deadline, follower.follow(&self.conn, &primary.address))
                    .await
                    .unwrap_or(sentinel::Followed::Unknown);
            match followed {
                sentinel::Followed::Moved | sentinel::Followed::Same if again => break,
                sentinel::Followed::Moved | sentinel::Followed::Same => {
                    return Err(self.err(e));
                }
                sentinel::Followed::Unknown => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.err(e));
            }
            tokio::time::sleep(sentinel::RETRY_AFTER).await;
        }
        let primary = self.current();
        let mut c = primary.manager.clone();
        let v = cmd.run(&mut c).await.map_err(|e| self.err(e))?;
        Ok((v, primary.address))
    }

    /// Runs a write; then, with `replicas_to_wait`, waits until the replicas have it.
    async fn write<C: Query, T: redis::FromRedisValue>(&self, cmd: &C) -> Result<T, StoreError> {
        let (v, at) = self.run(cmd, false).await?;
        if let Some(r) = &self.replicas {
            r.confirm(&self.current(), &at).await;
        }
        Ok(v)
    }

    fn err(&self, e: redis::RedisError) -> StoreError {
        StoreError::redis(self.location.clone(), e)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl));
        self.write(&cmd).await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GET").arg(self.key(key))).await
    }

    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.write(redis::cmd("GETDEL").arg(self.key(key))).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write(redis::cmd("DEL").arg(self.key(key))).await
    }

    pub(crate) async fn hash_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        let k = self.key(key);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&k)
            .arg(field)
            .arg(value)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(millis(ttl))
            .cmd("HLEN")
            .arg(&k);
        let (_, _, n): (usize, usize, usize) = self.write(&pipe).await?;
        Ok(n)
    }

    pub(crate) async fn hash_get_all(
        &self,
        key: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut v: Vec<(String, Vec<u8>)> =
            self.query(redis::cmd("HGETALL").arg(self.key(key))).await?;
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }

    pub(crate) async fn index_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let k = self.key(key);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&k)
            .arg(score)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(millis(ttl))
            .ignore();
        self.write(&pipe).await
    }

    /// Applies `writes` in order in one MULTI/EXEC transaction.
    pub(crate) async fn write_batch(&self, writes: Vec<super::Write>) -> Result<(), StoreError> {
        use super::Write;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for w in writes {
            match w {
                Write::Put { key, value, ttl } => {
                    pipe.cmd("SET")
                        .arg(self.key(&key))
                        .arg(value)
                        .arg("PX")
                        .arg(millis(ttl))
                        .ignore();
                }
                Write::Delete { key } => {
                    pipe.cmd("DEL").arg(self.key(&key)).ignore();
                }
                Write::IndexAdd {
                    key,
                    member,
                    score,
                    ttl,
                } => {
                    let k = self.key(&key);
                    pipe.cmd("ZADD").arg(&k).arg(score).arg(member).ignore();
                    pipe.cmd("PEXPIRE").arg(&k).arg(millis(ttl)).ignore();
                }
                Write::IndexRemove { key, member } => {
                    pipe.cmd("ZREM").arg(self.key(&key)).arg(member).ignore();
                }
                Write::IndexTrim { key, below } => {
                    pipe.cmd("ZREMRANGEBYSCORE")
                        .arg(self.key(&key))
                        .arg("-inf")
                        .arg(format!("({below}"))
                        .ignore();
                }
            }
        }
        self.write(&pipe).await
    }

    pub(crate) async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.write(redis::cmd("ZREM").arg(self.key(key)).arg(member))
            .await
    }

    pub(crate) async fn index_trim(&self, key: &str, below: i64) -> Result<usize, StoreError> {
        let mut cmd = redis::cmd("ZREMRANGEBYSCORE");
        cmd.arg(self.key(key)).arg("-inf").arg(format!("({below}"));
        self.write(&cmd).await
    }

    pub(crate) async fn index_len(&self, key: &str, at_most: usize) -> Result<usize, StoreError> {
        let n: usize = self.query(redis::cmd("ZCARD").arg(self.key(key))).await?;
        Ok(n.min(at_most))
    }

    pub(crate) async fn index_range(
        &self,
        key: &str,
        min: i64,
        max: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if limit == 0 || min > max {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.key(key))
            .arg(min)
            .arg(max)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        let rows: Vec<(String, f64)> = self.query(&cmd).await?;
        // Scores are whole numbers within ±2^53 (see Store::index_add), so this is exact.
        #[allow(clippy::cast_possible_truncation)]
        Ok(rows.into_iter().map(|(m, s)| (m, s as i64)).collect())
    }

    /// Runs a Lua `script` on `keys` (prefixed) with `args`; its integer answer. Not waited
    /// for by the replicas: scripts keep short-lived coordination (leases, rate schedules,
    /// request windows), which a failover may reset but must never stall.
    pub(crate) async fn eval_i64(
        &self,
        script: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Result<i64, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len());
        for k in keys {
            cmd.arg(self.key(k));
        }
        for a in args {
            cmd.arg(*a);
        }
        self.run(&cmd, false).await.map(|(v, _)| v)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.query::<_, String>(&redis::cmd("PING")).await.map(drop)
    }
}

/// A command or a pipeline, sent on a connection.
trait Query: Sync {
    fn run<T: redis::FromRedisValue>(
        &self,
        c: &mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send;
}

impl Query for redis::Cmd {
    async fn run<T: redis::FromRedisValue>(
        &self,
        c: &mut ConnectionManager,
    ) -> redis::RedisResult<T> {
        self.query_async(c).await
    }
}

impl Query for redis::Pipeline {
    async fn run<T: redis::FromRedisValue>(
        &self,
        c: &mut ConnectionManager,
    ) -> redis::RedisResult<T> {
        self.query_async(c).await
    }
}
