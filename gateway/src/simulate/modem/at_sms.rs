//! The SMS commands of the simulated modem: storage (+CPMS, +CMGL, +CMGR, +CMGD), new
//! message indications (+CNMI) and the PDU sent after the +CMGS prompt.
//!
//! Reference: TS 27.005 §3.2.2 (+CPMS), §3.4.1 (+CNMI), §3.5.1 (+CMGS), §3.5.2–§3.5.4
//! (+CMGL, +CMGR, +CMGD), §3.2.5 (+CMS ERROR 302/303/304/321); reference/modem.md §2.2.
//!
//! `<mem1>` of +CPMS ("SM", or "SR" with `--report-memory SR`) is the memory +CMGR, +CMGL
//! and +CMGD act on; `<mem2>` and `<mem3>` are always "SM".
//!
//! Not handled here: text mode, +CMGW/+CMSS, memories other than "SM" and "SR" ("ME",
//! "MT", "BM").

use std::time::Duration;

use serde_json::json;

use super::Memory;
use super::at::{Final, Form, Outcome};
use super::sms::{self, SentReport};
use super::state::{Cnmi, Modem, Timer};
use super::storage::{REC_READ, REC_UNREAD};

impl Modem {
    pub(super) fn cpms(&mut self, form: Form) -> Outcome {
        self.sim_gate(true)?;
        let (u, t) = (self.storage.used(), self.storage.total());
        match form {
            Form::Test => Ok(vec![if self.reports.is_some() {
                "+CPMS: (\"SM\",\"SR\"),(\"SM\"),(\"SM\")".into()
            } else {
                "+CPMS: (\"SM\"),(\"SM\"),(\"SM\")".into()
            }]),
            Form::Read => {
                let mem1 = self.mem1.name();
                let m = self.mem1_storage();
                let (u1, t1) = (m.used(), m.total());
                Ok(vec![format!(
                    "+CPMS: \"{mem1}\",{u1},{t1},\"SM\",{u},{t},\"SM\",{u},{t}"
                )])
            }
            Form::Set(args) if !args.is_empty() && args.len() <= 3 => {
                let mem1 = match args[0].trim() {
                    m if m.eq_ignore_ascii_case("SM") => Memory::Sm,
                    m if m.eq_ignore_ascii_case("SR") => Memory::Sr,
                    _ => return Err(Final::Cms(302)),
                };
                let (u1, t1) = match self.memory(mem1) {
                    Some(m) => (m.used(), m.total()),
                    None => return Err(Final::Cms(302)),
                };
                if !args[1..]
                    .iter()
                    .all(|m| m.trim().eq_ignore_ascii_case("SM"))
                {
                    return Err(Final::Cms(302));
                }
                self.mem1 = mem1;
                Ok(vec![format!("+CPMS: {u1},{t1},{u},{t},{u},{t}")])
            }
            _ => Err(Final::Cms(302)),
        }
    }

    pub(super) fn cnmi(&mut self, form: Form) -> Outcome {
        let c = self.cnmi;
        match form {
            Form::Test => Ok(vec!["+CNMI: (0-2),(0-3),(0),(0-2),(0,1)".into()]),
            Form::Read => Ok(vec![format!(
                "+CNMI: {},{},{},{},{}",
                c.mode, c.mt, c.bm, c.ds, c.bfr
            )]),
            Form::Set(args) if args.len() <= 5 => {
                let mut v = [0u8; 5];
                for (slot, a) in v.iter_mut().zip(&args) {
                    let a = a.trim();
                    *slot = if a.is_empty() {
                        0
                    } else {
                        a.parse().map_err(|_| Final::Cms(303))?
                    };
                }
                let [mode, mt, bm, ds, bfr] = v;
                if mode > 2 || mt > 3 || bm != 0 || ds > 2 || bfr > 1 {
                    return Err(Final::Cms(303));
                }
                if ds == 2 && self.args.cnmi_ds_routed {
                    return Err(Final::Cms(303));
                }
                self.cnmi = Cnmi {
                    mode,
                    mt,
                    bm,
                    ds,
                    bfr,
                };
                Ok(vec![])
            }
            _ => Err(Final::Cms(303)),
        }
    }

    pub(super) fn cmgl(&mut self, form: Form) -> Outcome {
        self.sim_gate(true)?;
        let stat = match form {
            Form::Test => return Ok(vec!["+CMGL: (0-4)".into()]),
            Form::Action => u32::from(REC_UNREAD),
            Form::Set(args) => match args.first().and_then(|a| a.trim().parse().ok()) {
                Some(s @ 0..=4) => s,
                _ => return Err(Final::Cms(302)),
            },
            Form::Read => return Err(Final::Error),
        };
        let storage = self.mem1_storage();
        let mut lines = Vec::new();
        for i in storage.list(stat as u8) {
            if let Some(m) = storage.get_mut(i) {
                lines.push(format!(
                    "+CMGL: {i},{},,{}\r\n{}",
                    m.stat,
                    m.tpdu_len,
                    sms::hex(&m.octets)
                ));
                m.stat = REC_READ;
                m.notified = true;
            }
        }
        Ok(lines)
    }

    pub(super) fn cmgr(&mut self, index: Option<u32>) -> Outcome {
        self.sim_gate(true)?;
        let m = index
            .and_then(|i| self.mem1_storage().get_mut(i as usize))
            .ok_or(Final::Cms(321))?;
        let line = format!(
            "+CMGR: {},,{}\r\n{}",
            m.stat,
            m.tpdu_len,
            sms::hex(&m.octets)
        );
        m.stat = REC_READ;
        m.notified = true;
        Ok(vec![line])
    }

    pub(super) fn cmgd(&mut self, index: Option<u32>, flag: Option<u32>) -> Outcome {
        self.sim_gate(true)?;
        let mem = self.mem1.name();
        if self.refuse_deletes > 0 {
            self.refuse_deletes -= 1;
            self.emit(json!({"event": "delete_refused", "index": index, "mem": mem}));
            return Err(Final::Cms(320));
        }
        let storage = self.mem1_storage();
        let deleted = match flag.unwrap_or(0) {
            0 => {
                let i = index.map_or(0, |i| i as usize);
                if !storage.valid(i) {
                    return Err(Final::Cms(321));
                }
                if storage.delete(i) { vec![i] } else { vec![] }
            }
            f @ 1..=4 => storage.delete_flagged(f as u8),
            _ => return Err(Final::Cms(302)),
        };
        for index in deleted {
            self.emit(json!({"event": "deleted", "index": index, "mem": mem}));
        }
        Ok(vec![])
    }

    /// The PDU typed after the prompt, ended by Ctrl-Z.
    pub(super) fn submit(&mut self, len: usize, hex: &[u8]) {
        let submitted = match sms::decode_submit(hex, len) {
            Ok(s) => s,
            Err(e) => {
                self.emit(json!({"event": "rejected", "code": 304, "reason": e}));
                self.send_line("+CMS ERROR: 304");
                return;
            }
        };
        if let Some((code, n)) = self.cms_errors {
            self.cms_errors = (n > 1).then(|| (code, n - 1));
            self.emit(json!({"event": "rejected", "code": code, "reason": "cms-error"}));
            self.send_line(&format!("+CMS ERROR: {code}"));
            return;
        }
        let mr = self.next_mr;
        self.next_mr = mr.wrapping_add(1);
        self.send(format!("\r\n+CMGS: {mr}\r\n\r\nOK\r\n").as_bytes());
        let concat = submitted
            .concat
            .map(|c| json!({"ref": c.reference, "total": c.total, "seq": c.seq}));
        self.emit(
            json!({"event": "sent", "mr": mr, "to": submitted.to, "text": submitted.text,
            "dcs": submitted.dcs, "srr": submitted.srr, "concat": concat}),
        );
        if submitted.srr {
            let report = SentReport {
                mr,
                recipient: submitted.recipient,
                submitted_at: sms::now(),
                status: self.report_status,
            };
            self.fx
                .timers
                .push((Duration::from_millis(300), Timer::Report(report)));
        }
    }
}
