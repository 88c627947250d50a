//! AT commands to GSM modems: framing of what the modem sends, classification of each line,
//! typed parsers of the information lines and URCs a gateway needs, and command builders.
//!
//! Reference: ITU-T V.250 (command line, result codes), 3GPP TS 27.007 §4–§5, §9.2 (+CME
//! ERROR), §7.2/§7.3 (+CREG, +CSQ), §7.15 (+CUSD), TS 27.005 §3 (+CMS ERROR, +CMGS, +CMGL,
//! +CMGR, +CMTI, +CMT, +CDS, +CPMS, +CNMI); reference/modem.md §2.1–§2.5.
//!
//! * [`framing`]: cuts lines and the `> ` prompt (which has no line end) out of a byte stream,
//!   skipping NULs, stray CR/LF and leading spaces, tolerating `\r\r\n` and bare `\n`.
//! * [`response`]: is a line a final result code (OK, ERROR, +CME/+CMS ERROR, vendor finals),
//!   a URC (+CMTI, +CDSI, two-line +CMT/+CDS headers, +CUSD, +CREG/+CGREG/+CEREG, RING,
//!   vendor `^…`/`+QIND`/`SMS Ready` lines), or information text? A prefix that can be both
//!   (`+CREG:`, `+CPIN:`) is decided by the command in flight ([`response::classify`]).
//! * [`fields`]: comma-separated parameters (quoted strings, numbers, parenthesised ranges),
//!   and parsers for `+CMGS`, `+CMGL`, `+CMGR`, `+CSQ`, `+CPMS`, `+CPIN`, `+CUSD`, `+CREG`.
//! * [`command`]: the command lines the driver sends, each ending in CR.
//!
//! Not handled here: which command to send when, echo (the engine in `richmond-drivers`
//! compares lines with the command it sent), text mode (`+CMGF=1`) bodies, numeric (`V0`)
//! result codes, and the PDUs themselves ([`crate::sms::pdu`]).
//!
//! ```
//! use richmond_codecs::at::{framing, response::{self, Kind, Final, Urc}};
//!
//! let step = framing::next(b"\r\n+CMS ERROR: 322\r\n", 1024);
//! let framing::Frame::Line(line) = step.frame.unwrap() else { panic!() };
//! assert_eq!(response::classify(line, &[]), Kind::Final(Final::CmsError(Some(322))));
//! assert!(matches!(response::classify(b"+CMTI: \"SM\",3", &[]), Kind::Urc(Urc::Cmti { index: 3, .. })));
//! ```

pub mod command;
pub mod fields;
pub mod framing;
pub mod response;

#[cfg(test)]
mod tests;

/// Why an information line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The line does not start with the prefix its parser reads.
    #[error("expected a {0} line")]
    WrongPrefix(&'static str),
    /// A parameter is missing or not of the expected form.
    #[error("malformed {0} parameters")]
    Malformed(&'static str),
}

impl Error {
    /// A stable snake_case code, usable as a bounded metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::WrongPrefix(_) => "wrong_prefix",
            Self::Malformed(_) => "malformed",
        }
    }
}
