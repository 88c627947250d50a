//! The SMPP transport's inbound half: one loop per receiving bind over its driver events.
//!
//! Reference: reference/vumi.md §3.5 (receipts: esm_class, TLVs, text, status map), §3.6
//! (deliver_sm handling), §5; reference/smpp.md (data_coding, UDH/SAR multipart).
//!
//! The session decoded each PDU once into a [`Inbound`] (`codecs::smpp::deliver`); what it
//! means in Vumi terms is [`super::map`]'s (pure). Here:
//! * Receipts become `delivery_report` events once their SMSC id is looked up in the store
//!   under each of its hex/decimal variants; a receipt for an unknown id is counted and
//!   answered OK.
//! * MOs are published; parts (UDH 8/16-bit or SAR) go to [`super::multipart`] (joined when
//!   all came, published flagged when they stop coming).
//! * The answer to the SMSC is sent only after the bus (or, for a part, the store) owns what
//!   the PDU carried; otherwise `ESME_RX_T_APPN` asks the SMSC to redeliver.
//! * Whole MOs and receipts are handled concurrently (each answered when done), at most
//!   `max_unanswered_delivers` per bind (then the bind stops reading); parts of multipart MOs
//!   one at a time per bind.
//!
//! Not handled here: USSD over SMPP (`ussd_service_op`, with `ussd` set: [`super::ussd`]).

use crate::transport::common::Carrier as _;
use crate::transport::telemetry::{Smpp, SmppEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::status::{ROK, RX_T_APPN};
use richmond_codecs::sms::Encoding;
use richmond_drivers::smpp::{Event, Handle};
use tokio::sync::mpsc;

use super::map::{self, Concat};
use super::{Shared, receipt_key};
use crate::transport::multipart::Incomplete;

/// A deliver_sm's place among the unanswered ones, counted in
/// `richmond_smpp_unanswered_delivers{transport}` while held.
struct Place {
    _permit: tokio::sync::OwnedSemaphorePermit,
    transport: String,
}

impl Place {
    async fn take(
        places: &Arc<tokio::sync::Semaphore>,
        transport: &str,
    ) -> Result<Self, tokio::sync::AcquireError> {
        let permit = places.clone().acquire_owned().await?;
        SmppEvent {
            transport,
            what: Smpp::Unanswered { taken: true },
        }
        .emit();
        Ok(Self {
            _permit: permit,
            transport: transport.to_owned(),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        SmppEvent {
            transport: &self.transport,
            what: Smpp::Unanswered { taken: false },
        }
        .emit();
    }
}

pub(super) async fn run(shared: Arc<Shared>, handle: Handle, mut events: mpsc::Receiver<Event>) {
    // Receipts and whole MOs run as tasks; the loop waits for them before it returns, so the
    // gateway does not close the bus under a publish.
    let tasks = tokio_util::task::TaskTracker::new();
    // Each deliver_sm handled concurrently holds a place until it is answered; with none left
    // this loop stops taking events, the driver's channel fills and the bind stops reading.
    let places = Arc::new(tokio::sync::Semaphore::new(
        shared.config.max_unanswered_delivers,
    ));
    while let Some(event) = events.recv().await {
        match event {
            Event::Deliver(d) => {
                let inbound = d.message;
                if inbound.is_receipt() {
                    // Receipts need no order and may wait for their id: one task each.
                    let (shared, handle) = (shared.clone(), handle.clone());
                    let Ok(place) = Place::take(&places, &shared.id).await else {
                        break;
                    };
                    tasks.spawn(async move {
                        let _place = place;
                        let status = receipt(&shared, &inbound).await;
                        let _ = handle.respond_deliver(d.id, status);
                    });
                } else if inbound.is_part() {
                    // Parts one at a time per bind: the store sees them in order, and the
                    // last one joins the message exactly once.
                    let status = mo(&shared, inbound).await;
                    let _ = handle.respond_deliver(d.id, status);
                } else {
                    // Whole messages are published concurrently (the SMSC's window bounds
                    // them); each is answered once the bus owns it.
                    let (shared, handle) = (shared.clone(), handle.clone());
                    let Ok(place) = Place::take(&places, &shared.id).await else {
                        break;
                    };
                    tasks.spawn(async move {
                        let _place = place;
                        let status = mo(&shared, inbound).await;
                        let _ = handle.respond_deliver(d.id, status);
                    });
                }
            }
            Event::Bound { mode, .. } => {
                tracing::info!(message = "SMPP bind up.", transport = %shared.id, mode = mode.code());
            }
            Event::BindRejected { status } => tracing::error!(
                message = "The SMSC refused the bind; check system_id and password.",
                transport = %shared.id, status = format!("0x{status:08X}")
            ),
            Event::Unbound { reason } => {
                tracing::info!(message = "SMPP bind down.", transport = %shared.id, reason = reason.code());
            }
            Event::Malformed { command_id, error } => tracing::warn!(
                message = "Malformed PDU from the SMSC (answered with generic_nack).",
                transport = %shared.id, command_id, error = error.code()
            ),
            _ => {}
        }
    }
    tasks.close();
    tasks.wait().await;
}

pub(super) fn count(shared: &Shared, kind: &'static str) {
    crate::transport::common::count(&shared.id, "inbound", kind);
}

pub(super) async fn receipt(shared: &Shared, m: &Inbound) -> u32 {
    let Some(r) = map::receipt(m) else {
        receipt_outcome(shared, "unparsed");
        return ROK;
    };
    // The submit_sm_resp that maps the id may still be on its way to the store when the
    // receipt comes (a fast SMSC, a slow disk): look again a few times (~3 s) before giving
    // up; the other-base variants only from the fourth look (~175 ms) on.
    let mut found = None;
    let mut pause = Duration::from_millis(25);
    for attempt in 0..8 {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        match lookup(shared, &r.smsc_id, attempt >= 3).await {
            Ok(Some(m)) => {
                found = Some(m);
                break;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(message = "Store error; asking the SMSC to redeliver the receipt.", transport = %shared.id, error = %e);
                return RX_T_APPN;
            }
        }
    }
    let Some((key, mapping)) = found else {
        receipt_outcome(shared, "unmatched");
        return ROK;
    };
    let (message_id, route) = crate::router::tag::split(&mapping);
    let mut event = map::delivery_report(&shared.id, message_id, &r);
    crate::router::tag::mark(&mut event, route);
    match shared.publish("event", event.encode()).await {
        Ok(()) => {
            receipt_outcome(shared, "matched");
            count(shared, "delivery_report");
            if r.status != richmond_codecs::vumi::DeliveryStatus::Pending {
                shared.finish_receipt_id(&key, &mapping).await;
            }
            ROK
        }
        Err(_) => RX_T_APPN,
    }
}

/// The store key and the mapping (the Vumi message id, with the router's tag:
/// [`crate::router::tag::stored`]) an SMSC message id maps to: the id as written, or with `variants`
/// also the same number in the other base (an SMSC that answers in hex and reports in
/// decimal). Variants are tried only after the exact id had time to be stored: otherwise a
/// receipt racing its own submit_sm_resp could match another message whose id is this one's
/// number in the other base.
pub(super) async fn lookup(
    shared: &Shared,
    smsc_id: &str,
    variants: bool,
) -> Result<Option<(String, String)>, crate::store::StoreError> {
    let keys = if variants {
        richmond_codecs::smpp::receipt::id_variants(smsc_id)
    } else {
        vec![richmond_codecs::smpp::receipt::canonical_id(smsc_id)]
    };
    for variant in keys {
        let key = receipt_key(&shared.id, &variant);
        if let Some(id) = shared.unstored_id(&key) {
            return Ok(Some((key, id)));
        }
        if let Some(v) = shared.ctx.store.get(&key).await? {
            return Ok(Some((key, String::from_utf8_lossy(&v).into_owned())));
        }
    }
    Ok(None)
}

pub(super) async fn mo(shared: &Shared, m: Inbound) -> u32 {
    if m.ussd_service_op.is_some() && shared.config.ussd != super::config::Ussd::None {
        return super::ussd::inbound(shared, &m).await;
    }
    let split = map::split(&m);
    if let Some(e) = &split.bad_udh {
        SmppEvent {
            transport: &shared.id,
            what: Smpp::BadUdh { error: e },
        }
        .emit();
    }
    match split.concat {
        Concat::Refused(status) => reject_part(shared, "bad_part_number", status),
        Concat::Part {
            reference,
            total,
            seq,
        } => super::multipart::store_part(shared, &m, &split.octets, reference, total, seq).await,
        Concat::Whole => {
            let encoding =
                Encoding::from_data_coding(m.data_coding, shared.config.default_encoding());
            publish_mo(shared, &m, encoding, &split.octets, None).await
        }
    }
}

fn receipt_outcome(shared: &Shared, outcome: &'static str) {
    SmppEvent {
        transport: &shared.id,
        what: Smpp::Receipt { outcome },
    }
    .emit();
}

/// Refuses a part whose numbering cannot be joined: counted, logged, answered `status`.
fn reject_part(shared: &Shared, reason: &'static str, status: u32) -> u32 {
    SmppEvent {
        transport: &shared.id,
        what: Smpp::PartRejected { reason, status },
    }
    .emit();
    status
}

/// Publishes an MO whose whole text is `octets`; `incomplete` flags a multipart message
/// published without all its parts.
pub(super) async fn publish_mo(
    shared: &Shared,
    m: &Inbound,
    encoding: Encoding,
    octets: &[u8],
    incomplete: Option<Incomplete>,
) -> u32 {
    let (msg, kind) = map::user_message(&shared.id, m, encoding, octets, incomplete);
    match shared.publish("inbound", msg.encode()).await {
        Ok(()) => {
            count(shared, kind);
            ROK
        }
        Err(_) => RX_T_APPN,
    }
}
