//! TP-UDL and TP-UD: the user data header, GSM-7 packing with fill bits, UCS2 and 8-bit data.
//!
//! Reference: 3GPP TS 23.040 §9.2.3.16 (TP-UDL), §9.2.3.24 (TP-UD, UDH, fill bits), TS 23.038
//! §6.1.2.1 (packing); reference/modem.md §2.6.
//!
//! * GSM-7: TP-UDL counts septets of the whole UD (header and fill bits included) and the UD
//!   takes ceil(UDL × 7 / 8) octets; at most 160 septets.
//! * 8-bit and UCS2: TP-UDL counts octets of the whole UD; at most 140.
//!
//! Not handled: the meaning of header elements other than concatenation and the national
//! language shifts (they are kept in the raw header).

use super::national::{self, Shift};
use super::{Error, UserData, dcs};
use crate::sms::{Encoding, Udh, gsm7, ucs2};

/// Octets of TP-UD for a TP-UDL under this DCS.
pub(super) fn octet_len(dcs: u8, udl: u8) -> Result<usize, Error> {
    let udl = usize::from(udl);
    match dcs::encoding(dcs) {
        Encoding::Gsm7 if udl > 160 => Err(Error::BadUdl),
        Encoding::Gsm7 => Ok((udl * 7).div_ceil(8)),
        _ if udl > 140 => Err(Error::BadUdl),
        _ => Ok(udl),
    }
}

/// Decodes TP-UD (`data` holds exactly [`octet_len`] octets).
pub(super) fn decode(dcs: u8, udhi: bool, udl: u8, data: &[u8]) -> Result<UserData, Error> {
    let encoding = dcs::encoding(dcs);
    let (udh, body) = if udhi {
        let (udh, body) = Udh::parse(data).map_err(|_| Error::BadUdh)?;
        (Some(udh), body)
    } else {
        (None, data)
    };
    let header = udh.map_or(0, |u| u.octet_len());
    let (text, octets) = match encoding {
        Encoding::Gsm7 => {
            let fill = if header == 0 {
                0
            } else {
                gsm7::fill_bits(header)
            };
            let header_septets = (header * 8 + usize::from(fill)) / 7;
            let count = usize::from(udl)
                .checked_sub(header_septets)
                .ok_or(Error::BadUdl)?;
            let septets = gsm7::unpack_with_fill(body, count, fill);
            if septets.len() < count {
                return Err(Error::Truncated);
            }
            let shift = udh.as_ref().map_or(Shift::DEFAULT, Shift::from_udh);
            (national::decode(&septets, shift), septets)
        }
        Encoding::Ucs2 => (ucs2::decode(body), body.to_vec()),
        _ => (String::new(), body.to_vec()),
    };
    Ok(UserData {
        udh: udh.map(|u| u.as_bytes().to_vec()).unwrap_or_default(),
        concat: udh.and_then(|u| u.concat()),
        encoding,
        text,
        octets,
    })
}

/// Encodes TP-UD under `dcs`: returns TP-UDHI, TP-UDL and the UD octets.
pub(super) fn encode(ud: &UserData, dcs: u8) -> Result<(bool, u8, Vec<u8>), Error> {
    if ud.encoding != dcs::encoding(dcs) {
        return Err(Error::DcsMismatch);
    }
    let mut out = if !ud.udh.is_empty() {
        match Udh::parse(&ud.udh) {
            Ok((_, [])) => ud.udh.clone(),
            _ => return Err(Error::BadUdh),
        }
    } else {
        match ud.concat {
            Some(c) if c.reference <= 0xFF => c.udh8().to_vec(),
            Some(c) => c.udh16().to_vec(),
            None => Vec::new(),
        }
    };
    let header = out.len();
    let udl = match ud.encoding {
        Encoding::Gsm7 => {
            let shift = match Udh::parse(&out) {
                Ok((udh, _)) => Shift::from_udh(&udh),
                Err(_) => Shift::DEFAULT,
            };
            let reuse = !ud.octets.is_empty()
                && ud.octets.iter().all(|&s| s < 0x80)
                && national::decode(&ud.octets, shift) == ud.text;
            let fresh;
            let septets = if reuse {
                &ud.octets
            } else {
                fresh = national::encode(&ud.text, shift)?;
                &fresh
            };
            let fill = if header == 0 {
                0
            } else {
                gsm7::fill_bits(header)
            };
            let udl = (header * 8 + usize::from(fill)) / 7 + septets.len();
            if udl > 160 {
                return Err(Error::UserDataTooLong);
            }
            out.extend_from_slice(&gsm7::pack_with_fill(septets, fill));
            udl
        }
        Encoding::Ucs2 => {
            if !ud.octets.is_empty() && ucs2::decode(&ud.octets) == ud.text {
                out.extend_from_slice(&ud.octets);
            } else {
                out.extend_from_slice(&ucs2::encode(&ud.text));
            }
            out.len()
        }
        _ => {
            out.extend_from_slice(&ud.octets);
            out.len()
        }
    };
    if out.len() > 140 {
        return Err(Error::UserDataTooLong);
    }
    let udl = u8::try_from(udl).map_err(|_| Error::UserDataTooLong)?;
    Ok((header > 0, udl, out))
}
