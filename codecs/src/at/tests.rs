//! Unit tests of the AT codec: framing oddities, finals, URCs decided by context, fields.
//! Vectors from reference/modem.md §2.1–§2.5 (captures quoted there as data).

use super::command;
use super::fields::{self, Field};
use super::framing::{Frame, next};
use super::response::{Final, Kind, Registration, Urc, classify};

/// Runs the framer over a whole buffer, as the driver's decoder does.
fn frames(mut buf: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    loop {
        let step = next(buf, 64);
        if step.consumed == 0 && step.frame.is_none() {
            break;
        }
        buf = &buf[step.consumed..];
        out.extend(step.frame);
    }
    out
}

#[test]
fn framing_tolerates_the_line_end_variants_nuls_and_the_bare_prompt() {
    let got = frames(b"\0\0\r\nOK\r\n\r\r\n^MODE: 5,4\r\r\nfoo\n\r\n\r\n> ");
    assert_eq!(
        got,
        [
            Frame::Line(b"OK"),
            Frame::Line(b"^MODE: 5,4"),
            Frame::Line(b"foo"),
            Frame::Prompt
        ]
    );
    // A partial line waits; its separators are consumed but nothing else.
    let step = next(b"\r\n+CSQ: 1", 64);
    assert_eq!((step.consumed, step.frame), (2, None));
    // Trailing spaces go; a prompt without its space; an URC right after the prompt.
    assert_eq!(
        frames(b"OK  \r\n>\r\n+CMTI: \"SM\",1\r\n"),
        [
            Frame::Line(b"OK"),
            Frame::Prompt,
            Frame::Line(b"+CMTI: \"SM\",1")
        ]
    );
}

#[test]
fn framing_bounds_a_line_without_an_end() {
    let junk = [b'x'; 100];
    let step = next(&junk, 64);
    assert_eq!(step.frame, Some(Frame::Overlong));
    assert_eq!(step.consumed, 100);
    let mut long = vec![b'y'; 80];
    long.extend_from_slice(b"\r\nOK\r\n");
    assert_eq!(frames(&long), [Frame::Overlong, Frame::Line(b"OK")]);
    // A lone tab is not a line.
    assert_eq!(frames(b"\t\r\nOK\r\n"), [Frame::Line(b"OK")]);
}

#[test]
fn finals_including_error_causes_and_vendor_forms() {
    for (line, want) in [
        (&b"OK"[..], Final::Ok),
        (b"ERROR", Final::Error),
        (b"+CMS ERROR: 322", Final::CmsError(Some(322))),
        (b"+CMS ERROR: memory full", Final::CmsError(None)),
        (b"+CME ERROR: 10", Final::CmeError(Some(10))),
        (b"+CME ERROR:-1", Final::CmeError(None)),
        (b"COMMAND NOT SUPPORT", Final::VendorError),
        (b"MODEM ERROR: 3", Final::VendorError),
        (b"NO CARRIER", Final::CallFailed),
    ] {
        assert_eq!(classify(line, &[]), Kind::Final(want), "{line:?}");
    }
    assert!(Final::Ok.is_ok() && !Final::Error.is_ok());
    // "OK" inside text is not a final.
    assert_eq!(classify(b"OKAY", &[]), Kind::Info(b"OKAY"));
}

#[test]
fn urcs_and_their_fields() {
    assert_eq!(
        classify(b"+CMTI: \"SM\",3", &[]),
        Kind::Urc(Urc::Cmti {
            mem: b"SM",
            index: 3
        })
    );
    assert_eq!(
        classify(b"+CDSI: \"SR\",12", &[]),
        Kind::Urc(Urc::Cdsi {
            mem: b"SR",
            index: 12
        })
    );
    assert_eq!(
        classify(b"+CMT: ,24", &[]),
        Kind::Urc(Urc::Cmt { length: 24 })
    );
    assert_eq!(
        classify(b"+CMT: \"Bob\",31", &[]),
        Kind::Urc(Urc::Cmt { length: 31 })
    );
    assert_eq!(
        classify(b"+CDS: 25", &[]),
        Kind::Urc(Urc::Cds { length: 25 })
    );
    assert_eq!(classify(b"RING", &[]), Kind::Urc(Urc::Ring));
    assert_eq!(
        classify(b"^RSSI: 17", &[]),
        Kind::Urc(Urc::Vendor(b"^RSSI: 17"))
    );
    assert_eq!(
        classify(b"SMS Ready", &[]),
        Kind::Urc(Urc::Vendor(b"SMS Ready"))
    );
    assert_eq!(
        classify(b"+QIND: SMS DONE", &[]),
        Kind::Urc(Urc::Vendor(b"+QIND: SMS DONE"))
    );
    // An unknown line is information (the engine decides whether anyone expects it).
    assert_eq!(
        classify(b"356938035643809", &[]),
        Kind::Info(b"356938035643809")
    );
    // A +CMTI with a broken index is not a URC.
    assert_eq!(
        classify(b"+CMTI: \"SM\",x", &[]),
        Kind::Info(b"+CMTI: \"SM\",x")
    );
}

#[test]
fn ambiguous_prefixes_are_decided_by_the_command_in_flight() {
    // modem.md §2.1: the URC with AcT has as many fields as the reply without it.
    let urc = b"+CREG: 1,0001,0010,0";
    assert_eq!(
        classify(urc, &[]),
        Kind::Urc(Urc::Registration {
            kind: Registration::Cs,
            stat: 1
        })
    );
    let reply = b"+CREG: 2,1,8BE3,2BAF";
    assert_eq!(classify(reply, &[b"+CREG:"]), Kind::Info(reply));
    assert_eq!(fields::registration_reply(reply), Ok(1));
    assert_eq!(
        classify(b"+CEREG: 5", &[b"+CREG:"]),
        Kind::Urc(Urc::Registration {
            kind: Registration::Eps,
            stat: 5
        })
    );
    assert_eq!(
        classify(b"+CPIN: READY", &[]),
        Kind::Urc(Urc::Cpin(b"READY"))
    );
    assert_eq!(
        classify(b"+CPIN: SIM PIN", &[b"+CPIN:"]),
        Kind::Info(b"+CPIN: SIM PIN")
    );
    // +CUSD is always a URC, even while AT+CUSD runs.
    let prefix = command::info_prefix("AT+CUSD=1,\"*100#\",15\r");
    assert_eq!(prefix, None);
    assert!(matches!(
        classify(b"+CUSD: 0,\"Balance\",15", &[]),
        Kind::Urc(Urc::Cusd(_))
    ));
}

#[test]
fn field_splitting() {
    assert_eq!(
        fields::split(b" 1,\"a,b\",,(0-4),  42 "),
        [
            Field::Bare(b"1"),
            Field::Quoted(b"a,b"),
            Field::Bare(b""),
            Field::Bare(b""),
            Field::Bare(b"42")
        ]
    );
    assert_eq!(fields::split(b"\"SM\" ,3")[1].number(), Some(3));
    assert_eq!(Field::Bare(b"12a").number(), None);
    assert_eq!(Field::Bare(b"9999999999").number(), None);
    // An unterminated quote does not panic.
    assert!(!fields::split(b"\"abc,1").is_empty());
}

#[test]
fn information_lines() {
    assert_eq!(fields::cmgs(b"+CMGS: 17"), Ok(17));
    assert_eq!(fields::cmgs(b"+CMGS: 5,\"00FF\""), Ok(5));
    assert!(fields::cmgs(b"+CMGS: 300").is_err());
    assert!(fields::cmgs(b"+CMGR: 1").is_err());
    assert_eq!(
        fields::cmgl(b"+CMGL: 3,0,,24"),
        Ok(fields::Listed {
            index: 3,
            stat: 0,
            length: 24
        })
    );
    assert_eq!(
        fields::cmgl(b"+CMGL: 0,1,\"Bob\",31").map(|l| l.length),
        Ok(31)
    );
    assert!(fields::cmgl(b"+CMGL: 3").is_err());
    assert_eq!(fields::cmgr(b"+CMGR: 0,,24"), Ok((0, 24)));
    assert_eq!(fields::csq(b"+CSQ: 17,99"), Ok((17, 99)));
    assert_eq!(fields::rssi_dbm(17), Some(-79));
    assert_eq!(fields::rssi_dbm(99), None);
    assert_eq!(fields::cpms(b"+CPMS: 3,30,3,30,3,30"), Ok((3, 30)));
    assert_eq!(
        fields::cpms(b"+CPMS: \"SM\",4,50,\"SM\",4,50,\"SM\",4,50"),
        Ok((4, 50))
    );
    assert_eq!(fields::cpin(b"+CPIN: SIM PIN"), Ok(&b"SIM PIN"[..]));
    assert_eq!(fields::cpin(b"+CPIN: \"READY\""), Ok(&b"READY"[..]));
    // USSD, quoted and Huawei's bare hex without DCS (modem.md §2.5).
    let c = fields::cusd(b"+CUSD: 1,\"Menu 1.Balance\",15").unwrap();
    assert_eq!(
        (c.m, c.text, c.dcs),
        (1, Some(&b"Menu 1.Balance"[..]), Some(15))
    );
    let c = fields::cusd(b"+CUSD: 0, 49B41C74").unwrap();
    assert_eq!((c.m, c.text, c.dcs), (0, Some(&b"49B41C74"[..]), None));
    let c = fields::cusd(b"+CUSD: 4").unwrap();
    assert_eq!((c.m, c.text), (4, None));
    assert!(fields::cusd(b"+CUSD: x").is_err());
}

#[test]
fn command_builders() {
    assert_eq!(command::cmgs(23), "AT+CMGS=23\r");
    assert_eq!(command::pdu_body("0011"), b"0011\x1a");
    assert_eq!(command::quoted("*100#").as_deref(), Some("\"*100#\""));
    assert_eq!(command::quoted("a\"b"), None);
    assert_eq!(command::info_prefix("AT+CSQ\r").as_deref(), Some("+CSQ:"));
    assert_eq!(
        command::info_prefix("AT+creg?\r").as_deref(),
        Some("+CREG:")
    );
    assert_eq!(
        command::info_prefix("AT+CMGL=4\r").as_deref(),
        Some("+CMGL:")
    );
    assert_eq!(
        command::info_prefix("AT^SYSINFO\r").as_deref(),
        Some("^SYSINFO:")
    );
    assert_eq!(command::info_prefix("ATE0\r"), None);
    assert_eq!(command::info_prefix("AT"), None);
}
