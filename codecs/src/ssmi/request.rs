//! Client → server SSMI commands ([`Request`]): decoding one line and encoding it back.
//!
//! Reference: reference/vumi.md §4.2 (txssmi `SSMI_REQUESTS`: ids, field order, examples).
//! Ids `110`/`120` are one variant ([`Request::SendUssd`], extended when it has genfields).
//! Not handled: validation of values against what TruTeq accepts (e.g. USSD types allowed in
//! `120`), which is the sender's business.

use bytes::{Bytes, BytesMut};

use super::Decoded;
use super::codes::{Coding, Pid, UssdType};
use super::error::{EncodeError, LineError};
use super::field::{Charset, Genfields, Secret, Text};
use super::wire::{Fields, LineWriter, split_header, write_line};

/// A command the client (the gateway) sends to the server (TruTeq).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `1` LOGIN: `username, password`.
    Login {
        /// Account name.
        username: Bytes,
        /// Password (hidden from `Debug`).
        password: Secret,
    },
    /// `2` SEND_SMS: `validity, msisdn, message`.
    SendSms {
        /// Validity in minutes, `0` for the default (a week).
        validity: u32,
        /// Destination MSISDN, digits without `+`.
        msisdn: Bytes,
        /// The text (may hold commas).
        message: Text,
    },
    /// `3` LINK_CHECK (no fields); the server answers `SSMI,101,2`.
    LinkCheck,
    /// `4` SEND_BINARY_SMS: `validity, msisdn, pid, coding, hex_msg`.
    SendBinarySms {
        /// Validity in minutes.
        validity: u32,
        /// Destination MSISDN.
        msisdn: Bytes,
        /// Protocol id.
        pid: Pid,
        /// Data coding.
        coding: Coding,
        /// The payload as lowercase hex.
        hex_msg: Bytes,
    },
    /// `99` LOGOUT (no fields).
    Logout,
    /// `110` SEND_USSD_MESSAGE `msisdn, type, message`, or with genfields `120`
    /// SEND_EXTENDED_USSD_MESSAGE `msisdn, type, genfields, message`.
    SendUssd {
        /// Destination MSISDN.
        msisdn: Bytes,
        /// USSD type (2 continue, 3 end, …).
        ussd_type: UssdType,
        /// `Some` for the extended form (`120`).
        genfields: Option<Genfields>,
        /// The text; LF separates menu lines.
        message: Text,
    },
    /// `111` SEND_MMS_MESSAGE: `msisdn, subject, name, content`.
    SendMms {
        /// Destination MSISDN.
        msisdn: Bytes,
        /// Subject (no commas).
        subject: Text,
        /// File name.
        name: Bytes,
        /// Content as hex.
        content: Bytes,
    },
    /// `112` SEND_WAP_PUSH_MESSAGE: `msisdn, subject, url`.
    SendWapPush {
        /// Destination MSISDN.
        msisdn: Bytes,
        /// Subject (no commas).
        subject: Text,
        /// The URL.
        url: Bytes,
    },
    /// `600` IMSI_LOOKUP: `sequence, msisdn, imsi`.
    ImsiLookup {
        /// Client-chosen reference, echoed in the reply.
        sequence: Bytes,
        /// The MSISDN to look up.
        msisdn: Bytes,
        /// IMSI (usually empty).
        imsi: Bytes,
    },
}

impl Request {
    /// Decodes one line (without its CR).
    pub fn decode(line: &Bytes) -> Decoded<Self> {
        match split_header(line) {
            Err(reason) => Decoded::Rejected { reason },
            Ok((id, rest)) => match Self::decode_fields(line, id, rest) {
                Ok(Some(request)) => Decoded::Message(request),
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
            1 => {
                let f = split("LOGIN", 2)?;
                Self::Login {
                    username: f.bytes(0),
                    password: Secret::new(f.bytes(1)),
                }
            }
            2 => {
                let f = split("SEND_SMS", 3)?;
                Self::SendSms {
                    validity: f.number(0, "validity")?,
                    msisdn: f.bytes(1),
                    message: f.text(2),
                }
            }
            3 => Self::LinkCheck,
            4 => {
                let f = split("SEND_BINARY_SMS", 5)?;
                Self::SendBinarySms {
                    validity: f.number(0, "validity")?,
                    msisdn: f.bytes(1),
                    pid: f.number(2, "pid")?,
                    coding: f.number(3, "coding")?,
                    hex_msg: f.bytes(4),
                }
            }
            99 => Self::Logout,
            110 => {
                let f = split("SEND_USSD_MESSAGE", 3)?;
                Self::SendUssd {
                    msisdn: f.bytes(0),
                    ussd_type: f.number(1, "type")?,
                    genfields: None,
                    message: f.text(2),
                }
            }
            111 => {
                let f = split("SEND_MMS_MESSAGE", 4)?;
                Self::SendMms {
                    msisdn: f.bytes(0),
                    subject: f.text(1),
                    name: f.bytes(2),
                    content: f.bytes(3),
                }
            }
            112 => {
                let f = split("SEND_WAP_PUSH_MESSAGE", 3)?;
                Self::SendWapPush {
                    msisdn: f.bytes(0),
                    subject: f.text(1),
                    url: f.bytes(2),
                }
            }
            120 => {
                let f = split("SEND_EXTENDED_USSD_MESSAGE", 4)?;
                Self::SendUssd {
                    msisdn: f.bytes(0),
                    ussd_type: f.number(1, "type")?,
                    genfields: Some(f.genfields(2)),
                    message: f.text(3),
                }
            }
            600 => {
                let f = split("IMSI_LOOKUP", 3)?;
                Self::ImsiLookup {
                    sequence: f.bytes(0),
                    msisdn: f.bytes(1),
                    imsi: f.bytes(2),
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The command id on the wire.
    pub const fn id(&self) -> u32 {
        match self {
            Self::Login { .. } => 1,
            Self::SendSms { .. } => 2,
            Self::LinkCheck => 3,
            Self::SendBinarySms { .. } => 4,
            Self::Logout => 99,
            Self::SendUssd {
                genfields: None, ..
            } => 110,
            Self::SendUssd {
                genfields: Some(_), ..
            } => 120,
            Self::SendMms { .. } => 111,
            Self::SendWapPush { .. } => 112,
            Self::ImsiLookup { .. } => 600,
        }
    }

    /// A stable snake_case name, usable as a metric label.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Login { .. } => "login",
            Self::SendSms { .. } => "send_sms",
            Self::LinkCheck => "link_check",
            Self::SendBinarySms { .. } => "send_binary_sms",
            Self::Logout => "logout",
            Self::SendUssd {
                genfields: None, ..
            } => "send_ussd",
            Self::SendUssd {
                genfields: Some(_), ..
            } => "send_extended_ussd",
            Self::SendMms { .. } => "send_mms",
            Self::SendWapPush { .. } => "send_wap_push",
            Self::ImsiLookup { .. } => "imsi_lookup",
        }
    }

    /// Appends the line and its CR to `buf`. On error `buf` is left as it was.
    pub fn encode(&self, buf: &mut BytesMut, charset: Charset) -> Result<(), EncodeError> {
        write_line(buf, |buf| {
            let mut w = LineWriter::start(buf, charset, self.id());
            match self {
                Self::Login { username, password } => {
                    w.token("username", username, false)?.token(
                        "password",
                        password.expose(),
                        true,
                    )?;
                }
                Self::SendSms {
                    validity,
                    msisdn,
                    message,
                } => {
                    w.number(*validity)
                        .token("msisdn", msisdn, false)?
                        .text("message", message, true)?;
                }
                Self::LinkCheck | Self::Logout => {}
                Self::SendBinarySms {
                    validity,
                    msisdn,
                    pid,
                    coding,
                    hex_msg,
                } => {
                    w.number(*validity)
                        .token("msisdn", msisdn, false)?
                        .number(*pid)
                        .number(*coding)
                        .token("hex_msg", hex_msg, true)?;
                }
                Self::SendUssd {
                    msisdn,
                    ussd_type,
                    genfields,
                    message,
                } => {
                    w.token("msisdn", msisdn, false)?.number(*ussd_type);
                    if let Some(genfields) = genfields {
                        w.token("genfields", genfields.raw(), false)?;
                    }
                    w.text("message", message, true)?;
                }
                Self::SendMms {
                    msisdn,
                    subject,
                    name,
                    content,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .text("subject", subject, false)?
                        .token("name", name, false)?
                        .token("content", content, true)?;
                }
                Self::SendWapPush {
                    msisdn,
                    subject,
                    url,
                } => {
                    w.token("msisdn", msisdn, false)?
                        .text("subject", subject, false)?
                        .token("url", url, true)?;
                }
                Self::ImsiLookup {
                    sequence,
                    msisdn,
                    imsi,
                } => {
                    w.token("sequence", sequence, false)?
                        .token("msisdn", msisdn, false)?
                        .token("imsi", imsi, true)?;
                }
            }
            w.finish();
            Ok(())
        })
    }
}
