//! The SMS PDUs of the simulated modem, over the codec `richmond_codecs::sms::pdu`: the
//! SMS-SUBMIT typed after the `+CMGS` prompt, the SMS-DELIVER parts of an MO message, and
//! the SMS-STATUS-REPORT the network sends back.
//!
//! Reference: TS 23.040 §9.2.2.1 (SMS-DELIVER), §9.2.2.2 (SMS-SUBMIT), §9.2.2.3
//! (SMS-STATUS-REPORT), §9.2.3.15 (TP-ST); TS 27.005 §3.5.1 (`<length>` of +CMGS counts the
//! TPDU, not the SMSC field); reference/modem.md §2.6.
//!
//! Not handled here: text mode, SMS-COMMAND, national language shift tables on MO.

//! INTERIM until the `sms-pdu` branch is merged: a minimal SMS-SUBMIT reader; MO and status
//! report PDUs are not available yet.

use richmond_codecs::sms::{Concat, Method, Udh, gsm7, ucs2};

/// A recipient address.
#[derive(Clone, Debug)]
pub(super) struct Address(#[allow(dead_code)] String);

/// A TP-SCTS (not encoded yet).
#[derive(Clone, Copy, Debug)]
pub(super) struct Timestamp;

/// What the modem understood of an SMS-SUBMIT.
#[derive(Debug)]
pub(super) struct Submitted {
    pub(super) to: String,
    pub(super) recipient: Address,
    pub(super) text: String,
    pub(super) dcs: u8,
    pub(super) srr: bool,
    pub(super) concat: Option<Concat>,
}

/// A submitted message whose status report is due.
#[derive(Clone, Debug)]
pub(super) struct SentReport {
    pub(super) mr: u8,
    pub(super) recipient: Address,
    pub(super) submitted_at: Timestamp,
    pub(super) status: u8,
}

impl SentReport {
    pub(super) fn encode(&self, _smsc: &str) -> Result<(Vec<u8>, usize), String> {
        let _ = (&self.recipient, self.submitted_at);
        Err("status reports need the sms-pdu codec".into())
    }
}

pub(super) fn decode_submit(hex: &[u8], declared: usize) -> Result<Submitted, String> {
    let octets = from_hex(hex).ok_or("bad hex")?;
    let smsc_len = usize::from(*octets.first().ok_or("empty PDU")?);
    let tpdu = octets
        .get(1 + smsc_len..)
        .ok_or("the SMSC field is longer than the PDU")?;
    if tpdu.len() != declared {
        return Err(format!(
            "AT+CMGS={declared} but the TPDU has {} octets",
            tpdu.len()
        ));
    }
    let at = |i: usize| tpdu.get(i).copied().ok_or("truncated TPDU");
    let fo = at(0)?;
    if fo & 0x03 != 0x01 {
        return Err("not an SMS-SUBMIT".into());
    }
    let digits = usize::from(at(2)?);
    let toa = at(3)?;
    let da = tpdu
        .get(4..4 + digits.div_ceil(2))
        .ok_or("truncated TP-DA")?;
    let mut to: String = da
        .iter()
        .flat_map(|b| [b & 0x0F, b >> 4])
        .take(digits)
        .map(|d| char::from(b"0123456789*#abc"[usize::from(d.min(14))]))
        .collect();
    if toa & 0x70 == 0x10 {
        to.insert(0, '+');
    }
    let mut i = 4 + digits.div_ceil(2);
    let dcs = at(i + 1)?;
    i += 2 + match (fo >> 3) & 0x03 {
        0 => 0,
        2 => 1,
        _ => 7,
    };
    let udl = usize::from(at(i)?);
    let ud = tpdu.get(i + 1..).ok_or("truncated TP-UD")?;
    let ucs2 = dcs & 0x0C == 0x08;
    let (concat, text) = if fo & 0x40 != 0 {
        let (udh, _) = Udh::parse(ud).map_err(|e| e.to_string())?;
        let hl = udh.octet_len();
        let body = if ucs2 {
            ucs2::decode(ud.get(hl..).unwrap_or_default())
        } else {
            let fill = gsm7::fill_bits(hl);
            let septets = gsm7::unpack_with_fill(
                ud.get(hl..).unwrap_or_default(),
                udl.saturating_sub((hl * 8).div_ceil(7)),
                fill,
            );
            gsm7::decode_unpacked(&septets)
        };
        (udh.concat(), body)
    } else if ucs2 {
        (None, ucs2::decode(ud))
    } else {
        (None, gsm7::decode_unpacked(&gsm7::unpack(ud, udl)))
    };
    Ok(Submitted {
        recipient: Address(to.clone()),
        to,
        text,
        dcs,
        srr: fo & 0x20 != 0,
        concat,
    })
}

pub(super) fn deliver_parts(
    _smsc: &str,
    _from: &str,
    _text: &str,
    _reference: u16,
    _method: Method,
) -> Result<Vec<(Vec<u8>, usize)>, String> {
    Err("MO messages need the sms-pdu codec".into())
}

pub(super) fn now() -> Timestamp {
    Timestamp
}

pub(super) fn hex(octets: &[u8]) -> String {
    octets.iter().map(|b| format!("{b:02X}")).collect()
}

fn from_hex(s: &[u8]) -> Option<Vec<u8>> {
    std::str::from_utf8(s).ok().and_then(super::ussd::from_hex)
}
