//! The error of the SMS text layer: why a text cannot be encoded or split, why a user data
//! header is malformed, or why parts cannot be joined.
//!
//! Reference: TS 23.038 §6 (alphabets), TS 23.040 §9.2.3.24 (UDH), reference/modem.md §2.6–§2.8.
//!
//! The enum is small and `Copy`. The only input data it carries is the one character that an
//! alphabet cannot represent and its byte offset (useful in a nack reason, never in a metric
//! label: use [`Error::code`] for that).

use super::Encoding;

/// Why an SMS text or header operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text holds a character the encoding cannot carry.
    #[error("character {ch:?} at byte {offset} cannot be encoded as {encoding}")]
    Unrepresentable {
        /// The encoding that was asked for.
        encoding: Encoding,
        /// The first character that does not fit.
        ch: char,
        /// Its byte offset in the text.
        offset: usize,
    },
    /// [`Encoding::Binary`] was asked to carry text (binary payloads are octets, not text).
    #[error("binary data coding cannot carry text")]
    BinaryText,
    /// The payload is empty, so there is no UDHL octet to read.
    #[error("user data header missing")]
    UdhMissing,
    /// The UDHL octet claims more octets than the payload holds.
    #[error("user data header length overruns the payload")]
    UdhOverrun,
    /// An information element's length runs past the end of the header.
    #[error("information element length overruns the user data header")]
    IeOverrun,
    /// A concatenation element has a total of 0, a sequence number of 0, or one above the total.
    #[error("bad concatenation numbers")]
    BadConcat,
    /// The text needs more than 255 parts (vumi #842: this must be refused, not crash).
    #[error("message needs more than 255 parts")]
    TooManyParts,
    /// Reassembly: a part number is 0 or above the total.
    #[error("part number out of range")]
    PartOutOfRange,
    /// Reassembly: the same part number arrived twice.
    #[error("duplicate part")]
    DuplicatePart,
    /// Reassembly: a part number between 1 and the total is absent.
    #[error("missing part")]
    MissingPart,
}

impl Error {
    /// A stable snake_case code, usable as a bounded metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Unrepresentable { .. } => "unrepresentable",
            Self::BinaryText => "binary_text",
            Self::UdhMissing => "udh_missing",
            Self::UdhOverrun => "udh_overrun",
            Self::IeOverrun => "ie_overrun",
            Self::BadConcat => "bad_concat",
            Self::TooManyParts => "too_many_parts",
            Self::PartOutOfRange => "part_out_of_range",
            Self::DuplicatePart => "duplicate_part",
            Self::MissingPart => "missing_part",
        }
    }
}
