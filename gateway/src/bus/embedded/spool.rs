//! The embedded bus's durable spool: one redb file, `<data_dir>/spool.redb`, holding every
//! message that was accepted and not yet acknowledged.
//!
//! A single writer thread owns the write side and does group commit: it takes every operation
//! waiting in its channel (puts and deletes from any number of publishers and consumers), applies
//! them in one write transaction and commits once, so durability costs one fsync per batch. A
//! put's completion is signalled only after that commit returned. With
//! [`Durability::None`](crate::config::Durability) commits skip the fsync, and a durable commit
//! is forced at least every [`RELAXED_SYNC_INTERVAL`].
//!
//! Record layout (value of the `messages` table, key = global sequence number):
//! `[queue name length: u8][queue name][enqueued at: i64 LE µs since epoch][body]`.
//! The writer thread also compacts the file between batches when its [`Compaction`] cool-down
//! allows (`crate::compact`): it holds the database alone, so nothing else is stopped but the
//! writes waiting behind it.
//!
//! Not handled here: queue limits and delivery state (see `super`).

use crate::bus::telemetry::SpoolCommitted;
use richmond_drivers::telemetry::Event as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::bus::BusError;
use crate::config::Durability;

const MESSAGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("messages");
/// Most operations folded into one transaction.
const MAX_BATCH: usize = 4096;
/// In relaxed mode, the longest time between two durable commits.
pub const RELAXED_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The spool's file name inside the data directory.
pub const FILE_NAME: &str = "spool.redb";

/// When the writer compacts the running spool.
pub(crate) struct Compaction {
    pub(crate) cooldown: crate::compact::Cooldown,
    /// Files smaller than this are left as they are.
    pub(crate) min_bytes: u64,
}

impl Compaction {
    /// Compaction every `interval` at most (0: never while running), of files from
    /// [`MIN_COMPACT_BYTES`](crate::compact::MIN_COMPACT_BYTES).
    pub(crate) fn every(interval: Duration) -> Self {
        Self {
            cooldown: crate::compact::Cooldown::new(interval, Instant::now()),
            min_bytes: crate::compact::MIN_COMPACT_BYTES,
        }
    }
}

/// How long an idle writer waits for work before it checks whether to compact.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// One message read back from the spool at start.
pub(crate) struct Recovered {
    pub(crate) seq: u64,
    pub(crate) queue: String,
    pub(crate) enqueued_micros: i64,
    pub(crate) body: Bytes,
}

enum Op {
    /// Messages written together, in one transaction.
    Put {
        records: Vec<(u64, Vec<u8>)>,
        done: oneshot::Sender<Result<(), BusError>>,
    },
    Delete {
        seq: u64,
    },
    Flush {
        done: oneshot::Sender<Result<(), BusError>>,
    },
}

/// Handle to the writer thread.
pub(crate) struct Spool {
    tx: Option<mpsc::Sender<Op>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    fail_next_commit: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
}

/// Encodes a spool record.
pub(crate) fn encode_record(queue: &str, enqueued_micros: i64, body: &[u8]) -> Vec<u8> {
    let q = queue.as_bytes();
    let qlen = q.len().min(255);
    let mut v = Vec::with_capacity(1 + qlen + 8 + body.len());
    v.push(qlen as u8);
    v.extend_from_slice(&q[..qlen]);
    v.extend_from_slice(&enqueued_micros.to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn decode_record(v: &[u8]) -> Option<(String, i64, &[u8])> {
    let (&qlen, rest) = v.split_first()?;
    let qlen = usize::from(qlen);
    let name = std::str::from_utf8(rest.get(..qlen)?).ok()?;
    let ts: [u8; 8] = rest.get(qlen..qlen + 8)?.try_into().ok()?;
    Some((
        name.to_owned(),
        i64::from_le_bytes(ts),
        rest.get(qlen + 8..)?,
    ))
}

fn spool_error(path: &Path, detail: impl std::fmt::Display) -> BusError {
    BusError::Spool {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Opens (or creates) the spool file, explaining what to do when it cannot be used.
fn open_db(path: &Path, cache_bytes: usize) -> Result<Database, BusError> {
    Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => spool_error(
                path,
                "already in use by another richmond process (each data_dir serves one gateway)",
            ),
            other => spool_error(
                path,
                format!(
                    "cannot be opened ({other}); the file is truncated or corrupt. Stop every \
                 richmond using it, move the file aside (its messages are then not delivered; \
                 keep it for inspection) and start again with an empty spool"
                ),
            ),
        })
}

impl Spool {
    /// Opens the spool and reads back every message still in it, in publish order.
    pub(crate) fn open(
        path: &Path,
        durability: Durability,
        cache_bytes: usize,
        compaction: Compaction,
    ) -> Result<(Self, Vec<Recovered>), BusError> {
        let mut db = open_db(path, cache_bytes)?;
        if let Err(e) = crate::compact::compact_if_worth(
            &mut db,
            path,
            "spool",
            crate::compact::MIN_COMPACT_BYTES,
        ) {
            tracing::warn!(message = "Data file compaction failed; the file is used as it is.", file = "spool", error = %e);
        }
        let recovered = read_all(&db, path)?;
        let (tx, rx) = mpsc::channel();
        let fail_next_commit = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            db,
            durability,
            path: path.to_owned(),
            fail: fail_next_commit.clone(),
            commits: commits.clone(),
            compaction,
        };
        let thread = std::thread::Builder::new()
            .name("richmond-spool".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| spool_error(path, format!("cannot start the writer thread: {e}")))?;
        let spool = Self {
            tx: Some(tx),
            thread: Some(thread),
            path: path.to_owned(),
            fail_next_commit,
            commits,
        };
        Ok((spool, recovered))
    }

    /// Writes messages (`(seq, record)`) in one transaction; the receiver fires once they are
    /// committed.
    pub(crate) fn put(
        &self,
        records: Vec<(u64, Vec<u8>)>,
    ) -> oneshot::Receiver<Result<(), BusError>> {
        let (done, rx) = oneshot::channel();
        if let Some(tx) = &self.tx {
            if let Err(mpsc::SendError(Op::Put { done, .. })) = tx.send(Op::Put { records, done }) {
                let _ = done.send(Err(BusError::Closed));
            }
        } else {
            let _ = done.send(Err(BusError::Closed));
        }
        rx
    }

    /// Removes an acknowledged message (batched with the next commit; a lost delete only
    /// means a redelivery after a crash).
    pub(crate) fn delete(&self, seq: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Op::Delete { seq });
        }
    }

    /// Waits for everything sent so far to be durably committed.
    pub(crate) async fn flush(&self) -> Result<(), BusError> {
        let (done, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(BusError::Closed)?;
        tx.send(Op::Flush { done }).map_err(|_| BusError::Closed)?;
        rx.await.map_err(|_| BusError::Closed)?
    }

    /// Test hook: the next commit fails as a full disk would, and its puts report errors.
    pub(crate) fn fail_next_commit(&self) {
        self.fail_next_commit.store(true, Ordering::SeqCst);
    }

    /// Transactions committed so far (group commit makes this far smaller than the number of
    /// operations under concurrent load).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it committed what it had.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_all(db: &Database, path: &Path) -> Result<Vec<Recovered>, BusError> {
    let txn = db.begin_read().map_err(|e| spool_error(path, e))?;
    let table = match txn.open_table(MESSAGES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(spool_error(path, e)),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(|e| spool_error(path, e))? {
        let (k, v) = row.map_err(|e| spool_error(path, e))?;
        let (queue, enqueued_micros, body) = decode_record(v.value())
            .ok_or_else(|| spool_error(path, format!("record {} is corrupt", k.value())))?;
        out.push(Recovered {
            seq: k.value(),
            queue,
            enqueued_micros,
            body: Bytes::copy_from_slice(body),
        });
    }
    Ok(out)
}

struct Writer {
    db: Database,
    durability: Durability,
    path: PathBuf,
    fail: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    compaction: Compaction,
}

impl Writer {
    fn run(mut self, rx: &mpsc::Receiver<Op>) {
        let mut last_sync = Instant::now();
        let mut dirty = false;
        loop {
            let first = if self.durability == Durability::None && dirty {
                match rx.recv_timeout(RELAXED_SYNC_INTERVAL.saturating_sub(last_sync.elapsed())) {
                    Ok(op) => Some(op),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv_timeout(IDLE_CHECK) {
                    Ok(op) => Some(op),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.compact_when_due();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut batch: Vec<Op> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let force_sync = batch.iter().any(|op| matches!(op, Op::Flush { .. }))
                || last_sync.elapsed() >= RELAXED_SYNC_INTERVAL;
            let sync = self.durability == Durability::Sync || force_sync;
            let result = self.commit(&batch, sync);
            if result.is_ok() {
                if sync {
                    last_sync = Instant::now();
                    dirty = false;
                } else {
                    dirty = true;
                }
            }
            for op in batch {
                match op {
                    Op::Put { done, .. } | Op::Flush { done } => {
                        let _ = done.send(result.clone());
                    }
                    Op::Delete { .. } => {}
                }
            }
            self.compact_when_due();
        }
        // Channel closed: make what was committed without sync durable.
        if dirty {
            let _ = self.commit(&[], true);
        }
    }

    /// Compacts the file when the cool-down has a check due and decides to
    /// ([`crate::compact::when_due`]); a failure is logged and the file used as it is.
    fn compact_when_due(&mut self) {
        let (path, c) = (&self.path, &mut self.compaction);
        let min_bytes = c.min_bytes;
        let result = crate::compact::when_due(
            &mut c.cooldown,
            Instant::now(),
            "spool",
            &mut self.db,
            |db| crate::compact::worth(db, path, min_bytes),
            |db| crate::compact::compact(db, path, "spool"),
        );
        if let Err(e) = result {
            tracing::warn!(message = "Data file compaction failed; the file is used as it is.", file = "spool", error = %e);
        }
    }

    fn commit(&self, batch: &[Op], sync: bool) -> Result<(), BusError> {
        let started = Instant::now();
        let err =
            |e: &dyn std::fmt::Display| spool_error(&self.path, format!("commit failed: {e}"));
        let mut txn = self.db.begin_write().map_err(|e| err(&e))?;
        let level = if sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        txn.set_durability(level).map_err(|e| err(&e))?;
        {
            let mut table = txn.open_table(MESSAGES).map_err(|e| err(&e))?;
            for op in batch {
                match op {
                    Op::Put { records, .. } => {
                        for (seq, record) in records {
                            table.insert(*seq, record.as_slice()).map_err(|e| err(&e))?;
                        }
                    }
                    Op::Delete { seq } => {
                        table.remove(*seq).map_err(|e| err(&e))?;
                    }
                    Op::Flush { .. } => {}
                }
            }
        }
        if self.fail.swap(false, Ordering::SeqCst) {
            txn.abort().map_err(|e| err(&e))?;
            return Err(err(&"injected failure (test hook)"));
        }
        txn.commit().map_err(|e| err(&e))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        SpoolCommitted {
            seconds: started.elapsed().as_secs_f64(),
            batch: batch.len(),
        }
        .emit();
        Ok(())
    }
}

/// One queue's line of the status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    pub queue: String,
    pub messages: usize,
    pub bytes: usize,
    /// Enqueue time of the oldest message, µs since the epoch.
    pub oldest_micros: Option<i64>,
}

/// Per-queue depth, bytes and oldest message, read from a spool that no gateway has open.
///
/// # Errors
/// When the spool cannot be opened or read (in use, corrupt).
pub fn status(path: &Path) -> Result<Vec<QueueStatus>, BusError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    // Read once by a stopped gateway's tool: a small cache is plenty.
    let db = open_db(path, 4 * 1024 * 1024)?;
    let mut by_queue: std::collections::BTreeMap<String, (usize, usize, Option<i64>)> =
        std::collections::BTreeMap::new();
    for r in read_all(&db, path)? {
        let e = by_queue.entry(r.queue).or_default();
        e.0 += 1;
        e.1 += r.body.len();
        e.2 = Some(e.2.map_or(r.enqueued_micros, |o: i64| o.min(r.enqueued_micros)));
    }
    Ok(by_queue
        .into_iter()
        .map(|(queue, (messages, bytes, oldest_micros))| QueueStatus {
            queue,
            messages,
            bytes,
            oldest_micros,
        })
        .collect())
}

#[cfg(test)]
mod tests;
