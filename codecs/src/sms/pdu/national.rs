//! National language shift tables for GSM-7 user data: a locking shift replaces the default
//! alphabet, a single shift replaces the extension table (reached through the escape 0x1B).
//!
//! Reference: 3GPP TS 23.038 §6.2.1.2.4 and Annex A (A.2.1 Turkish, A.2.2 Spanish and A.2.3
//! Portuguese single shift; A.3.1 Turkish and A.3.3 Portuguese locking shift), TS 23.040
//! §9.2.3.24.15–16 (UDH IEs 0x24 single shift, 0x25 locking shift, one octet language id);
//! reference/modem.md §2.7. The tables were checked against the Rel-18 CSVs of gsmcodecs.
//!
//! * Language ids 1 (Turkish), 2 (Spanish: single shift only; a Spanish locking shift means
//!   the default alphabet) and 3 (Portuguese) are implemented. Every other id (4–13, the Indic
//!   scripts and Urdu, and reserved ids) decodes and encodes with the default tables.
//! * Decoding follows the default rules of [`crate::sms::gsm7`]: an escape followed by a code
//!   with no single-shift entry reads as the locking table's character of that code, `1B 1B`
//!   as a space, a final lone escape as U+FFFD.
//! * Encoding looks a character up in the locking table first, then in the single-shift table.
//!
//! Not handled: choosing tables for a text (the caller names them in the UDH), and the
//! segmentation arithmetic of headers that carry shift elements.

use crate::sms::gsm7::{self, BASIC, ESCAPE, EXTENSION, REPLACEMENT};
use crate::sms::{Encoding, Error, Udh};

/// IEI of the national language single shift element.
pub const IEI_SINGLE_SHIFT: u8 = 0x24;
/// IEI of the national language locking shift element.
pub const IEI_LOCKING_SHIFT: u8 = 0x25;

/// The tables a segment uses: language ids of the locking and single shift (0 = default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shift {
    /// Locking shift language id (UDH IE 0x25), 0 for the default alphabet.
    pub locking: u8,
    /// Single shift language id (UDH IE 0x24), 0 for the default extension table.
    pub single: u8,
}

const TURKISH_LOCKING: [char; 128] = [
    '@', '£', '$', '¥', '€', 'é', 'ù', 'ı', 'ò', 'Ç', '\n', 'Ğ', 'ğ', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Ş', 'ş', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    'İ', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    'ç', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

const PORTUGUESE_LOCKING: [char; 128] = [
    '@', '£', '$', '¥', 'ê', 'é', 'ú', 'í', 'ó', 'ç', '\n', 'Ô', 'ô', '\r', 'Á', 'á', //
    'Δ', '_', 'ª', 'Ç', 'À', '∞', '^', '\\', '€', 'Ó', '|', ' ', 'Â', 'â', 'Ê', 'É', //
    ' ', '!', '"', '#', 'º', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    'Í', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ã', 'Õ', 'Ú', 'Ü', '§', //
    '~', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ã', 'õ', '`', 'ü', 'à', //
];

const TURKISH_SINGLE: [(u8, char); 17] = [
    (0x0A, '\u{000C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x47, 'Ğ'),
    (0x49, 'İ'),
    (0x53, 'Ş'),
    (0x63, 'ç'),
    (0x65, '€'),
    (0x67, 'ğ'),
    (0x69, 'ı'),
    (0x73, 'ş'),
];

const SPANISH_SINGLE: [(u8, char); 19] = [
    (0x09, 'ç'),
    (0x0A, '\u{000C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x41, 'Á'),
    (0x49, 'Í'),
    (0x4F, 'Ó'),
    (0x55, 'Ú'),
    (0x61, 'á'),
    (0x65, '€'),
    (0x69, 'í'),
    (0x6F, 'ó'),
    (0x75, 'ú'),
];

const PORTUGUESE_SINGLE: [(u8, char); 37] = [
    (0x05, 'ê'),
    (0x09, 'ç'),
    (0x0A, '\u{000C}'),
    (0x0B, 'Ô'),
    (0x0C, 'ô'),
    (0x0E, 'Á'),
    (0x0F, 'á'),
    (0x12, 'Φ'),
    (0x13, 'Γ'),
    (0x14, '^'),
    (0x15, 'Ω'),
    (0x16, 'Π'),
    (0x17, 'Ψ'),
    (0x18, 'Σ'),
    (0x19, 'Θ'),
    (0x1F, 'Ê'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x41, 'À'),
    (0x49, 'Í'),
    (0x4F, 'Ó'),
    (0x55, 'Ú'),
    (0x5B, 'Ã'),
    (0x5C, 'Õ'),
    (0x61, 'Â'),
    (0x65, '€'),
    (0x69, 'í'),
    (0x6F, 'ó'),
    (0x75, 'ú'),
    (0x7B, 'ã'),
    (0x7C, 'õ'),
    (0x7F, 'â'),
];

impl Shift {
    /// The default tables.
    pub const DEFAULT: Self = Self {
        locking: 0,
        single: 0,
    };

    /// The tables a UDH names (the last element of each kind wins; none → default).
    pub fn from_udh(udh: &Udh<'_>) -> Self {
        let mut shift = Self::DEFAULT;
        for element in udh.elements() {
            match (element.id, element.data) {
                (IEI_LOCKING_SHIFT, &[id]) => shift.locking = id,
                (IEI_SINGLE_SHIFT, &[id]) => shift.single = id,
                _ => {}
            }
        }
        shift
    }

    /// The UDH information elements naming these tables (nothing for the default ones):
    /// `24 01 <single>` then `25 01 <locking>`, to follow the UDHL octet.
    pub fn udh_elements(self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.single != 0 {
            out.extend_from_slice(&[IEI_SINGLE_SHIFT, 1, self.single]);
        }
        if self.locking != 0 {
            out.extend_from_slice(&[IEI_LOCKING_SHIFT, 1, self.locking]);
        }
        out
    }

    const fn is_default(self) -> bool {
        !matches!(self.locking, 1 | 3) && !matches!(self.single, 1..=3)
    }

    const fn basic(self) -> &'static [char; 128] {
        match self.locking {
            1 => &TURKISH_LOCKING,
            3 => &PORTUGUESE_LOCKING,
            _ => &BASIC,
        }
    }

    const fn single_table(self) -> &'static [(u8, char)] {
        match self.single {
            1 => &TURKISH_SINGLE,
            2 => &SPANISH_SINGLE,
            3 => &PORTUGUESE_SINGLE,
            _ => &EXTENSION,
        }
    }
}

/// Decodes unpacked septets with these tables. Never fails (see the module notes).
pub fn decode(septets: &[u8], shift: Shift) -> String {
    if shift.is_default() {
        return gsm7::decode_unpacked(septets);
    }
    let (basic, single) = (shift.basic(), shift.single_table());
    let base = |s: u8| basic.get(usize::from(s)).copied().unwrap_or(REPLACEMENT);
    let mut out = String::with_capacity(septets.len());
    let mut iter = septets.iter().copied();
    while let Some(s) = iter.next() {
        if s != ESCAPE {
            out.push(base(s));
            continue;
        }
        out.push(match iter.next() {
            Some(ESCAPE) => ' ',
            Some(code) => single
                .iter()
                .find_map(|&(k, c)| (k == code).then_some(c))
                .unwrap_or_else(|| base(code)),
            None => REPLACEMENT,
        });
    }
    out
}

/// Encodes `text` as unpacked septets with these tables.
///
/// # Errors
/// [`Error::Unrepresentable`] for the first character neither table has.
pub fn encode(text: &str, shift: Shift) -> Result<Vec<u8>, Error> {
    if shift.is_default() {
        return gsm7::encode_unpacked(text);
    }
    let (basic, single) = (shift.basic(), shift.single_table());
    let mut out = Vec::with_capacity(text.len());
    for (offset, ch) in text.char_indices() {
        // The escape's slot holds a placeholder: never match it.
        let code = (0u8..128)
            .zip(basic)
            .find(|&(i, &c)| c == ch && i != ESCAPE)
            .map(|(i, _)| i);
        if let Some(code) = code {
            out.push(code);
        } else if let Some(&(code, _)) = single.iter().find(|&&(_, c)| c == ch) {
            out.extend_from_slice(&[ESCAPE, code]);
        } else {
            return Err(Error::Unrepresentable {
                encoding: Encoding::Gsm7,
                ch,
                offset,
            });
        }
    }
    Ok(out)
}
