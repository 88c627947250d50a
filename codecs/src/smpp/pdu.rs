//! SMPP PDUs on the wire: the 16-octet header, framing limits, the borrowed (zero-copy)
//! decode for the hot path, the owned decode, and encoding.
//!
//! Reference: SMPP 3.4 §3.2 (PDU format: `command_length` counts the whole PDU, its own four
//! octets included; `command_id`, `command_status`, `sequence_number`, big-endian), §5.1.2
//! (command ids), §2.6 (sequence numbers 1..=0x7FFFFFFF); reference/smpp.md.
//!
//! * A *frame* is one whole PDU, length field included, exactly as framed by the driver's
//!   length-delimited codec (`drivers::smpp::codec`).
//! * [`decode`] gives a borrowed [`Command`] whose octet strings point into the frame: nothing
//!   is copied or allocated (TLVs live in a fixed-capacity vector of [`MAX_TLVS`]). This is
//!   the decode used for every inbound PDU (`deliver_sm`, `submit_sm_resp`, `enquire_link`, …).
//! * [`decode_owned`] gives rusmpp's owned model (for keeping a PDU or for building on it).
//! * [`encode`] writes any rusmpp command (owned or borrowed) with its length field;
//!   [`encode_empty`] writes a body-less PDU (responses with an error status,
//!   `enquire_link`, `unbind`, `generic_nack`) without building a rusmpp value.
//!
//! Decoding never panics; every error is a small `Copy` value with a `code()`.
//!
//! Not handled here: text encodings, UDH and receipts (`codecs::sms`, `smpp::receipt`), the
//! session rules of which PDU may come when (`drivers::smpp`).

use bytes::{BufMut, BytesMut};
use rusmpp_core::decode::DecodeErrorKind;
use rusmpp_core::decode::borrowed::DecodeWithLength as _;
use rusmpp_core::encode::Length;

use super::status;

/// Octets in the PDU header (`command_length`, `command_id`, `command_status`,
/// `sequence_number`).
pub const HEADER_LEN: usize = 16;

/// The default largest PDU accepted, in octets: room for a 64 KiB `message_payload` plus the
/// other fields.
pub const DEFAULT_MAX_PDU_BYTES: usize = 72 * 1024;

/// How many TLVs a borrowed PDU can hold; a PDU with more is undecodable.
pub const MAX_TLVS: usize = 32;

/// The largest sequence number; the next one after it is 1 (SMPP 3.4 §2.6).
pub const MAX_SEQUENCE_NUMBER: u32 = 0x7FFF_FFFF;

/// The bit that marks a response `command_id`.
pub const RESPONSE_BIT: u32 = 0x8000_0000;

/// Command ids used by the driver (SMPP 3.4 §5.1.2.1).
pub mod id {
    /// `generic_nack`.
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    /// `bind_receiver`.
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    /// `bind_transmitter`.
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    /// `query_sm`.
    pub const QUERY_SM: u32 = 0x0000_0003;
    /// `submit_sm`.
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    /// `deliver_sm`.
    pub const DELIVER_SM: u32 = 0x0000_0005;
    /// `unbind`.
    pub const UNBIND: u32 = 0x0000_0006;
    /// `bind_transceiver`.
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    /// `outbind`.
    pub const OUTBIND: u32 = 0x0000_000B;
    /// `enquire_link`.
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    /// `alert_notification` (has no response).
    pub const ALERT_NOTIFICATION: u32 = 0x0000_0102;
    /// `data_sm`.
    pub const DATA_SM: u32 = 0x0000_0103;
    /// `submit_sm_resp`.
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    /// `deliver_sm_resp`.
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    /// `unbind_resp`.
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    /// `enquire_link_resp`.
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    /// `data_sm_resp`.
    pub const DATA_SM_RESP: u32 = 0x8000_0103;
}

/// A borrowed command: octet strings borrow from the frame.
pub type Command<'a> = rusmpp_core::command::borrowed::Command<'a, MAX_TLVS>;
/// A borrowed PDU body.
pub type Pdu<'a> = rusmpp_core::pdus::borrowed::Pdu<'a, MAX_TLVS>;
/// A borrowed `deliver_sm` body.
pub type DeliverSm<'a> = rusmpp_core::pdus::borrowed::DeliverSm<'a, MAX_TLVS>;
/// A borrowed `data_sm` body.
pub type DataSm<'a> = rusmpp_core::pdus::borrowed::DataSm<'a, MAX_TLVS>;
/// A borrowed `submit_sm` body.
pub type SubmitSm<'a> = rusmpp_core::pdus::borrowed::SubmitSm<'a, MAX_TLVS>;
/// A borrowed `submit_sm_resp` body.
pub type SubmitSmResp<'a> = rusmpp_core::pdus::borrowed::SubmitSmResp<'a, MAX_TLVS>;
/// An owned command (rusmpp's owned model).
pub type OwnedCommand = rusmpp_core::command::owned::Command;

/// The PDU header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Octets in the whole PDU, these four included.
    pub command_length: u32,
    /// The command id (bit 31 set on responses).
    pub command_id: u32,
    /// The status (0 on requests).
    pub command_status: u32,
    /// The sequence number that pairs a response with its request.
    pub sequence_number: u32,
}

impl Header {
    /// The header at the start of `frame`, or `None` when it is shorter than 16 octets.
    pub fn peek(frame: &[u8]) -> Option<Self> {
        let word = |at: usize| -> Option<u32> {
            let bytes: [u8; 4] = frame.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(bytes))
        };
        Some(Self {
            command_length: word(0)?,
            command_id: word(4)?,
            command_status: word(8)?,
            sequence_number: word(12)?,
        })
    }

    /// The command is a response (bit 31 of the id).
    pub const fn is_response(&self) -> bool {
        self.command_id & RESPONSE_BIT != 0
    }

    /// The metric label of the command ([`command_name`]).
    pub const fn name(&self) -> &'static str {
        command_name(self.command_id)
    }
}

/// Why a frame is not a decodable PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the 16-octet header.
    #[error("pdu of {len} octets is shorter than its header")]
    TooShort {
        /// Octets in the frame.
        len: usize,
    },
    /// `command_length` is not the frame's length.
    #[error("command_length {declared} does not match the frame of {actual} octets")]
    LengthMismatch {
        /// The header's `command_length`.
        declared: u32,
        /// Octets in the frame.
        actual: usize,
    },
    /// The body ends before its fields do.
    #[error("pdu body truncated")]
    Truncated,
    /// A field is malformed (a C-string without its NUL, an octet string too long, …).
    #[error("malformed field in the pdu body")]
    InvalidField,
    /// More TLVs (or list entries) than a decoded PDU can hold.
    #[error("too many tlvs or list entries (at most {max})")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// A value that selects a variant (e.g. a TLV tag's content) is not supported.
    #[error("unsupported value {key:#x} in the pdu body")]
    Unsupported {
        /// The value.
        key: u32,
    },
    /// Any other body error.
    #[error("undecodable pdu body")]
    Other,
}

impl DecodeError {
    /// A stable snake_case code, usable as a metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::LengthMismatch { .. } => "length_mismatch",
            Self::Truncated => "truncated",
            Self::InvalidField => "invalid_field",
            Self::TooMany { .. } => "too_many",
            Self::Unsupported { .. } => "unsupported",
            Self::Other => "other",
        }
    }

    /// The status to put in the `generic_nack` that answers such a PDU: `ESME_RINVCMDLEN` for
    /// length errors, `ESME_RSYSERR` otherwise.
    pub const fn nack_status(&self) -> u32 {
        match self {
            Self::TooShort { .. } | Self::LengthMismatch { .. } | Self::Truncated => {
                status::RINVCMDLEN
            }
            _ => status::RSYSERR,
        }
    }

    fn from_rusmpp(error: &rusmpp_core::decode::DecodeError) -> Self {
        match error.kind() {
            DecodeErrorKind::UnexpectedEof => Self::Truncated,
            DecodeErrorKind::COctetStringDecodeError(_)
            | DecodeErrorKind::OctetStringDecodeError(_)
            | DecodeErrorKind::UdhDecodeError(_) => Self::InvalidField,
            DecodeErrorKind::TooManyElements { max } => Self::TooMany { max },
            DecodeErrorKind::UnsupportedKey { key } => Self::Unsupported { key },
            _ => Self::Other,
        }
    }
}

/// Checks the header of a whole-PDU frame and returns it.
pub fn check_frame(frame: &[u8]) -> Result<Header, DecodeError> {
    let header = Header::peek(frame).ok_or(DecodeError::TooShort { len: frame.len() })?;
    if usize::try_from(header.command_length).ok() != Some(frame.len()) {
        return Err(DecodeError::LengthMismatch {
            declared: header.command_length,
            actual: frame.len(),
        });
    }
    Ok(header)
}

/// Decodes a whole-PDU frame (length field included) without copying: the returned command
/// borrows from `frame`. A command whose body is absent (e.g. an error `submit_sm_resp` with no
/// `message_id`, as some SMSCs send) decodes with `pdu() == None`; an unknown command id
/// decodes as `Pdu::Other`.
pub fn decode(frame: &[u8]) -> Result<Command<'_>, DecodeError> {
    check_frame(frame)?;
    let rest = frame.get(4..).unwrap_or_default();
    let (command, used) =
        Command::decode(rest, rest.len()).map_err(|error| DecodeError::from_rusmpp(&error))?;
    consistent(rest.len(), used, command.length())?;
    Ok(command)
}

/// rusmpp accepts a body it did not read to the end, or a TLV whose length field disagrees
/// with the value it parsed (it keeps the wire length, so re-encoding would give a PDU that
/// does not decode; found by the `smpp_pdu` fuzz target). Both are malformed PDUs.
fn consistent(body: usize, used: usize, encoded: usize) -> Result<(), DecodeError> {
    if used == body && encoded == body {
        Ok(())
    } else {
        Err(DecodeError::InvalidField)
    }
}

/// Decodes a whole-PDU frame into rusmpp's owned model (copies the frame once).
pub fn decode_owned(frame: &[u8]) -> Result<OwnedCommand, DecodeError> {
    use rusmpp_core::decode::owned::DecodeWithLength as _;
    check_frame(frame)?;
    let rest = frame.get(4..).unwrap_or_default();
    let mut buf = BytesMut::from(rest);
    let length = buf.len();
    let (command, used) =
        OwnedCommand::decode(&mut buf, length).map_err(|error| DecodeError::from_rusmpp(&error))?;
    consistent(length, used, command.length())?;
    Ok(command)
}

/// Appends a command (owned or borrowed rusmpp command) as a whole PDU, length field included.
/// Returns the number of octets written.
pub fn encode<C>(command: &C, dst: &mut BytesMut) -> usize
where
    C: Length + rusmpp_core::encode::owned::Encode,
{
    let length = command.length().saturating_add(4);
    dst.reserve(length);
    dst.put_u32(u32::try_from(length).unwrap_or(u32::MAX));
    command.encode(dst);
    length
}

/// Appends a PDU that has only a header: `enquire_link`, `unbind`, their responses,
/// `generic_nack`, or any response carrying an error status without a body.
pub fn encode_empty(
    command_id: u32,
    command_status: u32,
    sequence_number: u32,
    dst: &mut BytesMut,
) {
    dst.reserve(HEADER_LEN);
    dst.put_u32(HEADER_LEN as u32);
    dst.put_u32(command_id);
    dst.put_u32(command_status);
    dst.put_u32(sequence_number);
}

/// Overwrites the sequence number of an encoded PDU (used to resend a PDU under a new number).
/// Returns `false` when `frame` is shorter than a header.
pub fn set_sequence_number(frame: &mut [u8], sequence_number: u32) -> bool {
    match frame.get_mut(12..16) {
        Some(field) => {
            field.copy_from_slice(&sequence_number.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Writes the frame's own length into its `command_length` field. Returns `false` when
/// `frame` is shorter than the field or longer than `u32::MAX`.
pub fn set_command_length(frame: &mut [u8]) -> bool {
    let Ok(length) = u32::try_from(frame.len()) else {
        return false;
    };
    match frame.get_mut(..4) {
        Some(field) => {
            field.copy_from_slice(&length.to_be_bytes());
            true
        }
        None => false,
    }
}

/// The sequence number after `current`: 1..=0x7FFFFFFF, wrapping to 1.
pub const fn next_sequence_number(current: u32) -> u32 {
    if current >= MAX_SEQUENCE_NUMBER || current == 0 {
        1
    } else {
        current + 1
    }
}

/// A bounded metric label for a command id: its snake_case name, or `"other"`.
pub const fn command_name(command_id: u32) -> &'static str {
    match command_id {
        0x8000_0000 => "generic_nack",
        0x0000_0001 => "bind_receiver",
        0x8000_0001 => "bind_receiver_resp",
        0x0000_0002 => "bind_transmitter",
        0x8000_0002 => "bind_transmitter_resp",
        0x0000_0003 => "query_sm",
        0x8000_0003 => "query_sm_resp",
        0x0000_0004 => "submit_sm",
        0x8000_0004 => "submit_sm_resp",
        0x0000_0005 => "deliver_sm",
        0x8000_0005 => "deliver_sm_resp",
        0x0000_0006 => "unbind",
        0x8000_0006 => "unbind_resp",
        0x0000_0007 => "replace_sm",
        0x8000_0007 => "replace_sm_resp",
        0x0000_0008 => "cancel_sm",
        0x8000_0008 => "cancel_sm_resp",
        0x0000_0009 => "bind_transceiver",
        0x8000_0009 => "bind_transceiver_resp",
        0x0000_000B => "outbind",
        0x0000_0015 => "enquire_link",
        0x8000_0015 => "enquire_link_resp",
        0x0000_0021 => "submit_multi",
        0x8000_0021 => "submit_multi_resp",
        0x0000_0102 => "alert_notification",
        0x0000_0103 => "data_sm",
        0x8000_0103 => "data_sm_resp",
        _ => "other",
    }
}
