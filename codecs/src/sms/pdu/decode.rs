//! The TPDU parser (nom): SMSC field, first octet, then the layout the MTI and the direction
//! select.
//!
//! Reference: 3GPP TS 23.040 §9.2.2 (layouts), §9.2.3.1 (MTI), reference/modem.md §2.6.
//!
//! nom's own errors (input ended) become [`Error::Truncated`]; field checks fail with their
//! own [`Error`] as a nom failure, so the first problem found is the one reported.
//!
//! Not handled: see the parent module (SUBMIT-REPORT, DELIVER-REPORT, COMMAND; TP-PI).

use nom::bytes::complete::take;
use nom::number::complete::u8 as octet;
use nom::{IResult, Parser};

use super::address::{self, Address};
use super::{
    Deliver, Direction, Error, Pdu, StatusReport, Submit, Timestamp, Tpdu, Validity, user_data,
};

/// A parse failure carrying our error.
#[derive(Debug)]
struct Fail(Error);

impl<I> nom::error::ParseError<I> for Fail {
    fn from_error_kind(_: I, _: nom::error::ErrorKind) -> Self {
        Self(Error::Truncated)
    }

    fn append(_: I, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a [u8], T, Fail>;

/// Lifts a field check into the parser.
fn check<'a, T>(input: &'a [u8], result: Result<T, Error>) -> PResult<'a, T> {
    match result {
        Ok(value) => Ok((input, value)),
        Err(e) => Err(nom::Err::Failure(Fail(e))),
    }
}

fn finish<T>(result: PResult<'_, T>) -> Result<T, Error> {
    match result {
        Ok((_, value)) => Ok(value),
        Err(nom::Err::Error(Fail(e)) | nom::Err::Failure(Fail(e))) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(Error::Truncated),
    }
}

fn smsc(input: &[u8]) -> PResult<'_, Option<Address>> {
    let (input, len) = octet(input)?;
    if len == 0 {
        return Ok((input, None));
    }
    if len > 11 {
        return check(input, Err(Error::BadAddressLength));
    }
    let (input, toa) = octet(input)?;
    let (input, value) = take(usize::from(len) - 1).parse(input)?;
    let (input, address) = check(input, address::read_smsc(toa, value))?;
    Ok((input, Some(address)))
}

fn tp_address(input: &[u8]) -> PResult<'_, Address> {
    let (input, len) = octet(input)?;
    if len > 20 {
        return check(input, Err(Error::BadAddressLength));
    }
    let (input, toa) = octet(input)?;
    let (input, value) = take(usize::from(len).div_ceil(2)).parse(input)?;
    check(input, address::read_tp(len, toa, value))
}

fn timestamp(input: &[u8]) -> PResult<'_, Timestamp> {
    let (input, octets) = take(7usize).parse(input)?;
    let mut seven = [0u8; 7];
    seven.copy_from_slice(octets);
    check(input, Timestamp::read(seven))
}

fn validity(input: &[u8], vpf: u8) -> PResult<'_, Validity> {
    match vpf {
        0b10 => octet.map(Validity::Relative).parse(input),
        0b11 => timestamp.map(Validity::Absolute).parse(input),
        0b01 => {
            let (input, octets) = take(7usize).parse(input)?;
            let mut seven = [0u8; 7];
            seven.copy_from_slice(octets);
            Ok((input, Validity::Enhanced(seven)))
        }
        _ => Ok((input, Validity::None)),
    }
}

fn user_data(input: &[u8], dcs: u8, udhi: bool) -> PResult<'_, super::UserData> {
    let (input, udl) = octet(input)?;
    let (input, len) = check(input, user_data::octet_len(dcs, udl))?;
    let (input, data) = take(len).parse(input)?;
    check(input, user_data::decode(dcs, udhi, udl, data))
}

fn deliver(input: &[u8], fo: u8) -> PResult<'_, Deliver> {
    let (input, (originator, pid, dcs, scts)) =
        (tp_address, octet, octet, timestamp).parse(input)?;
    let (input, user_data) = user_data(input, dcs, fo & 0x40 != 0)?;
    Ok((
        input,
        Deliver {
            reply_path: fo & 0x80 != 0,
            status_report_indication: fo & 0x20 != 0,
            more_messages: fo & 0x04 == 0,
            originator,
            pid,
            dcs,
            scts,
            user_data,
        },
    ))
}

fn submit(input: &[u8], fo: u8) -> PResult<'_, Submit> {
    let (input, (mr, recipient, pid, dcs)) = (octet, tp_address, octet, octet).parse(input)?;
    let (input, validity) = validity(input, (fo >> 3) & 0x03)?;
    let (input, user_data) = user_data(input, dcs, fo & 0x40 != 0)?;
    Ok((
        input,
        Submit {
            reject_duplicates: fo & 0x04 != 0,
            status_report_request: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            mr,
            recipient,
            pid,
            dcs,
            validity,
            user_data,
        },
    ))
}

fn status_report(input: &[u8], fo: u8) -> PResult<'_, StatusReport> {
    let (input, (mr, recipient, scts, discharge, status)) =
        (octet, tp_address, timestamp, timestamp, octet).parse(input)?;
    Ok((
        input,
        StatusReport {
            mr,
            recipient,
            scts,
            discharge,
            status,
            more_messages: fo & 0x04 == 0,
        },
    ))
}

fn tpdu(input: &[u8], direction: Direction) -> PResult<'_, Tpdu> {
    let (input, fo) = octet(input)?;
    match (fo & 0x03, direction) {
        (0b00, Direction::ToMs) => deliver(input, fo).map(|(i, d)| (i, Tpdu::Deliver(d))),
        (0b10, Direction::ToMs) => {
            status_report(input, fo).map(|(i, s)| (i, Tpdu::StatusReport(s)))
        }
        (0b01, Direction::FromMs) => submit(input, fo).map(|(i, s)| (i, Tpdu::Submit(s))),
        (0b11, _) => check(input, Err(Error::BadMti)),
        _ => check(input, Err(Error::UnsupportedMti)),
    }
}

/// Decodes `SMSC field + TPDU` (what `+CMGL`/`+CMGR`/`+CMT`/`+CDS` carry in PDU mode, and what
/// follows the `+CMGS` prompt).
///
/// # Errors
/// [`Error::Truncated`], [`Error::BadAddressLength`], [`Error::BadAddress`], [`Error::BadMti`],
/// [`Error::UnsupportedMti`], [`Error::BadUdl`], [`Error::BadUdh`], [`Error::BadTimestamp`].
pub fn decode(octets: &[u8], direction: Direction) -> Result<Pdu, Error> {
    finish((|input| {
        let (input, smsc) = smsc(input)?;
        let (input, tpdu) = tpdu(input, direction)?;
        Ok((input, Pdu { smsc, tpdu }))
    })(octets))
}

/// Decodes a TPDU with no SMSC field in front.
///
/// # Errors
/// As [`decode`].
pub fn decode_tpdu(octets: &[u8], direction: Direction) -> Result<Tpdu, Error> {
    finish(tpdu(octets, direction))
}
