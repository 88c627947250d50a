//! The GSM 7-bit default alphabet and its extension table, unpacked and packed.
//!
//! Reference: 3GPP TS 23.038 §6.2.1 (default alphabet, extension table via escape 0x1B) and
//! §6.1.2.1 (packing septets LSB-first); reference/modem.md §2.6 (fill bits) and §2.7 (tables).
//!
//! * Unpacked form: one septet per octet, as SMPP carries GSM-7 in `short_message`.
//!   [`encode_unpacked`] / [`decode_unpacked`] convert text to and from it; an extension
//!   character is two septets, `0x1B` then its code.
//! * Packed form: septets packed LSB-first into octets, as TPDUs carry them. [`pack`] /
//!   [`unpack`] and their `_with_fill` variants, which start after `fill_bits` zero bits so the
//!   text begins on a septet boundary after a user data header ([`fill_bits`]).
//! * Encoding is strict: `ç` is not mapped to `Ç` (0x09), Greek lookalikes are not mapped to
//!   Latin letters, and `` ` `` has no code; such text needs UCS2 ([`super::choose`]).
//! * Decoding never fails: an octet above 0x7F, or an escape with nothing after it, becomes
//!   [`REPLACEMENT`] (U+FFFD); an escape followed by a code with no extension entry decodes as
//!   the default-table character of that code (23.038 §6.2.1.1); `1B 1B` (escape to a further
//!   table) decodes as a space.
//!
//! Not handled here: national language shift tables (23.038 Annex A, UDH IEs 0x24/0x25), and the
//! CR padding of a packed text whose last octet has 7 spare bits (§6.1.2.3.1): the septet count
//! always travels with the packed octets (TP-UDL), so [`unpack`] takes it as an argument.

use super::{Encoding, Error};

/// What [`decode_unpacked`] puts in place of an octet that is not a septet.
pub const REPLACEMENT: char = '\u{FFFD}';

/// The escape septet that introduces an extension-table character.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. 0x1B (the escape) holds a placeholder.
pub(crate) const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The default extension table: (code after the escape, character).
pub(crate) const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{000C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// No code for this ASCII character in [`ASCII_TO_GSM`].
const NONE: u8 = 0xFF;
/// Marks an ASCII character that lives in the extension table.
const EXT: u8 = 0xFE;

/// Septet of each ASCII character: the code, [`EXT`] or [`NONE`].
const ASCII_TO_GSM: [u8; 128] = {
    let mut table = [NONE; 128];
    let mut code = 0;
    while code < 128 {
        let ch = BASIC[code] as u32;
        if ch < 128 && code != ESCAPE as usize {
            table[ch as usize] = code as u8;
        }
        code += 1;
    }
    let mut i = 0;
    while i < EXTENSION.len() {
        let ch = EXTENSION[i].1 as u32;
        if ch < 128 {
            table[ch as usize] = EXT;
        }
        i += 1;
    }
    table
};

/// How one character is written: one septet, or the escape and a second septet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Basic(u8),
    Extended(u8),
}

impl Code {
    /// Septets this character costs (1 or 2).
    pub(crate) const fn len(self) -> usize {
        match self {
            Self::Basic(_) => 1,
            Self::Extended(_) => 2,
        }
    }
}

fn extension_code(ch: char) -> Option<u8> {
    EXTENSION
        .iter()
        .find_map(|&(code, c)| (c == ch).then_some(code))
}

/// The septet(s) of one character, or `None` when the alphabet has no code for it.
pub(crate) fn code(ch: char) -> Option<Code> {
    if ch.is_ascii() {
        return match ASCII_TO_GSM[ch as usize] {
            NONE => None,
            EXT => extension_code(ch).map(Code::Extended),
            code => Some(Code::Basic(code)),
        };
    }
    if ch == '€' {
        return Some(Code::Extended(0x65));
    }
    BASIC
        .iter()
        .position(|&c| c == ch)
        .filter(|&i| i != usize::from(ESCAPE))
        .and_then(|i| u8::try_from(i).ok())
        .map(Code::Basic)
}

/// Whether every character of `text` has a GSM-7 code.
pub fn is_representable(text: &str) -> bool {
    text.chars().all(|c| code(c).is_some())
}

/// The number of septets `text` takes (extension characters count 2), or `None` when a
/// character has no GSM-7 code.
pub fn septet_count(text: &str) -> Option<usize> {
    text.chars()
        .try_fold(0usize, |n, c| code(c).map(|k| n + k.len()))
}

/// Appends the septets of `text` to `out`, one per octet. On error `out` may hold a prefix.
pub(crate) fn encode_into(text: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    for (offset, ch) in text.char_indices() {
        match code(ch) {
            Some(Code::Basic(s)) => out.push(s),
            Some(Code::Extended(s)) => out.extend_from_slice(&[ESCAPE, s]),
            None => {
                return Err(Error::Unrepresentable {
                    encoding: Encoding::Gsm7,
                    ch,
                    offset,
                });
            }
        }
    }
    Ok(())
}

/// Encodes `text` as unpacked septets (one per octet, as SMPP carries GSM-7).
///
/// # Errors
/// [`Error::Unrepresentable`] naming the first character with no GSM-7 code.
pub fn encode_unpacked(text: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(text.len());
    encode_into(text, &mut out)?;
    Ok(out)
}

/// Decodes unpacked septets. Never fails; see the module notes for what replaces bad input.
pub fn decode_unpacked(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut iter = septets.iter().copied();
    while let Some(s) = iter.next() {
        if s == ESCAPE {
            out.push(match iter.next() {
                Some(ESCAPE) => ' ',
                Some(next) => decode_extension(next),
                None => REPLACEMENT,
            });
        } else {
            out.push(basic_char(s));
        }
    }
    out
}

fn basic_char(septet: u8) -> char {
    BASIC
        .get(usize::from(septet))
        .copied()
        .unwrap_or(REPLACEMENT)
}

fn decode_extension(code: u8) -> char {
    EXTENSION
        .iter()
        .find_map(|&(k, c)| (k == code).then_some(c))
        .unwrap_or_else(|| basic_char(code))
}

/// Fill bits after a user data header of `udh_octets` octets (UDHL octet included) so that the
/// GSM-7 text starts on a septet boundary: 6 → 1, 7 → 0, 4 → 3, 12 → 2 (modem.md §2.6).
pub const fn fill_bits(udh_octets: usize) -> u8 {
    ((7 - (udh_octets * 8) % 7) % 7) as u8
}

/// Packs septets LSB-first (23.038 §6.1.2.1): "hellohello" → `E8 32 9B FD 46 97 D9 EC 37`.
/// Only the low 7 bits of each octet are used.
pub fn pack(septets: &[u8]) -> Vec<u8> {
    pack_with_fill(septets, 0)
}

/// Packs septets after `fill_bits` zero bits (`fill_bits & 7`), the layout of a TPDU's user data
/// after a UDH: the result starts at the first octet after the header.
pub fn pack_with_fill(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    let fill = u32::from(fill_bits & 7);
    let bits = septets.len() * 7 + fill as usize;
    let mut out = Vec::with_capacity(bits.div_ceil(8));
    let mut acc: u32 = 0;
    let mut held = fill;
    for &s in septets {
        acc |= u32::from(s & 0x7F) << held;
        held += 7;
        while held >= 8 {
            out.push((acc & 0xFF) as u8);
            acc >>= 8;
            held -= 8;
        }
    }
    if held > 0 {
        out.push((acc & 0xFF) as u8);
    }
    out
}

/// Unpacks `septets` septets from packed octets (the count comes from TP-UDL). If the octets
/// hold fewer, returns as many as they hold.
pub fn unpack(packed: &[u8], septets: usize) -> Vec<u8> {
    unpack_with_fill(packed, septets, 0)
}

/// Unpacks `septets` septets that start after `fill_bits` zero bits (`fill_bits & 7`).
pub fn unpack_with_fill(packed: &[u8], septets: usize, fill_bits: u8) -> Vec<u8> {
    let fill = usize::from(fill_bits & 7);
    let available = (packed.len() * 8).saturating_sub(fill) / 7;
    let count = septets.min(available);
    let mut out = Vec::with_capacity(count);
    let mut acc: u32 = 0;
    let mut held: u32 = 0;
    let mut octets = packed.iter();
    let mut skip = fill as u32;
    while out.len() < count {
        while held < 7 + skip {
            let Some(&octet) = octets.next() else {
                return out;
            };
            acc |= u32::from(octet) << held;
            held += 8;
        }
        acc >>= skip;
        held -= skip;
        skip = 0;
        out.push((acc & 0x7F) as u8);
        acc >>= 7;
        held -= 7;
    }
    out
}
