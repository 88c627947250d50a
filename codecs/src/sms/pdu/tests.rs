//! The vectors of `fixtures/sms/pdus.txt` (reference/modem.md §3.2–§3.5), plus a few unit
//! checks. Every field a vector lists is checked; see the file header for the format.

use std::collections::BTreeMap;

use super::address::{read_smsc, read_tp, write_smsc, write_tp};
use super::*;
use crate::sms::segment;

struct Vector {
    id: String,
    kind: String,
    hex: String,
    fields: BTreeMap<String, String>,
}

impl Vector {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    fn octets(&self) -> Vec<u8> {
        from_hex(self.hex.as_bytes()).unwrap_or_else(|e| panic!("{}: hex {e}", self.id))
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('\\') => '\\',
            other => panic!("bad escape {other:?}"),
        });
    }
    out
}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sms/pdus.txt");
    let text = std::fs::read_to_string(path).expect("fixtures/sms/pdus.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(cols.len() >= 4, "short line {line}");
            let fields = cols[4..]
                .iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    (k.to_owned(), unescape(v))
                })
                .collect();
            Vector {
                id: cols[0].to_owned(),
                kind: cols[2].to_owned(),
                hex: cols[3].to_owned(),
                fields,
            }
        })
        .collect()
}

fn hex_u8(s: &str) -> u8 {
    u8::from_str_radix(s, 16).expect("hex octet")
}

/// "2013-03-08T15:02:16+02:00" → Timestamp.
fn ts(s: &str) -> Timestamp {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u16>().expect("number");
    let quarters = (n(20..22) * 4 + n(23..25) / 15) as i8;
    Timestamp {
        year: n(0..4),
        month: n(5..7) as u8,
        day: n(8..10) as u8,
        hour: n(11..13) as u8,
        minute: n(14..16) as u8,
        second: n(17..19) as u8,
        offset_quarters: if &s[19..20] == "-" {
            -quarters
        } else {
            quarters
        },
    }
}

fn validity(s: &str) -> Validity {
    match s.split_once(':') {
        Some(("rel", n)) => Validity::Relative(n.parse().expect("vp")),
        Some(("abs", t)) => Validity::Absolute(ts(t)),
        _ => Validity::None,
    }
}

/// An address from `addr` and an optional type of address.
fn address(value: &str, toa: Option<&str>) -> Address {
    match toa {
        Some(toa) => {
            let toa = hex_u8(toa);
            Address::new((toa >> 4) & 7, toa & 0x0F, value.trim_start_matches('+'))
        }
        None => Address::from_msisdn(value).expect("address"),
    }
}

fn concat(s: &str) -> Concat {
    let n: Vec<u16> = s.split('/').map(|x| x.parse().expect("concat")).collect();
    Concat::new(n[0], n[2] as u8, n[1] as u8).expect("concat")
}

fn check_user_data(v: &Vector, ud: &UserData) {
    let id = &v.id;
    if let Some(text) = v.get("text") {
        assert_eq!(ud.text, text, "{id}: text");
    }
    if v.kind.starts_with("decode") || v.get("udh").is_some() {
        let udh = from_hex(v.get("udh").unwrap_or("").as_bytes()).unwrap();
        assert_eq!(ud.udh, udh, "{id}: udh");
        assert_eq!(ud.concat, v.get("concat").map(concat), "{id}: concat");
    }
    if let Some(c) = v.get("concat") {
        assert_eq!(ud.concat, Some(concat(c)), "{id}: concat");
    }
    if let Some(octets) = v.get("octets") {
        assert_eq!(
            ud.octets,
            from_hex(octets.as_bytes()).unwrap(),
            "{id}: octets"
        );
    }
    if let Some(octets) = v.get("octets_text") {
        assert_eq!(ud.octets, octets.as_bytes(), "{id}: octets");
    }
    if let Some(dcs) = v.get("dcs") {
        assert_eq!(ud.encoding, dcs::encoding(hex_u8(dcs)), "{id}: encoding");
    }
}

/// Checks every listed field of a decoded TPDU; `tpdu` are its octets (for FO and UDL).
fn check_tpdu(v: &Vector, tpdu: &Tpdu, octets: &[u8]) {
    let id = &v.id;
    let fo = octets[0];
    if let Some(expected) = v.get("fo") {
        assert_eq!(fo, hex_u8(expected), "{id}: fo");
    }
    let addr = |a: &Address| {
        let value = v.get("addr").expect("addr");
        assert_eq!(a.to_msisdn(), value, "{id}: address");
        if let Some(toa) = v.get("toa") {
            assert_eq!(a.toa(), hex_u8(toa), "{id}: toa");
        }
    };
    let byte = |key: &str, actual: u8| {
        if let Some(e) = v.get(key) {
            assert_eq!(actual, hex_u8(e), "{id}: {key}");
        }
    };
    match (v.get("type"), tpdu) {
        (Some("deliver"), Tpdu::Deliver(d)) => {
            addr(&d.originator);
            byte("pid", d.pid);
            byte("dcs", d.dcs);
            assert_eq!(d.reply_path, fo & 0x80 != 0, "{id}: rp");
            assert_eq!(d.status_report_indication, fo & 0x20 != 0, "{id}: sri");
            assert_eq!(d.more_messages, fo & 0x04 == 0, "{id}: mms");
            if let Some(t) = v.get("scts") {
                assert_eq!(d.scts, ts(t), "{id}: scts");
                assert_eq!(d.scts.to_rfc3339(), t, "{id}: rfc3339");
            }
            check_user_data(v, &d.user_data);
        }
        (Some("submit"), Tpdu::Submit(s)) => {
            addr(&s.recipient);
            byte("mr", s.mr);
            byte("pid", s.pid);
            byte("dcs", s.dcs);
            assert_eq!(s.reply_path, fo & 0x80 != 0, "{id}: rp");
            assert_eq!(s.status_report_request, fo & 0x20 != 0, "{id}: srr");
            assert_eq!(s.reject_duplicates, fo & 0x04 != 0, "{id}: rd");
            if let Some(vp) = v.get("vp") {
                assert_eq!(s.validity, validity(vp), "{id}: vp");
            }
            check_user_data(v, &s.user_data);
        }
        (Some("status"), Tpdu::StatusReport(r)) => {
            addr(&r.recipient);
            byte("mr", r.mr);
            byte("st", r.status);
            assert_eq!(r.scts, ts(v.get("scts").expect("scts")), "{id}: scts");
            assert_eq!(r.discharge, ts(v.get("dt").expect("dt")), "{id}: dt");
            let outcome = match v.get("outcome") {
                Some("delivered") => Outcome::Delivered,
                Some("pending") => Outcome::Pending,
                _ => Outcome::Failed,
            };
            assert_eq!(r.outcome(), outcome, "{id}: outcome");
        }
        (t, other) => panic!("{id}: expected {t:?}, decoded {other:?}"),
    }
    // TP-UDL is the octet right before the user data: find it by re-encoding the UD.
    if let (Some(udl), Tpdu::Deliver(Deliver { user_data, dcs, .. }))
    | (Some(udl), Tpdu::Submit(Submit { user_data, dcs, .. })) = (v.get("udl"), tpdu)
    {
        let (_, ours, _) = user_data::encode(user_data, *dcs).expect("re-encode user data");
        assert_eq!(ours, hex_u8(udl), "{id}: udl");
    }
}

fn direction(v: &Vector) -> Direction {
    match v.get("type") {
        Some("submit") => Direction::FromMs,
        _ => Direction::ToMs,
    }
}

/// Decodes a `decode`/`decode-tpdu`/`part`/`part-tpdu` vector: (SMSC, TPDU, TPDU octets).
fn decode_vector(v: &Vector) -> (Option<Address>, Tpdu, Vec<u8>) {
    let octets = v.octets();
    if v.kind.ends_with("-tpdu") {
        let tpdu = decode_tpdu(&octets, direction(v)).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        (None, tpdu, octets)
    } else {
        let pdu = decode(&octets, direction(v)).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        let smsc_len = 1 + usize::from(octets[0]);
        (pdu.smsc, pdu.tpdu, octets[smsc_len..].to_vec())
    }
}

fn check_smsc(v: &Vector, smsc: Option<&Address>) {
    match v.get("smsc") {
        Some("-") => assert_eq!(smsc, None, "{}: smsc", v.id),
        Some(s) => assert_eq!(smsc, Some(&address(s, v.get("smsc_toa"))), "{}: smsc", v.id),
        None => {}
    }
}

#[test]
fn decode_vectors() {
    let vectors = vectors();
    let mut n = 0;
    for v in vectors.iter().filter(|v| v.kind.starts_with("decode")) {
        let (smsc, tpdu, tpdu_octets) = decode_vector(v);
        check_smsc(v, smsc.as_ref());
        check_tpdu(v, &tpdu, &tpdu_octets);
        let encoded = encode(&Pdu { smsc, tpdu }).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        let hex = if v.kind == "decode-tpdu" {
            to_hex(&encoded.octets[1..])
        } else {
            encoded.to_hex()
        };
        assert_eq!(
            hex,
            v.get("reencode").unwrap_or(&v.hex),
            "{}: re-encode",
            v.id
        );
        assert_eq!(encoded.tpdu_len, tpdu_octets.len(), "{}: tpdu_len", v.id);
        n += 1;
    }
    assert_eq!(n, 27, "decode vectors");
}

fn build(v: &Vector) -> Pdu {
    let smsc = match v.get("smsc") {
        None | Some("-") => None,
        Some(s) => Some(address(s, v.get("smsc_toa"))),
    };
    let fo = hex_u8(v.get("fo").expect("fo"));
    let dcs = v.get("dcs").map_or(0, hex_u8);
    let text = v.get("text").unwrap_or("");
    let user_data = UserData {
        udh: from_hex(v.get("udh").unwrap_or("").as_bytes()).expect("udh"),
        ..UserData::text(dcs::encoding(dcs), text)
    };
    let addr = address(v.get("addr").expect("addr"), v.get("toa"));
    let tpdu = match v.get("type") {
        Some("deliver") => Tpdu::Deliver(Deliver {
            reply_path: fo & 0x80 != 0,
            status_report_indication: fo & 0x20 != 0,
            more_messages: fo & 0x04 == 0,
            originator: addr,
            pid: v.get("pid").map_or(0, hex_u8),
            dcs,
            scts: ts(v.get("scts").expect("scts")),
            user_data,
        }),
        _ => Tpdu::Submit(Submit {
            reject_duplicates: fo & 0x04 != 0,
            status_report_request: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            mr: v.get("mr").map_or(0, hex_u8),
            recipient: addr,
            pid: v.get("pid").map_or(0, hex_u8),
            dcs,
            validity: validity(v.get("vp").unwrap_or("none")),
            user_data,
        }),
    };
    Pdu { smsc, tpdu }
}

#[test]
fn encode_vectors() {
    let mut n = 0;
    for v in vectors().iter().filter(|v| v.kind.starts_with("encode")) {
        let pdu = build(v);
        let encoded = encode(&pdu).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        let hex = if v.kind == "encode-tpdu" {
            to_hex(&encoded.octets[1..])
        } else {
            encoded.to_hex()
        };
        assert_eq!(hex, v.hex, "{}: encode", v.id);
        if let Some(len) = v.get("tpdu_len") {
            assert_eq!(encoded.tpdu_len.to_string(), len, "{}: tpdu_len", v.id);
        }
        // And it decodes back to the same fields.
        let (smsc, tpdu, octets) = decode_vector(&Vector {
            kind: v.kind.replace("encode", "decode"),
            id: v.id.clone(),
            hex: v.hex.clone(),
            fields: v.fields.clone(),
        });
        check_smsc(v, smsc.as_ref());
        check_tpdu(v, &tpdu, &octets);
        n += 1;
    }
    assert_eq!(n, 14, "encode vectors");
}

#[test]
fn reassembly_sets() {
    let vectors = vectors();
    let mut sets = 0;
    for set in vectors.iter().filter(|v| v.kind == "set") {
        let parts: Vec<&Vector> = vectors
            .iter()
            .filter(|v| v.get("set") == Some(&set.id))
            .collect();
        assert!(parts.len() >= 2, "{}: parts", set.id);
        let mut payloads = Vec::new();
        let mut total = 0;
        // Feed the parts in reverse order: reassembly must not depend on it.
        for part in parts.iter().rev() {
            let (smsc, tpdu, octets) = decode_vector(part);
            check_tpdu(part, &tpdu, &octets);
            let Tpdu::Submit(s) = &tpdu else {
                panic!("{}: not a submit", part.id)
            };
            let c = s.user_data.concat.expect("concat");
            total = c.total;
            payloads.push((c.seq, s.user_data.octets.clone()));
            // Each part re-encodes to itself.
            let encoded = encode(&Pdu {
                smsc,
                tpdu: tpdu.clone(),
            })
            .expect("re-encode");
            let skip = usize::from(part.kind.ends_with("-tpdu"));
            assert_eq!(to_hex(&encoded.octets[skip..]), part.hex, "{}", part.id);
        }
        let joined = segment::reassemble(total, payloads.iter().map(|(s, p)| (*s, &p[..])))
            .expect("reassemble");
        assert_eq!(
            crate::sms::gsm7::decode_unpacked(&joined),
            set.get("text").expect("text"),
            "{}: joined text",
            set.id
        );
        // A set made by submit_parts (python-gsmmodem's splitter cuts at 153 septets as ours).
        if set.get("rd") == Some("1") {
            let recipient = Address::from_msisdn(set.get("addr").expect("addr")).unwrap();
            let ours = submit_parts(
                &recipient,
                set.get("text").unwrap(),
                &SubmitOptions::default(),
            )
            .expect("submit_parts");
            assert_eq!(ours.len(), parts.len(), "{}: part count", set.id);
            for (encoded, part) in ours.iter().zip(&parts) {
                let mut pdu = decode(&encoded.octets, Direction::FromMs).expect("decode ours");
                if let Tpdu::Submit(s) = &mut pdu.tpdu {
                    s.reject_duplicates = true;
                }
                assert_eq!(
                    encode(&pdu).unwrap().to_hex(),
                    part.hex,
                    "{}: ours",
                    part.id
                );
            }
        }
        sets += 1;
    }
    assert_eq!(sets, 3, "sets");
}

#[test]
fn malformed_vectors_are_errors() {
    let mut n = 0;
    for v in vectors().iter().filter(|v| v.kind == "bad") {
        match from_hex(v.hex.as_bytes()) {
            Err(e) => assert_eq!(e, Error::BadHex, "{}", v.id),
            Ok(octets) => {
                for direction in [Direction::ToMs, Direction::FromMs] {
                    let result = decode(&octets, direction);
                    assert!(result.is_err(), "{} {direction:?}: {result:?}", v.id);
                }
            }
        }
        n += 1;
    }
    assert_eq!(n, 9, "malformed vectors");
}

#[test]
fn component_vectors() {
    let mut n = 0;
    for v in vectors() {
        let octets = || v.octets();
        match v.kind.as_str() {
            "tp-address" => {
                let a = address(v.get("addr").unwrap(), v.get("toa"));
                let mut out = Vec::new();
                write_tp(&a, &mut out).unwrap();
                assert_eq!(to_hex(&out), v.hex, "{}", v.id);
                let o = octets();
                assert_eq!(read_tp(o[0], o[1], &o[2..]).unwrap(), a, "{}", v.id);
            }
            "smsc-address" => {
                let a = address(v.get("addr").unwrap(), v.get("toa"));
                let mut out = Vec::new();
                write_smsc(Some(&a), &mut out).unwrap();
                assert_eq!(to_hex(&out), v.hex, "{}", v.id);
                let o = octets();
                assert_eq!(read_smsc(o[1], &o[2..]).unwrap(), a, "{}", v.id);
            }
            "timestamp" => {
                let t = ts(v.get("ts").unwrap());
                assert_eq!(to_hex(&t.to_octets().unwrap()), v.hex, "{}", v.id);
                let o: [u8; 7] = octets().try_into().unwrap();
                assert_eq!(Timestamp::read(o).unwrap(), t, "{}", v.id);
            }
            "relative-vp" => {
                let secs: u64 = v.get("seconds").unwrap().parse().unwrap();
                assert_eq!(Validity::relative_seconds(hex_u8(&v.hex)), secs, "{}", v.id);
            }
            _ => continue,
        }
        n += 1;
    }
    assert_eq!(n, 22, "component vectors");
}
