//! Differential test against libgammu 1.45.1 (python-gammu 3.5.1), the best offline PDU oracle
//! of reference/modem.md §4: a few hundred deterministic messages encoded by us are decoded by
//! `gammu.DecodePDU`, and texts encoded by `gammu.EncodeSMS` + `gammu.EncodePDU` are decoded by
//! us. The Python side is `gammu_oracle.py`, run once with every request on stdin.
//!
//! The Python comes from `RICHMOND_TEST_PYTHON` (./scripts/test sets it), else
//! `scripts/.venv/bin/python` under the workspace root; the test fails (never skips) when it
//! cannot import gammu.
//!
//! Oracle bugs of modem.md §4.3, accounted for explicitly:
//! * Gammu pads the text of a GSM-7 message with extension characters with U+0000 (it counts
//!   septets, not characters): its text is cut at the first NUL before comparing. Our texts
//!   never contain U+0000 (not in GSM-7; left out of the UCS2 texts), so the cut is exact.
//! * Years ≥ 90 read as 19YY+… in Gammu: time stamps here are 2000–2089.
//! * Gammu does not apply national language tables (none of the oracles do): no shift headers
//!   are sent to it; those are covered by the NL-* vectors.
//! * Found here, not in §4.3: in UCS2 text Gammu doubles every `~` (U+007E) and keeps the
//!   length, so the text loses as many UTF-16 units at its end (`a~b` → `a~~`; half an emoji
//!   becomes a lone surrogate). The expected
//!   text for Gammu is ours with that transformation ([`gammu_ucs2_tilde`]); GSM-7 `~` (an
//!   escape pair) is read correctly. Its encoder writes that `~` as U+0001, which is what we
//!   expect back from its UCS2 parts.
//! * Gammu does not decode `*#abc` in numbers the way 23.040 names them: numeric addresses here
//!   are digits only.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use richmond_codecs::sms::pdu::{
    self, Address, Deliver, Direction, Encoded, Pdu, StatusReport, SubmitOptions, Timestamp, Tpdu,
    UserData, Validity,
};
use richmond_codecs::sms::{Encoding, Method};
use serde_json::{Value, json};

/// A small deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const GSM7: &str = "@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€";
const WIDE: &[char] = &[
    '😃', '😎', 'й', 'Ж', '中', 'ü', ' ', 'a', '1', '€', '👍', 'ة',
];
const NAMES: &[&str] = &[
    "Richmond", "VIVO", "eKit", "Megafon", "InfoSMS", "Bank 24", "A",
];

fn text(rng: &mut Rng, unicode: bool, len: usize) -> String {
    let gsm: Vec<char> = GSM7.chars().collect();
    (0..len)
        .map(|_| {
            if unicode && rng.below(3) == 0 {
                *rng.pick(WIDE)
            } else {
                *rng.pick(&gsm)
            }
        })
        .collect()
}

fn address(rng: &mut Rng) -> Address {
    let digits = |rng: &mut Rng, n: u64| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect()
    };
    match rng.below(4) {
        0 | 1 => {
            let n = 5 + rng.below(11);
            Address::new(1, 1, digits(rng, n))
        }
        2 => {
            let n = 3 + rng.below(8);
            Address::new(0, 1, digits(rng, n))
        }
        _ => Address::new(5, 0, *rng.pick(NAMES)),
    }
}

fn timestamp(rng: &mut Rng) -> Timestamp {
    // 2000-01-01 .. 2089-12-31 (Gammu reads years ≥ 90 as 1990+).
    let secs = 946_771_200 + rng.below(2_840_000_000) as i64;
    let q = rng.below(113) as i8 - 48; // -12:00 .. +16:00
    Timestamp::from_unix(secs, q)
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RICHMOND_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/.venv/bin/python")
}

fn run_oracle(requests: &[Value]) -> Vec<Value> {
    let python = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gammu_oracle.py");
    let check = Command::new(&python).args(["-c", "import gammu"]).output();
    match check {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "the gammu oracle needs python-gammu: {} cannot import gammu ({other:?}); run \
             ./scripts/test or set RICHMOND_TEST_PYTHON to a python with python-gammu 3.5.1",
            python.display()
        ),
    }
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the oracle");
    let mut input = String::new();
    for r in requests {
        input.push_str(&r.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write requests");
    assert!(out.status.success(), "oracle failed: {out:?}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), requests.len(), "one answer per request");
    lines
}

/// Gammu's text, cut at the first NUL (its padding bug, modem.md §4.3).
fn gammu_text(v: &Value) -> String {
    let t = v["text"].as_str().expect("text");
    t.split('\0').next().unwrap_or_default().to_owned()
}

/// What Gammu makes of a UCS2 text with `~` in it (see the module notes).
fn gammu_ucs2_tilde(text: &str) -> String {
    let units = text.encode_utf16().count();
    let doubled = text.replace('~', "~~");
    let mut out = String::new();
    let mut used = 0;
    for c in doubled.chars() {
        if used + c.len_utf16() > units {
            // Half a surrogate pair is left: a lone surrogate, U+FFFD once through JSON.
            if used < units {
                out.push('\u{FFFD}');
            }
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out
}

/// Gammu's name for a relative validity period.
fn gammu_validity(validity: &Validity) -> String {
    match *validity {
        Validity::Relative(255) => "Max".into(),
        Validity::Relative(vp) => {
            let secs = Validity::relative_seconds(vp);
            match vp {
                0..=167 => format!("{}M", secs / 60),
                168..=196 => format!("{}D", secs / 86_400),
                _ => format!("{}W", secs / 604_800),
            }
        }
        _ => "NA".into(),
    }
}

fn coding(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Gsm7 => "Default_No_Compression",
        Encoding::Ucs2 => "Unicode_No_Compression",
        _ => "8bit",
    }
}

/// What we sent, to compare with what Gammu read.
struct Sent {
    encoded: Encoded,
    pdu: Pdu,
}

fn check(sent: &Sent, got: &Value, i: usize) {
    let ctx = format!("message {i}: {}", sent.encoded.to_hex());
    assert!(got.get("error").is_none(), "{ctx}: gammu error {got}");
    let smsc = sent
        .pdu
        .smsc
        .as_ref()
        .map(Address::to_msisdn)
        .unwrap_or_default();
    assert_eq!(got["smsc"], smsc, "{ctx}: smsc");
    let (number, ud) = match &sent.pdu.tpdu {
        Tpdu::Deliver(d) => {
            assert_eq!(got["type"], "Deliver", "{ctx}");
            assert_eq!(got["datetime"], d.scts.to_rfc3339(), "{ctx}: scts");
            (d.originator.to_msisdn(), Some(&d.user_data))
        }
        Tpdu::Submit(s) => {
            assert_eq!(got["type"], "Submit", "{ctx}");
            assert_eq!(got["mr"], s.mr, "{ctx}: mr");
            assert_eq!(
                got["reject_duplicates"],
                u8::from(s.reject_duplicates),
                "{ctx}: rd"
            );
            assert_eq!(
                got["validity"],
                gammu_validity(&s.validity),
                "{ctx}: validity"
            );
            (s.recipient.to_msisdn(), Some(&s.user_data))
        }
        Tpdu::StatusReport(r) => {
            assert_eq!(got["type"], "Status_Report", "{ctx}");
            assert_eq!(got["mr"], r.mr, "{ctx}: mr");
            assert_eq!(got["status"], r.status, "{ctx}: status");
            assert_eq!(got["datetime"], r.scts.to_rfc3339(), "{ctx}: scts");
            assert_eq!(
                got["smsc_datetime"],
                r.discharge.to_rfc3339(),
                "{ctx}: discharge"
            );
            let outcome = format!("{:?}", r.outcome());
            assert_eq!(got["text"], outcome, "{ctx}: outcome");
            (r.recipient.to_msisdn(), None)
        }
    };
    assert_eq!(got["number"], number, "{ctx}: number");
    let Some(ud) = ud else { return };
    assert_eq!(got["coding"], coding(ud.encoding), "{ctx}: coding");
    match ud.encoding {
        Encoding::Binary => assert_eq!(got["text"]["hex"], pdu::to_hex(&ud.octets), "{ctx}"),
        Encoding::Ucs2 => {
            assert_eq!(gammu_text(got), gammu_ucs2_tilde(&ud.text), "{ctx}: text");
        }
        _ => assert_eq!(gammu_text(got), ud.text, "{ctx}: text"),
    }
    assert_eq!(got["udh"], pdu::to_hex(&ud.udh), "{ctx}: udh");
    match ud.concat {
        Some(c) => {
            let (id8, id16) = if ud.udh.get(1) == Some(&0x08) {
                (-1, i64::from(c.reference))
            } else {
                (i64::from(c.reference), -1)
            };
            assert_eq!(
                (got["id8"].as_i64(), got["id16"].as_i64()),
                (Some(id8), Some(id16)),
                "{ctx}"
            );
            assert_eq!(got["part"], c.seq, "{ctx}: part");
            assert_eq!(got["all"], c.total, "{ctx}: total");
        }
        None => assert_eq!(got["udh_type"], "NoUDH", "{ctx}"),
    }
}

fn generate(rng: &mut Rng) -> Vec<Sent> {
    let mut sent = Vec::new();
    let push = |sent: &mut Vec<Sent>, parts: Vec<Encoded>, direction| {
        for encoded in parts {
            let pdu = pdu::decode(&encoded.octets, direction).expect("own pdu decodes");
            sent.push(Sent { encoded, pdu });
        }
    };
    for i in 0..160 {
        let unicode = i % 3 == 1;
        let len = match i % 5 {
            0..=2 => 1 + rng.below(60) as usize,
            3 => 150 + rng.below(30) as usize,
            _ => 200 + rng.below(300) as usize,
        };
        let body = text(rng, unicode, len);
        let method = if rng.below(2) == 0 {
            Method::Udh8
        } else {
            Method::Udh16
        };
        let reference = rng.below(65_536) as u16;
        if i % 2 == 0 {
            let options = SubmitOptions {
                preferred: Encoding::Gsm7,
                reference,
                method,
                status_report: rng.below(2) == 0,
                validity: match rng.below(3) {
                    0 => Validity::None,
                    1 => Validity::Relative(rng.below(256) as u8),
                    _ => Validity::Absolute(timestamp(rng)),
                },
            };
            let parts = pdu::submit_parts(&address(rng), &body, &options).expect("submit");
            push(&mut sent, parts, Direction::FromMs);
        } else {
            let smsc = (rng.below(3) > 0).then(|| Address::new(1, 1, "31624000000"));
            let parts = pdu::deliver_parts(
                smsc.as_ref(),
                &address(rng),
                &body,
                timestamp(rng),
                Encoding::Gsm7,
                reference,
                method,
            )
            .expect("deliver");
            push(&mut sent, parts, Direction::ToMs);
        }
    }
    // Status reports, all three outcomes.
    for _ in 0..40 {
        let status = *rng.pick(&[0x00, 0x01, 0x02, 0x20, 0x21, 0x30, 0x40, 0x46, 0x60, 0x65]);
        let report = Pdu {
            smsc: None,
            tpdu: Tpdu::StatusReport(StatusReport {
                mr: rng.below(256) as u8,
                recipient: address(rng),
                scts: timestamp(rng),
                discharge: timestamp(rng),
                status,
                more_messages: rng.below(2) == 0,
            }),
        };
        let encoded = pdu::encode(&report).expect("status report");
        push(&mut sent, vec![encoded], Direction::ToMs);
    }
    // 8-bit data, plain and class 1.
    for _ in 0..20 {
        let octets: Vec<u8> = (0..1 + rng.below(140))
            .map(|_| rng.below(256) as u8)
            .collect();
        let deliver = Pdu {
            smsc: Some(Address::new(1, 1, "2781191")),
            tpdu: Tpdu::Deliver(Deliver {
                reply_path: false,
                status_report_indication: false,
                more_messages: false,
                originator: address(rng),
                pid: 0,
                dcs: *rng.pick(&[0x04, 0xF5]),
                scts: timestamp(rng),
                user_data: UserData::binary(octets),
            }),
        };
        let encoded = pdu::encode(&deliver).expect("8-bit deliver");
        push(&mut sent, vec![encoded], Direction::ToMs);
    }
    sent
}

#[test]
fn gammu_decodes_what_we_encode_and_we_decode_what_gammu_encodes() {
    let mut rng = Rng(0x5EED_0F6A_3317);
    let sent = generate(&mut rng);
    assert!(sent.len() >= 300, "only {} pdus", sent.len());
    let mut requests: Vec<Value> = sent
        .iter()
        .map(|s| json!({"op": "decode", "hex": s.encoded.to_hex()}))
        .collect();

    // The reverse direction: Gammu encodes.
    let validities = ["NA", "5M", "1D", "3D", "1W", "Max"];
    let mut texts = Vec::new();
    for i in 0..60 {
        let unicode = i % 2 == 1;
        let len = 1 + rng.below(if i % 3 == 0 { 400 } else { 100 }) as usize;
        let body = text(&mut rng, unicode, len);
        let number = format!("+{}", 27_820_000_000u64 + rng.below(9_999_999));
        let id = if i % 4 < 2 {
            "ConcatenatedTextLong"
        } else {
            "ConcatenatedTextLong16bit"
        };
        let validity = *rng.pick(&validities);
        requests.push(
            json!({"op": "encode", "text": body, "unicode": unicode, "id": id,
            "number": number, "smsc": "+31624000000", "validity": validity}),
        );
        texts.push((body, number, unicode, id, validity));
    }
    let answers = run_oracle(&requests);
    for (i, (s, got)) in sent.iter().zip(&answers).enumerate() {
        check(s, got, i);
    }
    for ((body, number, unicode, id, validity), got) in texts.iter().zip(&answers[sent.len()..]) {
        let parts = got["parts"]
            .as_array()
            .unwrap_or_else(|| panic!("gammu: {got}"));
        let mut joined = String::new();
        let mut reference = None;
        for (k, hex) in parts.iter().enumerate() {
            let hex = hex.as_str().expect("hex");
            let octets = pdu::from_hex(hex.as_bytes()).expect("gammu hex");
            let decoded = pdu::decode(&octets, Direction::FromMs).expect("we decode gammu's pdu");
            assert_eq!(
                decoded.smsc.map(|a| a.to_msisdn()).as_deref(),
                Some("+31624000000")
            );
            let Tpdu::Submit(s) = decoded.tpdu else {
                panic!("{hex}: not a submit")
            };
            assert_eq!(&s.recipient.to_msisdn(), number, "{hex}");
            let wanted = if *unicode {
                Encoding::Ucs2
            } else {
                Encoding::Gsm7
            };
            assert_eq!(s.user_data.encoding, wanted, "{hex}");
            // Gammu's encoder names (its decoder says "1440M" for "1D"); "NA" still sets TP-VPF
            // to relative, with VP 0.
            let vp = match *validity {
                "NA" | "5M" => 0,
                "1D" => 167,
                "3D" => 169,
                "1W" => 173,
                _ => 255,
            };
            assert_eq!(
                s.validity,
                Validity::Relative(vp),
                "{hex}: validity {validity}"
            );
            if parts.len() > 1 {
                let c = s.user_data.concat.expect("concat");
                assert_eq!(
                    (usize::from(c.seq), usize::from(c.total)),
                    (k + 1, parts.len())
                );
                assert_eq!(*reference.get_or_insert(c.reference), c.reference, "{hex}");
                let iei = if *id == "ConcatenatedTextLong16bit" {
                    0x08
                } else {
                    0x00
                };
                assert_eq!(s.user_data.udh[1], iei, "{hex}");
            }
            joined.push_str(&s.user_data.text);
        }
        // Gammu's encoder writes `~` of a UCS2 text as U+0001 (see the module notes).
        let expected = if *unicode {
            body.replace('~', "\u{1}")
        } else {
            body.clone()
        };
        assert_eq!(joined, expected, "gammu parts of {body:?}");
    }
}
