//! The SMPP transport's inbound half: one loop per receiving bind over its driver events.
//!
//! Reference: reference/vumi.md §3.5 (receipts: esm_class, TLVs, text, status map), §3.6
//! (deliver_sm handling), §5; reference/smpp.md (data_coding, UDH/SAR multipart).
//!
//! * Receipts (esm_class message type 0x04 or 0x20, or a `receipted_message_id` TLV) become
//!   `delivery_report` events: the id comes from the TLV or the text, the state from
//!   `message_state` or `stat:`; the raw state goes in
//!   `transport_metadata.smpp_delivery_status`. The id is looked up in the store under each of
//!   its hex/decimal variants; a receipt for an unknown id is counted and answered OK.
//! * MOs are decoded per data_coding (0 as configured); binary payloads go as hex in
//!   `transport_metadata.smpp_binary`. Parts (UDH 8/16-bit or SAR) go to [`super::multipart`]
//!   (joined when all came, published flagged when they stop coming).
//! * The answer to the SMSC is sent only after the bus (or, for a part, the store) owns what
//!   the PDU carried; otherwise `ESME_RX_T_APPN` asks the SMSC to redeliver.
//! * Whole MOs and receipts are handled concurrently (each answered when done), at most
//!   `max_unanswered_delivers` per bind (then the bind stops reading); parts of multipart MOs
//!   one at a time per bind.
//!
//! Not handled here: USSD over SMPP (`ussd_service_op`).

use std::sync::Arc;
use std::time::Duration;

use metrics::counter;
use richmond_codecs::smpp::receipt::{self, DeliveryState};
use richmond_codecs::smpp::rusmpp::Pdu;
use richmond_codecs::smpp::rusmpp::tlvs::{Tlv, TlvValue};
use richmond_codecs::sms::{Encoding, Udh};
use richmond_codecs::vumi::{DeliveryStatus, Event as VumiEvent, UserMessage};
use richmond_drivers::smpp::{Event, Handle};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Shared, receipt_key};

pub(super) const ROK: u32 = 0;
pub(super) const RX_T_APPN: u32 = 0x64;
const RSYSERR: u32 = 0x08;
/// ESME_RX_P_APPN: permanent application error, the SMSC must not redeliver.
pub(super) const RX_P_APPN: u32 = 0x65;
/// ESME_RINVOPTPARAMVAL: an optional parameter (here a SAR TLV) has a bad value.
pub(super) const RINVOPTPARAMVAL: u32 = 0xC4;

/// What the transport needs of a `deliver_sm` / `data_sm`.
pub(super) struct Inbound {
    pub(super) source: String,
    pub(super) source_ton: u8,
    pub(super) destination: String,
    pub(super) esm_class: u8,
    pub(super) data_coding: u8,
    pub(super) payload: Vec<u8>,
    pub(super) receipted_id: Option<String>,
    pub(super) message_state: Option<u8>,
    /// SAR TLVs: reference, total segments, segment number.
    pub(super) sar: (Option<u16>, Option<u8>, Option<u8>),
}

impl Inbound {
    fn from_pdu(pdu: Pdu) -> Option<Self> {
        let (source, source_ton, destination, esm, dc, short, tlvs): (
            _,
            _,
            _,
            _,
            _,
            Vec<u8>,
            Vec<Tlv>,
        ) = match pdu {
            Pdu::DeliverSm(d) => (
                d.source_addr.to_string(),
                u8::from(d.source_addr_ton),
                d.destination_addr.to_string(),
                u8::from(d.esm_class),
                u8::from(d.data_coding),
                d.short_message().as_ref().to_vec(),
                d.tlvs().to_vec(),
            ),
            Pdu::DataSm(d) => (
                d.source_addr.to_string(),
                u8::from(d.source_addr_ton),
                d.destination_addr.to_string(),
                u8::from(d.esm_class),
                u8::from(d.data_coding),
                Vec::new(),
                d.tlvs().to_vec(),
            ),
            _ => return None,
        };
        let mut this = Self {
            source,
            source_ton,
            destination,
            esm_class: esm,
            data_coding: dc,
            payload: short,
            receipted_id: None,
            message_state: None,
            sar: (None, None, None),
        };
        for tlv in &tlvs {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(id)) => this.receipted_id = Some(id.to_string()),
                Some(TlvValue::MessageState(s)) => this.message_state = Some(u8::from(*s)),
                Some(TlvValue::MessagePayload(p)) => this.payload = p.value.as_ref().to_vec(),
                Some(TlvValue::SarMsgRefNum(r)) => this.sar.0 = Some(*r),
                Some(TlvValue::SarTotalSegments(t)) => this.sar.1 = Some(*t),
                Some(TlvValue::SarSegmentSeqnum(s)) => this.sar.2 = Some(*s),
                _ => {}
            }
        }
        Some(this)
    }

    /// One part of a multipart message (UDH indicator or SAR TLVs).
    fn is_part(&self) -> bool {
        self.esm_class & 0x40 != 0 || self.sar.0.is_some()
    }

    fn is_receipt(&self) -> bool {
        matches!(self.esm_class & 0x3C, 0x04 | 0x20)
    }
}

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
        metrics::gauge!("richmond_smpp_unanswered_delivers", "transport" => transport.to_owned())
            .increment(1.0);
        Ok(Self {
            _permit: permit,
            transport: transport.to_owned(),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        metrics::gauge!("richmond_smpp_unanswered_delivers", "transport" => self.transport.clone())
            .decrement(1.0);
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
                let Some(inbound) = d.to_owned_pdu().ok().and_then(Inbound::from_pdu) else {
                    counter!("richmond_smpp_rejected_delivers_total", "transport" => shared.id.clone())
                        .increment(1);
                    tracing::warn!(message = "A deliver_sm the transport cannot read; answered ESME_RSYSERR.", transport = %shared.id);
                    let _ = handle.respond_deliver(d.id, RSYSERR);
                    continue;
                };
                if inbound.is_receipt()
                    || (inbound.receipted_id.is_some() && inbound.esm_class & 0x3C != 0)
                {
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

fn count(shared: &Shared, kind: &'static str) {
    crate::transport::common::count(&shared.id, "inbound", kind);
}

pub(super) async fn receipt(shared: &Shared, r: &Inbound) -> u32 {
    let text = receipt::decode(&r.payload, r.data_coding).ok();
    let id = r
        .receipted_id
        .clone()
        .or_else(|| text.as_ref().map(|t| t.id.to_string()));
    let (state, raw) = match (r.message_state, &text) {
        (Some(s), _) => (
            DeliveryState::from_message_state(s),
            format!("message_state:{s}"),
        ),
        (None, Some(t)) => (t.state(), t.stat.to_string()),
        (None, None) => (DeliveryState::Pending, String::new()),
    };
    let raw = text.as_ref().map_or(raw, |t| t.stat.to_string());
    let Some(id) = id else {
        counter!("richmond_smpp_receipts_total", "transport" => shared.id.clone(), "outcome" => "unparsed").increment(1);
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
        match lookup(shared, &id, attempt >= 3).await {
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
    let Some((key, message_id)) = found else {
        counter!("richmond_smpp_receipts_total", "transport" => shared.id.clone(), "outcome" => "unmatched").increment(1);
        tracing::warn!(message = "Receipt for an unknown message id.", transport = %shared.id);
        return ROK;
    };
    let status = match state {
        DeliveryState::Delivered => DeliveryStatus::Delivered,
        DeliveryState::Failed => DeliveryStatus::Failed,
        _ => DeliveryStatus::Pending,
    };
    let mut event = VumiEvent::delivery_report(&shared.id, &message_id, status);
    event
        .transport_metadata
        .insert("smpp_delivery_status".into(), json!(raw));
    event
        .transport_metadata
        .insert("smpp_message_id".into(), json!(id));
    match shared.publish("event", event.encode()).await {
        Ok(()) => {
            counter!("richmond_smpp_receipts_total", "transport" => shared.id.clone(), "outcome" => "matched").increment(1);
            count(shared, "delivery_report");
            if status != DeliveryStatus::Pending {
                shared.finish_receipt_id(&key, &message_id).await;
            }
            ROK
        }
        Err(_) => RX_T_APPN,
    }
}

/// The store key and Vumi message id an SMSC message id maps to: the id as written, or with `variants`
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
        receipt::id_variants(smsc_id)
    } else {
        vec![receipt::canonical_id(smsc_id)]
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

pub(super) async fn mo(shared: &Shared, mut m: Inbound) -> u32 {
    let encoding = Encoding::from_data_coding(m.data_coding, shared.config.default_encoding());
    let mut concat = None;
    if m.esm_class & 0x40 != 0 {
        match Udh::parse(&m.payload) {
            Ok((udh, rest)) => {
                concat = udh.concat().map(|c| (c.reference, c.total, c.seq));
                // A concatenation element the codec refused (part 0, beyond the total,
                // total 0): a part that cannot be joined, never a whole message.
                if concat.is_none() && udh.elements().any(|e| matches!(e.id, 0x00 | 0x08)) {
                    return reject_part(shared, "bad_part_number", RX_P_APPN);
                }
                m.payload = rest.to_vec();
            }
            Err(e) => {
                counter!("richmond_smpp_bad_udh_total", "transport" => shared.id.clone())
                    .increment(1);
                tracing::warn!(message = "Bad UDH in an MO; taken as text.", transport = %shared.id, error = %e)
            }
        }
    }
    if let (Some(r), Some(t), Some(s)) = m.sar {
        concat = Some((r, t, s));
    }
    // A part numbered 0 or beyond its total would count toward completion and make the join
    // fail after every part was answered: refused up front, with a status the SMSC does not
    // retry, so nothing answered is ever lost.
    if let Some((_, total, seq)) = concat
        && (total == 0 || seq == 0 || seq > total)
    {
        let status = if m.sar.0.is_some() {
            RINVOPTPARAMVAL
        } else {
            RX_P_APPN
        };
        return reject_part(shared, "bad_part_number", status);
    }
    if let Some((reference, total, seq)) = concat
        && total > 1
    {
        return super::multipart::store_part(shared, &m, reference, total, seq).await;
    }
    publish_mo(shared, &m, encoding, &m.payload, None).await
}

/// Refuses a part whose numbering cannot be joined: counted, logged, answered `status`.
fn reject_part(shared: &Shared, reason: &'static str, status: u32) -> u32 {
    counter!("richmond_smpp_rejected_parts_total", "transport" => shared.id.clone(), "reason" => reason)
        .increment(1);
    tracing::warn!(
        message = "A multipart MO part with impossible numbering; refused.",
        transport = %shared.id, reason, status = format!("0x{status:08X}")
    );
    status
}

/// Publishes an MO; `incomplete` (the part numbers that came, the total) flags a multipart
/// message published without all its parts.
pub(super) async fn publish_mo(
    shared: &Shared,
    m: &Inbound,
    encoding: Encoding,
    payload: &[u8],
    incomplete: Option<(Vec<u8>, u8)>,
) -> u32 {
    let from = if m.source_ton == 1 && !m.source.starts_with('+') {
        format!("+{}", m.source)
    } else {
        m.source.clone()
    };
    let content = (encoding != Encoding::Binary).then(|| encoding.decode(payload));
    let mut msg = UserMessage::new(&shared.id, "sms", &from, &m.destination, content);
    msg.transport_metadata
        .insert("smpp_data_coding".into(), json!(m.data_coding));
    if encoding == Encoding::Binary {
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        msg.transport_metadata
            .insert("smpp_binary".into(), json!(hex));
    }
    let kind = if let Some((parts, total)) = incomplete {
        msg.transport_metadata
            .insert("smpp_multipart_incomplete".into(), json!(true));
        msg.transport_metadata
            .insert("smpp_multipart_parts".into(), json!(parts));
        msg.transport_metadata
            .insert("smpp_multipart_total".into(), json!(total));
        "sms_incomplete"
    } else {
        "sms"
    };
    match shared.publish("inbound", msg.encode()).await {
        Ok(()) => {
            count(shared, kind);
            ROK
        }
        Err(_) => RX_T_APPN,
    }
}
