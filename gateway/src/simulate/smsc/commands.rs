//! The command language of the simulated SMSC (one line each, from stdin or a channel; the
//! list is in the parent module's documentation): misbehaviour switches, MO messages, and
//! commands fanned out to connections.
//!
//! Reference: reference/smpp.md (statuses: ESME_RTHROTTLED 0x58, ESME_RMSGQFUL 0x14).
//!
//! Not handled here: carrying a command out on a connection (`conn`).

use serde_json::{Value, json};

use super::{Outgoing, Sim, conn, sms};

const HELP: &str = "mo <from> <to> <text…> | mo-ucs2 <from> <to> <text…> | \
mo-sar <from> <to> <text…> | mo-flood <n> <to> [per_second] | receipt-stat <STAT> | \
hold-receipts on|off | ussd-dial <from> <code> | ussd-answer <from> <text…> | ussd-hangup <from> | \
throttle <n> | queue-full <n> | \
reject <n> <status> | no-response <n> | slow <ms> | disconnect | unbind | malformed | \
unknown-pdu | truncated | raw <hex> | enquire-link | reject-binds on|off | quit";

impl Sim {
    /// Runs one command line.
    pub(super) fn command(&self, line: &str) {
        let line = line.trim();
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        let number = |w: Option<&str>| w.and_then(parse_number);
        let mut words = rest.split_whitespace();
        let result: Result<Value, String> = match verb {
            "" => return,
            "help" => return self.emit(&json!({"event": "help", "text": HELP})),
            "quit" => return self.stop.cancel(),
            "mo" | "mo-ucs2" | "mo-sar" => self.mo(verb, rest),
            "mo-flood" => match (number(words.next()), words.next(), words.next()) {
                (Some(n), Some(to), None) => self.flood(n, to),
                (Some(n), Some(to), Some(rate)) => match rate.parse::<f64>() {
                    Ok(rate) if rate > 0.0 && rate.is_finite() => {
                        self.paced_flood(n, to.to_owned(), rate);
                        Ok(json!({"sending": n, "per_second": rate}))
                    }
                    _ => Err("usage: mo-flood <n> <to> [per_second > 0]".into()),
                },
                _ => Err("usage: mo-flood <n> <to> [per_second]".into()),
            },
            "receipt-stat" => match words.next() {
                Some(stat) => {
                    self.flags().receipt_stat = stat.to_ascii_uppercase();
                    Ok(json!({}))
                }
                None => Err("usage: receipt-stat <STAT>".into()),
            },
            "ussd-dial" | "ussd-answer" | "ussd-hangup" => self.ussd_command(verb, rest),
            "hold-receipts" => match words.next() {
                Some("on") => {
                    self.flags().hold_receipts = true;
                    Ok(json!({}))
                }
                Some("off") => {
                    let held = {
                        let mut f = self.flags();
                        f.hold_receipts = false;
                        std::mem::take(&mut f.held)
                    };
                    let released = held.len();
                    for o in held {
                        self.deliver(o);
                    }
                    Ok(json!({"released": released}))
                }
                _ => Err("usage: hold-receipts on|off".into()),
            },
            "throttle" | "queue-full" | "no-response" => match number(words.next()) {
                Some(n) => {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    let mut f = self.flags();
                    *match verb {
                        "throttle" => &mut f.throttle,
                        "queue-full" => &mut f.queue_full,
                        _ => &mut f.no_response,
                    } = n;
                    Ok(json!({}))
                }
                None => Err(format!("usage: {verb} <n>")),
            },
            "reject" => match (number(words.next()), number(words.next())) {
                (Some(n), Some(code)) if code != 0 => {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    self.flags().reject = Some((n, u32::try_from(code).unwrap_or(u32::MAX)));
                    Ok(json!({}))
                }
                _ => Err("usage: reject <n> <status> (a non-zero status)".into()),
            },
            "slow" => match number(words.next()) {
                Some(ms) => {
                    self.flags().slow_ms = ms;
                    Ok(json!({}))
                }
                None => Err("usage: slow <ms>".into()),
            },
            "reject-binds" => {
                self.flags().reject_binds = words.next() == Some("on");
                Ok(json!({}))
            }
            "disconnect" => {
                Ok(json!({"connections": self.broadcast(&conn::Cmd::Disconnect, false)}))
            }
            "unbind" => Ok(json!({"connections": self.broadcast(&conn::Cmd::Unbind, true)})),
            "enquire-link" => {
                Ok(json!({"connections": self.broadcast(&conn::Cmd::EnquireLink, true)}))
            }
            "malformed" | "unknown-pdu" | "truncated" => {
                let cmd = match verb {
                    "malformed" => conn::Cmd::Malformed,
                    "unknown-pdu" => conn::Cmd::UnknownPdu,
                    _ => conn::Cmd::Truncated,
                };
                match self.newest(verb == "truncated") {
                    Some(tx) if tx.send(cmd).is_ok() => Ok(json!({})),
                    _ => Err("no bound connection".into()),
                }
            }
            "raw" => match decode_hex(rest) {
                Some(bytes) => match self.newest(false) {
                    Some(tx) if tx.send(conn::Cmd::Raw(bytes.into())).is_ok() => Ok(json!({})),
                    _ => Err("no bound connection".into()),
                },
                None => Err("usage: raw <hex> (an even number of hex digits)".into()),
            },
            _ => Err("unknown command (try help)".into()),
        };
        match result {
            Ok(mut done) => {
                done["event"] = json!("command_done");
                done["command"] = json!(verb);
                self.emit(&done);
            }
            Err(error) => self.emit(&json!({"event": "command_error", "command": line,
                "error": error})),
        }
    }

    /// `mo-flood <n> <to>`: n single-part MOs for load tests, from 27800000000 + i, each
    /// saying `flood <i> <unix time in µs when sent>` so the receiver can count and time them.
    fn flood(&self, n: u64, to: &str) -> Result<Value, String> {
        for i in 0..n {
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            let from = 27_800_000_000u64.saturating_add(i);
            self.mo("mo", &format!("{from} {to} flood {i} {micros}"))?;
        }
        Ok(json!({"sent": n}))
    }

    /// `mo-flood <n> <to> <per_second>`: the same MOs, sent at a steady pace.
    fn paced_flood(&self, n: u64, to: String, rate: f64) {
        let sim = self.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let gap = std::time::Duration::from_secs_f64(1.0 / rate);
            for i in 0..n {
                let due = start + gap.mul_f64(i as f64);
                tokio::select! {
                    () = sim.stop.cancelled() => return,
                    () = tokio::time::sleep_until(due) => {}
                }
                let micros = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros());
                let from = 27_800_000_000u64.saturating_add(i);
                if let Err(e) = sim.mo("mo", &format!("{from} {to} flood {i} {micros}")) {
                    sim.emit(&json!({"event": "command_error", "command": "mo-flood", "error": e}));
                    return;
                }
            }
        });
    }

    /// `mo`, `mo-ucs2`, `mo-sar`.
    fn mo(&self, verb: &str, rest: &str) -> Result<Value, String> {
        let (from, rest) = rest
            .split_once(' ')
            .ok_or("usage: mo <from> <to> <text…>")?;
        let (to, text) = rest
            .trim_start()
            .split_once(' ')
            .unwrap_or((rest.trim(), ""));
        let reference = {
            let mut f = self.flags();
            f.next_reference = f.next_reference.wrapping_add(1);
            f.next_reference
        };
        let pdus = sms::mo(from, to, text, verb, reference)?;
        let parts = pdus.len();
        for pdu in pdus {
            self.deliver(Outgoing {
                pdu: Box::new(pdu),
                kind: "mo",
                attempts: 0,
            });
        }
        Ok(json!({"parts": parts}))
    }
}

/// `12`, `0x0B`.
fn parse_number(word: &str) -> Option<u64> {
    match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => word.parse().ok(),
    }
}

/// Hex digits (spaces allowed) as bytes; `None` when not an even number of hex digits.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}
