//! The message side of the simulated SMSC: reading a `submit_sm` (addresses, data_coding,
//! UDH or SAR parts, text), joining parts, and building `deliver_sm` PDUs (MO parts,
//! delivery receipts, a truncated one).
//!
//! Reference: SMPP 3.4 §4.4.1 (submit_sm), §4.6.1 (deliver_sm), §5.2.12 (esm_class: 0x40
//! UDHI, 0x04 receipt), §5.2.17 (registered_delivery), §5.2.19 (data_coding), §5.3.2.22–24
//! (SAR TLVs), §5.3.2.12 (receipted_message_id), §5.3.2.35 (message_state), Appendix B
//! (receipt text); TS 23.040 §9.2.3.24.1 (concatenation UDH). Text codings are
//! `richmond_codecs::sms` (GSM-7 unpacked, Latin-1, ASCII, UCS2).
//!
//! Not handled here: the message_payload TLV on outbound PDUs (parts always use
//! short_message), national language shift tables.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

/// Milliseconds since the simulator's first submit, on a monotonic clock (for rate checks).
fn received_ms() -> u128 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis()
}
use richmond_codecs::smpp::pdu::{self, DecodeError, Pdu};
use richmond_codecs::smpp::receipt;
use richmond_codecs::smpp::rusmpp::pdus::DeliverSm;
use richmond_codecs::smpp::rusmpp::tlvs::MessageDeliveryRequestTlvValue as Tlv;
use richmond_codecs::smpp::rusmpp::types::{COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::{DataCoding, EsmClass, MessageState};
use richmond_codecs::smpp::rusmpp_core::tlvs::borrowed::TlvValue;
use richmond_codecs::sms::{self, Encoding, Method, Udh};
use serde_json::{Value, json};

/// esm_class bit: short_message starts with a user data header.
const UDHI: u8 = 0x40;
/// esm_class message type: SMSC delivery receipt.
const RECEIPT: u8 = 0x04;
/// At most this many unfinished multipart messages are kept; more clears them all.
const MAX_PARTIAL: usize = 10_000;

/// How the parts of one message are tied together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Tie {
    Udh,
    Sar,
}

/// One part's place in its message.
#[derive(Clone, Copy, Debug)]
pub(super) struct Part {
    tie: Tie,
    reference: u16,
    total: u8,
    seq: u8,
}

/// A decoded `submit_sm`.
#[derive(Debug)]
pub(super) struct Submit {
    source: String,
    destination: String,
    esm_class: u8,
    data_coding: u8,
    registered_delivery: u8,
    part: Option<Part>,
    /// The user data after any UDH (from message_payload when short_message is empty).
    body: Vec<u8>,
    payload_tlv: bool,
    /// `ussd_service_op`, `its_session_info`, `user_message_reference`.
    pub(super) ussd: Option<(u8, Option<u16>, Option<u16>)>,
}

/// Reads the `submit_sm` in `frame`.
pub(super) fn decode_submit(frame: &[u8]) -> Result<Submit, DecodeError> {
    let command = pdu::decode(frame)?;
    let Some(Pdu::SubmitSm(sm)) = command.pdu() else {
        return Err(DecodeError::Other);
    };
    let (mut sar_ref, mut sar_total, mut sar_seq, mut payload) = (None, None, None, None);
    let (mut op, mut its, mut umr) = (None, None, None);
    for tlv in sm.tlvs() {
        match tlv.value() {
            Some(TlvValue::UssdServiceOp(o)) => op = Some(u8::from(*o)),
            Some(TlvValue::ItsSessionInfo(i)) => {
                its = Some(u16::from_be_bytes([i.session_number, i.sequence_number]));
            }
            Some(TlvValue::UserMessageReference(r)) => umr = Some(u16::from(*r)),
            Some(TlvValue::SarMsgRefNum(r)) => sar_ref = Some(*r),
            Some(TlvValue::SarTotalSegments(t)) => sar_total = Some(*t),
            Some(TlvValue::SarSegmentSeqnum(s)) => sar_seq = Some(*s),
            Some(TlvValue::MessagePayload(p)) => payload = Some(p.value.bytes()),
            _ => {}
        }
    }
    let esm_class = u8::from(sm.esm_class);
    let short = sm.short_message().bytes();
    let payload_tlv = short.is_empty() && payload.is_some();
    let data = if payload_tlv {
        payload.unwrap_or_default()
    } else {
        short
    };
    let mut part = match (sar_ref, sar_total, sar_seq) {
        (Some(reference), Some(total), Some(seq)) if total > 1 && seq >= 1 && seq <= total => {
            Some(Part {
                tie: Tie::Sar,
                reference,
                total,
                seq,
            })
        }
        _ => None,
    };
    let mut body = data;
    if esm_class & UDHI != 0
        && let Ok((udh, rest)) = Udh::parse(data)
    {
        body = rest;
        if let Some(c) = udh.concat()
            && c.total > 1
            && part.is_none()
        {
            part = Some(Part {
                tie: Tie::Udh,
                reference: c.reference,
                total: c.total,
                seq: c.seq,
            });
        }
    }
    Ok(Submit {
        source: sm.source_addr.as_str().to_owned(),
        destination: sm.destination_addr.as_str().to_owned(),
        esm_class,
        data_coding: u8::from(sm.data_coding),
        registered_delivery: u8::from(sm.registered_delivery),
        part,
        body: body.to_vec(),
        payload_tlv,
        ussd: op.map(|op| (op, its, umr)),
    })
}

/// The text of `octets` for data_coding 0 (GSM-7), 1, 3 and 8; `None` for other codings.
fn text_of(data_coding: u8, octets: &[u8]) -> Option<String> {
    matches!(data_coding, 0 | 1 | 3 | 8)
        .then(|| Encoding::from_data_coding(data_coding, Encoding::Gsm7).decode(octets))
}

fn hex(octets: &[u8]) -> String {
    octets.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Submit {
    pub(super) fn destination(&self) -> &str {
        &self.destination
    }

    /// The text, when the data_coding is one the simulator reads.
    pub(super) fn text(&self) -> Option<String> {
        text_of(self.data_coding, &self.body)
    }

    /// The `submit_sm` event (without the answer, which the caller adds), with when it was
    /// read (`received_ms`, milliseconds on the simulator's monotonic clock).
    pub(super) fn event(&self, connection: u64) -> Value {
        let (udh, sar) = match self.part {
            Some(p) => {
                let v = json!({"ref": p.reference, "total": p.total, "seq": p.seq});
                match p.tie {
                    Tie::Udh => (v, Value::Null),
                    Tie::Sar => (Value::Null, v),
                }
            }
            None => (Value::Null, Value::Null),
        };
        let mut event = json!({"event": "submit_sm", "connection": connection,
            "source": self.source, "destination": self.destination,
            "data_coding": self.data_coding, "esm_class": self.esm_class,
            "registered_delivery": self.registered_delivery,
            "text": text_of(self.data_coding, &self.body), "udh": udh, "sar": sar,
            "message_payload": self.payload_tlv, "received_ms": received_ms()});
        if event["text"].is_null() {
            event["hex"] = json!(hex(&self.body));
        }
        event
    }

    /// Records an accepted part; returns the `message` event when its message is complete
    /// (at once for a single message) and the whole text for the receipt.
    pub(super) fn collect(
        &self,
        partial: &mut HashMap<PartKey, Parts>,
        message_id: &str,
    ) -> Option<Value> {
        let Some(p) = self.part else {
            return Some(json!({"event": "message", "source": self.source,
                "destination": self.destination, "data_coding": self.data_coding,
                "text": text_of(self.data_coding, &self.body), "parts": 1,
                "message_ids": [message_id]}));
        };
        if partial.len() >= MAX_PARTIAL {
            partial.clear();
        }
        let key = (
            self.source.clone(),
            self.destination.clone(),
            p.tie,
            p.reference,
            p.total,
        );
        let entry = partial.entry(key.clone()).or_insert_with(|| Parts {
            data_coding: self.data_coding,
            parts: BTreeMap::new(),
        });
        entry
            .parts
            .insert(p.seq, (self.body.clone(), message_id.to_owned()));
        if entry.parts.len() < usize::from(p.total) {
            return None;
        }
        let parts = partial.remove(&key)?;
        let octets = sms::segment::reassemble(
            p.total,
            parts.parts.iter().map(|(seq, (b, _))| (*seq, b.as_slice())),
        )
        .ok()?;
        let ids: Vec<&str> = parts.parts.values().map(|(_, id)| id.as_str()).collect();
        Some(json!({"event": "message", "source": self.source,
            "destination": self.destination, "data_coding": parts.data_coding,
            "text": text_of(parts.data_coding, &octets), "parts": p.total,
            "message_ids": ids}))
    }

    /// What a receipt needs to know about this submit, once accepted as `id_number`.
    pub(super) fn submitted(&self, id_number: u64) -> Submitted {
        Submitted {
            id_number,
            source: self.source.clone(),
            destination: self.destination.clone(),
            registered_delivery: self.registered_delivery,
            text: text_of(self.data_coding, &self.body).unwrap_or_default(),
            submit_date: receipt::now(),
        }
    }
}

/// Source, destination, tie and reference of a multipart message (and its total).
pub(super) type PartKey = (String, String, Tie, u16, u8);

/// The parts of one multipart message received so far: seq → (octets, message id).
#[derive(Debug)]
pub(super) struct Parts {
    data_coding: u8,
    parts: BTreeMap<u8, (Vec<u8>, String)>,
}

/// An accepted submit awaiting its receipt.
#[derive(Debug)]
pub(super) struct Submitted {
    pub(super) id_number: u64,
    source: String,
    destination: String,
    registered_delivery: u8,
    text: String,
    submit_date: String,
}

impl Submitted {
    /// registered_delivery 1 (always) or 2 (on failure, when `stat` is not DELIVRD).
    pub(super) fn wants_receipt(&self, stat: &str) -> bool {
        match self.registered_delivery & 0x03 {
            1 => true,
            2 => stat != "DELIVRD",
            _ => false,
        }
    }
}

fn address(value: &str, what: &str) -> Result<COctetString<1, 21>, String> {
    value
        .parse()
        .map_err(|_| format!("{what} {value:?} is not an smpp address (1-20 ascii characters)"))
}

pub(super) fn deliver_sm(
    source: &str,
    destination: &str,
    esm_class: u8,
    data_coding: u8,
    short_message: &[u8],
    tlvs: Vec<Tlv>,
) -> Result<DeliverSm, String> {
    let short_message =
        OctetString::from_slice(short_message).map_err(|e| format!("short_message: {e}"))?;
    Ok(DeliverSm::builder()
        .source_addr(address(source, "source")?)
        .destination_addr(address(destination, "destination")?)
        .esm_class(EsmClass::from(esm_class))
        .data_coding(DataCoding::from(data_coding))
        .short_message(short_message)
        .tlvs(tlvs)
        .build())
}

/// The deliver_sm PDUs of an MO message (`verb` is `mo`, `mo-ucs2` or `mo-sar`).
pub(super) fn mo(
    from: &str,
    to: &str,
    text: &str,
    verb: &str,
    reference: u16,
) -> Result<Vec<DeliverSm>, String> {
    let encoding = if verb == "mo-ucs2" {
        Encoding::Ucs2
    } else {
        sms::choose(text, Encoding::Gsm7)
    };
    let method = if verb == "mo-sar" {
        Method::Raw
    } else {
        Method::Udh8
    };
    let parts = sms::segment(text, encoding, reference, method).map_err(|e| e.to_string())?;
    let total = u8::try_from(parts.len()).map_err(|_| "too many parts".to_owned())?;
    let esm_class = if total > 1 && method == Method::Udh8 {
        UDHI
    } else {
        0
    };
    (1..=total)
        .zip(parts)
        .map(|(seq, octets)| {
            let tlvs = if total > 1 && method == Method::Raw {
                vec![
                    Tlv::SarMsgRefNum(reference),
                    Tlv::SarTotalSegments(total),
                    Tlv::SarSegmentSeqnum(seq),
                ]
            } else {
                Vec::new()
            };
            deliver_sm(from, to, esm_class, encoding.data_coding(), &octets, tlvs)
        })
        .collect()
}

/// The delivery receipt of `submit`, reporting `id` with `stat` (Appendix B text and the
/// receipted_message_id and message_state TLVs; from the submit's destination to its source).
pub(super) fn receipt(submit: &Submitted, id: &str, stat: &str) -> Result<DeliverSm, String> {
    let text = receipt::text(id, stat, &submit.submit_date, &receipt::now(), &submit.text);
    let receipted: COctetString<1, 65> = id
        .parse()
        .map_err(|_| format!("message id {id:?} does not fit receipted_message_id"))?;
    let tlvs = vec![
        Tlv::ReceiptedMessageId(receipted),
        Tlv::MessageState(MessageState::from(receipt::message_state(stat))),
    ];
    let octets = text.into_bytes();
    deliver_sm(
        &submit.destination,
        &submit.source,
        RECEIPT,
        0,
        &octets,
        tlvs,
    )
}

/// A deliver_sm whose body stops in the middle of its fields, with a `command_length` that
/// matches what is sent (so framing holds): the ESME must answer it with generic_nack.
pub(super) fn truncated(sequence_number: u32) -> Bytes {
    let mut frame = BytesMut::new();
    pdu::encode_empty(pdu::id::DELIVER_SM, 0, sequence_number, &mut frame);
    // service_type "", source ton/npi, source_addr "2782", dest_addr_ton — and nothing after.
    frame.extend_from_slice(b"\0\x01\x012782\0\x01");
    pdu::set_command_length(&mut frame);
    frame.freeze()
}

/// A PDU whose command_length (8) is below the 16-octet header: the reader's framing is lost.
pub(super) fn malformed() -> Bytes {
    Bytes::from_static(&[0, 0, 0, 8, 0, 0, 0, 5])
}

/// A well-framed PDU with an unknown command id (0x00000999) and no body.
pub(super) fn unknown(sequence_number: u32) -> Bytes {
    let mut frame = BytesMut::new();
    pdu::encode_empty(0x0000_0999, 0, sequence_number, &mut frame);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_text_and_tlvs_parse_back() {
        let submit = Submitted {
            id_number: 7,
            source: "1234".into(),
            destination: "27831234567".into(),
            registered_delivery: 1,
            text: "Hello, world! çava".into(),
            submit_date: "2401011200".into(),
        };
        let pdu = receipt(&submit, "7", "UNDELIV").unwrap();
        let mut frame = BytesMut::new();
        let command = richmond_codecs::smpp::rusmpp::Command::new(
            richmond_codecs::smpp::rusmpp::CommandStatus::EsmeRok,
            1,
            pdu,
        );
        pdu::encode(&command, &mut frame);
        let decoded = pdu::decode(&frame).unwrap();
        let Some(Pdu::DeliverSm(d)) = decoded.pdu() else {
            panic!("not a deliver_sm");
        };
        assert_eq!(u8::from(d.esm_class), RECEIPT);
        let text = std::str::from_utf8(d.short_message().bytes()).unwrap();
        let r = receipt::parse(text).unwrap();
        assert_eq!((&*r.id, &*r.stat), ("7", "UNDELIV"));
        assert!(text.ends_with("text:Hello world ava"), "{text}");
        assert_eq!(d.tlvs().len(), 2);
    }

    #[test]
    fn long_mo_is_split_with_udh_and_joins_back() {
        let text = "x".repeat(200);
        let pdus = mo("2782", "1234", &text, "mo", 9).unwrap();
        assert_eq!(pdus.len(), 2);
        assert_eq!(u8::from(pdus[0].esm_class), UDHI);
        let sar = mo("2782", "1234", &text, "mo-sar", 9).unwrap();
        assert_eq!(sar[1].tlvs().len(), 3);
        assert_eq!(u8::from(sar[1].esm_class), 0);
        let ucs2 = mo("2782", "1234", "hi", "mo-ucs2", 1).unwrap();
        assert_eq!(ucs2[0].short_message().as_ref(), [0, b'h', 0, b'i']);
        assert!(mo("x".repeat(30).as_str(), "1", "t", "mo", 1).is_err());
    }

    #[test]
    fn broken_pdus_are_what_they_claim() {
        let t = truncated(5);
        assert_eq!(
            pdu::check_frame(&t).map(|h| h.command_id),
            Ok(pdu::id::DELIVER_SM)
        );
        assert!(pdu::decode(&t).is_err());
        assert!(matches!(
            pdu::decode(&unknown(3)).map(|c| c.pdu().cloned()),
            Ok(Some(Pdu::Other { .. }) | None)
        ));
        assert_eq!(malformed().len(), 8);
    }
}
