//! The state store: what transports must remember beyond one message — carrier message id →
//! Vumi message id (for delivery reports), multipart reassembly buffers, USSD session state.
//! Every entry has an expiry. Two backends behind one interface and one test suite
//! (`gateway/tests/suite/store.rs`): [`redb`](self::redb) (embedded default, a file in the data
//! directory, survives restarts) and [`redis`](self::redis) (shared by several gateways).
//!
//! Besides values and hashes it keeps sorted indexes (member → integer score, ranged by score,
//! like a Redis sorted set), which the HTTP API uses to list messages by time and to schedule
//! callback retries.
//!
//! A failed operation is an error the caller must not paper over: a transport that cannot
//! record a mapping does not acknowledge the message it belongs to.

pub mod redb;
pub mod redis;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, StoreConfig};

/// What made a store operation fail (shared: one failed commit fails every write in it).
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A store failure. Its text names the store and the cause (logs print it on one line); the
/// cause is also its [`source`](std::error::Error::source) (written by hand: thiserror would
/// hand out the `Arc`, which no caller can downcast to the backend's error).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not do it.
    Unavailable {
        /// The file, or the Redis URL without its password.
        location: String,
        cause: Cause,
        /// The same call can succeed later (a dropped, refused or timed-out connection), as
        /// opposed to a fault of the file, the data or the configuration.
        retryable: bool,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable {
                location, cause, ..
            } => write!(f, "store {location}: {cause}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable { cause, .. } => Some(&**cause),
        }
    }
}

impl StoreError {
    /// A failure a retry cannot help (a damaged or full file, a bad configuration, a write
    /// that failed in the store's own code).
    pub fn unavailable(
        location: impl Into<String>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            location: location.into(),
            cause: Arc::from(cause.into()),
            retryable: false,
        }
    }

    /// A Redis failure, retryable when the connection was at fault.
    pub fn redis(location: impl Into<String>, e: ::redis::RedisError) -> Self {
        let retryable = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal();
        Self::Unavailable {
            location: location.into(),
            cause: Arc::new(e),
            retryable,
        }
    }

    /// Whether trying the same operation again later can succeed.
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { retryable, .. } => *retryable,
        }
    }

    /// A stable snake_case code for metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "unavailable",
        }
    }
}

/// One write of a [`Store::write_batch`].
#[derive(Debug, Clone)]
pub enum Write {
    /// [`Store::put`].
    Put {
        key: String,
        value: Vec<u8>,
        ttl: Duration,
    },
    /// Removes the value `key` (not a hash or an index of that name).
    Delete { key: String },
    /// [`Store::index_add`].
    IndexAdd {
        key: String,
        member: String,
        score: i64,
        ttl: Duration,
    },
    /// [`Store::index_remove`].
    IndexRemove { key: String, member: String },
    /// [`Store::index_trim`].
    IndexTrim { key: String, below: i64 },
}

/// The state store, cheap to clone.
#[derive(Clone)]
pub enum Store {
    Redb(redb::RedbStore),
    Redis(redis::RedisStore),
}

macro_rules! dispatch {
    ($self:ident, $op:literal, $s:ident => $call:expr) => {{
        let r = match $self {
            Store::Redb($s) => $call.await,
            Store::Redis($s) => $call.await,
        };
        richmond_drivers::telemetry::Event::emit(telemetry::Operated {
            op: $op,
            error: r.as_ref().err(),
        });
        r
    }};
}

impl Store {
    /// Opens the configured backend.
    ///
    /// # Errors
    /// When the file cannot be opened or the Redis URL is invalid.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        match &config.store {
            StoreConfig::Redb { cache_bytes, .. } => redb::RedbStore::open_with_cache(
                &config.data_dir.join(redb::FILE_NAME),
                *cache_bytes,
            )
            .map(Self::Redb),
            StoreConfig::Redis {
                url,
                key_prefix,
                tls_ca_file,
                sentinels,
                sentinel_master,
                replicas_to_wait,
                replica_wait_ms,
                ..
            } => {
                let url = url.as_ref().map(|s| s.expose().to_owned());
                let store = if sentinels.is_empty() {
                    redis::RedisStore::connect(
                        url.as_deref().unwrap_or_default(),
                        key_prefix,
                        tls_ca_file.as_deref(),
                    )
                    .await?
                } else {
                    let options = redis::SentinelOptions {
                        sentinels: sentinels.clone(),
                        master: sentinel_master.clone(),
                        url,
                        tls_ca_file: tls_ca_file.clone(),
                    };
                    redis::RedisStore::connect_sentinel(options, key_prefix).await?
                };
                Ok(Self::Redis(
                    store.waiting_for(*replicas_to_wait, *replica_wait_ms),
                ))
            }
        }
    }

    /// Sets `key` to `value` for `ttl`.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        dispatch!(self, "put", s => s.put(key, value, ttl))
    }

    /// Applies `writes` in order as one transaction: one durable commit on redb (shared with
    /// concurrent writers by group commit), one MULTI/EXEC on Redis. All or none.
    ///
    /// # Errors
    /// When the backend fails; nothing was written.
    pub async fn write_batch(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        dispatch!(self, "write_batch", s => s.write_batch(writes))
    }

    /// The value of `key`, if set and not expired.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, "get", s => s.get(key))
    }

    /// Removes `key`, returning its value (atomically).
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, "take", s => s.take(key))
    }

    /// Removes `key` (a value or a hash).
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        dispatch!(self, "delete", s => s.delete(key))
    }

    /// Sets `field` of hash `key` and renews the hash's expiry; returns the number of fields.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn hash_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        dispatch!(self, "hash_put", s => s.hash_put(key, field, value, ttl))
    }

    /// Every field of hash `key` (empty when unset or expired), sorted by field.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn hash_get_all(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        dispatch!(self, "hash_get_all", s => s.hash_get_all(key))
    }

    /// Adds `member` to the sorted index `key` with `score` (moving it if already there) and
    /// renews the whole index's expiry to `ttl`, as Redis's `ZADD` + `PEXPIRE` do. Scores
    /// must lie within ±2^53 (Redis keeps them as doubles); microsecond timestamps do.
    /// An index only expires as a whole: drop old entries with [`index_trim`](Self::index_trim).
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn index_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        dispatch!(self, "index_add", s => s.index_add(key, member, score, ttl))
    }

    /// Removes `member` from the sorted index `key` (nothing if absent).
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        dispatch!(self, "index_remove", s => s.index_remove(key, member))
    }

    /// Removes the entries of index `key` scored below `below`; returns how many.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn index_trim(&self, key: &str, below: i64) -> Result<usize, StoreError> {
        dispatch!(self, "index_trim", s => s.index_trim(key, below))
    }

    /// How many entries index `key` holds, counting at most `at_most` (0 when unset or
    /// expired).
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn index_len(&self, key: &str, at_most: usize) -> Result<usize, StoreError> {
        dispatch!(self, "index_len", s => s.index_len(key, at_most))
    }

    /// Up to `limit` entries of index `key` scored `min..=max`, as (member, score), lowest
    /// score first (ties by member). Empty when the index is unset or expired.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn index_range(
        &self,
        key: &str,
        min: i64,
        max: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, "index_range", s => s.index_range(key, min, max, limit))
    }

    /// Checks that the backend answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, "ping", s => s.ping())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::StoreError;
    use super::redb::RedbStore;
    use super::redis::RedisStore;

    #[tokio::test]
    async fn a_refused_redis_connection_is_retryable_and_keeps_its_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Nothing listens there once the listener above is dropped.
        let url = format!("redis://127.0.0.1:{port}/");
        let Err(e) = RedisStore::connect(&url, "t:", None).await else {
            panic!("connected to a closed port");
        };
        assert!(e.is_retryable(), "{e}");
        let cause = e.source().expect("the cause");
        assert!(
            cause.downcast_ref::<::redis::RedisError>().is_some(),
            "{cause}"
        );
        assert!(e.to_string().contains(&port.to_string()), "{e}");
    }

    #[test]
    fn a_store_file_that_cannot_be_opened_is_not_retryable() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be.
        let e: StoreError = match RedbStore::open(dir.path()) {
            Err(e) => e,
            Ok(_) => panic!("opened a directory as a store"),
        };
        assert!(!e.is_retryable(), "{e}");
        assert!(e.source().is_some());
        assert!(e.to_string().contains("damaged file"), "{e}");
    }
}
