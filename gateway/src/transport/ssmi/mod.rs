//! The TruTeq SSMI transport (`type = "ssmi"`): USSD sessions and SMS over one SSMI link,
//! as Vumi messages on `<id>.inbound`, `<id>.outbound` and `<id>.event`.
//!
//! Reference: reference/vumi.md §4 (protocol), §4.7 (Vumi's TruTeq transport) and §7 (what
//! Richmond adds). The pieces:
//!
//! * [`config`] — the options; [`map`] — pure SSMI ⇄ Vumi mapping;
//! * `inbound` — the driver's events: USSD and SMS become user messages (the dialled code of a
//!   session is kept in the store for `ussd_session_lifetime_seconds`, refreshed by each
//!   message, and becomes `to_addr`), SEQ (100) becomes `ack`, DR (104) `delivery_report`,
//!   NACK (102) `nack`;
//! * `outbound` — the `<id>.outbound` consumer: each message is written on the link (waiting
//!   while the link is down) and its delivery is acked only after its event was published.
//!
//! Events: a USSD reply gets an `ack` (with `sent_message_id` = its own id) once its line is
//! written — SSMI never answers USSD lines. An SMS gets an `ack` with `sent_message_id` = the
//! TruTeq sequence from its SEQ, or a `nack` on NACK, on no answer within
//! `response_timeout_seconds`, or when the link drops before the SEQ (the line was written,
//! so resending could duplicate it; the application decides). SSMI does not say which request
//! a NACK answers: it is matched to the oldest SMS awaiting an answer. SEQs are matched per
//! MSISDN in order (reference §4.3).
//!
//! No loss: SSMI has no acknowledgement of inbound lines, so an inbound message is held (and
//! the link not read further) until the bus owns it, retrying with backoff.

pub mod config;
mod inbound;
pub(crate) mod map;
mod outbound;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use richmond_codecs::ssmi::{Charset, NackReason};
use richmond_drivers::ssmi::client;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::SsmiConfig;

use super::Context;

/// What answered an outbound SMS.
#[derive(Debug)]
enum SmsOutcome {
    /// `SSMI,100`: accepted with this TruTeq sequence.
    Seq(String),
    /// `SSMI,102`: refused.
    Nack(NackReason),
    /// The connection ended before an answer.
    LinkLost,
}

/// An SMS written (or being written) on the link, waiting for its SEQ or NACK.
struct PendingSms {
    token: u64,
    msisdn: Bytes,
    /// The Vumi message id with the router's tag ([`crate::router::tag::stored`]), for the
    /// delivery-report mapping the SEQ creates.
    message_id: String,
    /// The line was written on the current connection. An SMS still waiting for the link
    /// (in the driver's channel) is not failed by a disconnect: it goes out on the next one.
    written: bool,
    /// Timed out and already nacked, kept so that TruTeq's late answer to it is taken by it
    /// and not by the next SMS (answers come in order).
    expired: bool,
    reply: oneshot::Sender<SmsOutcome>,
}

/// Timed-out SMS kept as placeholders for a late SEQ or NACK, at most.
const MAX_EXPIRED: usize = 64;

/// State shared by the inbound and outbound halves of one transport.
struct Shared {
    id: String,
    config: SsmiConfig,
    charset: Charset,
    ctx: Context,
    pending: Mutex<VecDeque<PendingSms>>,
    next_token: std::sync::atomic::AtomicU64,
    /// Held while an SMS is registered and written, so the pending order is the wire order.
    sms_order: tokio::sync::Mutex<()>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<PendingSms>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the oldest pending SMS to `msisdn` (any MSISDN when `None`) out of the queue;
    /// answer it with [`PendingSms::reply`].
    fn take_pending(&self, msisdn: Option<&[u8]>) -> Option<PendingSms> {
        let mut pending = self.pending();
        let found = pending
            .iter()
            .position(|p| msisdn.is_none_or(|m| p.msisdn.as_ref() == m))?;
        let taken = pending.remove(found);
        // Timed-out SMS written before this one will never be answered now: forget them.
        let mut i = 0;
        pending.retain(|p| {
            let keep = i >= found || !p.expired;
            i += 1;
            keep
        });
        taken
    }

    /// The SMS `token` timed out (it was nacked): kept as a placeholder for a late answer.
    /// At most [`MAX_EXPIRED`] are kept, the oldest dropped first.
    fn expire(&self, token: u64) {
        let mut pending = self.pending();
        if let Some(p) = pending.iter_mut().find(|p| p.token == token) {
            p.expired = true;
        }
        while pending.iter().filter(|p| p.expired).count() > MAX_EXPIRED {
            if let Some(i) = pending.iter().position(|p| p.expired) {
                pending.remove(i);
            }
        }
    }

    /// The store key of the delivery-report mapping of SEQ `sequence` to `msisdn`.
    fn dr_key(&self, msisdn: &[u8], sequence: &[u8]) -> String {
        self.key(
            "dr",
            &format!(
                "{}:{}",
                String::from_utf8_lossy(msisdn),
                String::from_utf8_lossy(sequence)
            ),
        )
    }

    /// The link dropped: every SMS written and still waiting gets [`SmsOutcome::LinkLost`].
    fn fail_pending(&self) {
        let mut pending = self.pending();
        let (lost, waiting): (VecDeque<_>, VecDeque<_>) =
            pending.drain(..).partition(|p| p.written);
        *pending = waiting;
        drop(pending);
        for p in lost {
            let _ = p.reply.send(SmsOutcome::LinkLost);
        }
    }

    fn mark_written(&self, token: u64) {
        if let Some(p) = self.pending().iter_mut().find(|p| p.token == token) {
            p.written = true;
        }
    }

    fn forget(&self, token: u64) {
        self.pending().retain(|p| p.token != token);
    }

    fn key(&self, kind: &str, rest: &str) -> String {
        format!("ssmi:{}:{kind}:{rest}", self.id)
    }
}

impl super::common::Carrier for Shared {
    // SSMI has no answer that makes the peer send a line again: hold it.
    const ON_REFUSAL: super::common::OnRefusal = super::common::OnRefusal::Hold;

    fn bus(&self) -> &crate::bus::Bus {
        &self.ctx.bus
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// Starts SSMI transport `id`: the driver task, the inbound and outbound halves and the
/// readiness latch `transport:<id>` (true while logged in).
pub(crate) fn spawn(
    id: &str,
    config: &SsmiConfig,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<(), super::StartError> {
    let task_config = config
        .task_config(id)
        .map_err(|detail| super::StartError::Config {
            id: id.to_owned(),
            detail,
        })?;
    let (handle, events, task) = client(task_config, config.max_in_flight);
    let shared = Arc::new(Shared {
        id: id.to_owned(),
        config: config.clone(),
        charset: config.charset(),
        ctx: ctx.clone(),
        pending: Mutex::new(VecDeque::new()),
        next_token: std::sync::atomic::AtomicU64::new(1),
        sms_order: tokio::sync::Mutex::new(()),
    });
    let stop_driver = CancellationToken::new();
    tracker.spawn(task.run(stop_driver.clone()));

    let mut logged_in = handle.logged_in();
    let (readiness, latch) = (ctx.readiness.clone(), format!("transport:{id}"));
    tracker.spawn(async move {
        loop {
            let up = *logged_in.borrow_and_update();
            readiness.set(&latch, up);
            if logged_in.changed().await.is_err() {
                readiness.set(&latch, false);
                return;
            }
        }
    });
    tracker.spawn(inbound::run(shared.clone(), events));
    tracker.spawn(outbound::run(shared, handle, intake.clone(), stop_driver));
    Ok(())
}
