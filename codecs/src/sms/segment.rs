//! Splitting a text into SMS parts, and joining received parts back.
//!
//! Reference: TS 23.040 §9.2.3.24.1 (concatenation), reference/modem.md §2.8 (arithmetic),
//! reference/smpp.md (long messages: UDH, SAR TLVs), reference/vumi.md §3.3 and §5 (#842).
//!
//! Limits, in the unit of each encoding (GSM-7 septets, UCS2 code units, other octets):
//!
//! | encoding | single | part, 8-bit ref UDH | part, 16-bit ref UDH | part, [`Method::Raw`] |
//! |---|---|---|---|---|
//! | GSM-7 | 160 | 153 | 152 | 153 |
//! | UCS2 | 70 | 67 | 66 | 67 |
//! | Latin-1, ASCII, UTF-8, binary | 140 | 134 | 133 | 134 |
//!
//! * A text within the single limit is one part without a header, whatever the method.
//! * Parts are cut on character boundaries, so a GSM-7 escape pair (extension characters count
//!   2 septets) or a UTF-16 surrogate pair (non-BMP characters count 2 units) is never split,
//!   and each part decodes on its own. UTF-8 parts never split a character either.
//! * [`Method::Raw`] is for SAR TLVs (sar_msg_ref_num, …): parts carry no header, and are cut at
//!   the 8-bit-UDH size because the SMSC adds a header for the handset.
//! * More than 255 parts is [`Error::TooManyParts`] (vumi #842).
//!
//! ASCII and Latin-1 are measured in SMPP octets: whether the SMSC re-encodes them for the air
//! interface (to GSM-7, or to UCS2 for characters GSM-7 lacks) is beyond this module, which is
//! why [`super::choose`] prefers GSM-7 or UCS2.
//!
//! Not handled here: choosing the reference (the caller keeps one per destination, unused while
//! parts are in flight), national language shift headers, and `message_payload`.

use super::{Concat, Encoding, Error, gsm7};

/// How the parts of a long message are tied together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// A UDH with IEI 0x00 (8-bit reference) at the start of each part (esm_class 0x40).
    Udh8,
    /// A UDH with IEI 0x08 (16-bit reference) at the start of each part (esm_class 0x40).
    Udh16,
    /// No header: the caller sends SAR TLVs (or its own header) with each part.
    Raw,
}

/// How much text fits, in the encoding's unit (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A message that fits in one SMS.
    pub single: usize,
    /// Each part of a concatenated message.
    pub part: usize,
}

/// The limits for an encoding and a method.
pub const fn limits(encoding: Encoding, method: Method) -> Limits {
    let (single, header) = match encoding {
        Encoding::Gsm7 => (160, [7, 8]),
        Encoding::Ucs2 => (70, [3, 4]),
        Encoding::Latin1 | Encoding::Ascii | Encoding::Utf8 | Encoding::Binary => (140, [6, 7]),
    };
    let header = match method {
        Method::Udh8 | Method::Raw => header[0],
        Method::Udh16 => header[1],
    };
    Limits {
        single,
        part: single - header,
    }
}

/// The cost of one character in the encoding's unit, or `None` when it has no code.
fn cost(encoding: Encoding, ch: char) -> Option<usize> {
    match encoding {
        Encoding::Gsm7 => gsm7::code(ch).map(gsm7::Code::len),
        Encoding::Ucs2 => Some(ch.len_utf16()),
        Encoding::Latin1 => (ch <= '\u{FF}').then_some(1),
        Encoding::Ascii => ch.is_ascii().then_some(1),
        Encoding::Utf8 => Some(ch.len_utf8()),
        Encoding::Binary => None,
    }
}

/// The size of `text` in the encoding's unit.
///
/// # Errors
/// [`Error::Unrepresentable`] for the first character without a code; [`Error::BinaryText`].
pub fn measure(text: &str, encoding: Encoding) -> Result<usize, Error> {
    if encoding == Encoding::Binary {
        return Err(Error::BinaryText);
    }
    text.char_indices().try_fold(0, |n, (offset, ch)| {
        cost(encoding, ch)
            .map(|c| n + c)
            .ok_or(Error::Unrepresentable {
                encoding,
                ch,
                offset,
            })
    })
}

/// Cuts `text` into the slices that become parts (one slice when it fits a single SMS).
///
/// # Errors
/// [`Error::Unrepresentable`], [`Error::BinaryText`], [`Error::TooManyParts`].
pub fn split(text: &str, encoding: Encoding, method: Method) -> Result<Vec<&str>, Error> {
    let limits = limits(encoding, method);
    if measure(text, encoding)? <= limits.single {
        return Ok(vec![text]);
    }
    let mut parts = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (offset, ch) in text.char_indices() {
        // Every character has a cost: measure() succeeded.
        let c = cost(encoding, ch).unwrap_or(0);
        if used + c > limits.part {
            if parts.len() == 255 {
                return Err(Error::TooManyParts);
            }
            parts.push(&text[start..offset]);
            (start, used) = (offset, 0);
        }
        used += c;
    }
    if parts.len() == 255 {
        return Err(Error::TooManyParts);
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn with_headers(
    bodies: Vec<Vec<u8>>,
    reference: u16,
    method: Method,
) -> Result<Vec<Vec<u8>>, Error> {
    let total = u8::try_from(bodies.len()).map_err(|_| Error::TooManyParts)?;
    if total <= 1 || method == Method::Raw {
        return Ok(bodies);
    }
    let mut parts = Vec::with_capacity(bodies.len());
    for (seq, body) in (1..=total).zip(bodies) {
        let concat = Concat::new(reference, total, seq)?;
        let mut part = Vec::with_capacity(7 + body.len());
        match method {
            Method::Udh16 => part.extend_from_slice(&concat.udh16()),
            Method::Udh8 | Method::Raw => part.extend_from_slice(&concat.udh8()),
        }
        part.extend_from_slice(&body);
        parts.push(part);
    }
    Ok(parts)
}

/// Splits and encodes `text` into `short_message` payloads: GSM-7 as unpacked septets, each
/// part prefixed by its concatenation UDH for [`Method::Udh8`] / [`Method::Udh16`] (send with
/// esm_class 0x40) when there is more than one part. `reference` is used as is for
/// [`Method::Udh16`] and by its low octet for [`Method::Udh8`]; [`Method::Raw`] ignores it.
///
/// # Errors
/// [`Error::Unrepresentable`], [`Error::BinaryText`], [`Error::TooManyParts`].
pub fn segment(
    text: &str,
    encoding: Encoding,
    reference: u16,
    method: Method,
) -> Result<Vec<Vec<u8>>, Error> {
    let bodies = split(text, encoding, method)?
        .into_iter()
        .map(|chunk| encoding.encode(chunk))
        .collect::<Result<Vec<_>, _>>()?;
    with_headers(bodies, reference, method)
}

/// Splits binary octets (data_coding 2/4) like [`segment`]: 140 octets fit one SMS, parts hold
/// 134 (8-bit reference, raw) or 133 (16-bit reference).
///
/// # Errors
/// [`Error::TooManyParts`].
pub fn segment_binary(data: &[u8], reference: u16, method: Method) -> Result<Vec<Vec<u8>>, Error> {
    let limits = limits(Encoding::Binary, method);
    let bodies = if data.len() <= limits.single {
        vec![data.to_vec()]
    } else {
        data.chunks(limits.part).map(<[u8]>::to_vec).collect()
    };
    with_headers(bodies, reference, method)
}

/// Joins the payloads of parts `1..=total` (in any order; UDH already removed) into the
/// payload of the whole message, to be decoded with the message's [`Encoding`]. Joining octets
/// before decoding also repairs a sender that split an escape or surrogate pair.
///
/// # Errors
/// [`Error::BadConcat`] for a total of 0; [`Error::PartOutOfRange`], [`Error::DuplicatePart`],
/// [`Error::MissingPart`].
pub fn reassemble<'p>(
    total: u8,
    parts: impl IntoIterator<Item = (u8, &'p [u8])>,
) -> Result<Vec<u8>, Error> {
    if total == 0 {
        return Err(Error::BadConcat);
    }
    let mut slots: Vec<Option<&[u8]>> = vec![None; usize::from(total)];
    for (seq, data) in parts {
        let slot = usize::from(seq)
            .checked_sub(1)
            .and_then(|i| slots.get_mut(i))
            .ok_or(Error::PartOutOfRange)?;
        if slot.replace(data).is_some() {
            return Err(Error::DuplicatePart);
        }
    }
    let mut out = Vec::new();
    for slot in slots {
        out.extend_from_slice(slot.ok_or(Error::MissingPart)?);
    }
    Ok(out)
}
