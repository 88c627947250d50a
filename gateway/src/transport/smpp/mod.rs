//! The SMPP transport (`type = "smpp"`): binds to an operator's SMSC, Vumi messages on
//! `<id>.inbound`, `<id>.outbound` and `<id>.event`.
//!
//! Reference: reference/vumi.md §3 (Vumi's SMPP transport) and §5 (its users' bugs),
//! reference/smpp.md. The pieces:
//!
//! * [`config`] — the options;
//! * `outbound` — `<id>.outbound` → `submit_sm` (data_coding policy, UDH / SAR /
//!   message_payload) → `ack` / `nack`, then the delivery is acked;
//! * `inbound` — `deliver_sm` / `data_sm` → user messages (decoded per data_coding, multipart
//!   reassembled through the store) or, for receipts, `delivery_report` events through the id
//!   map in the store (so a receipt may arrive on any bind, or at another instance sharing
//!   Redis). A `deliver_sm_resp` is sent only after the bus owns the result; when it does not,
//!   the answer is `ESME_RX_T_APPN` and the SMSC redelivers.
//!
//! Binds: `binds` sessions (transceivers, or transmitter + receiver pairs), each its own
//! driver task; submits go round-robin to the transmitting binds that are up.

pub mod config;
mod inbound;
pub(crate) mod map;
mod multipart;
mod outbound;
mod shared_binds;
mod ussd;

use crate::transport::telemetry::{Smpp, SmppEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use richmond_drivers::smpp::{BindMode, Handle, client};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::SmppConfig;

#[cfg(test)]
mod tests;

use super::Context;

/// The store key mapping an SMSC message id to the Vumi message id.
pub(crate) fn receipt_key(transport: &str, smsc_id: &str) -> String {
    format!(
        "smpp:{transport}:id:{}",
        richmond_codecs::smpp::receipt::canonical_id(smsc_id)
    )
}

/// Most receipt id mappings held in memory while (or because) their store write is under way.
pub(crate) const MAX_UNSTORED: usize = 100_000;

/// A receipt id mapping not yet in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unstored {
    pub(crate) message_id: String,
    /// A final receipt matched it meanwhile: once written, keep it only for the grace.
    pub(crate) finished: bool,
}

impl From<&str> for Unstored {
    fn from(message_id: &str) -> Self {
        Self {
            message_id: message_id.to_owned(),
            finished: false,
        }
    }
}

/// One running bind.
pub(crate) struct Bind {
    key: u64,
    handle: Handle,
    mode: BindMode,
}

/// State shared by the binds of one transport.
pub(crate) struct Shared {
    id: String,
    config: SmppConfig,
    ctx: Context,
    /// The binds running here now: every configured one, or, with `shared_binds`, those
    /// whose slot this instance holds ([`shared_binds`]).
    binds: std::sync::RwLock<Vec<Bind>>,
    /// `shared_binds` is in force: binds come and go with their slots.
    shares_binds: bool,
    next_bind: AtomicU64,
    next_tx: AtomicUsize,
    /// Concatenation references, one per outbound message.
    next_ref: AtomicU64,
    /// Cancelled when the gateway stops taking work: parts not yet taken by the SMSC are
    /// handed back instead of waiting for a bind.
    intake: CancellationToken,
    /// Id mappings (store key → Vumi message id) accepted but not yet written to the store:
    /// a receipt that overtakes the store write still finds its message at once, and is
    /// never left to the other-base id variants, which could match another message. At most
    /// [`MAX_UNSTORED`] (only a failing store leaves entries behind).
    unstored_ids: std::sync::Mutex<std::collections::HashMap<String, Unstored>>,
    /// Multipart MOs waiting for their parts (`smpp:<id>:mp-open:all`).
    reassembly: super::multipart::Reassembly,
    /// `shared_mt_tps`: the limit all binds and instances share, and the places in the binds'
    /// windows a part holds before it takes its slot (a slot taken while the window is full
    /// would be spent waiting, and the parts behind it would leave together).
    rate: Option<(crate::cluster::rate::SharedRate, tokio::sync::Semaphore)>,
}

impl Shared {
    /// Records that SMSC message `smsc_id` is Vumi message `message_id` (memory first, then
    /// the store, so a receipt arriving meanwhile finds it). A store failure is logged: the
    /// mapping then lives in memory only, for as long as this process runs (at most
    /// [`MAX_UNSTORED`] such; beyond that only the store has it, and a receipt for it is
    /// unmatched if its write failed). `message_id` is the whole mapping: the id with the
    /// router's tag ([`crate::router::tag::stored`]).
    async fn map_receipt_id(&self, smsc_id: &str, message_id: &str) {
        let key = receipt_key(&self.id, smsc_id);
        {
            let mut unstored = self.unstored();
            if unstored
                .get(&key)
                .is_some_and(|u| u.message_id == message_id)
            {
                // Already held (a retried write): keep what a receipt may have marked.
            } else if unstored.len() < MAX_UNSTORED {
                unstored.insert(key.clone(), message_id.into());
            } else {
                SmppEvent {
                    transport: &self.id,
                    what: Smpp::ReceiptIdUnguarded,
                }
                .emit();
            }
        }
        let ttl = Duration::from_secs(self.config.receipt_ttl_seconds);
        match self.ctx.store.put(&key, message_id.as_bytes(), ttl).await {
            Ok(()) => {
                // Only this message's entry: an SMSC that reuses an id may have mapped it to
                // a newer message meanwhile.
                let finished = {
                    let mut unstored = self.unstored();
                    match unstored.get(&key) {
                        Some(u) if u.message_id == message_id => {
                            unstored.remove(&key).is_some_and(|u| u.finished)
                        }
                        _ => false,
                    }
                };
                // Its final receipt overtook the write: shorten it now.
                if finished {
                    self.finish_receipt_id(&key, message_id).await;
                }
            }
            Err(e) => {
                tracing::error!(message = "Store error; the receipt id mapping is kept in memory only.", transport = %self.id, error = %e);
            }
        }
    }

    /// After a final receipt: the mapping under `key` stays only for
    /// `receipt_final_grace_seconds` (a duplicate final is still matched), then goes. A
    /// mapping still on its way to the store is shortened once written. Store errors are
    /// logged: the mapping then lives to its full TTL.
    async fn finish_receipt_id(&self, key: &str, message_id: &str) {
        {
            let mut unstored = self.unstored();
            if let Some(u) = unstored.get_mut(key)
                && u.message_id == message_id
            {
                u.finished = true;
                return;
            }
        }
        // Only this message's mapping: an SMSC that reuses its ids (or another instance) may
        // have mapped the key to a newer message since the receipt was matched. (Read, then
        // write: a reuse between the two, within microseconds, is not guarded.)
        match self.ctx.store.get(key).await {
            Ok(Some(v)) if v == message_id.as_bytes() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(message = "Store error; the receipt id mapping stays to its TTL.", transport = %self.id, error = %e);
                return;
            }
        }
        let grace = self.config.receipt_final_grace_seconds;
        let done = if grace == 0 {
            self.ctx.store.delete(key).await
        } else {
            self.ctx
                .store
                .put(key, message_id.as_bytes(), Duration::from_secs(grace))
                .await
        };
        if let Err(e) = done {
            tracing::warn!(message = "Store error; the receipt id mapping stays to its TTL.", transport = %self.id, error = %e);
        }
    }

    /// The mapping of `key` still on its way to the store, if any.
    fn unstored_id(&self, key: &str) -> Option<String> {
        self.unstored().get(key).map(|u| u.message_id.clone())
    }

    fn unstored(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Unstored>> {
        self.unstored_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
    /// A transmitting bind, round robin over those bound (any when none is); None when no
    /// bind runs here.
    fn pick_transmitter(&self) -> Option<Handle> {
        let binds = self.binds.read().unwrap_or_else(PoisonError::into_inner);
        let tx: Vec<&Handle> = binds
            .iter()
            .filter(|b| b.mode != BindMode::Receiver)
            .map(|b| &b.handle)
            .collect();
        let n = tx.len();
        if n == 0 {
            return None;
        }
        let start = self.next_tx.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| tx[(start + i) % n])
            .find(|h| h.is_bound())
            .or(tx.get(start % n).copied())
            .cloned()
    }

    /// Adds a running bind; the key to remove it with.
    fn add_bind(&self, handle: Handle, mode: BindMode) -> u64 {
        let key = self.next_bind.fetch_add(1, Ordering::Relaxed);
        self.binds
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Bind { key, handle, mode });
        key
    }

    fn remove_bind(&self, key: u64) {
        self.binds
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|b| b.key != key);
    }

    /// With `shared_binds`, whether no bind runs here, after waiting a second for one (so a
    /// message handed back is not taken again at once).
    async fn bindless(&self) -> bool {
        if !self.shares_binds {
            return false;
        }
        for _ in 0..10 {
            if self.binds_up().2 > 0 {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.binds_up().2 == 0
    }

    /// (a transmitting bind is bound, any bind is bound, how many binds run here).
    fn binds_up(&self) -> (bool, bool, usize) {
        let binds = self.binds.read().unwrap_or_else(PoisonError::into_inner);
        let tx = binds
            .iter()
            .any(|b| b.mode != BindMode::Receiver && b.handle.is_bound());
        let any = binds.iter().any(|b| b.handle.is_bound());
        (tx, any, binds.len())
    }
}

impl super::common::Carrier for Shared {
    // Every caller answers the SMSC ESME_RX_T_APPN when the bus does not take the message.
    const ON_REFUSAL: super::common::OnRefusal = super::common::OnRefusal::HandBack;

    fn bus(&self) -> &crate::bus::Bus {
        &self.ctx.bus
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// Starts SMPP transport `id`: its binds, their inbound loops, the outbound consumer and the
/// readiness latch `transport:<id>` (up while a transmitting and a receiving bind are up).
///
/// # Errors
/// When a bind's fields cannot be encoded (checked by the config already).
pub(crate) fn spawn(
    id: &str,
    config: &SmppConfig,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<(), super::StartError> {
    let stop = CancellationToken::new();
    let shared_binds = config.shared_binds > 0
        && ctx.cluster.instances > 1
        && matches!(ctx.store, crate::store::Store::Redis(_));
    let local_binds = if shared_binds {
        config.binds.min(config.shared_binds as usize)
    } else {
        config.binds
    };
    let shared = Arc::new(Shared {
        id: id.to_owned(),
        config: config.clone(),
        ctx: ctx.clone(),
        binds: std::sync::RwLock::default(),
        shares_binds: shared_binds,
        next_bind: AtomicU64::new(0),
        next_tx: AtomicUsize::new(0),
        next_ref: AtomicU64::new(u64::from(fastrand::u8(..))),
        intake: intake.clone(),
        unstored_ids: std::sync::Mutex::default(),
        reassembly: multipart::reassembly(id, config),
        rate: (config.shared_mt_tps > 0).then(|| {
            (
                crate::cluster::rate::SharedRate::new(
                    id,
                    config.shared_mt_tps,
                    Duration::from_millis(config.shared_mt_tps_guard_ms),
                    ctx.cluster.instances,
                    ctx.store.clone(),
                ),
                tokio::sync::Semaphore::new(config.window.max(1) * local_binds.max(1)),
            )
        }),
    });
    if shared_binds {
        shared_binds::spawn(&shared, tracker, &stop)?;
    } else {
        let binds = config
            .bind_configs(id)
            .map_err(|detail| super::StartError::Config {
                id: id.to_owned(),
                detail,
            })?;
        for bind in binds {
            start_bind(&shared, bind, tracker, &stop)?;
        }
    }
    tracker.spawn(multipart::timer(shared.clone(), intake.clone()));
    tracker.spawn(ussd::timer(shared.clone(), intake.clone()));
    let (readiness, latch) = (ctx.readiness.clone(), format!("transport:{id}"));
    let (ready_stop, watched) = (stop.clone(), shared.clone());
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            let (tx, any, running) = watched.binds_up();
            if shared_binds && running == 0 {
                // Other instances hold every bind: nothing of this transport runs here.
                readiness.stand_by(&latch);
            } else {
                readiness.set(&latch, tx && any);
            }
            tokio::select! {
                () = ready_stop.cancelled() => { readiness.set(&latch, false); return; }
                _ = tick.tick() => {}
            }
        }
    });
    tracker.spawn(outbound::run(shared, intake.clone(), stop));
    Ok(())
}

/// Starts one bind on `tracker` (its task, and its inbound loop when it receives), listed in
/// `shared` until its task ends.
fn start_bind(
    shared: &Arc<Shared>,
    bind: richmond_drivers::smpp::Config,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(), super::StartError> {
    let mode = bind.bind_mode;
    let (handle, events, task) = client(bind).map_err(|source| super::StartError::Smpp {
        id: shared.id.clone(),
        source,
    })?;
    let key = shared.add_bind(handle.clone(), mode);
    let (s, stop) = (shared.clone(), stop.clone());
    tracker.spawn(async move {
        task.run(stop).await;
        s.remove_bind(key);
    });
    if mode != BindMode::Transmitter {
        tracker.spawn(inbound::run(shared.clone(), handle, events));
    }
    Ok(())
}
