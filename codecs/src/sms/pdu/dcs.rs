//! TP-DCS, the SMS data coding scheme: which alphabet the user data uses, and its class.
//!
//! Reference: 3GPP TS 23.038 §4 (SMS data coding groups), reference/modem.md §2.6.
//!
//! * 00xx/01xx (general, 01xx marked for automatic deletion): bits 3–2 give GSM-7, 8-bit or
//!   UCS2; the reserved alphabet 11 is read as GSM-7 (§4: "any reserved codings shall be
//!   assumed to be the GSM 7 bit default alphabet"); compressed text (bit 5) is 8-bit data.
//! * 1000–1011 (reserved groups) → GSM-7; 1100/1101 (message waiting, discard/store) → GSM-7;
//!   1110 (message waiting, store, UCS2) → UCS2; 1111 → bit 2 selects GSM-7 or 8-bit.
//!
//! Not handled: decompression (23.042), and the message-waiting indication itself.

use crate::sms::Encoding;

/// The alphabet TP-DCS announces: [`Encoding::Gsm7`], [`Encoding::Binary`] (8-bit data and
/// compressed text) or [`Encoding::Ucs2`].
pub const fn encoding(dcs: u8) -> Encoding {
    match dcs >> 4 {
        0x0..=0x7 if dcs & 0x20 != 0 => Encoding::Binary,
        0x0..=0x7 => match (dcs >> 2) & 0x03 {
            1 => Encoding::Binary,
            2 => Encoding::Ucs2,
            _ => Encoding::Gsm7,
        },
        0xE => Encoding::Ucs2,
        0xF if dcs & 0x04 != 0 => Encoding::Binary,
        _ => Encoding::Gsm7,
    }
}

/// The message class (0 flash, 1 ME, 2 SIM, 3 TE) when the DCS gives one.
pub const fn class(dcs: u8) -> Option<u8> {
    match dcs >> 4 {
        0x0..=0x7 if dcs & 0x10 != 0 => Some(dcs & 0x03),
        0xF => Some(dcs & 0x03),
        _ => None,
    }
}

/// The plain DCS of an encoding (no class): GSM-7 0x00, 8-bit 0x04, UCS2 0x08; `None` for
/// encodings a TPDU cannot carry (Latin-1, ASCII, UTF-8).
pub const fn for_encoding(encoding: Encoding) -> Option<u8> {
    match encoding {
        Encoding::Gsm7 => Some(0x00),
        Encoding::Binary => Some(0x04),
        Encoding::Ucs2 => Some(0x08),
        Encoding::Latin1 | Encoding::Ascii | Encoding::Utf8 => None,
    }
}
