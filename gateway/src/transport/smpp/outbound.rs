//! The SMPP transport's outbound half: Vumi user messages → `submit_sm` (split as configured),
//! SMSC answers → `ack` / `nack`, then the bus delivery is acked.
//!
//! Reference: reference/vumi.md §3.3 (submit_sm handling), §3.4 (ack/nack rules), §5 (what
//! went wrong for Vumi's users); reference/smpp.md (data_coding, long messages).
//!
//! * data_coding: GSM-7 where the text fits, else UCS2 (`data_coding = "auto"`), or fixed;
//!   text the chosen alphabet cannot carry is a `nack`, never garbled.
//! * Long messages: concatenation UDH (8-bit reference, one per message), SAR TLVs, or
//!   `message_payload`. Every part is submitted; the `ack` (with `sent_message_id` = the first
//!   part's SMSC id) comes once every part is accepted, a `nack` if any part fails. Each part's
//!   id is mapped to the message in the store so its receipt finds it.
//! * A submit the SMSC refused → `nack` naming the status; no answer (link lost with the PDU
//!   written, response timeout) → `nack` too: resending could deliver twice, so the application
//!   decides. A part the SMSC certainly did not take (still queued when the link dropped, no
//!   bind up) is submitted again once a bind is up; a message none of whose parts reached a
//!   session when the gateway stops goes back to the bus.
//! * The driver retries throttling (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`) itself: no nack.
//! * A nack is marked temporary (`transport_metadata.temporary = true`) when the SMSC took no
//!   part and refused every one it answered with a status for a passing fault
//!   ([`richmond_codecs::smpp::status::is_transient`]): sending the message again, on this
//!   link later or on another now, cannot deliver it twice. A router fails over on it.

use crate::transport::telemetry::{Smpp, SmppEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use richmond_codecs::smpp::rusmpp::pdus::SubmitSm;
use richmond_codecs::smpp::rusmpp::tlvs::MessageSubmissionRequestTlvValue as Tlv;
use richmond_codecs::smpp::rusmpp::types::{AnyOctetString, COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, Npi, RegisteredDelivery, Ton,
};
use richmond_codecs::sms::{self, Encoding, Method};
use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use richmond_drivers::smpp::SubmitOutcome;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::config::{Coding, DefaultAlphabet, Multipart, Ussd};
use crate::bus::Delivery;
use crate::transport::common;

/// The `submit_sm` PDUs of one message.
///
/// # Errors
/// A nack reason (address, text the alphabet cannot carry, too long).
pub(crate) fn submits(shared: &Shared, msg: &UserMessage) -> Result<Vec<SubmitSm>, String> {
    let c = &shared.config;
    let to = msg.to_addr.as_deref().unwrap_or_default();
    let (dest, international) = match to.strip_prefix('+') {
        Some(d) => (d, true),
        None => (to, false),
    };
    if dest.is_empty() || dest.len() > 20 || !dest.bytes().all(|b| b.is_ascii_digit()) {
        return Err("to_addr: not a phone number (digits with an optional leading +)".into());
    }
    let source = match msg.from_addr.as_deref() {
        Some(f) if !f.is_empty() => f.trim_start_matches('+'),
        _ => c.default_source_addr.as_str(),
    };
    let source = COctetString::<1, 21>::from_vec(format!("{source}\0").into_bytes())
        .map_err(|_| "from_addr: longer than 20 characters".to_owned())?;
    let destination = COctetString::<1, 21>::from_vec(format!("{dest}\0").into_bytes())
        .map_err(|_| "to_addr: longer than 20 characters".to_owned())?;
    let text = msg.content.as_deref().unwrap_or_default();
    let gsm_default = c.default_alphabet == DefaultAlphabet::Gsm7;
    let encoding = match c.data_coding {
        Coding::Auto if gsm_default => sms::choose(text, Encoding::Gsm7),
        Coding::Auto => sms::choose(text, Encoding::Latin1),
        Coding::Gsm7 => Encoding::Gsm7,
        Coding::Latin1 => Encoding::Latin1,
        Coding::Ucs2 => Encoding::Ucs2,
    };
    let data_coding = match encoding {
        Encoding::Gsm7 if gsm_default => 0,
        Encoding::Latin1 if c.default_alphabet == DefaultAlphabet::Latin1 => 0,
        e => e.data_coding(),
    };
    let reference =
        u16::try_from(shared.next_ref.fetch_add(1, Ordering::Relaxed) & 0xFF).unwrap_or_default();
    let method = match c.multipart {
        Multipart::Udh => Method::Udh8,
        Multipart::Sar | Multipart::MessagePayload => Method::Raw,
    };
    let bodies = if c.multipart == Multipart::MessagePayload {
        let body = encoding.encode(text).map_err(|e| format!("content: {e}"))?;
        // The TLV's length field is 16 bits: a longer body would wrap it and garble the PDU.
        if body.len() > usize::from(u16::MAX) {
            return Err(format!(
                "content: {} octets encoded; message_payload carries at most 65535",
                body.len()
            ));
        }
        vec![body]
    } else {
        sms::segment(text, encoding, reference, method).map_err(|e| format!("content: {e}"))?
    };
    let total = bodies.len();
    let base = SubmitSm::builder()
        .source_addr_ton(Ton::from(c.source_addr_ton))
        .source_addr_npi(Npi::from(c.source_addr_npi))
        .source_addr(source)
        .dest_addr_ton(Ton::from(if international { 1 } else { c.dest_addr_ton }))
        .dest_addr_npi(Npi::from(c.dest_addr_npi))
        .destination_addr(destination)
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(u8::from(c.registered_delivery)))
        .data_coding(DataCoding::from(data_coding));
    let mut out = Vec::with_capacity(total);
    for (i, body) in bodies.into_iter().enumerate() {
        let mut b = base.clone();
        if c.multipart == Multipart::MessagePayload {
            b = b.push_tlv(Tlv::MessagePayload(MessagePayload::new(
                AnyOctetString::from_slice(&body),
            )));
        } else {
            let short = OctetString::<0, 255>::from_slice(&body)
                .map_err(|_| "content: a part is longer than 255 octets".to_owned())?;
            b = b.short_message(short);
            if total > 1 && c.multipart == Multipart::Udh {
                b = b.esm_class(EsmClass::from(richmond_codecs::smpp::deliver::esm::UDHI));
            }
            if total > 1 && c.multipart == Multipart::Sar {
                let (seq, n) = (u8::try_from(i + 1), u8::try_from(total));
                let (Ok(seq), Ok(n)) = (seq, n) else {
                    return Err("content: too many parts".into());
                };
                b = b
                    .push_tlv(Tlv::SarMsgRefNum(reference))
                    .push_tlv(Tlv::SarTotalSegments(n))
                    .push_tlv(Tlv::SarSegmentSeqnum(seq));
            }
        }
        out.push(b.build());
    }
    Ok(out)
}

pub(super) async fn run(shared: Arc<Shared>, intake: CancellationToken, stop: CancellationToken) {
    let (bus, id) = (shared.ctx.bus.clone(), shared.id.clone());
    common::consume_outbound(
        &bus,
        &id,
        shared.config.max_in_flight,
        &intake,
        move |msg, delivery| {
            let shared = shared.clone();
            async move { handle(&shared, msg, delivery).await }
        },
    )
    .await;
    stop.cancel();
}

/// A part not sent because the gateway is stopping (when no part was sent, the bus keeps the
/// message).
#[derive(Debug, thiserror::Error)]
#[error("the gateway stopped before every part was sent")]
struct Stopping;

/// Submits one part until the SMSC answers it, or it is known the SMSC may hold it. A part
/// the SMSC certainly did not take (queued when the link dropped, no bind up, the bind
/// closing) is submitted again on a bind that is up, with a growing pause, for as long as
/// the gateway runs: giving up there would turn a short outage into nacks.
///
/// `mapping` is what the receipt id maps to: the message id, with the router's tag
/// ([`crate::router::tag::stored`]).
async fn submit_part(
    shared: &Shared,
    pdu: SubmitSm,
    mapping: &str,
) -> Result<SubmitOutcome, Stopping> {
    let mut pause = Duration::from_millis(100);
    loop {
        let submitted = match shared.pick_transmitter() {
            Some(bind) => {
                // A slot of the shared limit only for a part that can go now.
                let _place = match &shared.rate {
                    Some((rate, places)) => {
                        let place = places.acquire().await.ok();
                        rate.acquire().await;
                        place
                    }
                    None => None,
                };
                match bind.submit(pdu.clone()).await {
                    // That bind's task ended while the gateway runs (its shared_binds slot
                    // passed to another instance): not sent; another bind, or later.
                    Err(_) if !shared.intake.is_cancelled() => Ok(SubmitOutcome::Retry {
                        reason: richmond_drivers::smpp::RetryReason::NotBound,
                    }),
                    other => other,
                }
            }
            // No bind runs here (other instances hold them all): as if not bound.
            None => Ok(SubmitOutcome::Retry {
                reason: richmond_drivers::smpp::RetryReason::NotBound,
            }),
        };
        match submitted {
            Ok(SubmitOutcome::Accepted { message_id }) if shared.config.registered_delivery => {
                // Mapped at once, so the receipt (which may come before the other parts'
                // answers) finds its message. No receipt asked for: nothing to map.
                let smsc_id = String::from_utf8_lossy(&message_id).into_owned();
                shared.map_receipt_id(&smsc_id, mapping).await;
                return Ok(SubmitOutcome::Accepted { message_id });
            }
            Ok(SubmitOutcome::Retry { reason }) if reason.not_taken() => {
                if shared.intake.is_cancelled() {
                    return Err(Stopping);
                }
                SmppEvent {
                    transport: &shared.id,
                    what: Smpp::Resubmit {
                        reason: reason.code(),
                    },
                }
                .emit();
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Ok(outcome) => return Ok(outcome),
            // The bind's task has ended: the gateway is stopping.
            Err(e) => {
                tracing::warn!(message = "Submit not sent; handing the message back.", transport = %shared.id, error = %e);
                return Err(Stopping);
            }
        }
    }
}

async fn handle(shared: &Shared, msg: UserMessage, delivery: Delivery) {
    let (bus, tid) = (&shared.ctx.bus, shared.id.as_str());
    if shared.bindless().await {
        // Other instances hold every bind of this transport: back to the queue for them.
        let _ = delivery.nack(true).await;
        return;
    }
    let id = msg.message_id.clone();
    let ussd = if shared.config.ussd != Ussd::None && msg.transport_type.as_deref() == Some("ussd")
    {
        match super::ussd::outbound(shared, &msg).await {
            Ok(u) => Some(u),
            Err(reason) => {
                return common::settle(bus, tid, delivery, VumiEvent::nack(tid, &id, &reason))
                    .await;
            }
        }
    } else {
        None
    };
    let mut pdus = match submits(shared, &msg) {
        Ok(p) => p,
        Err(reason) => {
            return common::settle(bus, tid, delivery, VumiEvent::nack(tid, &id, &reason)).await;
        }
    };
    if let Some((tlvs, _)) = &ussd {
        // A USSD screen is one PDU: parts would reach the handset as separate screens.
        if pdus.len() > 1 {
            let reason = format!(
                "content: a USSD message must fit one PDU ({} parts here)",
                pdus.len()
            );
            return common::settle(bus, tid, delivery, VumiEvent::nack(tid, &id, &reason)).await;
        }
        for pdu in &mut pdus {
            for tlv in tlvs {
                pdu.push_tlv(tlv.clone());
            }
        }
    }
    let mapping = crate::router::tag::stored(&id, crate::router::tag::of(&msg));
    let outcomes =
        futures_util::future::join_all(pdus.into_iter().map(|p| submit_part(shared, p, &mapping)))
            .await;
    if outcomes.iter().all(Result::is_err) {
        // Nothing reached the SMSC and the gateway is stopping: the bus keeps the message.
        common::count(tid, "outbound", "requeued");
        let _ = delivery.nack(true).await;
        return;
    }
    let mut ids = Vec::new();
    let mut failure = None;
    let mut temporary = true;
    for outcome in outcomes {
        match outcome {
            Ok(SubmitOutcome::Accepted { message_id }) => {
                ids.push(String::from_utf8_lossy(&message_id).into_owned());
            }
            Ok(SubmitOutcome::Rejected { status, .. }) => {
                temporary &= richmond_codecs::smpp::status::is_transient(status);
                failure.get_or_insert_with(|| {
                    format!(
                        "{} (0x{status:08X})",
                        richmond_codecs::smpp::status::name(status).unwrap_or("error status")
                    )
                });
            }
            Ok(SubmitOutcome::Retry { reason }) => {
                temporary = false;
                failure.get_or_insert_with(|| {
                    format!(
                        "no answer from the SMSC ({}); the message may have been sent",
                        reason.code()
                    )
                });
            }
            Ok(_) => {
                temporary = false;
                failure.get_or_insert_with(|| "unexpected submit outcome".to_owned());
            }
            Err(stopping) => {
                temporary = false;
                failure.get_or_insert_with(|| stopping.to_string());
            }
        }
    }
    let event = match (failure, ids.first()) {
        (None, Some(first)) => VumiEvent::ack(tid, &id, first),
        (Some(reason), None) if temporary => {
            let mut nack = VumiEvent::nack(tid, &id, &reason);
            nack.transport_metadata
                .insert("temporary".into(), serde_json::Value::Bool(true));
            nack
        }
        (Some(reason), _) => VumiEvent::nack(tid, &id, &reason),
        (None, None) => VumiEvent::nack(tid, &id, "no part was submitted"),
    };
    if let Some((_, close)) = ussd
        && matches!(event.kind, richmond_codecs::vumi::EventKind::Ack { .. })
    {
        super::ussd::replied(shared, &msg, close).await;
    }
    common::settle(bus, tid, delivery, event).await;
}
