//! The shared state store: a Redis server, through the `redis` crate's tokio connection
//! manager (which reconnects by itself). Keys get the configured prefix; expiries are native
//! (`PX` / `PEXPIRE`), so several gateway instances see one consistent state. `rediss://` is
//! TLS (rustls), the server's certificate verified against the system's roots or only
//! `store.tls_ca_file`.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::StoreError;

/// The Redis-backed store; clones share one multiplexed connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    location: String,
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// How long a Redis call may take to connect, or to be answered.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

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
        let err = |e: redis::RedisError| StoreError::redis(location.clone(), e);
        let client = match tls_ca_file {
            None => redis::Client::open(url).map_err(err)?,
            Some(f) => {
                let pem = std::fs::read(f).map_err(|e| {
                    StoreError::unavailable(
                        location.clone(),
                        format!("store.tls_ca_file {}: {e}", f.display()),
                    )
                })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(url, certs).map_err(err)?
            }
        };
        // redis-rs gives up on an answer after 500 ms by default: a busy host (or Redis
        // saving its snapshot) then fails store calls that a moment's patience would have
        // served. Seconds are what a gateway can afford to wait.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_connection_timeout(Some(REDIS_TIMEOUT));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(err)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            location,
        })
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
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn hash_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (_, _, n): (usize, usize, usize) = redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&k)
            .arg(field)
            .arg(value)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(millis(ttl))
            .cmd("HLEN")
            .arg(&k)
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n)
    }

    pub(crate) async fn hash_get_all(
        &self,
        key: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut c = self.conn.clone();
        let mut v: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
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
        let mut c = self.conn.clone();
        let k = self.key(key);
        redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(&k)
            .arg(score)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(millis(ttl))
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err(e))
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
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("ZREM")
            .arg(self.key(key))
            .arg(member)
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn index_trim(&self, key: &str, below: i64) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.key(key))
            .arg("-inf")
            .arg(format!("({below}"))
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn index_len(&self, key: &str, at_most: usize) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        let n: usize = redis::cmd("ZCARD")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
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
        let mut c = self.conn.clone();
        let rows: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.key(key))
            .arg(min)
            .arg(max)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        // Scores are whole numbers within ±2^53 (see Store::index_add), so this is exact.
        #[allow(clippy::cast_possible_truncation)]
        Ok(rows.into_iter().map(|(m, s)| (m, s as i64)).collect())
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }
}
