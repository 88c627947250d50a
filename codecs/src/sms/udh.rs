//! The user data header at the start of a payload (TP-UDHI / SMPP esm_class 0x40), and its
//! concatenation element.
//!
//! Reference: TS 23.040 §9.2.3.24 (UDH layout; IEI 0x00 concatenation with an 8-bit reference,
//! 0x08 with a 16-bit reference); reference/modem.md §2.6; reference/vumi.md §3.6 and §6.3.
//!
//! * [`Udh::parse`] checks every length up front (UDHL against the payload, each element against
//!   the header) and returns the header and the rest of the payload; nothing reads past the end.
//! * [`Udh::elements`] walks the information elements; unknown ones are simply yielded, so a
//!   caller skips what it does not know. [`Udh::concat`] finds the first well-formed
//!   concatenation element; a malformed one (wrong length, total 0, sequence 0 or above the
//!   total) is ignored, so the part reads as a whole message.
//! * [`Concat::udh8`] / [`Concat::udh16`] build the 6- and 7-octet headers for outbound parts.
//!
//! Not handled here: the meaning of other elements (ports, national language shifts, EMS), the
//! python-smpp `\x00\x03…` header without a UDHL octet, and GSM-7 fill bits (see
//! [`super::gsm7::fill_bits`]).

use super::Error;

/// IEI of the concatenation element with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// IEI of the concatenation element with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;

/// A validated user data header, borrowed from the payload (UDHL octet included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udh<'a> {
    header: &'a [u8],
}

/// One information element: its identifier and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    /// The IEI.
    pub id: u8,
    /// The element data (IEDL octets).
    pub data: &'a [u8],
}

/// A concatenation element: which message a part belongs to and where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concat {
    /// The reference shared by all parts of one message (0–255 for an 8-bit element).
    pub reference: u16,
    /// How many parts the message has (1–255).
    pub total: u8,
    /// This part's number, 1-based.
    pub seq: u8,
}

impl<'a> Udh<'a> {
    /// Splits a payload that starts with a UDH into the header and the rest.
    ///
    /// # Errors
    /// [`Error::UdhMissing`] for an empty payload, [`Error::UdhOverrun`] when UDHL claims more
    /// octets than follow, [`Error::IeOverrun`] when an element runs past the header.
    pub fn parse(payload: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let (&udhl, body) = payload.split_first().ok_or(Error::UdhMissing)?;
        let udhl = usize::from(udhl);
        if body.len() < udhl {
            return Err(Error::UdhOverrun);
        }
        let (elements, rest) = body.split_at(udhl);
        let mut cursor = elements;
        while !cursor.is_empty() {
            let [_, len, tail @ ..] = cursor else {
                return Err(Error::IeOverrun);
            };
            let len = usize::from(*len);
            if tail.len() < len {
                return Err(Error::IeOverrun);
            }
            cursor = &tail[len..];
        }
        let header = &payload[..=udhl];
        Ok((Self { header }, rest))
    }

    /// The whole header as it appeared, UDHL octet included.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.header
    }

    /// Octets of the header, UDHL octet included (what [`super::gsm7::fill_bits`] takes).
    pub const fn octet_len(&self) -> usize {
        self.header.len()
    }

    /// The information elements, in order.
    pub fn elements(&self) -> Elements<'a> {
        Elements {
            rest: self.header.get(1..).unwrap_or_default(),
        }
    }

    /// The first well-formed concatenation element (IEI 0x00 or 0x08), if any.
    pub fn concat(&self) -> Option<Concat> {
        self.elements().find_map(Concat::from_element)
    }
}

/// Iterator over the elements of a [`Udh`].
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        let [id, len, tail @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(*len);
        let data = tail.get(..len)?;
        self.rest = tail.get(len..).unwrap_or_default();
        Some(Element { id: *id, data })
    }
}

impl Concat {
    /// A concatenation element, checked: `total` ≥ 1 and 1 ≤ `seq` ≤ `total`.
    ///
    /// # Errors
    /// [`Error::BadConcat`] otherwise.
    pub const fn new(reference: u16, total: u8, seq: u8) -> Result<Self, Error> {
        if total == 0 || seq == 0 || seq > total {
            return Err(Error::BadConcat);
        }
        Ok(Self {
            reference,
            total,
            seq,
        })
    }

    /// Reads a concatenation element (IEI 0x00 with 3 octets, 0x08 with 4); `None` for any
    /// other element or a malformed one.
    pub fn from_element(element: Element<'_>) -> Option<Self> {
        let (reference, total, seq) = match (element.id, element.data) {
            (IEI_CONCAT_8, &[r, t, s]) => (u16::from(r), t, s),
            (IEI_CONCAT_16, &[hi, lo, t, s]) => (u16::from_be_bytes([hi, lo]), t, s),
            _ => return None,
        };
        Self::new(reference, total, seq).ok()
    }

    /// The 6-octet header with an 8-bit reference (the low octet of `reference`):
    /// `05 00 03 ref total seq`.
    pub const fn udh8(self) -> [u8; 6] {
        let [_, lo] = self.reference.to_be_bytes();
        [0x05, IEI_CONCAT_8, 0x03, lo, self.total, self.seq]
    }

    /// The 7-octet header with a 16-bit reference: `06 08 04 ref_hi ref_lo total seq`.
    pub const fn udh16(self) -> [u8; 7] {
        let [hi, lo] = self.reference.to_be_bytes();
        [0x06, IEI_CONCAT_16, 0x04, hi, lo, self.total, self.seq]
    }
}
