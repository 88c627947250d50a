//! The control language of the simulated modem (one command per line on stdin; the list is
//! in the parent module's documentation): MO messages from the network, status report and
//! error switches, hangs, URC noise, a full SIM, USSD encodings.
//!
//! Each accepted command is answered `{"event":"command_done","command":<verb>,…}` (the
//! convention `cmd_done` of the test support waits for), a refused one
//! `{"event":"error","command":<line>,"message":…}`.
//!
//! Not handled here: carrying a command out on the serial line (`state`, `at`).

use serde_json::{Value, json};

use super::sms;
use super::state::{Hang, Modem};
use super::storage::{self, Stored, Waiting};
use super::ussd;
use richmond_codecs::sms::Method;

pub(super) const HELP: &str = "mo <from> <text…> | mo16 <from> <text…> | \
mo-partial <from> <k> <text…> | mo-reversed <from> <text…> | report-status <hex> | \
cms-error <code> <n> | refuse-delete <n> | hang <n> | hang-esc <n> | noise on|off | storage-full | \
ussd-encoding text|packed|ucs2 | raw <text> | urc-flood <n> <line…> | help | quit";

/// Sender of the messages `storage-full` puts in the free slots.
const FILLER_FROM: &str = "+27820000000";

impl Modem {
    /// Runs one control line.
    pub(super) fn command(&mut self, line: &str) {
        let line = line.trim();
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        let mut words = rest.split_whitespace();
        let number = |w: Option<&str>| w.and_then(|w| w.parse::<u32>().ok());
        let result: Result<Value, String> = match verb {
            "" => return,
            "help" => return self.emit(json!({"event": "help", "text": HELP})),
            "quit" => {
                self.fx.quit = true;
                Ok(json!({}))
            }
            "mo" | "mo16" | "mo-reversed" => match rest.split_once(' ') {
                Some((from, text)) => self.mo(verb, from, text, None),
                None => Err(format!("usage: {verb} <from> <text…>")),
            },
            "mo-partial" => {
                let mut it = rest.splitn(3, ' ');
                match (it.next(), number(it.next()), it.next()) {
                    (Some(from), Some(k), Some(text)) => self.mo(verb, from, text, Some(k)),
                    _ => Err("usage: mo-partial <from> <k> <text…>".into()),
                }
            }
            "report-status" => match words.next().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(st) => {
                    self.report_status = st;
                    Ok(json!({"status": st}))
                }
                None => Err("usage: report-status <hex TP-ST, e.g. 46>".into()),
            },
            "cms-error" => match (number(words.next()), number(words.next())) {
                (Some(code), Some(n)) if code <= 1023 => {
                    self.cms_errors = (n > 0).then_some((code as u16, n));
                    Ok(json!({}))
                }
                _ => Err("usage: cms-error <code> <n>".into()),
            },
            "refuse-delete" => match number(words.next()) {
                Some(n) => {
                    self.refuse_deletes = n;
                    Ok(json!({}))
                }
                None => Err("usage: refuse-delete <n>".into()),
            },
            "hang" | "hang-esc" => match number(words.next()) {
                Some(after) => {
                    self.pending_hang = Some(Hang {
                        after,
                        esc_ends: verb == "hang-esc",
                    });
                    Ok(json!({}))
                }
                None => Err(format!("usage: {verb} <n>")),
            },
            "noise" => match words.next() {
                Some(w @ ("on" | "off")) => {
                    self.noise = w == "on";
                    Ok(json!({}))
                }
                _ => Err("usage: noise on|off".into()),
            },
            "storage-full" => self.fill_storage(),
            "ussd-encoding" => match words.next().and_then(ussd::Encoding::parse) {
                Some(e) => {
                    self.ussd_encoding = e;
                    Ok(json!({}))
                }
                None => Err("usage: ussd-encoding text|packed|ucs2".into()),
            },
            // Abuse tests: bytes as they are (`\r`, `\n` written as escapes), even while hung.
            "raw" => {
                let text = rest.replace("\\r", "\r").replace("\\n", "\n");
                self.fx.bytes.extend_from_slice(text.as_bytes());
                Ok(json!({"bytes": text.len()}))
            }
            "urc-flood" => match rest.split_once(' ') {
                Some((n, line)) if n.parse::<u32>().is_ok_and(|n| n <= 1_000_000) => {
                    let n: usize = n.parse().unwrap_or(0);
                    let one = format!("\r\n{line}\r\n");
                    self.fx.bytes.extend_from_slice(one.repeat(n).as_bytes());
                    Ok(json!({"lines": n}))
                }
                _ => Err("usage: urc-flood <n ≤ 1000000> <line…>".into()),
            },
            _ => Err("unknown command (try help)".into()),
        };
        match result {
            Ok(mut done) => {
                done["event"] = json!("command_done");
                done["command"] = json!(verb);
                self.emit(done);
            }
            Err(message) => {
                self.emit(json!({"event": "error", "command": line, "message": message}));
            }
        }
    }

    /// `mo`, `mo16`, `mo-reversed`, `mo-partial`: the parts arrive from the network.
    fn mo(
        &mut self,
        verb: &str,
        from: &str,
        text: &str,
        only_first: Option<u32>,
    ) -> Result<Value, String> {
        let method = if verb == "mo16" {
            Method::Udh16
        } else {
            Method::Udh8
        };
        self.next_concat_ref = self.next_concat_ref.wrapping_add(1);
        let reference = match method {
            Method::Udh8 => self.next_concat_ref & 0xFF,
            _ => self.next_concat_ref,
        };
        let mut parts = sms::deliver_parts(&self.args.smsc, from, text, reference, method)?;
        let total = parts.len();
        if let Some(k) = only_first {
            parts.truncate(k as usize);
        }
        if verb == "mo-reversed" {
            parts.reverse();
        }
        let mut indexes = Vec::new();
        let mut queued = 0;
        for (octets, tpdu_len) in parts {
            if self.cnmi.mt == 2 {
                let hex = sms::hex(&octets);
                self.send_line(&format!("+CMT: ,{tpdu_len}\r\n{hex}"));
            } else if self.storage.waiting.is_empty()
                && let Some(i) = self.store(octets.clone(), tpdu_len, false)
            {
                indexes.push(i);
            } else {
                self.storage.waiting.push_back(Waiting { octets, tpdu_len });
                queued += 1;
            }
        }
        let routed = self.cnmi.mt == 2;
        self.emit(
            json!({"event": "mo", "from": from, "parts": total, "indexes": indexes,
            "routed": routed}),
        );
        if queued > 0 {
            let waiting = self.storage.waiting.len();
            self.emit(json!({"event": "network_queue", "waiting": waiting}));
        }
        Ok(json!({"parts": total, "indexes": indexes}))
    }

    /// `storage-full`: old, read messages fill every free slot.
    fn fill_storage(&mut self) -> Result<Value, String> {
        let mut filled = Vec::new();
        while self.storage.used() < self.storage.total() {
            let n = filled.len() + 1;
            let mut parts = sms::deliver_parts(
                &self.args.smsc,
                FILLER_FROM,
                &format!("filler {n}"),
                0,
                Method::Udh8,
            )?;
            let Some((octets, tpdu_len)) = parts.pop() else {
                break;
            };
            let stored = Stored {
                stat: storage::REC_READ,
                octets,
                tpdu_len,
                notified: true,
                report: false,
            };
            match self.storage.store(stored) {
                Some(i) => filled.push(i),
                None => break,
            }
        }
        Ok(json!({"filled": filled}))
    }
}
