//! The embedded store's single writer (group commit). Every write runs on one thread; the
//! writes that queue up while a transaction commits share the next transaction, so a busy
//! gateway pays one fsync per batch instead of one per write (an SMPP transport with
//! receipts writes an id mapping per accepted part). A write returns only after the commit
//! that holds it; when one write or the commit fails, every write of that batch fails and
//! none is applied.
//!
//! Written here rather than taken from a crate: redb has no group commit of its own, and the
//! embedded bus's spool (`bus/embedded/spool.rs`) batches typed records, not closures.

use crate::store::telemetry::Committed;
use richmond_drivers::telemetry::Event as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use redb::Database;

use super::{HASHES, INDEX_EXPIRY, INDEX_ORDER, INDEX_SCORES, IndexTables, VALUES};
use crate::store::StoreError;

/// Writes per transaction at most.
const MAX_BATCH: usize = 512;

/// Every table, open in one write transaction.
pub(super) struct Tables<'t> {
    pub(super) values: redb::Table<'t, &'static str, &'static [u8]>,
    pub(super) hashes: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    pub(super) index: IndexTables<'t>,
}

/// What a job left to do once its batch is committed (or not).
pub(super) struct Step {
    /// The job's own failure: the batch is then rolled back.
    pub(super) failed: Option<String>,
    /// Told the batch's outcome.
    pub(super) done: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// One write: runs in the batch's transaction, or is told why there is none.
pub(super) type Job = Box<dyn FnOnce(Result<&mut Tables<'_>, &StoreError>) -> Step + Send>;

/// The writer thread and its queue; dropping it finishes the queued writes and joins.
pub(super) struct Writer {
    queue: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Transactions committed so far.
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// When the operating system refuses a new thread.
    pub(super) fn start(db: Arc<RwLock<Database>>, location: Arc<str>) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(&db, &location, &rx, &counter))?;
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            commits,
        })
    }

    /// Whether the writer thread still runs.
    pub(super) fn alive(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `job`; false when the writer has stopped.
    pub(super) fn submit(&self, job: Job) -> bool {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.as_ref().is_some_and(|q| q.send(job).is_ok())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn run(db: &RwLock<Database>, location: &str, rx: &Receiver<Job>, commits: &AtomicU64) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        Committed {
            writes: batch.len(),
        }
        .emit();
        // Held for the commit only: a compaction takes the database alone between batches.
        let db = db.read().unwrap_or_else(PoisonError::into_inner);
        commit(&db, location, batch, commits);
    }
}

fn open_tables(txn: &redb::WriteTransaction) -> Result<Tables<'_>, redb::TableError> {
    Ok(Tables {
        values: txn.open_table(VALUES)?,
        hashes: txn.open_table(HASHES)?,
        index: IndexTables {
            order: txn.open_table(INDEX_ORDER)?,
            scores: txn.open_table(INDEX_SCORES)?,
            expiry: txn.open_table(INDEX_EXPIRY)?,
        },
    })
}

/// Runs `batch` in one transaction; counts a commit in `commits` before any of its writers
/// is told (so a writer that saw its write done also sees it counted).
fn commit(db: &Database, location: &str, batch: Vec<Job>, commits: &AtomicU64) {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| {
        StoreError::unavailable(location.to_owned(), e)
    };
    let fail_all = |batch: Vec<Job>, e: StoreError| {
        for job in batch {
            (job(Err(&e)).done)(Err(e.clone()));
        }
    };
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            fail_all(batch, err(e.into()));
            return;
        }
    };
    let mut tables = match open_tables(&txn) {
        Ok(t) => t,
        Err(e) => {
            fail_all(batch, err(e.into()));
            return;
        }
    };
    // A panicking write fails its batch instead of ending the writer thread (and with it
    // every later write); its caller sees its channel closed.
    let steps: Vec<Step> = batch
        .into_iter()
        .map(|job| {
            std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(&mut tables)))).unwrap_or_else(
                |_| Step {
                    failed: Some("a write panicked".into()),
                    done: Box::new(|_| {}),
                },
            )
        })
        .collect();
    drop(tables);
    let outcome = match steps.iter().find_map(|s| s.failed.as_deref()) {
        Some(failure) => {
            let e = err(format!("a write failed, its batch was rolled back: {failure}").into());
            let _ = txn.abort();
            Err(e)
        }
        None => txn.commit().map_err(|e| err(e.into())),
    };
    if outcome.is_ok() {
        commits.fetch_add(1, Ordering::Relaxed);
    }
    for step in steps {
        (step.done)(outcome.clone());
    }
}

#[cfg(test)]
mod tests;
