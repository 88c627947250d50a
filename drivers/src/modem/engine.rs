//! The AT command engine, sans-IO: one command at a time, its answer collected up to the final
//! result, URCs routed out while it runs, echo and the `> ` prompt recognised.
//!
//! Reference: V.250 §5.7, TS 27.005 §3.4–§3.5 (two-line +CMT/+CDS, the CMGS prompt);
//! reference/modem.md §2.1 (echo after reset, URCs inside answers and inside the CMGS prompt,
//! prefixes decided by the command in flight).
//!
//! The task feeds every [`Item`] to [`Engine::handle`] and acts on the [`Output`]: a finished
//! [`Reply`], the prompt (write the PDU), a URC, or a line nobody expected (counted and
//! logged). Time is the task's business: it abandons a command that ran out of time with
//! [`Engine::abandon`].

use bytes::Bytes;
use richmond_codecs::at::response::{self, Final, Kind, Registration, Urc};
use richmond_codecs::at::{command, fields};

use super::codec::Item;

/// The answer to one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// How it ended.
    pub result: Final,
    /// Its information lines, in order (PDU lines of +CMGL/+CMGR included).
    pub lines: Vec<Bytes>,
}

impl Reply {
    /// The first line starting with `prefix`.
    pub fn line(&self, prefix: &str) -> Option<&[u8]> {
        self.lines
            .iter()
            .find(|l| l.starts_with(prefix.as_bytes()))
            .map(|l| &l[..])
    }
}

/// A URC, owned, as the task handles it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `+CMTI` / `+CDSI`: a message (or status report) is in storage `mem` at `index`.
    Stored {
        mem: String,
        index: u32,
        report: bool,
    },
    /// `+CMT` / `+CDS`: a message routed straight to us; `hex` is its PDU line.
    Routed { hex: Bytes, report: bool },
    /// `+CUSD: …` (the whole line).
    Ussd(Bytes),
    /// A registration URC.
    Registration { kind: Registration, stat: u8 },
    /// `+CPIN: …` outside a command.
    SimState(Bytes),
    /// `RING` and vendor status lines, nothing to do.
    Other(Bytes),
}

/// What the task must do after an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Nothing (echo, blank, a header waiting for its PDU line).
    None,
    /// The command in flight finished.
    Done(Reply),
    /// The command in flight asked for its PDU.
    Prompt,
    /// A URC.
    Urc(Event),
    /// A line no command expects (garbage, an answer that came too late): count and log it.
    Unexpected(Bytes),
    /// An overlong line was dropped.
    Overlong,
}

#[derive(Debug)]
struct Pending {
    echo: Vec<u8>,
    prefix: Option<String>,
    lines: Vec<Bytes>,
}

/// The engine state: the command in flight and a two-line URC half read.
#[derive(Debug, Default)]
pub struct Engine {
    pending: Option<Pending>,
    routed: Option<bool>,
    /// A `+CUSD` line whose quoted text holds line breaks, being joined.
    ussd: Option<Vec<u8>>,
}

/// A `+CUSD` text is joined over at most this many bytes (a USSD string is ≤ 182 characters;
/// UCS2 hex and a CR/LF per line stay well below it). Beyond it the line goes out as it is.
const MAX_USSD_BYTES: usize = 2048;

fn open_quote(line: &[u8]) -> bool {
    line.iter().filter(|&&b| b == b'"').count() % 2 == 1
}

impl Engine {
    /// A new engine with nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `line` (a command line with or without its CR). Any command in flight is
    /// dropped.
    pub fn start(&mut self, line: &str) {
        let text = line.trim_end_matches(['\r', '\n']);
        self.pending = Some(Pending {
            echo: text.as_bytes().to_ascii_uppercase(),
            prefix: command::info_prefix(text),
            lines: Vec::new(),
        });
    }

    /// Whether a command is in flight.
    pub const fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets the command in flight (it timed out); returns the lines it had collected.
    pub fn abandon(&mut self) -> Vec<Bytes> {
        self.routed = None;
        self.ussd = None;
        self.pending.take().map(|p| p.lines).unwrap_or_default()
    }

    /// Handles one item from the modem.
    pub fn handle(&mut self, item: Item) -> Output {
        let line = match item {
            Item::Prompt => {
                return if self.pending.is_some() {
                    Output::Prompt
                } else {
                    Output::None
                };
            }
            Item::Overlong => return Output::Overlong,
            Item::Line(line) => line,
        };
        if let Some(mut text) = self.ussd.take() {
            // Modems send the network's line breaks inside the quotes as they are.
            text.push(b'\n');
            text.extend_from_slice(&line);
            if open_quote(&text) && text.len() < MAX_USSD_BYTES {
                self.ussd = Some(text);
                return Output::None;
            }
            return Output::Urc(Event::Ussd(Bytes::from(text)));
        }
        if let Some(report) = self.routed.take()
            && is_hex(&line)
        {
            return Output::Urc(Event::Routed { hex: line, report });
        }
        if is_echo(&line, self.pending.as_ref()) {
            return Output::None;
        }
        let prefix = self.pending.as_ref().and_then(|p| p.prefix.clone());
        let solicited: Vec<&[u8]> = prefix.iter().map(|p| p.as_bytes()).collect();
        match response::classify(&line, &solicited) {
            Kind::Final(result) => match self.pending.take() {
                Some(p) => Output::Done(Reply {
                    result,
                    lines: p.lines,
                }),
                None => Output::Unexpected(line.clone()),
            },
            Kind::Urc(urc) => self.urc(urc, &line),
            Kind::Info(_) => match &mut self.pending {
                Some(p) => {
                    p.lines.push(line);
                    Output::None
                }
                None => Output::Unexpected(line),
            },
        }
    }

    fn urc(&mut self, urc: Urc<'_>, line: &Bytes) -> Output {
        let event = match urc {
            Urc::Cmti { mem, index } | Urc::Cdsi { mem, index } => Event::Stored {
                mem: String::from_utf8_lossy(mem).into_owned(),
                index,
                report: matches!(urc, Urc::Cdsi { .. }),
            },
            Urc::Cmt { .. } => {
                self.routed = Some(false);
                return Output::None;
            }
            Urc::Cds { .. } => {
                self.routed = Some(true);
                return Output::None;
            }
            Urc::Cusd(_) if open_quote(line) => {
                self.ussd = Some(line.to_vec());
                return Output::None;
            }
            Urc::Cusd(_) => Event::Ussd(line.clone()),
            Urc::Registration { kind, stat } => Event::Registration { kind, stat },
            Urc::Cpin(_) => Event::SimState(line.clone()),
            Urc::Ring | Urc::Vendor(_) => Event::Other(line.clone()),
        };
        Output::Urc(event)
    }
}

/// The stored messages of a `+CMGL` answer: each header with the first hex line after it
/// long enough for its TPDU (other lines between them — garbage, a late answer — are
/// skipped, never taken for the PDU). A header without a PDU line is dropped.
pub fn listed(lines: &[Bytes]) -> Vec<(fields::Listed, Bytes)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Ok(header) = fields::cmgl(line) else {
            continue;
        };
        if let Some(pdu) = pdu_line(&lines[i + 1..], header.length) {
            out.push((header, pdu));
        }
    }
    out
}

/// The PDU of a `+CMGR` answer, found the same way.
pub fn read_pdu(lines: &[Bytes]) -> Option<Bytes> {
    let i = lines.iter().position(|l| l.starts_with(b"+CMGR:"))?;
    let (_, length) = fields::cmgr(&lines[i]).ok()?;
    pdu_line(&lines[i + 1..], length)
}

fn pdu_line(after: &[Bytes], tpdu_len: usize) -> Option<Bytes> {
    after
        .iter()
        .take_while(|l| !l.starts_with(b"+CMGL:") && !l.starts_with(b"+CMGR:"))
        .find(|l| is_hex(l) && l.len() / 2 >= tpdu_len)
        .cloned()
}

fn is_hex(line: &[u8]) -> bool {
    !line.is_empty() && line.len().is_multiple_of(2) && line.iter().all(u8::is_ascii_hexdigit)
}

/// The echo of the command in flight (any case), a PDU echoed during CMGS (it ends in
/// Ctrl-Z or ESC), or any `AT…` line (the echo of a command given up on).
fn is_echo(line: &[u8], pending: Option<&Pending>) -> bool {
    if line.contains(&command::CTRL_Z) || line.contains(&command::ESC) {
        return true;
    }
    if let Some(p) = pending
        && line.eq_ignore_ascii_case(&p.echo)
    {
        return true;
    }
    line.len() >= 2 && line[..2].eq_ignore_ascii_case(b"AT")
}

#[cfg(test)]
mod tests;
