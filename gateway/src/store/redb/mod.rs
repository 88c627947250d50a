//! The embedded state store: `<data_dir>/store.redb`. Values carry their expiry (µs since the
//! epoch, little-endian, before the value); expired entries read as absent and are purged by
//! [`RedbStore::purge_expired`], which the gateway runs periodically. Writes are durable and
//! group-committed by one writer thread ([`writer`]); reads run on the blocking pool.

mod index;
mod purge;
mod writer;

use index::IndexTables;

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;

const VALUES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("values");
const HASHES: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("hashes");
/// Sorted indexes: (key, score, member) in order, member → score, and each index's expiry.
const INDEX_ORDER: TableDefinition<'_, (&str, i64, &str), ()> = TableDefinition::new("index_order");
const INDEX_SCORES: TableDefinition<'_, (&str, &str), i64> = TableDefinition::new("index_scores");
const INDEX_EXPIRY: TableDefinition<'_, &str, i64> = TableDefinition::new("index_expiry");
/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "store.redb";

/// The redb-backed store; clones share the database.
#[derive(Clone)]
pub struct RedbStore {
    /// Shared for reads and commits; taken alone only to compact (see [`purge`]).
    db: Arc<RwLock<Database>>,
    location: Arc<str>,
    writer: Arc<writer::Writer>,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn with_expiry(value: &[u8], ttl: Duration) -> Vec<u8> {
    let expiry = now_micros().saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&expiry.to_le_bytes());
    v.extend_from_slice(value);
    v
}

/// The value if it has not expired.
fn live(raw: &[u8], now: i64) -> Option<Vec<u8>> {
    let expiry = i64::from_le_bytes(raw.get(..8)?.try_into().ok()?);
    (expiry > now).then(|| raw[8..].to_vec())
}

impl RedbStore {
    /// Opens or creates the store file.
    ///
    /// # Errors
    /// When the file is in use or unreadable; the message names the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, 64 * 1024 * 1024)
    }

    /// [`open`](Self::open) with at most `cache_bytes` of page cache in memory.
    ///
    /// # Errors
    /// When the file is in use or unreadable; the message names the file.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(path, e))?;
        }
        let mut db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| unavailable(path, e))?;
        if let Err(e) = crate::compact::compact_if_worth(
            &mut db,
            path,
            "store",
            crate::compact::MIN_COMPACT_BYTES,
        ) {
            tracing::warn!(message = "Data file compaction failed; the file is used as it is.", file = "store", error = %e);
        }
        create_tables(&db).map_err(|e| unavailable(path, e))?;
        let db = Arc::new(RwLock::new(db));
        let location: Arc<str> = path.display().to_string().into();
        let writer = writer::Writer::start(db.clone(), location.clone()).map_err(|e| {
            StoreError::unavailable(
                location.to_string(),
                format!("cannot start the writer thread: {e}"),
            )
        })?;
        Ok(Self {
            writer: Arc::new(writer),
            db,
            location,
        })
    }

    /// Write transactions committed since the store was opened: with group commit, fewer
    /// than writes under concurrent load.
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    /// The database for a read or a commit (a compaction waits until the guard is dropped).
    fn read_db(&self) -> RwLockReadGuard<'_, Database> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::unavailable(self.location.to_string(), e)
    }

    /// Queues `f` for the writer's next transaction at once (not on first poll); the future
    /// completes once that transaction is committed, or failed.
    fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&mut writer::Tables<'_>) -> Result<T, redb::StorageError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let location = self.location.clone();
        let failed = move |cause: Box<dyn std::error::Error + Send + Sync>| {
            StoreError::unavailable(location.to_string(), cause)
        };
        let job_failed = failed.clone();
        let job: writer::Job = Box::new(move |tables| {
            let result = match tables {
                Ok(t) => f(t).map_err(|e| job_failed(e.into())),
                Err(e) => Err(e.clone()),
            };
            match result {
                Ok(out) => writer::Step {
                    failed: None,
                    done: Box::new(move |r| {
                        let _ = tx.send(r.map(|()| out));
                    }),
                },
                Err(e) => writer::Step {
                    failed: Some(e.to_string()),
                    done: Box::new(move |_| {
                        let _ = tx.send(Err(e));
                    }),
                },
            }
        });
        let submitted = self.writer.submit(job);
        async move {
            if !submitted {
                return Err(failed("the store writer has stopped".into()));
            }
            rx.await
                .map_err(|_| failed("the store writer stopped before the commit".into()))?
        }
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(
            &mut redb::Table<'_, &str, &[u8]>,
            &mut redb::Table<'_, (&str, &str), &[u8]>,
        ) -> Result<T, redb::StorageError>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        self.run(move |t| f(&mut t.values, &mut t.hashes)).await
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), with_expiry(value, ttl));
        self.write(move |v, _| v.insert(key.as_str(), value.as_slice()).map(drop))
            .await
    }

    /// Applies `writes` in order in one transaction (one commit): all or none.
    pub(crate) async fn write_batch(&self, writes: Vec<super::Write>) -> Result<(), StoreError> {
        use super::Write;
        let now = now_micros();
        let expiry = move |ttl: Duration| {
            now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX))
        };
        self.run(move |t| {
            for w in writes {
                match w {
                    Write::Put { key, value, ttl } => {
                        t.values
                            .insert(key.as_str(), with_expiry(&value, ttl).as_slice())?;
                    }
                    Write::Delete { key } => {
                        t.values.remove(key.as_str())?;
                    }
                    Write::IndexAdd {
                        key,
                        member,
                        score,
                        ttl,
                    } => t.index.add(&key, &member, score, expiry(ttl))?,
                    Write::IndexRemove { key, member } => t.index.remove(&key, &member)?,
                    Write::IndexTrim { key, below } => {
                        t.index.trim(&key, below)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let this = self.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let db = this.read_db();
            let txn = db.begin_read().map_err(|e| this.err(e))?;
            let table = txn.open_table(VALUES).map_err(|e| this.err(e))?;
            let raw = table.get(key.as_str()).map_err(|e| this.err(e))?;
            Ok(raw.and_then(|r| live(r.value(), now_micros())))
        })
        .await
        .map_err(|e| self.err(e))?
    }

    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.write(move |v, _| {
            let raw = v.remove(key.as_str())?;
            Ok(raw.and_then(|r| live(r.value(), now_micros())))
        })
        .await
    }

    pub(crate) async fn delete(&self, key_ref: &str) -> Result<(), StoreError> {
        let key = key_ref.to_owned();
        self.write(move |v, h| {
            v.remove(key.as_str())?;
            h.retain_in((key.as_str(), "")..=(key.as_str(), "\u{10FFFF}"), |_, _| {
                false
            })?;
            Ok(())
        })
        .await?;
        let index_key = key_ref.to_owned();
        self.index_write(move |t| t.clear(&index_key)).await
    }

    pub(crate) async fn hash_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        let (key, field, value) = (key.to_owned(), field.to_owned(), with_expiry(value, ttl));
        let expiry = value[..8].to_vec();
        self.write(move |_, h| {
            let now = now_micros();
            h.retain_in((key.as_str(), "")..=(key.as_str(), "\u{10FFFF}"), |_, v| {
                live(v, now).is_some()
            })?;
            h.insert((key.as_str(), field.as_str()), value.as_slice())?;
            // Renew the whole hash's expiry, as Redis's PEXPIRE does.
            let fields: Vec<(String, Vec<u8>)> = h
                .range((key.as_str(), "")..=(key.as_str(), "\u{10FFFF}"))?
                .filter_map(Result::ok)
                .map(|(k, v)| (k.value().1.to_owned(), v.value()[8..].to_vec()))
                .collect();
            for (f, v) in &fields {
                let mut nv = expiry.clone();
                nv.extend_from_slice(v);
                h.insert((key.as_str(), f.as_str()), nv.as_slice())?;
            }
            Ok(fields.len())
        })
        .await
    }

    pub(crate) async fn hash_get_all(
        &self,
        key: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let this = self.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let db = this.read_db();
            let txn = db.begin_read().map_err(|e| this.err(e))?;
            let table = txn.open_table(HASHES).map_err(|e| this.err(e))?;
            let now = now_micros();
            let mut out = Vec::new();
            for row in table
                .range((key.as_str(), "")..=(key.as_str(), "\u{10FFFF}"))
                .map_err(|e| this.err(e))?
            {
                let (k, v) = row.map_err(|e| this.err(e))?;
                if let Some(val) = live(v.value(), now) {
                    out.push((k.value().1.to_owned(), val));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| self.err(e))?
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        if self.writer.alive() {
            Ok(())
        } else {
            Err(self.err("the store writer thread has stopped"))
        }
    }
}

impl RedbStore {
    async fn index_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut IndexTables<'_>) -> Result<T, redb::StorageError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(move |t| f(&mut t.index)).await
    }

    pub(crate) async fn index_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (key, member) = (key.to_owned(), member.to_owned());
        let expiry =
            now_micros().saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
        self.index_write(move |t| t.add(&key, &member, score, expiry))
            .await
    }

    pub(crate) async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let (key, member) = (key.to_owned(), member.to_owned());
        self.index_write(move |t| t.remove(&key, &member)).await
    }

    pub(crate) async fn index_trim(&self, key: &str, below: i64) -> Result<usize, StoreError> {
        let key = key.to_owned();
        self.index_write(move |t| t.trim(&key, below)).await
    }

    /// Whether index `key` is set and not expired, in read transaction `txn`.
    fn index_live(&self, txn: &redb::ReadTransaction, key: &str) -> Result<bool, StoreError> {
        let expiry = txn.open_table(INDEX_EXPIRY).map_err(|e| self.err(e))?;
        Ok(expiry
            .get(key)
            .map_err(|e| self.err(e))?
            .is_some_and(|e| e.value() > now_micros()))
    }

    pub(crate) async fn index_range(
        &self,
        key: &str,
        min: i64,
        max: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let this = self.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let db = this.read_db();
            let txn = db.begin_read().map_err(|e| this.err(e))?;
            let live = this.index_live(&txn, &key)?;
            if !live || min > max {
                return Ok(Vec::new());
            }
            let order = txn.open_table(INDEX_ORDER).map_err(|e| this.err(e))?;
            let mut out = Vec::new();
            for row in order
                .range((key.as_str(), min, "")..=(key.as_str(), max, "\u{10FFFF}"))
                .map_err(|e| this.err(e))?
                .take(limit)
            {
                let (k, _) = row.map_err(|e| this.err(e))?;
                out.push((k.value().2.to_owned(), k.value().1));
            }
            Ok(out)
        })
        .await
        .map_err(|e| self.err(e))?
    }

    pub(crate) async fn index_len(&self, key: &str, at_most: usize) -> Result<usize, StoreError> {
        let this = self.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let db = this.read_db();
            let txn = db.begin_read().map_err(|e| this.err(e))?;
            let live = this.index_live(&txn, &key)?;
            if !live {
                return Ok(0);
            }
            let scores = txn.open_table(INDEX_SCORES).map_err(|e| this.err(e))?;
            let rows = scores
                .range((key.as_str(), "")..=(key.as_str(), "\u{10FFFF}"))
                .map_err(|e| this.err(e))?;
            Ok(rows.take(at_most).count())
        })
        .await
        .map_err(|e| self.err(e))?
    }
}

/// Creates every table, so readers find them before the first write.
fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(VALUES)?;
    txn.open_table(HASHES)?;
    txn.open_table(INDEX_ORDER)?;
    txn.open_table(INDEX_SCORES)?;
    txn.open_table(INDEX_EXPIRY)?;
    txn.commit()?;
    Ok(())
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(
        path.display().to_string(),
        format!("{e} (another richmond using the same data_dir, or a damaged file)"),
    )
}
