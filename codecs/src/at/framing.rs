//! Cutting a modem's byte stream into lines and prompts (V.250 §5.7.1, TS 27.005 §3.5.1 for
//! the `> ` prompt; reference/modem.md §2.1 "framing oddities").
//!
//! A modem frames text as `<CR><LF>text<CR><LF>`, but real devices also send bare `\n`, `\r\r\n`,
//! leading NULs, doubled line ends and a prompt `> ` with no line end at all. [`next`] is the
//! one rule for all of them: separators (CR, LF, NUL, space) before a frame are skipped; a `>`
//! at the start of a frame is the prompt (with its optional space); anything else is a line up
//! to the next CR or LF, trailing spaces trimmed. A line longer than the caller's maximum
//! (counted before trimming, so the answer does not depend on where the line end falls in the
//! buffer) is reported as [`Frame::Overlong`] and discarded, so garbage without line ends
//! cannot grow the buffer without bound.

/// A frame cut from the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// One line, without its line end and trailing spaces; never empty.
    Line(&'a [u8]),
    /// The SMS prompt `>` (after `+CMGS=<n>`): the modem waits for the PDU.
    Prompt,
    /// More than the maximum line length arrived without a line end; it was dropped.
    Overlong,
}

/// What [`next`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// How many bytes of the buffer to drop (separators and the frame with its line end).
    pub consumed: usize,
    /// The frame, if a whole one is there. `None` with `consumed == 0`: wait for more bytes.
    pub frame: Option<Frame<'a>>,
}

const fn is_separator(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | 0 | b' ')
}

/// Cuts the next frame from `buf` (see the module docs). `max_line` bounds a line in bytes.
pub fn next(buf: &[u8], max_line: usize) -> Step<'_> {
    let start = buf
        .iter()
        .position(|&b| !is_separator(b))
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    if rest.is_empty() {
        return Step {
            consumed: start,
            frame: None,
        };
    }
    if rest[0] == b'>' {
        let len = if rest.get(1) == Some(&b' ') { 2 } else { 1 };
        return Step {
            consumed: start + len,
            frame: Some(Frame::Prompt),
        };
    }
    match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => {
            let line = trim_end(&rest[..end]);
            Step {
                consumed: start + end + 1,
                frame: Some(if line.is_empty() {
                    return Step {
                        consumed: start + end + 1,
                        frame: None,
                    };
                } else if end > max_line {
                    Frame::Overlong
                } else {
                    Frame::Line(line)
                }),
            }
        }
        None if rest.len() > max_line => Step {
            consumed: buf.len(),
            frame: Some(Frame::Overlong),
        },
        None => Step {
            consumed: start,
            frame: None,
        },
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &line[..end]
}
