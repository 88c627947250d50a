//! The error of the TPDU layer: why octets are not a TPDU we can read, or why a [`super::Pdu`]
//! cannot be written.
//!
//! Reference: 3GPP TS 23.040 §9.2 (TPDU layouts), reference/modem.md §2.6 and §3.5.
//!
//! Small and `Copy`; it carries no input data, so every variant is safe in a log line. Use
//! [`Error::code`] as a metric label.

/// Why a PDU could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The octets end before a field the layout requires.
    #[error("pdu truncated")]
    Truncated,
    /// Hex text of odd length or with a character that is not a hex digit.
    #[error("bad hex")]
    BadHex,
    /// An address length above 20 semi-octets (TP address) or 11 octets (SMSC field).
    #[error("bad address length")]
    BadAddressLength,
    /// An address value that cannot be read or written: a filler nibble inside the digits, a
    /// non-digit in an international number, a character without a semi-octet code, TON > 7 or
    /// NPI > 15, or an alphanumeric value with no GSM-7 reading.
    #[error("bad address")]
    BadAddress,
    /// An MSISDN that is empty.
    #[error("empty address")]
    EmptyAddress,
    /// MTI 11 (reserved).
    #[error("reserved message type indicator")]
    BadMti,
    /// A TPDU type this codec does not read in this direction (SUBMIT-REPORT, DELIVER-REPORT,
    /// COMMAND).
    #[error("unsupported tpdu type for this direction")]
    UnsupportedMti,
    /// TP-UDL above the maximum (160 septets, 140 octets) or shorter than the UDH it announces.
    #[error("bad user data length")]
    BadUdl,
    /// TP-UDHI is set but the header is missing or malformed.
    #[error("bad user data header")]
    BadUdh,
    /// A timestamp octet that is not two BCD digits, or a timestamp that cannot be written
    /// (year outside 2000–2099, a field above 99, a zone beyond ±79 quarter hours).
    #[error("bad timestamp")]
    BadTimestamp,
    /// Encoding: the user data does not fit one TPDU (160 septets or 140 octets).
    #[error("user data too long")]
    UserDataTooLong,
    /// Encoding: the user data's encoding is not what TP-DCS announces.
    #[error("user data encoding does not match the data coding scheme")]
    DcsMismatch,
    /// Encoding: [`crate::sms::Method::Raw`] asked for TPDUs (they carry a UDH or nothing).
    #[error("raw segmentation has no tpdu form")]
    RawMethod,
    /// The text layer refused: unrepresentable character, too many parts, bad concatenation.
    #[error("text: {0}")]
    Text(#[from] crate::sms::Error),
}

impl Error {
    /// A stable snake_case code, usable as a bounded metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadHex => "bad_hex",
            Self::BadAddressLength => "bad_address_length",
            Self::BadAddress => "bad_address",
            Self::EmptyAddress => "empty_address",
            Self::BadMti => "bad_mti",
            Self::UnsupportedMti => "unsupported_mti",
            Self::BadUdl => "bad_udl",
            Self::BadUdh => "bad_udh",
            Self::BadTimestamp => "bad_timestamp",
            Self::UserDataTooLong => "user_data_too_long",
            Self::DcsMismatch => "dcs_mismatch",
            Self::RawMethod => "raw_method",
            Self::Text(_) => "text",
        }
    }
}
