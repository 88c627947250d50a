//! TS 23.040 TPDUs as a modem carries them in PDU mode: SMS-DELIVER, SMS-SUBMIT and
//! SMS-STATUS-REPORT, with the SMSC address field in front.
//!
//! Reference: 3GPP TS 23.040 §9.2 (TPDU layouts, first octet, TP-UDL/UD, UDH), TS 23.038 §4–§6
//! (DCS, GSM-7 packing, national language tables), TS 24.011 §8.2.5.1 (SMSC field);
//! reference/modem.md §2.6–§2.8 and the vectors of §3.
//!
//! * [`decode`] reads `SMSC field + TPDU` (what `+CMGL`, `+CMGR`, `+CMT` and `+CDS` carry),
//!   [`decode_tpdu`] a bare TPDU. The direction must be given: the MTI alone does not say
//!   (§9.2.3.1). Every length is checked before it is used; nothing panics on any input.
//! * [`encode`] writes a [`Pdu`] and reports the TPDU length `AT+CMGS=<n>` takes.
//!   [`submit_parts`] and [`deliver_parts`] split a text into concatenated parts.
//! * User data: GSM-7 is packed after the UDH and its fill bits, TP-UDL counting septets; 8-bit
//!   and UCS2 count octets. UCS2 is read as UTF-16BE (surrogate pairs joined). A UDH naming
//!   national language tables (IE 0x24/0x25) selects them for decoding and encoding
//!   ([`national`]).
//! * Octets after the user data (or after TP-ST of a status report) are ignored.
//!
//! Not handled: SMS-SUBMIT-REPORT (SC→MS), SMS-DELIVER-REPORT and SMS-COMMAND (MS→SC) are
//! refused as [`Error::UnsupportedMti`]; the optional part of a status report (TP-PI and what
//! follows) is skipped; TP-LP (loop prevention) is not kept; compressed text is 8-bit data;
//! reassembly of parts is [`crate::sms::segment::reassemble`]'s job.

mod address;
pub mod dcs;
mod decode;
mod encode;
mod error;
pub mod national;
mod time;
mod user_data;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod unit_tests;

pub use address::{Address, TON_ALPHANUMERIC, TON_INTERNATIONAL};
pub use decode::{decode, decode_tpdu};
pub use encode::{deliver_parts, encode, submit_parts};
pub use error::Error;
pub use time::{Timestamp, Validity};

use crate::sms::{Concat, Encoding, Method};

/// Which way the PDU travels; the MTI alone does not say (23.040 §9.2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// SC → MS: SMS-DELIVER (MTI 00), SMS-STATUS-REPORT (MTI 10). A stored message with
    /// `<stat>` 0 or 1 (received).
    ToMs,
    /// MS → SC: SMS-SUBMIT (MTI 01). A stored message with `<stat>` 2 or 3, or what follows the
    /// `+CMGS` prompt.
    FromMs,
}

/// TP-UD, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserData {
    /// Raw header octets including the UDHL octet; empty when TP-UDHI = 0.
    pub udh: Vec<u8>,
    /// The concatenation element (IEI 0x00 or 0x08) of the header, if any. On encoding it is
    /// used only when `udh` is empty (a 6-octet header when the reference fits 8 bits, else 7).
    pub concat: Option<Concat>,
    /// [`Encoding::Gsm7`], [`Encoding::Binary`] or [`Encoding::Ucs2`], as TP-DCS says.
    pub encoding: Encoding,
    /// The decoded text (empty for 8-bit data).
    pub text: String,
    /// The payload after the UDH: unpacked septets for GSM-7, raw octets otherwise. On
    /// encoding, 8-bit data is taken from here; for text, these octets are sent as they are
    /// when they decode to `text` (so a decoded PDU re-encodes to the same octets), else `text`
    /// is encoded.
    pub octets: Vec<u8>,
}

impl UserData {
    /// User data for `text` in `encoding`, with no header.
    pub fn text(encoding: Encoding, text: impl Into<String>) -> Self {
        Self {
            udh: Vec::new(),
            concat: None,
            encoding,
            text: text.into(),
            octets: Vec::new(),
        }
    }

    /// 8-bit user data, with no header.
    pub fn binary(octets: impl Into<Vec<u8>>) -> Self {
        Self {
            udh: Vec::new(),
            concat: None,
            encoding: Encoding::Binary,
            text: String::new(),
            octets: octets.into(),
        }
    }
}

/// SMS-DELIVER (SC → MS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deliver {
    /// TP-RP.
    pub reply_path: bool,
    /// TP-SRI: a status report will be returned to the sender.
    pub status_report_indication: bool,
    /// TP-MMS = 0: more messages are waiting at the SC.
    pub more_messages: bool,
    /// TP-OA.
    pub originator: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS (see [`dcs`]).
    pub dcs: u8,
    /// TP-SCTS.
    pub scts: Timestamp,
    /// TP-UD.
    pub user_data: UserData,
}

/// SMS-SUBMIT (MS → SC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submit {
    /// TP-RD.
    pub reject_duplicates: bool,
    /// TP-SRR.
    pub status_report_request: bool,
    /// TP-RP.
    pub reply_path: bool,
    /// TP-MR (0: most modems number submissions themselves and report it in `+CMGS`).
    pub mr: u8,
    /// TP-DA.
    pub recipient: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS (see [`dcs`]).
    pub dcs: u8,
    /// TP-VPF and TP-VP.
    pub validity: Validity,
    /// TP-UD.
    pub user_data: UserData,
}

/// SMS-STATUS-REPORT (SC → MS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// TP-MR of the SUBMIT this reports on.
    pub mr: u8,
    /// TP-RA.
    pub recipient: Address,
    /// TP-SCTS of the reported message.
    pub scts: Timestamp,
    /// TP-DT: discharge time.
    pub discharge: Timestamp,
    /// TP-ST.
    pub status: u8,
    /// TP-MMS = 0: more messages are waiting at the SC.
    pub more_messages: bool,
}

/// What a status report says about delivery (modem.md §2.6 TP-ST).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 0x00–0x1F.
    Delivered,
    /// 0x20–0x3F: the SC is still trying.
    Pending,
    /// Everything else (permanent errors, temporary errors the SC gave up on, reserved).
    Failed,
}

impl StatusReport {
    /// Delivered for TP-ST 0x00–0x1F, pending for 0x20–0x3F, failed otherwise.
    pub const fn outcome(&self) -> Outcome {
        match self.status {
            0x00..=0x1F => Outcome::Delivered,
            0x20..=0x3F => Outcome::Pending,
            _ => Outcome::Failed,
        }
    }
}

/// A TPDU this codec reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tpdu {
    /// SMS-DELIVER.
    Deliver(Deliver),
    /// SMS-SUBMIT.
    Submit(Submit),
    /// SMS-STATUS-REPORT.
    StatusReport(StatusReport),
}

/// The SMSC address field and a TPDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// The SMSC (`None`: field `00`, the modem uses `+CSCA`).
    pub smsc: Option<Address>,
    /// The TPDU.
    pub tpdu: Tpdu,
}

/// An encoded PDU: SMSC field + TPDU, and the TPDU length that `AT+CMGS=<n>` / `+CMT: ,<n>`
/// take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// SMSC field then TPDU.
    pub octets: Vec<u8>,
    /// Octets of the TPDU (without the SMSC field).
    pub tpdu_len: usize,
}

impl Encoded {
    /// The octets as uppercase hex, what is written after the `+CMGS` prompt.
    pub fn to_hex(&self) -> String {
        to_hex(&self.octets)
    }
}

/// Options of an outgoing text.
#[derive(Clone, Debug)]
pub struct SubmitOptions {
    /// GSM-7 usually; falls back to UCS2 via [`crate::sms::choose`] (other encodings are
    /// read as GSM-7 when the text fits it, else UCS2).
    pub preferred: Encoding,
    /// The concatenation reference (its low octet for [`Method::Udh8`]).
    pub reference: u16,
    /// [`Method::Udh8`] or [`Method::Udh16`]; [`Method::Raw`] is [`Error::RawMethod`].
    pub method: Method,
    /// TP-SRR.
    pub status_report: bool,
    /// TP-VP.
    pub validity: Validity,
}

impl Default for SubmitOptions {
    /// GSM-7 preferred, reference 0, 8-bit reference, no status report, no validity period.
    fn default() -> Self {
        Self {
            preferred: Encoding::Gsm7,
            reference: 0,
            method: Method::Udh8,
            status_report: false,
            validity: Validity::None,
        }
    }
}

/// Hex text (either case) to octets.
///
/// # Errors
/// [`Error::BadHex`] for odd length or a non-hex character.
pub fn from_hex(hex: &[u8]) -> Result<Vec<u8>, Error> {
    fn nibble(c: u8) -> Result<u8, Error> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(Error::BadHex),
        }
    }
    let pairs = hex.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(Error::BadHex);
    }
    pairs
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Octets to uppercase hex.
pub fn to_hex(octets: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(octets.len() * 2);
    for &o in octets {
        out.push(char::from(DIGITS[usize::from(o >> 4)]));
        out.push(char::from(DIGITS[usize::from(o & 0x0F)]));
    }
    out
}
