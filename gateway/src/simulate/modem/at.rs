//! What the simulated modem answers to each AT command line (PDU mode only).
//!
//! Reference: ITU-T V.250 §5.3–§6.2 (basic commands E, V, Z, &F, I; result codes), TS 27.007
//! §5 (+CGMI, +CGMM, +CGMR, +CGSN, +CIMI), §7.2 (+CREG), §7.15 (+CUSD), §8.2 (+CFUN), §8.3
//! (+CPIN), §8.5 (+CSQ), §9.1 (+CMEE), §9.2 (error codes); TS 27.005 §3.2 (+CSMS, +CPMS,
//! +CMGF, +CSCA), §3.4.1 (+CNMI), §3.5 (+CMGL, +CMGR, +CMGS, +CMGD), §3.2.5 (+CMS ERROR);
//! reference/modem.md §2.1–§2.4.
//!
//! Answers are `\r\n<line>\r\n` blocks and a final result code; `+CME ERROR`/`+CMS ERROR`
//! are always numeric, whatever `+CMEE` says. Several commands on one line (`AT+CSQ;+CREG?`)
//! run in turn until one fails.
//!
//! Not handled here: text mode (`+CMGF=1` is accepted and ignored), `V0`, `+CMGW`/`+CMSS`,
//! `+CMGC`, calls, cell broadcast, `+CSCS` conversions.

use std::time::Duration;

use serde_json::json;

use super::state::{Modem, Prompt, Timer};

/// How a command ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Final {
    Ok,
    Error,
    Cme(u16),
    Cms(u16),
    /// `\r\n> `, then the PDU.
    Prompt(usize),
}

/// The form of an extended command.
pub(super) enum Form {
    Action,
    Read,
    Test,
    Set(Vec<String>),
}

pub(super) type Outcome = Result<Vec<String>, Final>;

const NOISE: [&str; 2] = ["^RSSI: 17", "+CREG: 1,\"00AB\",\"1234\""];

impl Modem {
    /// One command line (echo already sent).
    pub(super) fn at_line(&mut self, line: &str) {
        let Some(body) = line
            .get(..2)
            .filter(|p| p.eq_ignore_ascii_case("AT"))
            .and_then(|_| line.get(2..))
        else {
            self.send(b"\r\nERROR\r\n");
            return;
        };
        let mut info: Vec<String> = Vec::new();
        let mut fin = Final::Ok;
        for cmd in split_commands(body) {
            match self.command_at(&cmd) {
                Ok(lines) => info.extend(lines),
                Err(f) => {
                    fin = f;
                    break;
                }
            }
        }
        let multi = info.len() >= 2 || info.iter().any(|l| l.contains('\n'));
        if self.noise && multi {
            let at = (info.len() / 2).max(1);
            for (k, urc) in NOISE.iter().enumerate() {
                info.insert(at + k, (*urc).to_owned());
            }
        }
        for l in &info {
            self.send_line(l);
        }
        match fin {
            Final::Ok => self.send(b"\r\nOK\r\n"),
            Final::Error => self.send(b"\r\nERROR\r\n"),
            Final::Cme(n) => self.send_line(&format!("+CME ERROR: {n}")),
            Final::Cms(n) => self.send_line(&format!("+CMS ERROR: {n}")),
            Final::Prompt(len) => {
                if self.noise {
                    let urc = self
                        .take_unnotified_urc()
                        .unwrap_or_else(|| NOISE[0].to_owned());
                    self.send_line(&urc);
                }
                self.send(b"\r\n> ");
                self.prompt = Some(Prompt {
                    len,
                    hex: Vec::new(),
                });
            }
        }
        self.drain_network_queue();
    }

    /// One command of a line: `E0`, `+CSQ`, `+CMGR=3`, `^CURC=0`…
    fn command_at(&mut self, cmd: &str) -> Outcome {
        if cmd.is_empty() {
            return Ok(Vec::new());
        }
        if cmd.starts_with(['+', '^', '!', '%', '$', '*', '#']) {
            return self.extended(cmd);
        }
        self.basic(cmd)
    }

    /// Basic commands (`E1`, `V1`, `Z`, `&F`, `I`, `Q0`, `X4`, `&C1`, `&D2`), several in a row.
    fn basic(&mut self, cmd: &str) -> Outcome {
        let bytes = cmd.as_bytes();
        let mut i = 0;
        let mut info = Vec::new();
        while i < bytes.len() {
            let amp = bytes[i] == b'&';
            if amp {
                i += 1;
            }
            let Some(&letter) = bytes.get(i) else {
                return Err(Final::Error);
            };
            i += 1;
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let n: u32 = cmd.get(start..i).and_then(|d| d.parse().ok()).unwrap_or(0);
            match (amp, letter.to_ascii_uppercase()) {
                (false, b'E') if n <= 1 => self.echo = n == 1,
                (false, b'V') if n == 1 => {}
                (false, b'Z') | (true, b'F') if n == 0 => {
                    self.reset_settings();
                    self.ussd.end();
                }
                (false, b'I') => info.extend(self.identity()),
                (false, b'Q' | b'X' | b'S') | (true, b'C' | b'D' | b'K') => {}
                _ => return Err(Final::Error),
            }
        }
        Ok(info)
    }

    fn identity(&self) -> Vec<String> {
        vec![
            "Richmond".to_owned(),
            "FakeModem".to_owned(),
            "Revision: RICHMOND-SIM-1.0".to_owned(),
            format!("IMEI: {}", self.args.imei),
        ]
    }

    /// The SIM lock as an error of SMS commands (`+CMS ERROR`) or others (`+CME ERROR`).
    pub(super) fn sim_gate(&self, sms: bool) -> Result<(), Final> {
        if !self.sim.locked {
            return Ok(());
        }
        let puk = self.sim.tries_left == 0;
        Err(match (sms, puk) {
            (true, false) => Final::Cms(311),
            (true, true) => Final::Cms(316),
            (false, false) => Final::Cme(11),
            (false, true) => Final::Cme(12),
        })
    }

    fn extended(&mut self, cmd: &str) -> Outcome {
        let split = cmd.find(['=', '?']).unwrap_or(cmd.len());
        let name = cmd[..split].to_ascii_uppercase();
        let rest = &cmd[split..];
        let form = match rest {
            "" => Form::Action,
            "?" => Form::Read,
            "=?" => Form::Test,
            _ => match rest.strip_prefix('=') {
                Some(a) => Form::Set(split_args(a)),
                None => return Err(Final::Error),
            },
        };
        let num = |args: &[String], i: usize| -> Option<u32> {
            args.get(i).and_then(|a| a.trim().parse().ok())
        };
        match (name.as_str(), form) {
            ("+CGMI", Form::Action) => Ok(vec!["Richmond".into()]),
            ("+CGMM", Form::Action) => Ok(vec!["FakeModem".into()]),
            ("+CGMR", Form::Action) => Ok(vec!["RICHMOND-SIM-1.0".into()]),
            ("+CGSN", Form::Action) => Ok(vec![self.args.imei.clone()]),
            ("+CIMI", Form::Action) => {
                self.sim_gate(false)?;
                Ok(vec![self.args.imsi.clone()])
            }
            ("+CMEE", Form::Set(args)) if num(&args, 0).is_some_and(|n| n <= 2) => Ok(vec![]),
            ("+CMEE", Form::Read) => Ok(vec!["+CMEE: 1".into()]),
            ("+CMEE", Form::Test) => Ok(vec!["+CMEE: (0-2)".into()]),
            ("+CFUN", Form::Read) => Ok(vec!["+CFUN: 1".into()]),
            ("+CFUN", Form::Test) => Ok(vec!["+CFUN: (0,1,4),(0,1)".into()]),
            ("+CFUN", Form::Set(args)) => {
                if num(&args, 1) == Some(1) {
                    self.reset_settings();
                    self.ussd.end();
                }
                Ok(vec![])
            }
            ("+CPIN", Form::Read) => Ok(vec![self.cpin_state().into()]),
            ("+CPIN", Form::Set(args)) => self.enter_pin(&args),
            ("+CMGF", Form::Set(args)) if num(&args, 0).is_some_and(|n| n <= 1) => Ok(vec![]),
            ("+CMGF", Form::Read) => Ok(vec!["+CMGF: 0".into()]),
            ("+CMGF", Form::Test) => Ok(vec!["+CMGF: (0,1)".into()]),
            ("+CSCS", Form::Set(..)) => Ok(vec![]),
            ("+CSCS", Form::Read) => Ok(vec!["+CSCS: \"GSM\"".into()]),
            ("+CSCS", Form::Test) => Ok(vec!["+CSCS: (\"GSM\",\"IRA\",\"UCS2\")".into()]),
            ("+CSMS", Form::Set(args)) if num(&args, 0).is_some_and(|n| n <= 1) => {
                Ok(vec!["+CSMS: 1,1,1".into()])
            }
            ("+CSMS", Form::Read) => Ok(vec!["+CSMS: 0,1,1,1".into()]),
            ("+CSMS", Form::Test) => Ok(vec!["+CSMS: (0,1)".into()]),
            ("+CNMA", _) => Ok(vec![]),
            ("+CPMS", form) => self.cpms(form),
            ("+CNMI", form) => self.cnmi(form),
            ("+CREG" | "+CGREG" | "+CEREG", form) => {
                let k = match name.as_str() {
                    "+CREG" => 0,
                    "+CGREG" => 1,
                    _ => 2,
                };
                match form {
                    Form::Set(args) => match num(&args, 0) {
                        Some(n @ 0..=2) => {
                            self.creg_n[k] = n as u8;
                            Ok(vec![])
                        }
                        _ => Err(Final::Cme(3)),
                    },
                    Form::Read => Ok(vec![format!(
                        "{name}: {},1,\"00AB\",\"1234\"",
                        self.creg_n[k]
                    )]),
                    Form::Test => Ok(vec![format!("{name}: (0-2)")]),
                    Form::Action => Err(Final::Error),
                }
            }
            ("+CSQ", Form::Action) => Ok(vec!["+CSQ: 20,99".into()]),
            ("+CSQ", Form::Test) => Ok(vec!["+CSQ: (0-31,99),(0-7,99)".into()]),
            ("+COPS", Form::Read) => Ok(vec!["+COPS: 0,0,\"Richmond\",2".into()]),
            ("+COPS", Form::Set(..)) => Ok(vec![]),
            ("+CSCA", Form::Read) => {
                self.sim_gate(true)?;
                let ton = if self.args.smsc.starts_with('+') {
                    145
                } else {
                    129
                };
                Ok(vec![format!("+CSCA: \"{}\",{ton}", self.args.smsc)])
            }
            ("+CSCA", Form::Set(..)) => Ok(vec![]),
            ("+CMGL", form) => self.cmgl(form),
            ("+CMGR", Form::Set(args)) => self.cmgr(num(&args, 0)),
            ("+CMGD", Form::Set(args)) => self.cmgd(num(&args, 0), num(&args, 1)),
            ("+CMGD", Form::Test) => {
                let used: Vec<String> = self
                    .mem1_storage()
                    .list(4)
                    .iter()
                    .map(usize::to_string)
                    .collect();
                Ok(vec![format!("+CMGD: ({}),(0-4)", used.join(","))])
            }
            ("+CMGS", Form::Set(args)) => {
                self.sim_gate(true)?;
                match num(&args, 0) {
                    Some(n @ 1..=175) => Err(Final::Prompt(n as usize)),
                    _ => Err(Final::Cms(304)),
                }
            }
            ("+CUSD", form) => self.cusd(form),
            _ => Err(Final::Error),
        }
    }

    fn cpin_state(&self) -> &'static str {
        match (self.sim.locked, self.sim.tries_left) {
            (false, _) => "+CPIN: READY",
            (true, 0) => "+CPIN: SIM PUK",
            (true, _) => "+CPIN: SIM PIN",
        }
    }

    fn enter_pin(&mut self, args: &[String]) -> Outcome {
        let Some(pin) = self.args.pin.clone() else {
            return Err(Final::Cme(3));
        };
        if !self.sim.locked {
            return Err(Final::Cme(3));
        }
        if self.sim.tries_left == 0 {
            return Err(Final::Cme(12));
        }
        if args.first().map(String::as_str) == Some(pin.as_str()) {
            self.sim.locked = false;
            self.sim.tries_left = 3;
            self.emit(json!({"event": "pin", "accepted": true}));
            Ok(vec![])
        } else {
            self.sim.tries_left -= 1;
            let left = self.sim.tries_left;
            self.emit(json!({"event": "pin", "accepted": false, "tries_left": left}));
            Err(Final::Cme(16))
        }
    }

    fn cusd(&mut self, form: Form) -> Outcome {
        match form {
            Form::Read => Ok(vec!["+CUSD: 1".into()]),
            Form::Test => Ok(vec!["+CUSD: (0-2)".into()]),
            Form::Action => Ok(vec![]),
            Form::Set(args) => {
                self.sim_gate(false)?;
                match args.first().map(|a| a.trim()) {
                    Some("0" | "1") => {}
                    Some("2") => {
                        self.ussd.end();
                        return Ok(vec![]);
                    }
                    _ => return Err(Final::Cme(4)),
                }
                let Some(request) = args.get(1) else {
                    return Ok(vec![]);
                };
                let request = self.ussd_encoding.decode_request(request);
                let answer = self.ussd.answer(&request);
                self.emit(json!({"event": "ussd", "request": request, "m": answer.m}));
                self.fx
                    .timers
                    .push((Duration::from_millis(200), Timer::Ussd(answer)));
                Ok(vec![])
            }
        }
    }
}

/// The commands of a line after `AT`: extended ones separated by `;` (outside quotes), a run
/// of basic ones kept together.
fn split_commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_owned());
    out.retain(|c| !c.is_empty());
    out
}

/// `1,"SM", 2` → `["1", "SM", "2"]` (quotes removed, commas inside quotes kept).
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|a| {
            if a.trim().is_empty() {
                String::new()
            } else {
                a
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(split_commands("+CSQ;+CREG?"), ["+CSQ", "+CREG?"]);
        assert_eq!(split_commands("+CUSD=1,\"a;b\",15"), ["+CUSD=1,\"a;b\",15"]);
        assert_eq!(split_args("1,\"x,y\",15"), ["1", "x,y", "15"]);
        assert_eq!(split_args("2,1,,2"), ["2", "1", "", "2"]);
    }
}
