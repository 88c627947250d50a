//! TP addresses (originator, destination, recipient) and the SMSC address field.
//!
//! Reference: 3GPP TS 23.040 §9.1.2.5 (address fields, semi-octets), TS 24.011 §8.2.5.1
//! (RP address: the SMSC field, whose length counts octets), reference/modem.md §2.6.
//!
//! * Numeric values are semi-octets, low nibble first, `0xF` filling the last high nibble of an
//!   odd count; codes 0xA–0xE read as `*`, `#`, `a`, `b`, `c`. A filler inside the digits is an
//!   error, and so is a non-digit in an international (TON 1) number (the ZTE report of
//!   modem.md §3.5).
//! * Alphanumeric values (TON 5) are packed GSM-7: the length counts the semi-octets the
//!   septets use, and a decoder reads floor(len × 4 / 7) characters. We write
//!   ceil(septets × 7 / 4) (`eKit` → 7, as ModemManager, python-gsmmodem and VIVO do; PyPI
//!   smspdu writes 8, which reads the same).
//! * Bit 7 of the type-of-address octet is not checked on input and always set on output.
//!
//! Not handled: national language tables in alphanumeric addresses, and the SMSC field in
//! anything but semi-octets (an alphanumeric SMSC is not representable there).

use super::Error;
use crate::sms::gsm7;

/// Semi-octet codes 0x0–0xE.
const SEMI_OCTETS: &[u8; 15] = b"0123456789*#abc";

/// Type of number: international.
pub const TON_INTERNATIONAL: u8 = 1;
/// Type of number: alphanumeric (packed GSM-7 value).
pub const TON_ALPHANUMERIC: u8 = 5;

/// A TP address or an SMSC address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// Type of number, 0..=7 (1 international, 5 alphanumeric).
    pub ton: u8,
    /// Numbering plan, 0..=15 (1 ISDN/E.164).
    pub npi: u8,
    /// Digits and `*#abc` for numeric addresses, text for alphanumeric ones.
    pub value: String,
}

impl Address {
    /// An address from a phone number or a sender name: `"+27821234567"` → international
    /// (TON 1, NPI 1, value `27821234567`); `"0821234567"` or `"*100#"` → TON 0, NPI 1; other
    /// text of at most 11 GSM-7 septets → alphanumeric (TON 5, NPI 0).
    ///
    /// # Errors
    /// [`Error::EmptyAddress`]; [`Error::BadAddressLength`] above 20 digits or 11 septets;
    /// [`Error::BadAddress`] for a `+` not followed by digits only, or text GSM-7 cannot carry.
    pub fn from_msisdn(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::EmptyAddress);
        }
        let numeric = |t: &str| {
            t.bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        };
        let (ton, npi, value) = if let Some(digits) = s.strip_prefix('+') {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::BadAddress);
            }
            (TON_INTERNATIONAL, 1, digits)
        } else if numeric(s) {
            (0, 1, s)
        } else {
            match gsm7::septet_count(s) {
                Some(n) if n <= 11 => return Ok(Self::new(TON_ALPHANUMERIC, 0, s)),
                Some(_) => return Err(Error::BadAddressLength),
                None => return Err(Error::BadAddress),
            }
        };
        if value.len() > 20 {
            return Err(Error::BadAddressLength);
        }
        Ok(Self::new(ton, npi, value))
    }

    /// An address from its parts.
    pub fn new(ton: u8, npi: u8, value: impl Into<String>) -> Self {
        Self {
            ton,
            npi,
            value: value.into(),
        }
    }

    /// `+digits` for an international number, the value as it is otherwise.
    pub fn to_msisdn(&self) -> String {
        if self.ton == TON_INTERNATIONAL {
            format!("+{}", self.value)
        } else {
            self.value.clone()
        }
    }

    /// The type-of-address octet: `0x80 | TON << 4 | NPI` (0x91 international E.164).
    pub const fn toa(&self) -> u8 {
        0x80 | (self.ton & 7) << 4 | (self.npi & 0x0F)
    }

    fn from_toa(toa: u8, value: String) -> Self {
        Self::new((toa >> 4) & 7, toa & 0x0F, value)
    }

    fn check_type(&self) -> Result<(), Error> {
        if self.ton > 7 || self.npi > 15 {
            return Err(Error::BadAddress);
        }
        Ok(())
    }
}

fn read_semi_octets(octets: &[u8], digits: usize, international: bool) -> Result<String, Error> {
    let mut out = String::with_capacity(digits);
    for i in 0..digits {
        let octet = octets.get(i / 2).ok_or(Error::Truncated)?;
        let nibble = if i % 2 == 0 { octet & 0x0F } else { octet >> 4 };
        let &ch = SEMI_OCTETS
            .get(usize::from(nibble))
            .ok_or(Error::BadAddress)?;
        if international && !ch.is_ascii_digit() {
            return Err(Error::BadAddress);
        }
        out.push(char::from(ch));
    }
    Ok(out)
}

fn write_semi_octets(value: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut nibbles = value.bytes().map(|b| {
        SEMI_OCTETS
            .iter()
            .position(|&c| c == b)
            .and_then(|p| u8::try_from(p).ok())
            .ok_or(Error::BadAddress)
    });
    while let Some(lo) = nibbles.next() {
        let hi = nibbles.next().unwrap_or(Ok(0x0F))?;
        out.push(hi << 4 | lo?);
    }
    Ok(())
}

/// Reads a TP address value: `len` semi-octets, type of address `toa`, `octets` the
/// `ceil(len / 2)` octets of the value.
pub(super) fn read_tp(len: u8, toa: u8, octets: &[u8]) -> Result<Address, Error> {
    let len = usize::from(len);
    if len > 20 {
        return Err(Error::BadAddressLength);
    }
    let ton = (toa >> 4) & 7;
    let value = if ton == TON_ALPHANUMERIC {
        let septets = gsm7::unpack(octets, len * 4 / 7);
        let text = gsm7::decode_unpacked(&septets);
        if text.contains(gsm7::REPLACEMENT) {
            return Err(Error::BadAddress);
        }
        text
    } else {
        read_semi_octets(octets, len, ton == TON_INTERNATIONAL)?
    };
    Ok(Address::from_toa(toa, value))
}

/// Writes a TP address (length in semi-octets, TOA, value).
pub(super) fn write_tp(address: &Address, out: &mut Vec<u8>) -> Result<(), Error> {
    address.check_type()?;
    if address.ton == TON_ALPHANUMERIC {
        let septets = gsm7::encode_unpacked(&address.value)?;
        if septets.len() > 11 {
            return Err(Error::BadAddressLength);
        }
        let semi = (septets.len() * 7).div_ceil(4);
        out.extend_from_slice(&[semi as u8, address.toa()]);
        out.extend_from_slice(&gsm7::pack(&septets));
        return Ok(());
    }
    let len = address.value.len();
    if len > 20 {
        return Err(Error::BadAddressLength);
    }
    if address.ton == TON_INTERNATIONAL && !address.value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadAddress);
    }
    out.extend_from_slice(&[len as u8, address.toa()]);
    write_semi_octets(&address.value, out)
}

/// Reads the SMSC field's value: type of address then `octets` semi-octet pairs (the length
/// octet, counting octets, was already read). `None` for a length of 0.
pub(super) fn read_smsc(toa: u8, octets: &[u8]) -> Result<Address, Error> {
    let digits = match octets.last() {
        Some(last) if last >> 4 == 0x0F => octets.len() * 2 - 1,
        _ => octets.len() * 2,
    };
    let value = read_semi_octets(octets, digits, (toa >> 4) & 7 == TON_INTERNATIONAL)?;
    Ok(Address::from_toa(toa, value))
}

/// Writes the SMSC field: `00` for none, else length in octets, TOA and semi-octets.
pub(super) fn write_smsc(address: Option<&Address>, out: &mut Vec<u8>) -> Result<(), Error> {
    let Some(address) = address else {
        out.push(0);
        return Ok(());
    };
    address.check_type()?;
    let len = address.value.len();
    if len > 20 {
        return Err(Error::BadAddressLength);
    }
    if address.ton == TON_INTERNATIONAL && !address.value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadAddress);
    }
    out.extend_from_slice(&[(1 + len.div_ceil(2)) as u8, address.toa()]);
    write_semi_octets(&address.value, out)
}
