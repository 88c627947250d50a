//! The embedded bus: in-process queues with RabbitMQ's semantics (competing consumers,
//! explicit ack, nack with or without requeue, redelivery of what was never acked) over the
//! durable [`spool`], so `richmond run` needs no broker and loses nothing when killed.
//!
//! Every queue is bounded in messages and bytes (ready + unacked): a publisher to a full
//! queue waits until consumers ack, so back-pressure reaches the carrier side (drivers stop
//! reading, the HTTP API answers 503) instead of memory growing. Messages found in the spool
//! at start are delivered again with `redelivered` set. A delivery dropped without being
//! settled goes back to the front of its queue.

pub mod spool;

use crate::bus::telemetry::QueueSize;
use richmond_drivers::telemetry::Event as _;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use super::{Acker, BusError, Delivery};
use crate::config::EmbeddedBusConfig;
use spool::Spool;

/// The embedded bus; clones share the same queues.
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

struct Inner {
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    spool: Spool,
    next_seq: AtomicU64,
    max_messages: usize,
    max_bytes: usize,
    closed: AtomicBool,
}

struct Queue {
    name: String,
    state: Mutex<QueueState>,
    /// Signalled when a message becomes ready.
    ready: Notify,
    /// Signalled when room is freed.
    space: Notify,
}

#[derive(Default)]
struct QueueState {
    ready: VecDeque<Entry>,
    unacked: HashMap<u64, Entry>,
    messages: usize,
    bytes: usize,
    /// Publishers waiting for room.
    waiting: usize,
}

/// A publisher counted in [`QueueState::waiting`] until dropped.
struct Waiting<'q>(&'q Queue);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).waiting -= 1;
    }
}

struct Entry {
    seq: u64,
    body: Bytes,
    redelivered: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: Mutex::new(QueueState::default()),
            ready: Notify::new(),
            space: Notify::new(),
        }
    }

    fn report(&self, st: &QueueState) {
        QueueSize {
            queue: &self.name,
            messages: st.messages,
            bytes: st.bytes,
        }
        .emit();
    }
}

impl EmbeddedBus {
    /// Opens the spool in `data_dir` (creating both if needed) and restores what it holds.
    ///
    /// # Errors
    /// When the data directory or the spool cannot be used; the message says what to do.
    pub fn open(data_dir: &Path, config: &EmbeddedBusConfig) -> Result<Self, BusError> {
        std::fs::create_dir_all(data_dir).map_err(|e| BusError::Spool {
            path: data_dir.display().to_string(),
            detail: format!("cannot create the data directory: {e}"),
        })?;
        let (spool, recovered) = Spool::open(
            &data_dir.join(spool::FILE_NAME),
            config.durability,
            config.cache_bytes,
            spool::Compaction::every(std::time::Duration::from_secs(
                config.compact_interval_seconds,
            )),
        )?;
        let mut queues: HashMap<String, Arc<Queue>> = HashMap::new();
        let mut max_seq = 0;
        let count = recovered.len();
        for r in recovered {
            max_seq = max_seq.max(r.seq);
            let q = queues
                .entry(r.queue.clone())
                .or_insert_with(|| Arc::new(Queue::new(&r.queue)));
            let mut st = lock(&q.state);
            st.messages += 1;
            st.bytes += r.body.len();
            st.ready.push_back(Entry {
                seq: r.seq,
                body: r.body,
                redelivered: true,
            });
        }
        for q in queues.values() {
            q.report(&lock(&q.state));
        }
        if count > 0 {
            tracing::info!(message = "Restored messages from the spool.", count, path = %spool.path().display());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                queues: Mutex::new(queues),
                spool,
                next_seq: AtomicU64::new(max_seq + 1),
                max_messages: config.max_queue_messages,
                max_bytes: config.max_queue_bytes,
                closed: AtomicBool::new(false),
            }),
        })
    }

    fn queue(&self, name: &str) -> Arc<Queue> {
        lock(&self.inner.queues)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let q = Arc::new(Queue::new(name));
                q.report(&QueueState::default());
                q
            })
            .clone()
    }

    /// Creates the queues if they do not exist yet.
    pub fn declare_queues(&self, names: &[String]) {
        for n in names {
            self.queue(n);
        }
    }

    /// Spools `body` for `routing_key`, waiting for room first; returns after the commit.
    ///
    /// # Errors
    /// [`BusError::Closed`] after [`close`](Self::close); a spool error when the write
    /// failed (the message was not accepted).
    pub async fn publish(&self, routing_key: &str, body: Bytes) -> Result<(), BusError> {
        self.publish_batch(routing_key, vec![body], None)
            .await
            .pop()
            .unwrap_or(Err(BusError::Closed))
    }

    /// Spools `bodies` for `routing_key` in one spool transaction; one result per body, in
    /// order. Each message first needs room in the queue: they are admitted in order, and the
    /// first one still without room at `admit_by` (`None`: wait as long as it takes) and every
    /// one after it are refused with [`BusError::Busy`], never written. The admitted ones are
    /// committed together and then become deliverable.
    ///
    /// Not cancel-safe by itself (a dropped future can hold reserved room); [`crate::bus::Bus`]
    /// runs it as its own task, so callers never drop it half-way.
    pub(crate) async fn publish_batch(
        &self,
        routing_key: &str,
        bodies: Vec<Bytes>,
        admit_by: Option<tokio::time::Instant>,
    ) -> Vec<Result<(), BusError>> {
        let q = self.queue(routing_key);
        let mut admitted = 0;
        let mut refusal = None;
        for body in &bodies {
            match self.reserve(&q, body.len(), admit_by).await {
                Ok(()) => admitted += 1,
                Err(e) => {
                    refusal = Some(e);
                    break;
                }
            }
        }
        let refusal = refusal.unwrap_or(BusError::Closed);
        let mut results = Vec::with_capacity(bodies.len());
        if admitted > 0 {
            let first = self
                .inner
                .next_seq
                .fetch_add(admitted as u64, Ordering::SeqCst);
            let now = now_micros();
            let records = (first..)
                .zip(&bodies[..admitted])
                .map(|(seq, body)| (seq, spool::encode_record(routing_key, now, body)))
                .collect();
            let committed = self
                .inner
                .spool
                .put(records)
                .await
                .unwrap_or(Err(BusError::Closed));
            let mut st = lock(&q.state);
            if committed.is_ok() {
                for (seq, body) in (first..).zip(&bodies[..admitted]) {
                    st.ready.push_back(Entry {
                        seq,
                        body: body.clone(),
                        redelivered: false,
                    });
                }
                q.report(&st);
                drop(st);
                q.ready.notify_one();
            } else {
                st.messages -= admitted;
                st.bytes -= bodies[..admitted].iter().map(Bytes::len).sum::<usize>();
                drop(st);
                q.space.notify_waiters();
            }
            results.resize(admitted, committed);
        }
        results.resize(bodies.len(), Err(refusal));
        results
    }

    /// Reserves room for one message of `len` bytes in `q`, waiting until `admit_by` at most:
    /// a full queue makes the publisher wait, it never drops.
    async fn reserve(
        &self,
        q: &Queue,
        len: usize,
        admit_by: Option<tokio::time::Instant>,
    ) -> Result<(), BusError> {
        let mut counted: Option<Waiting<'_>> = None;
        loop {
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(BusError::Closed);
            }
            let notified = q.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&q.state);
                let fits = st.messages < self.inner.max_messages
                    && (st.bytes + len <= self.inner.max_bytes || st.messages == 0);
                if fits {
                    st.messages += 1;
                    st.bytes += len;
                    drop(st);
                    drop(counted);
                    return Ok(());
                }
                if counted.is_none() {
                    st.waiting += 1;
                    counted = Some(Waiting(q));
                }
            }
            match admit_by {
                None => notified.await,
                Some(at) => {
                    if tokio::time::timeout_at(at, notified).await.is_err() {
                        return Err(BusError::Busy {
                            routing_key: q.name.clone(),
                        });
                    }
                }
            }
        }
    }

    /// A consumer of `queue`; several consumers of one queue compete for its messages.
    pub fn consume(&self, queue: &str) -> EmbeddedConsumer {
        EmbeddedConsumer {
            queue: self.queue(queue),
            bus: self.inner.clone(),
        }
    }

    /// Ends every consumer and publisher, then makes the spool durable.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for q in lock(&self.inner.queues).values() {
            q.ready.notify_waiters();
            q.space.notify_waiters();
        }
        if let Err(e) = self.inner.spool.flush().await {
            tracing::warn!(message = "Final spool flush failed.", error = %e);
        }
    }

    /// Test hook: the next spool commit fails (as a full disk would).
    #[doc(hidden)]
    pub fn fail_next_commit(&self) {
        self.inner.spool.fail_next_commit();
    }

    /// Spool transactions committed since open.
    #[doc(hidden)]
    pub fn spool_commits(&self) -> u64 {
        self.inner.spool.commits()
    }

    /// Messages (ready + unacked) in `queue`.
    pub fn depth(&self, queue: &str) -> usize {
        lock(&self.queue(queue).state).messages
    }

    /// Publishers of `queue` waiting for room.
    pub fn waiting_publishers(&self, queue: &str) -> usize {
        lock(&self.queue(queue).state).waiting
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Deliveries from one embedded queue.
pub struct EmbeddedConsumer {
    queue: Arc<Queue>,
    bus: Arc<Inner>,
}

impl EmbeddedConsumer {
    /// The next message, waiting for one; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if self.bus.closed.load(Ordering::SeqCst) {
                return None;
            }
            let notified = self.queue.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&self.queue.state);
                if let Some(entry) = st.ready.pop_front() {
                    let (seq, body, redelivered) =
                        (entry.seq, entry.body.clone(), entry.redelivered);
                    st.unacked.insert(seq, entry);
                    let more = !st.ready.is_empty();
                    drop(st);
                    if more {
                        // Pass the wake-up on so a competing consumer sees the rest.
                        self.queue.ready.notify_one();
                    }
                    let acker = EmbeddedAcker {
                        queue: self.queue.clone(),
                        bus: self.bus.clone(),
                        seq,
                        settled: false,
                    };
                    return Some(Delivery::new(body, redelivered, Acker::Embedded(acker)));
                }
            }
            notified.await;
        }
    }
}

/// Settles one embedded delivery; an unsettled one is requeued when dropped.
pub(crate) struct EmbeddedAcker {
    queue: Arc<Queue>,
    bus: Arc<Inner>,
    seq: u64,
    settled: bool,
}

impl EmbeddedAcker {
    pub(crate) fn ack(mut self) -> Result<(), BusError> {
        self.settled = true;
        self.remove()
    }

    pub(crate) fn nack(mut self, requeue: bool) -> Result<(), BusError> {
        self.settled = true;
        if requeue {
            self.requeue()
        } else {
            self.remove()
        }
    }

    fn remove(&self) -> Result<(), BusError> {
        let mut st = lock(&self.queue.state);
        let entry = st
            .unacked
            .remove(&self.seq)
            .ok_or_else(|| BusError::Settle("unknown delivery".into()))?;
        st.messages -= 1;
        st.bytes -= entry.body.len();
        self.queue.report(&st);
        drop(st);
        self.bus.spool.delete(self.seq);
        self.queue.space.notify_waiters();
        Ok(())
    }

    fn requeue(&self) -> Result<(), BusError> {
        let mut st = lock(&self.queue.state);
        let mut entry = st
            .unacked
            .remove(&self.seq)
            .ok_or_else(|| BusError::Settle("unknown delivery".into()))?;
        entry.redelivered = true;
        st.ready.push_front(entry);
        drop(st);
        self.queue.ready.notify_one();
        Ok(())
    }
}

impl Drop for EmbeddedAcker {
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.requeue();
        }
    }
}

/// The `spool-status` report: one line per queue, read from the spool file.
///
/// # Errors
/// When the spool is in use by a running gateway, or unreadable.
pub fn spool_status(data_dir: &Path) -> Result<String, BusError> {
    let path = data_dir.join(spool::FILE_NAME);
    let rows = spool::status(&path)?;
    let now = now_micros();
    let mut out = format!(
        "spool {}\n{:<40} {:>10} {:>14} {:>18}\n",
        path.display(),
        "QUEUE",
        "MESSAGES",
        "BYTES",
        "OLDEST_AGE_SECONDS"
    );
    for spool::QueueStatus {
        queue,
        messages: n,
        bytes,
        oldest_micros: oldest,
    } in rows
    {
        let age = oldest.map_or_else(
            || "-".to_owned(),
            |o| format!("{:.1}", (now - o) as f64 / 1e6),
        );
        let _ = writeln!(out, "{queue:<40} {n:>10} {bytes:>14} {age:>18}");
    }
    Ok(out)
}
