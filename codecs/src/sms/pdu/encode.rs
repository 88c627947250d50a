//! Writing TPDUs, and splitting a text into SMS-SUBMIT / SMS-DELIVER parts.
//!
//! Reference: 3GPP TS 23.040 §9.2.2 (layouts), §9.2.3.24.1 (concatenation); reference/modem.md
//! §2.6 and §2.8.
//!
//! * The first octet is built from the struct's flags; TP-UDHI is set exactly when a header is
//!   written, TP-VPF from [`Validity`]. TP-LP is always 0.
//! * A status report is written without its optional part (no TP-PI).
//! * [`submit_parts`] / [`deliver_parts`] split with [`crate::sms::segment::split`] (never
//!   inside an escape pair or a surrogate pair; 160/153/152 septets, 70/67/66 UCS2 units), DCS
//!   0x00 (GSM-7) or 0x08 (UCS2), PID 0.
//!
//! Not handled: national language tables when splitting (encode such texts one part at a time
//! with [`encode`] and a UDH naming the tables), 8-bit payloads in the part helpers.

use super::address::{self, Address};
use super::{
    Deliver, Encoded, Error, Pdu, StatusReport, Submit, SubmitOptions, Timestamp, Tpdu, UserData,
    Validity, dcs, user_data,
};
use crate::sms::{Concat, Encoding, Method, choose, segment};

/// Encodes a PDU: SMSC field (`00` for `None`) then the TPDU.
///
/// # Errors
/// [`Error::BadAddress`], [`Error::BadAddressLength`], [`Error::BadTimestamp`],
/// [`Error::DcsMismatch`], [`Error::BadUdh`], [`Error::UserDataTooLong`], [`Error::Text`].
pub fn encode(pdu: &Pdu) -> Result<Encoded, Error> {
    let mut out = Vec::with_capacity(176);
    address::write_smsc(pdu.smsc.as_ref(), &mut out)?;
    let start = out.len();
    match &pdu.tpdu {
        Tpdu::Deliver(d) => write_deliver(d, &mut out)?,
        Tpdu::Submit(s) => write_submit(s, &mut out)?,
        Tpdu::StatusReport(r) => write_status_report(r, &mut out)?,
    }
    Ok(Encoded {
        tpdu_len: out.len() - start,
        octets: out,
    })
}

const fn bit(flag: bool, shift: u8) -> u8 {
    (flag as u8) << shift
}

fn write_deliver(d: &Deliver, out: &mut Vec<u8>) -> Result<(), Error> {
    let (udhi, udl, ud) = user_data::encode(&d.user_data, d.dcs)?;
    out.push(
        bit(d.reply_path, 7)
            | bit(udhi, 6)
            | bit(d.status_report_indication, 5)
            | bit(!d.more_messages, 2),
    );
    address::write_tp(&d.originator, out)?;
    out.extend_from_slice(&[d.pid, d.dcs]);
    out.extend_from_slice(&d.scts.to_octets()?);
    out.push(udl);
    out.extend_from_slice(&ud);
    Ok(())
}

fn write_submit(s: &Submit, out: &mut Vec<u8>) -> Result<(), Error> {
    let (udhi, udl, ud) = user_data::encode(&s.user_data, s.dcs)?;
    out.push(
        bit(s.reply_path, 7)
            | bit(udhi, 6)
            | bit(s.status_report_request, 5)
            | s.validity.vpf() << 3
            | bit(s.reject_duplicates, 2)
            | 0x01,
    );
    out.push(s.mr);
    address::write_tp(&s.recipient, out)?;
    out.extend_from_slice(&[s.pid, s.dcs]);
    match &s.validity {
        Validity::None => {}
        Validity::Relative(vp) => out.push(*vp),
        Validity::Absolute(t) => out.extend_from_slice(&t.to_octets()?),
        Validity::Enhanced(octets) => out.extend_from_slice(octets),
    }
    out.push(udl);
    out.extend_from_slice(&ud);
    Ok(())
}

fn write_status_report(r: &StatusReport, out: &mut Vec<u8>) -> Result<(), Error> {
    out.push(bit(!r.more_messages, 2) | 0x02);
    out.push(r.mr);
    address::write_tp(&r.recipient, out)?;
    out.extend_from_slice(&r.scts.to_octets()?);
    out.extend_from_slice(&r.discharge.to_octets()?);
    out.push(r.status);
    Ok(())
}

/// The TPDU alphabet for a text: GSM-7 or UCS2.
fn text_encoding(text: &str, preferred: Encoding) -> Encoding {
    match choose(text, preferred) {
        Encoding::Gsm7 => Encoding::Gsm7,
        Encoding::Ucs2 => Encoding::Ucs2,
        _ => choose(text, Encoding::Gsm7),
    }
}

/// The user data of each part of `text`.
fn parts(
    text: &str,
    preferred: Encoding,
    reference: u16,
    method: Method,
) -> Result<(u8, Vec<UserData>), Error> {
    if method == Method::Raw {
        return Err(Error::RawMethod);
    }
    let encoding = text_encoding(text, preferred);
    let dcs = dcs::for_encoding(encoding).unwrap_or(0);
    let chunks = segment::split(text, encoding, method)?;
    let total = u8::try_from(chunks.len()).map_err(|_| crate::sms::Error::TooManyParts)?;
    let reference = match method {
        Method::Udh8 => reference & 0xFF,
        _ => reference,
    };
    let mut out = Vec::with_capacity(chunks.len());
    for (seq, chunk) in (1..=total).zip(chunks) {
        let mut ud = UserData::text(encoding, chunk);
        if total > 1 {
            let concat = Concat::new(reference, total, seq)?;
            ud.udh = match method {
                Method::Udh16 => concat.udh16().to_vec(),
                _ => concat.udh8().to_vec(),
            };
            ud.concat = Some(concat);
        }
        out.push(ud);
    }
    Ok((dcs, out))
}

/// Splits `text` (never inside a GSM-7 escape pair or a surrogate pair) and encodes one
/// SMS-SUBMIT per part: MR 0 (the modem numbers them), SMSC field `00`.
///
/// # Errors
/// [`Error::RawMethod`], [`Error::Text`] (too many parts), and the errors of [`encode`].
pub fn submit_parts(
    recipient: &Address,
    text: &str,
    options: &SubmitOptions,
) -> Result<Vec<Encoded>, Error> {
    let (dcs, parts) = parts(text, options.preferred, options.reference, options.method)?;
    parts
        .into_iter()
        .map(|user_data| {
            encode(&Pdu {
                smsc: None,
                tpdu: Tpdu::Submit(Submit {
                    reject_duplicates: false,
                    status_report_request: options.status_report,
                    reply_path: false,
                    mr: 0,
                    recipient: recipient.clone(),
                    pid: 0,
                    dcs,
                    validity: options.validity,
                    user_data,
                }),
            })
        })
        .collect()
}

/// The same for SMS-DELIVER (the fake modem and tests use it to make multipart MO messages),
/// with an SMSC field; TP-MMS says no more messages are waiting.
///
/// # Errors
/// As [`submit_parts`].
pub fn deliver_parts(
    smsc: Option<&Address>,
    originator: &Address,
    text: &str,
    scts: Timestamp,
    preferred: Encoding,
    reference: u16,
    method: Method,
) -> Result<Vec<Encoded>, Error> {
    let (dcs, parts) = parts(text, preferred, reference, method)?;
    parts
        .into_iter()
        .map(|user_data| {
            encode(&Pdu {
                smsc: smsc.cloned(),
                tpdu: Tpdu::Deliver(Deliver {
                    reply_path: false,
                    status_report_indication: false,
                    more_messages: false,
                    originator: originator.clone(),
                    pid: 0,
                    dcs,
                    scts,
                    user_data,
                }),
            })
        })
        .collect()
}
