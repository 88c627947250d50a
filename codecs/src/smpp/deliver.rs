//! What an inbound `deliver_sm` or `data_sm` carries for a transport, read in one pass from
//! the borrowed decode (the session's own, so a PDU is decoded once), and the `esm_class`
//! rules that say what it is: a delivery receipt, a part of a multipart message, a whole MO.
//!
//! Reference: SMPP 3.4 §4.6.1 (`deliver_sm`), §4.7.1 (`data_sm`), §5.2.12 (`esm_class`:
//! bits 5..2 the message type, bit 6 the UDH indicator), §5.3.2 (TLVs: `receipted_message_id`,
//! `message_state`, `message_payload`, `sar_*`, `ussd_service_op`, `its_session_info`,
//! `user_message_reference`); reference/vumi.md §3.5
//! (Vumi's receipt test: message type 0x04 or 0x20, or a `receipted_message_id` TLV with a
//! non-default type).
//!
//! The payload is `message_payload` when present, else `short_message`, as a slice of the
//! frame (no copy).
//!
//! Not handled here: decoding the text, UDH and receipt text (`codecs::sms`, [`super::receipt`]);
//! what a transport does with the message.

use bytes::Bytes;
use rusmpp_core::tlvs::borrowed::{Tlv, TlvValue};

use super::pdu::Pdu;

/// `esm_class` rules (SMPP 3.4 §5.2.12).
pub mod esm {
    /// The message type bits (5..2).
    pub const MESSAGE_TYPE: u8 = 0x3C;
    /// Message type: SMSC delivery receipt.
    pub const DELIVERY_RECEIPT: u8 = 0x04;
    /// Message type: intermediate delivery notification.
    pub const INTERMEDIATE_NOTIFICATION: u8 = 0x20;
    /// The UDH indicator: the payload starts with a user data header.
    pub const UDHI: u8 = 0x40;

    /// A delivery receipt or an intermediate notification by its message type.
    #[must_use]
    pub const fn is_receipt(esm_class: u8) -> bool {
        matches!(
            esm_class & MESSAGE_TYPE,
            DELIVERY_RECEIPT | INTERMEDIATE_NOTIFICATION
        )
    }

    /// The payload starts with a user data header.
    #[must_use]
    pub const fn has_udh(esm_class: u8) -> bool {
        esm_class & UDHI != 0
    }

    /// A message type other than the default (a receipt, an acknowledgement, …).
    #[must_use]
    pub const fn has_message_type(esm_class: u8) -> bool {
        esm_class & MESSAGE_TYPE != 0
    }
}

/// The SAR TLVs of a part (SMPP 3.4 §5.3.2.22–24), each as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sar {
    /// `sar_msg_ref_num`.
    pub reference: Option<u16>,
    /// `sar_total_segments`.
    pub total: Option<u8>,
    /// `sar_segment_seqnum`.
    pub seq: Option<u8>,
}

impl Sar {
    /// All three, when all three came.
    #[must_use]
    pub fn complete(&self) -> Option<(u16, u8, u8)> {
        Some((self.reference?, self.total?, self.seq?))
    }
}

/// An inbound `deliver_sm` or `data_sm` (or, at an SMPP server, a client's `submit_sm`: the
/// same fields), owned, its payload sharing the frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inbound {
    /// A `data_sm` rather than a `deliver_sm`.
    pub data_sm: bool,
    /// `service_type` (empty when absent; some SMSCs mark USSD with it).
    pub service_type: String,
    /// `source_addr`.
    pub source: String,
    /// `source_addr_ton`.
    pub source_ton: u8,
    /// `destination_addr`.
    pub destination: String,
    /// `dest_addr_ton`.
    pub destination_ton: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `esm_class` (see [`esm`]).
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `message_payload` when present, else `short_message` (UDH included, if any).
    pub payload: Bytes,
    /// `receipted_message_id`.
    pub receipted_id: Option<String>,
    /// `message_state`.
    pub message_state: Option<u8>,
    /// The SAR TLVs.
    pub sar: Sar,
    /// `ussd_service_op`.
    pub ussd_service_op: Option<u8>,
    /// `its_session_info`: the session number octet, then the sequence number octet (whose
    /// low bit ends the session), as one big-endian value.
    pub its_session_info: Option<u16>,
    /// `user_message_reference`.
    pub user_message_reference: Option<u16>,
}

impl Inbound {
    /// The message of a decoded `deliver_sm`, `data_sm` or `submit_sm` whose octets lie in
    /// `frame`; `None` for any other PDU.
    #[must_use]
    pub fn from_pdu(pdu: &Pdu<'_>, frame: &Bytes) -> Option<Self> {
        // A slice of the frame when `octets` lie in it (they do: the decode borrows from it),
        // a copy otherwise.
        let share = |octets: &[u8]| {
            let inside = frame.as_ptr_range();
            if octets.is_empty() {
                Bytes::new()
            } else if inside.contains(&octets.as_ptr()) && octets.as_ptr_range().end <= inside.end {
                frame.slice_ref(octets)
            } else {
                Bytes::copy_from_slice(octets)
            }
        };
        // deliver_sm and data_sm are distinct rusmpp types with the same field names.
        macro_rules! common_fields {
            ($d:expr, $data_sm:expr) => {
                Self {
                    data_sm: $data_sm,
                    service_type: $d.service_type.value().as_str().to_owned(),
                    source: $d.source_addr.as_str().to_owned(),
                    source_ton: u8::from($d.source_addr_ton),
                    destination: $d.destination_addr.as_str().to_owned(),
                    destination_ton: u8::from($d.dest_addr_ton),
                    registered_delivery: u8::from($d.registered_delivery),
                    esm_class: u8::from($d.esm_class),
                    data_coding: u8::from($d.data_coding),
                    ..Self::default()
                }
            };
        }
        let this = match pdu {
            Pdu::DeliverSm(d) => {
                let mut this = common_fields!(d, false);
                this.payload = share(d.short_message().as_ref());
                this.read_tlvs(d.tlvs(), &share);
                this
            }
            Pdu::SubmitSm(d) => {
                let mut this = common_fields!(d, false);
                this.payload = share(d.short_message().as_ref());
                this.read_tlvs(d.tlvs(), &share);
                this
            }
            Pdu::DataSm(d) => {
                let mut this = common_fields!(d, true);
                this.read_tlvs(d.tlvs(), &share);
                this
            }
            _ => return None,
        };
        Some(this)
    }

    fn read_tlvs(&mut self, tlvs: &[Tlv<'_>], share: &dyn Fn(&[u8]) -> Bytes) {
        for tlv in tlvs {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(id)) => {
                    self.receipted_id = Some(id.as_str().to_owned());
                }
                Some(TlvValue::MessageState(s)) => self.message_state = Some(u8::from(*s)),
                Some(TlvValue::MessagePayload(p)) => self.payload = share(p.value.as_ref()),
                Some(TlvValue::SarMsgRefNum(r)) => self.sar.reference = Some(*r),
                Some(TlvValue::SarTotalSegments(t)) => self.sar.total = Some(*t),
                Some(TlvValue::SarSegmentSeqnum(s)) => self.sar.seq = Some(*s),
                Some(TlvValue::UssdServiceOp(op)) => self.ussd_service_op = Some(u8::from(*op)),
                Some(TlvValue::ItsSessionInfo(i)) => {
                    self.its_session_info =
                        Some(u16::from(i.session_number) << 8 | u16::from(i.sequence_number));
                }
                Some(TlvValue::UserMessageReference(r)) => {
                    self.user_message_reference = Some(u16::from(*r));
                }
                _ => {}
            }
        }
    }

    /// A delivery receipt: by its message type, or a `receipted_message_id` with a message
    /// type other than the default (reference/vumi.md §3.5).
    #[must_use]
    pub fn is_receipt(&self) -> bool {
        esm::is_receipt(self.esm_class)
            || (self.receipted_id.is_some() && esm::has_message_type(self.esm_class))
    }

    /// One part of a multipart message: a UDH, or a SAR reference.
    #[must_use]
    pub fn is_part(&self) -> bool {
        esm::has_udh(self.esm_class) || self.sar.reference.is_some()
    }
}
