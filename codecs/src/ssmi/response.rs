//! Server → client SSMI messages ([`Response`]): decoding one line and encoding it back (the
//! encoder serves the simulator).
//!
//! Reference: reference/vumi.md §4.3 (txssmi `SSMI_RESPONSES`) and §4.5 (genfields).
//! Ids `110`/`111` are one variant ([`Response::Ussd`], extended when it has genfields). Not
//! handled: the "extended return" messages `113`, `116`, `117`, `118`, whose field layout no
//! public source gives — they decode as [`Decoded::Unknown`] and the link stays up.

use bytes::{Bytes, BytesMut};

use super::Decoded;
use super::codes::{AckType, Coding, DrStatus, NackReason, Phase, Pid, UssdType};
use super::error::{EncodeError, LineError};
use super::field::{Charset, Genfields, Text};
use super::wire::{Fields, LineWriter, split_header, write_line};

/// A message the server (TruTeq) sends to the client (the gateway).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// `100` SEQ: `msisdn, sequence` — the sequence a later DR refers to.
    Seq {
        /// The MSISDN the SMS went to.
        msisdn: Bytes,
        /// TruTeq's sequence.
        sequence: Bytes,
    },
    /// `101` ACK: `ack_type`.
    Ack {
        /// What is acknowledged (login, link check).
        ack_type: AckType,
    },
    /// `102` NACK: `nack_type`.
    Nack {
        /// Why.
        reason: NackReason,
    },
    /// `103` MO (text SMS): `msisdn, sequence, message`.
    Mo {
        /// Sender MSISDN.
        msisdn: Bytes,
        /// TruTeq's sequence.
        sequence: Bytes,
        /// The text.
        message: Text,
    },
    /// `104` DR (delivery report): `msisdn, sequence, ret_code`.
    DeliveryReport {
        /// Destination MSISDN of the SMS.
        msisdn: Bytes,
        /// The sequence given in the SEQ.
        sequence: Bytes,
        /// Outcome.
        status: DrStatus,
    },
    /// `105` FREE_FORM: `text`.
    FreeForm {
        /// The text.
        text: Text,
    },
    /// `106` BINARY_MO: `msisdn, sequence, pid, coding, hex_msg`.
    BinaryMo {
        /// Sender MSISDN.
        msisdn: Bytes,
        /// TruTeq's sequence.
        sequence: Bytes,
        /// Protocol id.
        pid: Pid,
        /// Data coding.
        coding: Coding,
        /// The payload as hex.
        hex_msg: Bytes,
    },
    /// `107` PREMIUM_MO: `msisdn, sequence, destination, message`.
    PremiumMo {
        /// Sender MSISDN.
        msisdn: Bytes,
        /// TruTeq's sequence.
        sequence: Bytes,
        /// The premium number the user sent to.
        destination: Bytes,
        /// The text.
        message: Text,
    },
    /// `108` PREMIUM_BINARY_MO: `msisdn, sequence, pid, coding, destination, hex_msg`.
    PremiumBinaryMo {
        /// Sender MSISDN.
        msisdn: Bytes,
        /// TruTeq's sequence.
        sequence: Bytes,
        /// Protocol id.
        pid: Pid,
        /// Data coding.
        coding: Coding,
        /// The premium number the user sent to.
        destination: Bytes,
        /// The payload as hex.
        hex_msg: Bytes,
    },
    /// `110` USSD_MESSAGE `msisdn, type, phase, message`, or with genfields `111`
    /// EXTENDED_USSD_MESSAGE `msisdn, type, phase, genfields, message`.
    Ussd {
        /// The user's MSISDN.
        msisdn: Bytes,
        /// USSD type (1 new, 2 continue, 3 end, 4 timeout, …).
        ussd_type: UssdType,
        /// USSD phase.
        phase: Phase,
        /// `Some` for the extended form (`111`).
        genfields: Option<Genfields>,
        /// The text (the dialled code for a new session).
        message: Text,
    },
    /// `199` LOGOUT (remote logout): `ip` — e.g. another login from that address.
    RemoteLogout {
        /// The address given by the server.
        ip: Bytes,
    },
    /// `600` IMSI_LOOKUP_REPLY: `sequence, msisdn, imsi, spid`.
    ImsiLookupReply {
        /// The sequence of the lookup request.
        sequence: Bytes,
        /// The MSISDN.
        msisdn: Bytes,
        /// Its IMSI.
        imsi: Bytes,
        /// Service provider id.
        spid: Bytes,
    },
}

impl Response {
    /// Decodes one line (without its CR).
    pub fn decode(line: &Bytes) -> Decoded<Self> {
        match split_header(line) {
            Err(reason) => Decoded::Rejected { reason },
            Ok((id, rest)) => match Self::decode_fields(line, id, rest) {
                Ok(Some(response)) => Decoded::Message(response),
                Ok(None) => Decoded::Unknown { id },
                Err(reason) => Decoded::Rejected { reason },
            },
        }
    }

    fn decode_fields(
        line: &Bytes,
        id: u32,
        rest: Option<&[u8]>,
    ) -> Result<Option<Self>, LineError> {
        let split = |command, count| Fields::split(line, rest, command, count);
        Ok(Some(match id {
            100 => {
                let f = split("SEQ", 2)?;
                Self::Seq {
                    msisdn: f.bytes(0),
                    sequence: f.bytes(1),
                }
            }
            101 => Self::Ack {
                ack_type: split("ACK", 1)?.number(0, "ack_type")?,
            },
            102 => Self::Nack {
                reason: split("NACK", 1)?.number(0, "nack_type")?,
            },
            103 => {
                let f = split("MO", 3)?;
                Self::Mo {
                    msisdn: f.bytes(0),
                    sequence: f.bytes(1),
                    message: f.text(2),
                }
            }
            104 => {
                let f = split("DR", 3)?;
                Self::DeliveryReport {
                    msisdn: f.bytes(0),
                    sequence: f.bytes(1),
                    status: f.number(2, "ret_code")?,
                }
            }
            105 => Self::FreeForm {
                text: split("FREE_FORM", 1)?.text(0),
            },
            106 => {
                let f = split("BINARY_MO", 5)?;
                Self::BinaryMo {
                    msisdn: f.bytes(0),
                    sequence: f.bytes(1),
                    pid: f.number(2, "pid")?,
                    coding: f.number(3, "coding")?,
                    hex_msg: f.bytes(4),
                }
            }
            107 => {
                let f = split("PREMIUM_MO", 4)?;
                Self::PremiumMo {
                    msisdn: f.bytes(0),
                    sequence: f.bytes(1),
                    destination: f.bytes(2),
                    message: f.text(3),
                }
            }
            108 => {
                let f = split("PREMIUM_BINARY_MO", 6)?;
                Self::PremiumBinaryMo {
                    msisdn: f.bytes(0),
                    sequence: f.bytes(1),
                    pid: f.number(2, "pid")?,
                    coding: f.number(3, "coding")?,
                    destination: f.bytes(4),
                    hex_msg: f.bytes(5),
                }
            }
            110 => {
                let f = split("USSD_MESSAGE", 4)?;
                Self::Ussd {
                    msisdn: f.bytes(0),
                    ussd_type: f.number(1, "type")?,
                    phase: f.number(2, "phase")?,
                    genfields: None,
                    message: f.text(3),
                }
            }
            111 => {
                let f = split("EXTENDED_USSD_MESSAGE", 5)?;
                Self::Ussd {
                    msisdn: f.bytes(0),
                    ussd_type: f.number(1, "type")?,
                    phase: f.number(2, "phase")?,
                    genfields: Some(f.genfields(3)),
                    message: f.text(4),
                }
            }
            199 => Self::RemoteLogout {
                ip: split("LOGOUT", 1)?.bytes(0),
            },
            600 => {
                let f = split("IMSI_LOOKUP_REPLY", 4)?;
                Self::ImsiLookupReply {
                    sequence: f.bytes(0),
                    msisdn: f.bytes(1),
                    imsi: f.bytes(2),
                    spid: f.bytes(3),
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The command id on the wire.
    pub const fn id(&self) -> u32 {
        match self {
            Self::Seq { .. } => 100,
            Self::Ack { .. } => 101,
            Self::Nack { .. } => 102,
            Self::Mo { .. } => 103,
            Self::DeliveryReport { .. } => 104,
            Self::FreeForm { .. } => 105,
            Self::BinaryMo { .. } => 106,
            Self::PremiumMo { .. } => 107,
            Self::PremiumBinaryMo { .. } => 108,
            Self::Ussd {
                genfields: None, ..
            } => 110,
            Self::Ussd {
                genfields: Some(_), ..
            } => 111,
            Self::RemoteLogout { .. } => 199,
            Self::ImsiLookupReply { .. } => 600,
        }
    }

    /// A stable snake_case name, usable as a metric label.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Seq { .. } => "seq",
            Self::Ack { .. } => "ack",
            Self::Nack { .. } => "nack",
            Self::Mo { .. } => "mo",
            Self::DeliveryReport { .. } => "delivery_report",
            Self::FreeForm { .. } => "free_form",
            Self::BinaryMo { .. } => "binary_mo",
            Self::PremiumMo { .. } => "premium_mo",
            Self::PremiumBinaryMo { .. } => "premium_binary_mo",
            Self::Ussd {
                genfields: None, ..
            } => "ussd",
            Self::Ussd {
                genfields: Some(_), ..
            } => "extended_ussd",
            Self::RemoteLogout { .. } => "remote_logout",
            Self::ImsiLookupReply { .. } => "imsi_lookup_reply",
        }
    }

    /// The MSISDN the message is about, when it carries one.
    pub const fn msisdn(&self) -> Option<&Bytes> {
        match self {
            Self::Seq { msisdn, .. }
            | Self::Mo { msisdn, .. }
            | Self::DeliveryReport { msisdn, .. }
            | Self::BinaryMo { msisdn, .. }
            | Self::PremiumMo { msisdn, .. }
            | Self::PremiumBinaryMo { msisdn, .. }
            | Self::Ussd { msisdn, .. }
            | Self::ImsiLookupReply { msisdn, .. } => Some(msisdn),
            Self::Ack { .. }
            | Self::Nack { .. }
            | Self::FreeForm { .. }
            | Self::RemoteLogout { .. } => None,
        }
    }

    /// The message text, for the kinds that carry one (MO, premium MO, USSD, free form).
    pub const fn text(&self) -> Option<&Text> {
        match self {
            Self::Mo { message, .. }
            | Self::PremiumMo { message, .. }
            | Self::Ussd { message, .. } => Some(message),
            Self::FreeForm { text } => Some(text),
            _ => None,
        }
    }

    /// Appends the line and its CR to `buf`. On error `buf` is left as it was.
    pub fn encode(&self, buf: &mut BytesMut, charset: Charset) -> Result<(), EncodeError> {
        write_line(buf, |buf| {
            let mut w = LineWriter::start(buf, charset, self.id());
            match self {
                Self::Seq { msisdn, sequence } => {
                    w.token("msisdn", msisdn, false)?
                        .token("sequence", sequence, true)?;
                }
                Self::Ack { ack_type } => {
                    w.number(*ack_type);
                }
                Self::Nack { reason } => {
                    w.number(*reason);
                }
                Self::Mo {
                    msisdn,
                    sequence,
                    message,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .token("sequence", sequence, false)?
                        .text("message", message, true)?;
                }
                Self::DeliveryReport {
                    msisdn,
                    sequence,
                    status,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .token("sequence", sequence, false)?
                        .number(*status);
                }
                Self::FreeForm { text } => {
                    w.text("text", text, true)?;
                }
                Self::BinaryMo {
                    msisdn,
                    sequence,
                    pid,
                    coding,
                    hex_msg,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .token("sequence", sequence, false)?
                        .number(*pid)
                        .number(*coding)
                        .token("hex_msg", hex_msg, true)?;
                }
                Self::PremiumMo {
                    msisdn,
                    sequence,
                    destination,
                    message,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .token("sequence", sequence, false)?
                        .token("destination", destination, false)?
                        .text("message", message, true)?;
                }
                Self::PremiumBinaryMo {
                    msisdn,
                    sequence,
                    pid,
                    coding,
                    destination,
                    hex_msg,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .token("sequence", sequence, false)?
                        .number(*pid)
                        .number(*coding)
                        .token("destination", destination, false)?
                        .token("hex_msg", hex_msg, true)?;
                }
                Self::Ussd {
                    msisdn,
                    ussd_type,
                    phase,
                    genfields,
                    message,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .number(*ussd_type)
                        .number(*phase);
                    if let Some(genfields) = genfields {
                        w.token("genfields", genfields.raw(), false)?;
                    }
                    w.text("message", message, true)?;
                }
                Self::RemoteLogout { ip } => {
                    w.token("ip", ip, true)?;
                }
                Self::ImsiLookupReply {
                    sequence,
                    msisdn,
                    imsi,
                    spid,
                } => {
                    w.token("sequence", sequence, false)?
                        .token("msisdn", msisdn, false)?
                        .token("imsi", imsi, false)?
                        .token("spid", spid, true)?;
                }
            }
            w.finish();
            Ok(())
        })
    }
}
