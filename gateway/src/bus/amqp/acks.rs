//! Coalesced acknowledgements for one consumer channel (AMQP 0-9-1 `basic.ack` with
//! `multiple`; reference/../rabbitmq-performance.md: acking each delivery on its own is one of
//! the broker's largest per-message costs).
//!
//! The consume loop registers every delivery tag here before the consumer sees the delivery;
//! acks and nacks then come back from the consumer's tasks in any order. One task per channel
//! turns them into frames, in the order it decides them:
//! - a nack goes out at once, on its own;
//! - acks go out as one `basic.ack multiple` naming the highest acked tag below the lowest tag
//!   still unsettled (covering every acked tag up to it);
//! - acks above an unsettled tag wait at most [`FLUSH`] for it, then go out one by one, so a
//!   slow message never holds back the prefetch window;
//! - when the consumer ends, [`Acks::flush`] sends what waits before the channel closes.
//!
//! One task and one order make two broker errors impossible: a `multiple` ack never names a
//! tag already acked (each tag is named at most once), and never covers a tag whose nack has
//! not gone out (the nack is sent before anything decided after it). Written here: lapin acks
//! one delivery per call and has no coalescing of its own.

use crate::bus::telemetry::AckFrame;
use richmond_drivers::telemetry::Event as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::bus::BusError;

/// How long an ack may wait for the unsettled deliveries below it.
pub(crate) const FLUSH: Duration = Duration::from_millis(5);

enum Msg {
    Delivered(u64),
    Ack(u64, lapin::Acker),
    Nack(u64, lapin::Acker, bool),
    Flush(oneshot::Sender<()>),
}

/// The acknowledgement task of one consumer channel; clones share it.
#[derive(Clone)]
pub(crate) struct Acks {
    tx: mpsc::UnboundedSender<Msg>,
}

/// One delivery's handle back to its channel's [`Acks`].
pub(crate) struct AmqpAcker {
    tag: u64,
    acker: lapin::Acker,
    acks: Acks,
}

impl AmqpAcker {
    pub(crate) fn ack(self) -> Result<(), BusError> {
        self.acks.send(Msg::Ack(self.tag, self.acker))
    }

    pub(crate) fn nack(self, requeue: bool) -> Result<(), BusError> {
        self.acks.send(Msg::Nack(self.tag, self.acker, requeue))
    }
}

impl Acks {
    /// Starts the task for a new channel.
    pub(crate) fn start(queue: &str) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, queue.to_owned()));
        Self { tx }
    }

    /// Registers delivery `tag` (before anyone can settle it) and returns its handle.
    pub(crate) fn delivered(&self, tag: u64, acker: lapin::Acker) -> AmqpAcker {
        let _ = self.tx.send(Msg::Delivered(tag));
        AmqpAcker {
            tag,
            acker,
            acks: self.clone(),
        }
    }

    /// Sends every ack still waiting; returns once they are out.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    fn send(&self, msg: Msg) -> Result<(), BusError> {
        let usable = match &msg {
            Msg::Ack(_, a) | Msg::Nack(_, a, _) => a.usable(),
            Msg::Delivered(_) | Msg::Flush(_) => true,
        };
        if !usable {
            return Err(BusError::Settle("the delivery's channel is closed".into()));
        }
        self.tx
            .send(msg)
            .map_err(|_| BusError::Settle("the delivery's channel is gone".into()))
    }
}

/// What the task knows about its channel.
#[derive(Default)]
struct State {
    /// Delivered, neither acked nor nacked yet.
    unsettled: BTreeSet<u64>,
    /// Acked by the consumer, not yet sent.
    acked: BTreeMap<u64, lapin::Acker>,
}

async fn run(mut rx: mpsc::UnboundedReceiver<Msg>, queue: String) {
    let mut st = State::default();
    // When the oldest ack still waiting must go out.
    let mut deadline: Option<Instant> = None;
    loop {
        let msg = match deadline {
            None => rx.recv().await,
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    send_singly(&mut st, &queue).await;
                    deadline = None;
                    continue;
                }
            },
        };
        let Some(msg) = msg else {
            // Every handle is gone: nothing can settle any more.
            send_singly(&mut st, &queue).await;
            return;
        };
        let mut flushed = Vec::new();
        apply(&mut st, msg, &mut flushed, &queue).await;
        while let Ok(msg) = rx.try_recv() {
            apply(&mut st, msg, &mut flushed, &queue).await;
        }
        send_prefix(&mut st, &queue).await;
        if !flushed.is_empty() {
            send_singly(&mut st, &queue).await;
            for done in flushed {
                let _ = done.send(());
            }
        }
        deadline = match (st.acked.is_empty(), deadline) {
            (true, _) => None,
            (false, None) => Some(Instant::now() + FLUSH),
            (false, Some(d)) if d <= Instant::now() => {
                send_singly(&mut st, &queue).await;
                None
            }
            (false, keep) => keep,
        };
    }
}

async fn apply(st: &mut State, msg: Msg, flushed: &mut Vec<oneshot::Sender<()>>, queue: &str) {
    match msg {
        Msg::Delivered(tag) => {
            st.unsettled.insert(tag);
        }
        Msg::Ack(tag, acker) => {
            st.unsettled.remove(&tag);
            st.acked.insert(tag, acker);
        }
        Msg::Nack(tag, acker, requeue) => {
            let options = BasicNackOptions {
                requeue,
                ..BasicNackOptions::default()
            };
            if let Err(e) = acker.nack(options).await {
                tracing::warn!(message = "Nack not sent; the broker will redeliver.", queue = %queue, error = %e);
            }
            st.unsettled.remove(&tag);
        }
        Msg::Flush(done) => flushed.push(done),
    }
}

/// One `multiple` ack for every acked tag below the lowest unsettled one.
async fn send_prefix(st: &mut State, queue: &str) {
    let below = st.unsettled.first().copied().unwrap_or(u64::MAX);
    let rest = st.acked.split_off(&below);
    let prefix = std::mem::replace(&mut st.acked, rest);
    let count = prefix.len();
    if let Some((_, acker)) = prefix.into_iter().next_back() {
        let multiple = BasicAckOptions { multiple: true };
        AckFrame {
            multiple: Some(count),
        }
        .emit();
        if let Err(e) = acker.ack(multiple).await {
            tracing::warn!(message = "Ack not sent; the broker will redeliver.", queue = %queue, error = %e);
        }
    }
}

/// Every waiting ack on its own (the deliveries below them are still being worked on).
async fn send_singly(st: &mut State, queue: &str) {
    for (_, acker) in std::mem::take(&mut st.acked) {
        AckFrame { multiple: None }.emit();
        if let Err(e) = acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(message = "Ack not sent; the broker will redeliver.", queue = %queue, error = %e);
        }
    }
}
