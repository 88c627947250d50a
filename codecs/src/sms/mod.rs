//! SMS text: TS 23.038 alphabets, SMPP data_coding, TS 23.040 user data headers and
//! segmentation into concatenated parts.
//!
//! Reference: 3GPP TS 23.038 §4–§6 (coding groups, GSM-7, UCS2), TS 23.040 §9.2.3.24 (UDH),
//! SMPP 3.4 §5.2.19 (data_coding); reference/modem.md §2.6–§2.8 and §3 (vectors),
//! reference/smpp.md (data_coding, long messages), reference/vumi.md §3.2–§3.3 and §5.
//!
//! * [`gsm7`], [`ucs2`], [`latin1`]: the alphabets, each with `encode` (strict, naming the first
//!   character it cannot carry) and `decode` (lossy, never fails).
//! * [`Encoding`] ties them to SMPP `data_coding` ([`Encoding::from_data_coding`],
//!   [`Encoding::data_coding`]); [`choose`] is the outbound policy: the preferred alphabet when
//!   the text fits it, else UCS2.
//! * [`udh`]: parse a user data header and its concatenation element, or build one.
//! * [`mod@segment`]: split a text into parts that fit one SMS each (never inside a GSM-7 escape
//!   pair or a UTF-16 surrogate pair), with or without a concatenation UDH, and join parts back.
//!
//! * [`pdu`]: TS 23.040 TPDUs as modems carry them in PDU mode (SMS-DELIVER, SMS-SUBMIT,
//!   SMS-STATUS-REPORT with the SMSC field), GSM-7 packing with fill bits, and the Turkish,
//!   Spanish and Portuguese national language shift tables ([`pdu::national`]).
//! * [`ussd`]: `+CUSD` strings under a CBS data coding scheme, and the packed-hex request form.
//!
//! This is the one GSM-7/UCS2 implementation of the crate: `smpp` and the modem PDUs use it.
//! Not handled here: SUBMIT-REPORT, DELIVER-REPORT and COMMAND TPDUs, the national language
//! tables of ids other than 1–3, compressed text (23.042), and the JIS/Cyrillic/Hebrew/Korean
//! SMPP codings (they decode as [`Encoding::Binary`]).
//!
//! ```
//! use richmond_codecs::sms::{self, Encoding, segment::Method};
//!
//! assert_eq!(sms::gsm7::encode_unpacked("@£[").unwrap(), [0x00, 0x01, 0x1B, 0x3C]);
//! assert_eq!(sms::choose("Zoë", Encoding::Gsm7), Encoding::Ucs2);
//! let parts = sms::segment::segment(&"x".repeat(200), Encoding::Gsm7, 0x42, Method::Udh8).unwrap();
//! assert_eq!(parts.len(), 2);
//! assert_eq!(&parts[0][..6], [0x05, 0x00, 0x03, 0x42, 0x02, 0x01]);
//! ```

mod error;
pub mod gsm7;
pub mod latin1;
pub mod pdu;
pub mod segment;
pub mod ucs2;
pub mod udh;
pub mod ussd;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod segment_tests;
#[cfg(test)]
mod tests;

use std::fmt;

pub use error::Error;
pub use segment::{Method, segment};
pub use udh::{Concat, Udh};

/// How the octets of a message carry its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 7-bit default alphabet, unpacked (one septet per octet) as SMPP carries it.
    Gsm7,
    /// ISO-8859-1 (data_coding 3).
    Latin1,
    /// IA5 / US-ASCII (data_coding 1).
    Ascii,
    /// UTF-16BE (data_coding 8).
    Ucs2,
    /// Octets that are not text (data_coding 2 or 4, and codings this crate does not decode).
    Binary,
    /// UTF-8. It has no data_coding of its own: only an SMSC whose default alphabet
    /// (data_coding 0) is configured as UTF-8 uses it (what Vumi's default `utf-8` sent).
    Utf8,
}

impl Encoding {
    /// The encoding an SMPP `data_coding` announces.
    ///
    /// * 0 → `default_alphabet` (the SMSC default: GSM-7 on most, Latin-1 or UTF-8 on some);
    ///   1 → ASCII; 3 → Latin-1; 8 → UCS2; 2 and 4 → binary.
    /// * 0x10–0x7F: TS 23.038 general data coding groups (many SMSCs pass TP-DCS through):
    ///   bits 3–2 give GSM-7 / 8-bit / UCS2; compressed text (bit 5) and the reserved alphabet
    ///   are binary.
    /// * 0xC0–0xDF (message waiting, GSM-7) → GSM-7; 0xE0–0xEF (message waiting, UCS2) → UCS2;
    ///   0xF0–0xFF: bit 2 clear → GSM-7, set → binary.
    /// * Everything else (5 JIS, 6 Cyrillic, 7 Hebrew, 9 pictogram, 10 ISO-2022-JP, 13 Kanji,
    ///   14 KS C 5601, reserved values) → binary: the octets are kept, not guessed at.
    pub const fn from_data_coding(dc: u8, default_alphabet: Self) -> Self {
        match dc {
            0x00 => default_alphabet,
            0x01 => Self::Ascii,
            0x03 => Self::Latin1,
            0x08 => Self::Ucs2,
            0x10..=0x7F if dc & 0x20 != 0 => Self::Binary,
            0x10..=0x7F => match (dc >> 2) & 0x03 {
                0 => Self::Gsm7,
                2 => Self::Ucs2,
                _ => Self::Binary,
            },
            0xC0..=0xDF => Self::Gsm7,
            0xE0..=0xEF => Self::Ucs2,
            0xF0..=0xFF if dc & 0x04 == 0 => Self::Gsm7,
            _ => Self::Binary,
        }
    }

    /// The `data_coding` to send with this encoding: GSM-7 0 (the SMSC default), ASCII 1,
    /// Latin-1 3, binary 4, UCS2 8, UTF-8 0 (only for SMSCs whose default is UTF-8).
    pub const fn data_coding(self) -> u8 {
        match self {
            Self::Gsm7 | Self::Utf8 => 0,
            Self::Ascii => 1,
            Self::Latin1 => 3,
            Self::Binary => 4,
            Self::Ucs2 => 8,
        }
    }

    /// A lowercase name (`gsm7`, `latin1`, `ascii`, `ucs2`, `binary`, `utf8`), usable as a label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Latin1 => "latin1",
            Self::Ascii => "ascii",
            Self::Ucs2 => "ucs2",
            Self::Binary => "binary",
            Self::Utf8 => "utf8",
        }
    }

    /// Encodes `text` (GSM-7 unpacked).
    ///
    /// # Errors
    /// [`Error::Unrepresentable`] for a character the encoding cannot carry;
    /// [`Error::BinaryText`] for [`Encoding::Binary`].
    pub fn encode(self, text: &str) -> Result<Vec<u8>, Error> {
        match self {
            Self::Gsm7 => gsm7::encode_unpacked(text),
            Self::Latin1 => latin1::encode(text),
            Self::Ascii => latin1::encode_ascii(text),
            Self::Ucs2 => Ok(ucs2::encode(text)),
            Self::Utf8 => Ok(text.as_bytes().to_vec()),
            Self::Binary => Err(Error::BinaryText),
        }
    }

    /// Decodes octets, lossily; never fails. [`Encoding::Binary`] and [`Encoding::Utf8`] give
    /// a lossy UTF-8 view (invalid sequences become U+FFFD); keep the octets of a binary payload
    /// if they matter.
    pub fn decode(self, octets: &[u8]) -> String {
        match self {
            Self::Gsm7 => gsm7::decode_unpacked(octets),
            Self::Latin1 => latin1::decode(octets),
            Self::Ascii => latin1::decode_ascii(octets),
            Self::Ucs2 => ucs2::decode(octets),
            Self::Utf8 | Self::Binary => String::from_utf8_lossy(octets).into_owned(),
        }
    }

    /// Whether every character of `text` can be encoded (always false for binary).
    pub fn can_encode(self, text: &str) -> bool {
        match self {
            Self::Gsm7 => gsm7::is_representable(text),
            Self::Latin1 => text.chars().all(|c| c <= '\u{FF}'),
            Self::Ascii => text.is_ascii(),
            Self::Ucs2 | Self::Utf8 => true,
            Self::Binary => false,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outbound policy: `preferred` when it can carry the whole text, else UCS2 (vumi #838,
/// #1019: fall back rather than fail). A `preferred` of [`Encoding::Binary`] (no text form) is
/// read as GSM-7.
///
/// ```
/// use richmond_codecs::sms::{choose, Encoding};
/// assert_eq!(choose("Hi {there}", Encoding::Gsm7), Encoding::Gsm7);
/// assert_eq!(choose("Hi 😃", Encoding::Gsm7), Encoding::Ucs2);
/// assert_eq!(choose("Zoë", Encoding::Latin1), Encoding::Latin1);
/// ```
pub fn choose(text: &str, preferred: Encoding) -> Encoding {
    let preferred = match preferred {
        Encoding::Binary => Encoding::Gsm7,
        other => other,
    };
    if preferred.can_encode(text) {
        preferred
    } else {
        Encoding::Ucs2
    }
}
