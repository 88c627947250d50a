//! Reading and writing the parts of one SSMI line: the `SSMI,<id>` header, the max-split field
//! list, numbers, and the checked writing of fields.
//!
//! Reference: reference/vumi.md §4.1. A command with `n` fields splits the rest of the line at
//! the first `n - 1` commas, so the last field keeps its commas; no quoting, no escaping.
//! Not handled here: the CR framing (the driver's line codec) and the meaning of the fields.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::tag;
use nom::character::complete::{digit1, u32 as dec_u32};
use nom::combinator::all_consuming;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use super::error::{EncodeError, LineError};
use super::field::{Charset, Genfields, Text};

/// The most fields any SSMI command has (`108` PREMIUM_BINARY_MO).
const MAX_FIELDS: usize = 6;

/// `SSMI,` then the command id digits.
fn parse_header(input: &[u8]) -> IResult<&[u8], &[u8]> {
    preceded(tag(&b"SSMI,"[..]), digit1).parse(input)
}

/// A decimal number filling the whole field.
fn parse_number(input: &[u8]) -> Option<u32> {
    all_consuming(dec_u32::<_, nom::error::Error<&[u8]>>)
        .parse(input)
        .ok()
        .map(|(_, n)| n)
}

/// The command id of a line and what follows it (`None` when the line ends after the id).
pub(crate) fn split_header(line: &[u8]) -> Result<(u32, Option<&[u8]>), LineError> {
    let (rest, digits) = parse_header(line).map_err(|_| {
        if line.starts_with(b"SSMI,") {
            LineError::BadCommandId
        } else {
            LineError::NoHeader
        }
    })?;
    let id = parse_number(digits).ok_or(LineError::BadCommandId)?;
    match rest.split_first() {
        None => Ok((id, None)),
        Some((b',', fields)) => Ok((id, Some(fields))),
        Some(_) => Err(LineError::BadCommandId),
    }
}

/// The fields of one command, as slices of the line.
pub(crate) struct Fields<'a> {
    line: &'a Bytes,
    parts: [&'a [u8]; MAX_FIELDS],
    command: &'static str,
}

impl<'a> Fields<'a> {
    /// Splits `rest` (the part of `line` after the header) into exactly `count` fields.
    pub(crate) fn split(
        line: &'a Bytes,
        rest: Option<&'a [u8]>,
        command: &'static str,
        count: usize,
    ) -> Result<Self, LineError> {
        let count = count.min(MAX_FIELDS);
        let mut parts: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let mut got = 0;
        if let Some(mut rest) = rest.filter(|_| count > 0) {
            got = 1;
            while got < count {
                let Some(comma) = rest.iter().position(|&b| b == b',') else {
                    break;
                };
                parts[got - 1] = &rest[..comma];
                rest = &rest[comma + 1..];
                got += 1;
            }
            parts[got - 1] = rest;
        }
        if got < count {
            return Err(LineError::TooFewFields {
                command,
                expected: count as u8,
                got: got as u8,
            });
        }
        Ok(Self {
            line,
            parts,
            command,
        })
    }

    /// Field `index` as an owned slice of the line.
    pub(crate) fn bytes(&self, index: usize) -> Bytes {
        self.line.slice_ref(self.parts[index])
    }

    /// Field `index` as message text in wire form.
    pub(crate) fn text(&self, index: usize) -> Text {
        Text::wire(self.bytes(index))
    }

    /// Field `index` as genfields.
    pub(crate) fn genfields(&self, index: usize) -> Genfields {
        Genfields::from_raw(self.bytes(index))
    }

    /// Field `index` as a decimal number (or a code table value).
    pub(crate) fn number<T: From<u32>>(
        &self,
        index: usize,
        field: &'static str,
    ) -> Result<T, LineError> {
        parse_number(self.parts[index])
            .map(T::from)
            .ok_or(LineError::BadNumber {
                command: self.command,
                field,
            })
    }
}

/// Writes one line into a buffer, checking each field; the caller truncates on error.
pub(crate) struct LineWriter<'a> {
    buf: &'a mut BytesMut,
    charset: Charset,
}

impl<'a> LineWriter<'a> {
    /// Starts `SSMI,<id>`.
    pub(crate) fn start(buf: &'a mut BytesMut, charset: Charset, id: u32) -> Self {
        buf.put_slice(b"SSMI,");
        let mut writer = Self { buf, charset };
        writer.decimal(id);
        writer
    }

    fn decimal(&mut self, value: u32) {
        // Writing to a BytesMut cannot fail.
        let _ = write!(self.buf, "{value}");
    }

    /// `,<number>`.
    pub(crate) fn number(&mut self, value: impl Into<u32>) -> &mut Self {
        self.buf.put_u8(b',');
        self.decimal(value.into());
        self
    }

    /// `,<bytes>`: no CR or LF; no comma unless `last`.
    pub(crate) fn token(
        &mut self,
        field: &'static str,
        value: &[u8],
        last: bool,
    ) -> Result<&mut Self, EncodeError> {
        if value.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(EncodeError::LineBreak { field });
        }
        if !last && value.contains(&b',') {
            return Err(EncodeError::Comma { field });
        }
        self.buf.put_u8(b',');
        self.buf.put_slice(value);
        Ok(self)
    }

    /// `,<text>`: CR and CRLF become LF; encoded with the charset; no comma unless `last`.
    pub(crate) fn text(
        &mut self,
        field: &'static str,
        text: &Text,
        last: bool,
    ) -> Result<&mut Self, EncodeError> {
        let bytes = text.as_bytes();
        if !last && bytes.contains(&b',') {
            return Err(EncodeError::Comma { field });
        }
        self.buf.put_u8(b',');
        if text.is_unicode() && self.charset == Charset::Latin1 && !bytes.is_ascii() {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Err(EncodeError::Unrepresentable { field });
            };
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\r' if chars.peek() == Some(&'\n') => {}
                    '\r' => self.buf.put_u8(b'\n'),
                    c => match u8::try_from(u32::from(c)) {
                        Ok(byte) => self.buf.put_u8(byte),
                        Err(_) => return Err(EncodeError::Unrepresentable { field }),
                    },
                }
            }
        } else {
            // Wire bytes, UTF-8, or ASCII (the same in every charset): copy, CR → LF.
            let mut rest = &bytes[..];
            while let Some(cr) = rest.iter().position(|&b| b == b'\r') {
                self.buf.put_slice(&rest[..cr]);
                rest = &rest[cr + 1..];
                if rest.first() != Some(&b'\n') {
                    self.buf.put_u8(b'\n');
                }
            }
            self.buf.put_slice(rest);
        }
        Ok(self)
    }

    /// Ends the line with CR.
    pub(crate) fn finish(&mut self) {
        self.buf.put_u8(b'\r');
    }
}

/// Runs `write` and leaves `buf` as it was if it fails.
pub(crate) fn write_line(
    buf: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = write(buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}
