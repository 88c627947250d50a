//! The simulated SMSC's USSD gateway (`--ussd vumi|sixdee|mica`): handsets open, answer and
//! end USSD dialogs (`ussd-dial`, `ussd-answer`, `ussd-hangup`) as `deliver_sm` with
//! `ussd_service_op` and the flavour's session TLV, and the ESME's replies (`submit_sm` with
//! `ussd_service_op`) are shown as `ussd_reply` events, checked against the open dialog, and
//! end it when they say so.
//!
//! Reference: reference/vumi.md §3.3 point 6 (what a reply carries per processor), §3.6 (ops
//! and session ids the gateway reads); reference/smpp.md (TLVs 0x0501, 0x1383, 0x0204).

use richmond_codecs::smpp::rusmpp::tlvs::MessageDeliveryRequestTlvValue as Tlv;
use richmond_codecs::smpp::rusmpp::values::{ItsSessionInfo, UserMessageReference, UssdServiceOp};
use richmond_codecs::sms::{self, Encoding};
use serde_json::{Value, json};

use super::args::UssdFlavor;
use super::{Outgoing, Sim, sms::Submit};

/// Ops a handset's side sends.
const NEW: u8 = 0x01;
const CONTINUE: u8 = 0x12;

impl Sim {
    /// `ussd-dial <from> <code>`, `ussd-answer <from> <text…>`, `ussd-hangup <from>`.
    pub(super) fn ussd_command(&self, verb: &str, rest: &str) -> Result<Value, String> {
        let (from, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let (from, text) = (from.trim(), text.trim());
        if from.is_empty() || (verb != "ussd-hangup" && text.is_empty()) {
            return Err(match verb {
                "ussd-dial" => "usage: ussd-dial <from> <code>".into(),
                "ussd-answer" => "usage: ussd-answer <from> <text…>".into(),
                _ => "usage: ussd-hangup <from>".into(),
            });
        }
        let flavor = self.args.ussd;
        // (op, session, ends it, code dialled, text)
        let (op, session, end, code, text) = {
            let mut f = self.flags();
            if verb == "ussd-dial" {
                f.next_session = f.next_session.wrapping_add(2) & 0xfffe;
                let s = f.next_session;
                f.dialogs.insert(from.to_owned(), (s, text.to_owned()));
                (NEW, s, false, text.to_owned(), text.to_owned())
            } else {
                let Some((s, code)) = f.dialogs.get(from).cloned() else {
                    return Err(format!("no USSD dialog open for {from}"));
                };
                if verb == "ussd-hangup" {
                    f.dialogs.remove(from);
                    let op = if flavor == UssdFlavor::Vumi {
                        0x11
                    } else {
                        0x81
                    };
                    (op, s, true, code, String::new())
                } else {
                    (CONTINUE, s, false, code, text.to_owned())
                }
            }
        };
        let encoding = sms::choose(&text, Encoding::Gsm7);
        let octets = encoding.encode(&text).map_err(|e| e.to_string())?;
        let mut tlvs = vec![Tlv::UssdServiceOp(UssdServiceOp::from(op))];
        if flavor == UssdFlavor::Mica {
            tlvs.push(Tlv::UserMessageReference(UserMessageReference::new(
                session,
            )));
        } else {
            let [number, sequence] = (session | u16::from(end)).to_be_bytes();
            tlvs.push(Tlv::ItsSessionInfo(ItsSessionInfo::new(number, sequence)));
        }
        // The code dialled is the destination of every PDU of a dialog.
        let pdu = super::sms::deliver_sm(from, &code, 0, encoding.data_coding(), &octets, tlvs)?;
        self.deliver(Outgoing {
            pdu: Box::new(pdu),
            kind: "mo",
            attempts: 0,
        });
        if end {
            self.emit(&json!({"event": "ussd_session_done", "msisdn": from, "by": "handset"}));
        }
        Ok(json!({"session": format!("{session:04x}")}))
    }

    /// The ESME's reply in a dialog: a `ussd_reply` event (`session_ok`: it names the open
    /// dialog of its handset), and `ussd_session_done` when it ends the dialog.
    pub(super) fn ussd_reply(&self, submit: &Submit) {
        let Some((op, its, umr)) = submit.ussd else {
            return;
        };
        let flavor = self.args.ussd;
        let session = if flavor == UssdFlavor::Mica {
            umr
        } else {
            its.map(|i| i & 0xfffe)
        };
        let end = its.is_some_and(|i| i & 1 == 1)
            || (flavor != UssdFlavor::Vumi && matches!(op, 0x11 | 0x17));
        let msisdn = submit.destination().trim_start_matches('+').to_owned();
        let open = {
            let mut f = self.flags();
            let open = f.dialogs.get(&msisdn).map(|(s, _)| *s);
            if end && open.is_some() && open == session {
                f.dialogs.remove(&msisdn);
            }
            open
        };
        let session_ok = open.is_some() && open == session;
        self.emit(
            &json!({"event": "ussd_reply", "msisdn": msisdn, "text": submit.text(),
            "op": op, "session": session.map(|s| format!("{s:04x}")), "session_ok": session_ok,
            "end": end}),
        );
        if end && session_ok {
            self.emit(
                &json!({"event": "ussd_session_done", "msisdn": msisdn, "by": "application"}),
            );
        }
    }
}
