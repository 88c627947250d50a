//! UCS2 as phones and SMSCs use it: UTF-16 big-endian, surrogate pairs for characters beyond
//! the BMP (emoji), no byte order mark.
//!
//! Reference: TS 23.038 §6.2.3 (UCS2), SMPP 3.4 data_coding 8; reference/modem.md §2.6
//! (EMOJI-UTF16 vector, vumi #812: never emit a BOM).
//!
//! Decoding is lossy and never fails: an unpaired surrogate becomes U+FFFD, and so does an odd
//! trailing octet. A leading BOM is not stripped (it decodes as U+FEFF).
//!
//! Not handled here: segmentation (see `segment`, which never splits a surrogate pair).

/// What [`decode`] puts in place of an unpaired surrogate or an odd trailing octet.
pub const REPLACEMENT: char = '\u{FFFD}';

/// UTF-16 code units `text` takes (70 fit a single SMS, 67 a concatenated part).
pub fn unit_count(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Appends the UTF-16BE octets of `text` to `out`.
pub(crate) fn encode_into(text: &str, out: &mut Vec<u8>) {
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
}

/// Encodes `text` as UTF-16BE without a BOM: "あ叶葉" → `30 42 53 F6 84 49`.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    encode_into(text, &mut out);
    out
}

/// Decodes UTF-16BE octets, lossily (see the module notes).
pub fn decode(octets: &[u8]) -> String {
    let pairs = octets.chunks_exact(2);
    let odd = !pairs.remainder().is_empty();
    let units = pairs.map(|p| u16::from_be_bytes([p[0], p[1]]));
    let mut out: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(REPLACEMENT))
        .collect();
    if odd {
        out.push(REPLACEMENT);
    }
    out
}
