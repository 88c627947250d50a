//! The simulated modem as a sans-IO state machine: bytes from the serial line, control
//! commands and timer expiries go in; bytes for the line, JSON events and new timers come out
//! ([`Effects`]). The I/O loop in the parent module moves them.
//!
//! Reference: ITU-T V.250 §5.2 (command line ends at S3 = CR, echo with E1), TS 27.005 §3.5.1
//! (the `> ` prompt, Ctrl-Z sends, ESC aborts); reference/modem.md §2.1 and §2.9 (hangs and
//! recovery by reopening the device).
//!
//! This module handles input framing (lines, the PDU prompt, hangs) and the state a reset
//! clears. What each command does is in `at`, stored messages in `storage`, the control
//! language in `commands`.

use std::time::Duration;

use serde_json::{Value, json};

use super::sms::SentReport;
use super::storage::{self, Storage, Stored};
use super::ussd;
use super::{Args, Memory};

/// Ctrl-Z: ends the PDU after the prompt and sends it.
pub(super) const CTRL_Z: u8 = 0x1A;
/// ESC: aborts the prompt (and ends a `hang-esc`).
pub(super) const ESC: u8 = 0x1B;
/// Longest command line kept (the rest of a longer one is dropped).
const MAX_LINE: usize = 1024;
/// Longest PDU hex kept after the prompt.
const MAX_PDU_HEX: usize = 2 * 200;

/// Something that happens later.
#[derive(Clone, Debug)]
pub(super) enum Timer {
    /// The status report of a submitted message.
    Report(SentReport),
    /// The network's answer to a USSD request.
    Ussd(ussd::Answer),
}

/// What one step produced.
#[derive(Debug, Default)]
pub(super) struct Effects {
    /// Bytes for the serial line.
    pub(super) bytes: Vec<u8>,
    /// JSON events for stdout.
    pub(super) events: Vec<Value>,
    /// Timers to start.
    pub(super) timers: Vec<(Duration, Timer)>,
    /// `quit` was read.
    pub(super) quit: bool,
}

/// `AT+CNMI` settings.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Cnmi {
    pub(super) mode: u8,
    pub(super) mt: u8,
    pub(super) bm: u8,
    pub(super) ds: u8,
    pub(super) bfr: u8,
}

/// SIM lock state.
#[derive(Debug)]
pub(super) struct SimLock {
    pub(super) locked: bool,
    pub(super) tries_left: u8,
}

/// The PDU being typed after the prompt.
#[derive(Debug)]
pub(super) struct Prompt {
    pub(super) len: usize,
    pub(super) hex: Vec<u8>,
}

/// A hang: nothing is answered until the device is reopened (or, `esc`, an ESC arrives).
#[derive(Clone, Copy, Debug)]
pub(super) struct Hang {
    /// Command lines still answered before the hang starts (while pending).
    pub(super) after: u32,
    pub(super) esc_ends: bool,
}

/// The modem.
#[derive(Debug)]
pub(super) struct Modem {
    pub(super) args: Args,
    pub(super) fx: Effects,
    // Settings a reset restores.
    pub(super) echo: bool,
    pub(super) cnmi: Cnmi,
    pub(super) creg_n: [u8; 3],
    line: Vec<u8>,
    pub(super) prompt: Option<Prompt>,
    pub(super) pending_hang: Option<Hang>,
    /// `Some(esc_ends)` while hung.
    pub(super) hung: Option<bool>,
    pub(super) ussd: ussd::Session,
    /// `<mem1>` of `AT+CPMS`: the memory `AT+CMGR`/`AT+CMGL`/`AT+CMGD` act on.
    pub(super) mem1: Memory,
    // State that survives a reset.
    pub(super) sim: SimLock,
    /// "SM": received messages (and status reports unless `--report-memory SR`).
    pub(super) storage: Storage,
    /// "SR": status reports, with `--report-memory SR`.
    pub(super) reports: Option<Storage>,
    pub(super) next_mr: u8,
    pub(super) report_status: u8,
    /// `cms-error <code> <n>`: (code, n left).
    pub(super) cms_errors: Option<(u16, u32)>,
    /// The next this many `AT+CMGD` answer `+CMS ERROR: 320` (memory failure).
    pub(super) refuse_deletes: u32,
    pub(super) noise: bool,
    pub(super) next_concat_ref: u16,
    pub(super) ussd_encoding: ussd::Encoding,
}

impl Modem {
    pub(super) fn new(args: Args) -> Self {
        let sim = SimLock {
            locked: args.pin.is_some(),
            tries_left: 3,
        };
        let storage = Storage::new(args.slots);
        let reports = (args.report_memory == Memory::Sr).then(|| Storage::new(args.slots));
        Self {
            args,
            fx: Effects::default(),
            echo: true,
            cnmi: Cnmi::default(),
            creg_n: [0; 3],
            line: Vec::new(),
            prompt: None,
            pending_hang: None,
            hung: None,
            ussd: ussd::Session::default(),
            mem1: Memory::Sm,
            sim,
            storage,
            reports,
            next_mr: 0,
            report_status: 0,
            cms_errors: None,
            refuse_deletes: 0,
            noise: false,
            next_concat_ref: 0,
            ussd_encoding: ussd::Encoding::default(),
        }
    }

    /// Takes what the steps so far produced.
    pub(super) fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.fx)
    }

    pub(super) fn emit(&mut self, event: Value) {
        self.fx.events.push(event);
    }

    /// Bytes for the line, unless hung.
    pub(super) fn send(&mut self, bytes: &[u8]) {
        if self.hung.is_none() {
            self.fx.bytes.extend_from_slice(bytes);
        }
    }

    /// An information line or URC: `\r\n<line>\r\n`.
    pub(super) fn send_line(&mut self, line: &str) {
        self.send(format!("\r\n{line}\r\n").as_bytes());
    }

    /// The settings `ATZ`/`AT&F` restore.
    pub(super) fn reset_settings(&mut self) {
        self.echo = true;
        self.cnmi = Cnmi::default();
        self.creg_n = [0; 3];
        self.mem1 = Memory::Sm;
    }

    /// The storage of `mem`, when the modem has that memory.
    pub(super) fn memory(&mut self, mem: Memory) -> Option<&mut Storage> {
        match mem {
            Memory::Sm => Some(&mut self.storage),
            Memory::Sr => self.reports.as_mut(),
        }
    }

    /// The storage of `<mem1>` (always one the modem has).
    pub(super) fn mem1_storage(&mut self) -> &mut Storage {
        match (self.mem1, self.reports.as_mut()) {
            (Memory::Sr, Some(reports)) => reports,
            _ => &mut self.storage,
        }
    }

    /// Where a received PDU goes: "SR" for a status report with `--report-memory SR`.
    fn memory_for(&self, report: bool) -> Memory {
        if report && self.reports.is_some() {
            Memory::Sr
        } else {
            Memory::Sm
        }
    }

    /// The first stored message no URC has announced yet ("SM" first, then "SR"), marked
    /// announced: its `+CMTI`/`+CDSI`.
    pub(super) fn take_unnotified_urc(&mut self) -> Option<String> {
        let (mem, (index, report)) = match self.storage.take_unnotified() {
            Some(found) => (Memory::Sm, found),
            None => (Memory::Sr, self.reports.as_mut()?.take_unnotified()?),
        };
        let urc = if report { "+CDSI" } else { "+CMTI" };
        Some(format!("{urc}: \"{}\",{index}", mem.name()))
    }

    /// The device was (re)opened: a fresh modem, as after a power cycle, with the SIM
    /// storage (and the network's queue) kept; a SIM with a PIN is locked again.
    pub(super) fn reopened(&mut self) {
        self.reset_settings();
        self.line.clear();
        self.prompt = None;
        self.pending_hang = None;
        self.hung = None;
        self.ussd.end();
        self.sim.locked = self.args.pin.is_some() && self.sim.tries_left > 0;
        self.emit(json!({"event": "opened"}));
    }

    /// Bytes from the serial line.
    pub(super) fn input(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if let Some(esc_ends) = self.hung {
            if esc_ends && b == ESC {
                self.hung = None;
                self.emit(json!({"event": "unhung"}));
            }
            return;
        }
        if let Some(prompt) = self.prompt.as_mut() {
            match b {
                CTRL_Z => {
                    let hex = std::mem::take(&mut prompt.hex);
                    let len = prompt.len;
                    self.prompt = None;
                    self.submit(len, &hex);
                }
                ESC => {
                    self.prompt = None;
                    self.emit(json!({"event": "prompt_aborted"}));
                    self.send(b"\r\nOK\r\n");
                }
                b'\r' | b'\n' | 0 => {}
                _ => {
                    if prompt.hex.len() < MAX_PDU_HEX {
                        prompt.hex.push(b);
                    }
                    if self.echo {
                        self.send(&[b]);
                    }
                }
            }
            return;
        }
        match b {
            b'\r' => {
                let line = std::mem::take(&mut self.line);
                self.line_received(&line);
            }
            b'\n' | 0 => {}
            ESC => self.line.clear(),
            _ => {
                if self.line.len() < MAX_LINE {
                    self.line.push(b);
                }
            }
        }
    }

    fn line_received(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() {
            return;
        }
        self.emit(json!({"event": "command", "line": line}));
        if let Some(hang) = self.pending_hang.as_mut() {
            if hang.after == 0 {
                let esc_ends = hang.esc_ends;
                self.pending_hang = None;
                self.hung = Some(esc_ends);
                self.emit(json!({"event": "hung", "esc_ends": esc_ends}));
                return;
            }
            hang.after -= 1;
        }
        if self.echo {
            let mut echoed = raw.to_vec();
            echoed.push(b'\r');
            self.send(&echoed);
        }
        self.at_line(line);
    }

    /// Stores a received PDU (status reports in "SR" with `--report-memory SR`) and
    /// announces it as `+CMTI`/`+CDSI` when `+CNMI` asks; its index, `None` when full.
    pub(super) fn store(
        &mut self,
        octets: Vec<u8>,
        tpdu_len: usize,
        report: bool,
    ) -> Option<usize> {
        let announce = if report {
            self.cnmi.ds == 2
        } else {
            self.cnmi.mt == 1
        };
        let mem = self.memory_for(report);
        let index = self.memory(mem)?.store(Stored {
            stat: storage::REC_UNREAD,
            octets,
            tpdu_len,
            notified: announce,
            report,
        })?;
        if announce {
            let urc = if report { "+CDSI" } else { "+CMTI" };
            self.send_line(&format!("{urc}: \"{}\",{index}", mem.name()));
        }
        Some(index)
    }

    /// Moves what the network held back into freed slots.
    pub(super) fn drain_network_queue(&mut self) {
        let mut stored = Vec::new();
        while self.storage.used() < self.storage.total() {
            let Some(w) = self.storage.waiting.pop_front() else {
                break;
            };
            if let Some(i) = self.store(w.octets, w.tpdu_len, false) {
                stored.push(i);
            }
        }
        if !stored.is_empty() {
            let waiting = self.storage.waiting.len();
            self.emit(json!({"event": "network_queue", "waiting": waiting, "stored": stored}));
        }
    }

    /// A timer expired.
    pub(super) fn timer(&mut self, timer: Timer) {
        match timer {
            Timer::Report(sent) => self.status_report(&sent),
            Timer::Ussd(answer) => {
                let line = match &answer.text {
                    Some(text) => {
                        let (s, dcs) = self.ussd_encoding.encode(text);
                        format!("+CUSD: {},\"{s}\",{dcs}", answer.m)
                    }
                    None => format!("+CUSD: {}", answer.m),
                };
                self.send_line(&line);
            }
        }
    }

    /// A status report arrives for `sent`: routed (`+CDS`) or stored (`+CDSI`) per `+CNMI`.
    fn status_report(&mut self, sent: &SentReport) {
        let (octets, tpdu_len) = match sent.encode(&self.args.smsc) {
            Ok(p) => p,
            Err(e) => {
                self.emit(json!({"event": "error", "message": format!("status report: {e}")}));
                return;
            }
        };
        let (mem, index) = if self.cnmi.ds == 1 {
            let hex = super::sms::hex(&octets);
            self.send_line(&format!("+CDS: {tpdu_len}\r\n{hex}"));
            (None, None)
        } else {
            let mem = self.memory_for(true);
            let index = self.store(octets, tpdu_len, true);
            if index.is_none() {
                self.emit(json!({"event": "error", "message": "status report lost: storage full"}));
            }
            (Some(mem.name()), index)
        };
        self.emit(
            json!({"event": "report", "mr": sent.mr, "index": index, "mem": mem,
            "status": sent.status}),
        );
    }
}
