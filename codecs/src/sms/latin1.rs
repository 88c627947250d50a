//! ISO-8859-1 (SMPP data_coding 3) and IA5/ASCII (data_coding 1): one octet per character.
//!
//! Reference: SMPP 3.4 §5.2.19 (data_coding); IA5 is ITU-T T.50 in its international reference
//! version, which is US-ASCII.
//!
//! Latin-1 decoding is total (every octet is a character, U+0000–U+00FF). ASCII decoding puts
//! U+FFFD in place of octets above 0x7F. Encoding stops at the first character the charset
//! cannot carry and names it.
//!
//! Not handled here: Windows-1252 (0x80–0x9F decode as C1 controls, not `€` and friends), and
//! how an SMSC maps these charsets to the air interface.

use super::{Encoding, Error};

/// What [`decode_ascii`] puts in place of an octet above 0x7F.
pub const REPLACEMENT: char = '\u{FFFD}';

fn encode_limited(text: &str, max: char, encoding: Encoding) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(text.len());
    for (offset, ch) in text.char_indices() {
        match u8::try_from(ch) {
            Ok(octet) if ch <= max => out.push(octet),
            _ => {
                return Err(Error::Unrepresentable {
                    encoding,
                    ch,
                    offset,
                });
            }
        }
    }
    Ok(out)
}

/// Encodes `text` as Latin-1.
///
/// # Errors
/// [`Error::Unrepresentable`] naming the first character above U+00FF.
pub fn encode(text: &str) -> Result<Vec<u8>, Error> {
    encode_limited(text, '\u{FF}', Encoding::Latin1)
}

/// Decodes Latin-1 octets (never fails).
pub fn decode(octets: &[u8]) -> String {
    octets.iter().map(|&b| char::from(b)).collect()
}

/// Encodes `text` as ASCII (IA5).
///
/// # Errors
/// [`Error::Unrepresentable`] naming the first character above U+007F.
pub fn encode_ascii(text: &str) -> Result<Vec<u8>, Error> {
    encode_limited(text, '\u{7F}', Encoding::Ascii)
}

/// Decodes ASCII octets; an octet above 0x7F becomes U+FFFD (never fails).
pub fn decode_ascii(octets: &[u8]) -> String {
    octets
        .iter()
        .map(|&b| {
            if b.is_ascii() {
                char::from(b)
            } else {
                REPLACEMENT
            }
        })
        .collect()
}
