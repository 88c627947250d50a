//! Parameters of information lines and URCs: `<a>,"<b>",(0-4),<d>` (V.250 §5.7.2), and the
//! parsers for the lines the modem driver reads.
//!
//! Reference: TS 27.005 §3.5.1 (+CMGS), §3.4.2 (+CMGL), §3.4.3 (+CMGR), §3.2.2 (+CPMS),
//! §3.4.1 (+CMTI/+CDSI/+CMT/+CDS); TS 27.007 §8.5 (+CSQ), §8.3 (+CPIN), §7.15 (+CUSD),
//! §7.2 (+CREG); reference/modem.md §2.2 and §2.5 (USSD replies with and without quotes).
//!
//! Fields are split with nom: a quoted string (no escapes: V.250 strings cannot hold `"`), a
//! parenthesised list (test-command ranges, kept whole), or bare text up to the next comma.
//! Fields are trimmed; an empty field (`+CMT: ,25`) is an empty slice.

use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_till, take_until};
use nom::character::complete::space0;
use nom::combinator::{map, opt};
use nom::multi::separated_list0;
use nom::sequence::delimited;
use nom::{IResult, Parser};

use super::Error;

/// One parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// `"…"`, without the quotes.
    Quoted(&'a [u8]),
    /// Anything else (numbers, hex, `(0-4)` ranges), trimmed; may be empty.
    Bare(&'a [u8]),
}

impl<'a> Field<'a> {
    /// The field's bytes (without quotes).
    pub const fn bytes(self) -> &'a [u8] {
        match self {
            Self::Quoted(b) | Self::Bare(b) => b,
        }
    }

    /// The field as an unsigned decimal number.
    pub fn number(self) -> Option<u32> {
        let b = self.bytes();
        if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }
}

/// Trims spaces and tabs on both ends.
pub fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t'));
    let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &b[s..=e],
        _ => &[],
    }
}

fn field(input: &[u8]) -> IResult<&[u8], Field<'_>> {
    let (input, _) = take_till(|c| c != b' ' && c != b'\t')(input)?;
    alt((
        map(
            delimited(tag(&b"\""[..]), opt(is_not(&b"\""[..])), tag(&b"\""[..])),
            |s: Option<&[u8]>| Field::Quoted(s.unwrap_or_default()),
        ),
        map(
            (tag(&b"("[..]), take_until(&b")"[..]), tag(&b")"[..])),
            |_| Field::Bare(&[]),
        ),
        map(take_till(|c| c == b','), |s: &[u8]| Field::Bare(trim(s))),
    ))
    .parse(input)
}

/// Splits parameters at commas outside quotes and parentheses. A parenthesised list comes
/// back as an empty [`Field::Bare`] (the driver does not read test-command ranges); an
/// unterminated quote makes the rest one bare field.
pub fn split(input: &[u8]) -> Vec<Field<'_>> {
    match separated_list0((space0, tag(&b","[..])), field).parse(input) {
        Ok((_, fields)) => fields,
        Err(_) => vec![Field::Bare(trim(input))],
    }
}

fn after<'a>(line: &'a [u8], prefix: &'static str) -> Result<&'a [u8], Error> {
    line.strip_prefix(prefix.as_bytes())
        .ok_or(Error::WrongPrefix(prefix))
}

/// `<mem>,<index>` of `+CMTI`/`+CDSI`.
pub(super) fn storage_index(rest: &[u8]) -> Option<(&[u8], u32)> {
    let f = split(rest);
    Some((f.first()?.bytes(), f.get(1)?.number()?))
}

/// The last field as a number (the TPDU length of `+CMT: [<alpha>],<length>` / `+CDS:`).
pub(super) fn last_number(rest: &[u8]) -> Option<usize> {
    split(rest).last()?.number().map(|n| n as usize)
}

/// `<stat>` of a registration URC: the first field.
pub(super) fn registration_urc(rest: &[u8]) -> Option<u8> {
    split(rest)
        .first()?
        .number()
        .and_then(|n| u8::try_from(n).ok())
}

/// `+CMGS: <mr>[,<ackpdu>]` → the message reference.
///
/// # Errors
/// When the line is not a `+CMGS` line or the reference is not 0–255.
pub fn cmgs(line: &[u8]) -> Result<u8, Error> {
    let f = split(after(line, "+CMGS:")?);
    f.first()
        .and_then(|x| x.number())
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(Error::Malformed("+CMGS"))
}

/// A stored message header from `+CMGL: <index>,<stat>,[<alpha>],<length>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Storage index.
    pub index: u32,
    /// 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    pub stat: u8,
    /// TPDU length in octets (the PDU line may add an SMSC field before it).
    pub length: usize,
}

/// Parses a `+CMGL` header line.
///
/// # Errors
/// When the prefix or the numbers are wrong.
pub fn cmgl(line: &[u8]) -> Result<Listed, Error> {
    let f = split(after(line, "+CMGL:")?);
    let num = |i: usize| f.get(i).and_then(|x| x.number());
    match (num(0), num(1), f.last().and_then(|x| x.number())) {
        (Some(index), Some(stat), Some(length)) if f.len() >= 3 => Ok(Listed {
            index,
            stat: u8::try_from(stat).map_err(|_| Error::Malformed("+CMGL"))?,
            length: length as usize,
        }),
        _ => Err(Error::Malformed("+CMGL")),
    }
}

/// Parses a `+CMGR: <stat>,[<alpha>],<length>` header line into (stat, length).
///
/// # Errors
/// When the prefix or the numbers are wrong.
pub fn cmgr(line: &[u8]) -> Result<(u8, usize), Error> {
    let f = split(after(line, "+CMGR:")?);
    let stat = f.first().and_then(|x| x.number());
    let length = f.last().and_then(|x| x.number());
    match (stat, length) {
        (Some(s), Some(l)) if f.len() >= 2 => Ok((
            u8::try_from(s).map_err(|_| Error::Malformed("+CMGR"))?,
            l as usize,
        )),
        _ => Err(Error::Malformed("+CMGR")),
    }
}

/// `+CSQ: <rssi>,<ber>` → (rssi 0–31 or 99, ber 0–7 or 99).
///
/// # Errors
/// When the prefix or the numbers are wrong.
pub fn csq(line: &[u8]) -> Result<(u8, u8), Error> {
    let f = split(after(line, "+CSQ:")?);
    let num = |i: usize| {
        f.get(i)
            .and_then(|x| x.number())
            .and_then(|n| u8::try_from(n).ok())
    };
    num(0).zip(num(1)).ok_or(Error::Malformed("+CSQ"))
}

/// Converts a `+CSQ` rssi to dBm (None for 99, unknown).
pub const fn rssi_dbm(rssi: u8) -> Option<i16> {
    match rssi {
        0..=31 => Some(-113 + 2 * rssi as i16),
        _ => None,
    }
}

/// `+CPMS` (set form `+CPMS: <used1>,<total1>,…` or read form `+CPMS: "SM",<used1>,<total1>,…`)
/// → (used, total) of the first storage.
///
/// # Errors
/// When the prefix or the numbers are wrong.
pub fn cpms(line: &[u8]) -> Result<(u32, u32), Error> {
    let f = split(after(line, "+CPMS:")?);
    let skip = usize::from(matches!(f.first(), Some(Field::Quoted(_))));
    let num = |i: usize| f.get(skip + i).and_then(|x| x.number());
    num(0).zip(num(1)).ok_or(Error::Malformed("+CPMS"))
}

/// `+CPIN: <code>` → the code (`READY`, `SIM PIN`, `SIM PUK`, …).
///
/// # Errors
/// When the prefix is wrong.
pub fn cpin(line: &[u8]) -> Result<&[u8], Error> {
    let rest = after(line, "+CPIN:")?;
    let code = trim(rest);
    Ok(code
        .strip_prefix(b"\"")
        .and_then(|c| c.strip_suffix(b"\""))
        .unwrap_or(code))
}

/// A USSD result: `+CUSD: <m>[,<str>[,<dcs>]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cusd<'a> {
    /// 0 no further action, 1 further action required (a menu), 2 terminated by the network,
    /// 3 answered by another client, 4 not supported, 5 network time-out.
    pub m: u8,
    /// The string as sent (quoted or not; decode with `sms::ussd::decode`).
    pub text: Option<&'a [u8]>,
    /// The cell broadcast data coding scheme.
    pub dcs: Option<u8>,
}

/// Parses a `+CUSD` line, quoted or not (Huawei `+CUSD: 0, 49B4…` has no quotes and no DCS).
///
/// # Errors
/// When the prefix or `<m>` is wrong.
pub fn cusd(line: &[u8]) -> Result<Cusd<'_>, Error> {
    let f = split(after(line, "+CUSD:")?);
    let m = f
        .first()
        .and_then(|x| x.number())
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(Error::Malformed("+CUSD"))?;
    Ok(Cusd {
        m,
        text: f.get(1).map(|x| x.bytes()),
        dcs: f
            .get(2)
            .and_then(|x| x.number())
            .and_then(|n| u8::try_from(n).ok()),
    })
}

/// `<stat>` of a solicited registration reply `+CREG: <n>,<stat>[,…]` (also `+CGREG`,
/// `+CEREG`).
///
/// # Errors
/// When the prefix or the numbers are wrong.
pub fn registration_reply(line: &[u8]) -> Result<u8, Error> {
    let rest = line
        .strip_prefix(b"+CREG:")
        .or_else(|| line.strip_prefix(b"+CGREG:"))
        .or_else(|| line.strip_prefix(b"+CEREG:"))
        .ok_or(Error::WrongPrefix("+CREG"))?;
    split(rest)
        .get(1)
        .and_then(|x| x.number())
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(Error::Malformed("+CREG"))
}
