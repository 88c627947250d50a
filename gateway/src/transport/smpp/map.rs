//! SMPP → Vumi mapping as pure functions (as `transport/ssmi/map.rs`): what an inbound
//! message is (receipt, part, whole MO), a receipt's id and state, an MO's text and
//! `user_message`, a receipt's `delivery_report`. No store, no bus: unit-tested on vectors
//! (`map_tests.rs`).
//!
//! Reference: reference/vumi.md §3.5 (receipts: esm_class, TLVs, text, status map), §3.6
//! (deliver_sm), §5 (multipart); reference/smpp.md (data_coding, UDH/SAR).
//!
//! * A receipt's id comes from `receipted_message_id`, else from the text; its state from
//!   `message_state`, else from `stat:`. The raw state goes in
//!   `transport_metadata.smpp_delivery_status`, the SMSC's id in `smpp_message_id`.
//! * An MO is decoded per data_coding (0 as configured); a binary payload goes as hex in
//!   `transport_metadata.smpp_binary`; a source with TON 1 (international) gets a `+`.
//! * Parts are numbered by a UDH concatenation element (8- or 16-bit reference) or by the SAR
//!   TLVs (which win); a part numbered 0 or beyond its total, or with total 0, is refused with
//!   a status the SMSC does not retry (`ESME_RINVOPTPARAMVAL` for SAR, `ESME_RX_P_APPN` for
//!   UDH).
//!
//! Not handled here: looking receipts up, storing parts, publishing — `inbound.rs`,
//! `multipart.rs`.

use bytes::Bytes;
use richmond_codecs::smpp::deliver::{Inbound, esm};
use richmond_codecs::smpp::receipt::{self, DeliveryState};
use richmond_codecs::smpp::status::{RINVOPTPARAMVAL, RX_P_APPN};
use richmond_codecs::sms::{Encoding, Udh, udh};
use richmond_codecs::vumi::{DeliveryStatus, Event, UserMessage};
use serde_json::json;

use crate::transport::multipart::{Incomplete, flag_incomplete};

/// What a receipt says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Receipt {
    /// The SMSC's message id, as it wrote it.
    pub(crate) smsc_id: String,
    /// The Vumi status the state maps to.
    pub(crate) status: DeliveryStatus,
    /// The state as received (`DELIVRD`, or `message_state:2` from the TLV alone).
    pub(crate) raw: String,
}

/// The id and state of a receipt; `None` when it names no id (neither TLV nor text).
pub(crate) fn receipt(m: &Inbound) -> Option<Receipt> {
    let text = receipt::decode(&m.payload, m.data_coding).ok();
    let smsc_id = m
        .receipted_id
        .clone()
        .or_else(|| text.as_ref().map(|t| t.id.to_string()))?;
    let (state, raw) = match (m.message_state, &text) {
        (Some(s), _) => (
            DeliveryState::from_message_state(s),
            format!("message_state:{s}"),
        ),
        (None, Some(t)) => (t.state(), t.stat.to_string()),
        (None, None) => (DeliveryState::Pending, String::new()),
    };
    // The text's own word for the state, when it has one, is what operators know.
    let raw = text.as_ref().map_or(raw, |t| t.stat.to_string());
    let status = match state {
        DeliveryState::Delivered => DeliveryStatus::Delivered,
        DeliveryState::Failed => DeliveryStatus::Failed,
        _ => DeliveryStatus::Pending,
    };
    Some(Receipt {
        smsc_id,
        status,
        raw,
    })
}

/// The `delivery_report` of `r` for the Vumi message `message_id`.
pub(crate) fn delivery_report(transport: &str, message_id: &str, r: &Receipt) -> Event {
    let mut event = Event::delivery_report(transport, message_id, r.status);
    event
        .transport_metadata
        .insert("smpp_delivery_status".into(), json!(r.raw));
    event
        .transport_metadata
        .insert("smpp_message_id".into(), json!(r.smsc_id));
    event
}

/// How an MO's parts are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Concat {
    /// A whole message (or a "part" 1 of 1).
    Whole,
    /// Part `seq` of `total` of the message with this reference.
    Part { reference: u16, total: u8, seq: u8 },
    /// Numbering that can never be joined: answered with this status (not retried).
    Refused(u32),
}

/// An MO's text octets (without its UDH) and its numbering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) concat: Concat,
    /// The payload after the UDH (all of it when it has none or a bad one).
    pub(crate) octets: Bytes,
    /// Why a UDH the `esm_class` announced could not be read (the payload is then taken as
    /// text, whole).
    pub(crate) bad_udh: Option<String>,
}

/// Splits an MO into its numbering and its text octets.
pub(crate) fn split(m: &Inbound) -> Split {
    let mut octets = m.payload.clone();
    let mut concat = None;
    let mut bad_udh = None;
    if esm::has_udh(m.esm_class) {
        match Udh::parse(&m.payload) {
            Ok((header, rest)) => {
                concat = header.concat().map(|c| (c.reference, c.total, c.seq));
                // A concatenation element the codec refused (part 0, beyond the total,
                // total 0): a part that cannot be joined, never a whole message.
                if concat.is_none()
                    && header
                        .elements()
                        .any(|e| matches!(e.id, udh::IEI_CONCAT_8 | udh::IEI_CONCAT_16))
                {
                    return Split {
                        concat: Concat::Refused(RX_P_APPN),
                        octets,
                        bad_udh,
                    };
                }
                octets = m.payload.slice_ref(rest);
            }
            Err(e) => bad_udh = Some(e.to_string()),
        }
    }
    if let Some(sar) = m.sar.complete() {
        concat = Some(sar);
    }
    let concat = match concat {
        // A part numbered 0 or beyond its total would count toward completion and make the
        // join fail after every part was answered: refused up front.
        Some((_, total, seq)) if total == 0 || seq == 0 || seq > total => {
            Concat::Refused(if m.sar.reference.is_some() {
                RINVOPTPARAMVAL
            } else {
                RX_P_APPN
            })
        }
        Some((reference, total, seq)) if total > 1 => Concat::Part {
            reference,
            total,
            seq,
        },
        _ => Concat::Whole,
    };
    Split {
        concat,
        octets,
        bad_udh,
    }
}

/// The `user_message` of an MO from `m`'s addresses and `octets` (its whole text) in
/// `encoding`, flagged when `incomplete`; and its kind for `richmond_messages_total`.
pub(crate) fn user_message(
    transport: &str,
    m: &Inbound,
    encoding: Encoding,
    octets: &[u8],
    incomplete: Option<Incomplete>,
) -> (UserMessage, &'static str) {
    let from = if m.source_ton == 1 && !m.source.starts_with('+') {
        format!("+{}", m.source)
    } else {
        m.source.clone()
    };
    let content = (encoding != Encoding::Binary).then(|| encoding.decode(octets));
    let mut msg = UserMessage::new(transport, "sms", &from, &m.destination, content);
    msg.transport_metadata
        .insert("smpp_data_coding".into(), json!(m.data_coding));
    if encoding == Encoding::Binary {
        let hex: String = octets.iter().map(|b| format!("{b:02x}")).collect();
        msg.transport_metadata
            .insert("smpp_binary".into(), json!(hex));
    }
    let Some(incomplete) = incomplete else {
        return (msg, "sms");
    };
    flag_incomplete(&mut msg.transport_metadata, "smpp", &incomplete);
    (msg, "sms_incomplete")
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
