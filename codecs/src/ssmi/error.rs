//! Errors of the SSMI codec: why a line was rejected, and why a message could not be encoded.
//!
//! Reference: reference/vumi.md §4.1 (framing rules) and §4.2–§4.3 (field counts).
//!
//! Both enums are small and `Copy`: they name commands and fields with `&'static str` and never
//! carry input data (no MSISDNs or message text in logs or metric labels).

/// Why one SSMI line could not be decoded. The link stays up: the caller skips the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line does not start with `SSMI,<digits>` (python-ssmi: "No SSMI header").
    #[error("no ssmi header")]
    NoHeader,
    /// `SSMI,` is followed by something that is not a command id (digits, then `,` or the end).
    #[error("bad command id")]
    BadCommandId,
    /// The command needs more comma-separated fields than the line has (txssmi wording).
    #[error("too few parameters for command: {command} (expected {expected} got {got})")]
    TooFewFields {
        /// The command name, as txssmi spells it (`LOGIN`, `USSD_MESSAGE`, …).
        command: &'static str,
        /// How many fields the command has.
        expected: u8,
        /// How many the line had.
        got: u8,
    },
    /// A numeric field (type, phase, ack/nack type, validity, pid, coding, …) is not a number.
    #[error("bad number in field {field} of command {command}")]
    BadNumber {
        /// The command name.
        command: &'static str,
        /// The field name.
        field: &'static str,
    },
    /// The line is longer than the configured maximum (the framing layer discards it).
    #[error("line longer than the maximum length")]
    TooLong,
    /// The stream ended in the middle of a line (no terminating CR).
    #[error("line not terminated by cr")]
    Unterminated,
}

impl LineError {
    /// A stable snake_case code, usable as a bounded metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoHeader => "no_header",
            Self::BadCommandId => "bad_command_id",
            Self::TooFewFields { .. } => "too_few_fields",
            Self::BadNumber { .. } => "bad_number",
            Self::TooLong => "too_long",
            Self::Unterminated => "unterminated",
        }
    }
}

/// Why a message could not be written as an SSMI line. Nothing is left in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The text holds a character the chosen charset cannot carry (Latin-1 stops at U+00FF).
    #[error("field {field} has a character the charset cannot encode")]
    Unrepresentable {
        /// The field name.
        field: &'static str,
    },
    /// A comma inside a field that is not the last one would shift every later field.
    #[error("field {field} contains a comma but is not the last field")]
    Comma {
        /// The field name.
        field: &'static str,
    },
    /// CR or LF inside a field that is not message text (CR would end the line).
    #[error("field {field} contains a line break")]
    LineBreak {
        /// The field name.
        field: &'static str,
    },
    /// A genfields entry contains `:` (the genfields separator).
    #[error("genfields entry contains a colon")]
    Colon,
}

impl EncodeError {
    /// A stable snake_case code, usable as a bounded metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unrepresentable { .. } => "unrepresentable",
            Self::Comma { .. } => "comma_in_field",
            Self::LineBreak { .. } => "line_break_in_field",
            Self::Colon => "colon_in_genfield",
        }
    }
}
