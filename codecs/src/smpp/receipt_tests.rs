//! Tests of the receipt parser: every row of `fixtures/smpp/receipts.txt`, the state mappings
//! (text `stat`, message_state TLV), dates, id matching, and property tests (never panics,
//! values are substrings of the input).

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::sms::ucs2;

/// Unescapes a fixture field into bytes: \t \n \r \\ and \xNN; other characters as UTF-8.
fn unescape(field: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        match chars.next() {
            Some('t') => out.push(b'\t'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).expect("bad \\x escape"));
            }
            other => panic!("bad escape \\{other:?} in {field:?}"),
        }
    }
    out
}

fn unescape_str(field: &str) -> String {
    String::from_utf8(unescape(field)).expect("expected value is not UTF-8")
}

#[test]
fn fixture_receipts() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/smpp/receipts.txt");
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = 0;
    for (n, line) in file.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 4, "line {}: too few columns", n + 1);
        let (source, dc, text, outcome) = (cols[0], cols[1], cols[2], cols[3]);
        let dc: u8 = dc.parse().expect("data_coding");
        let bytes = if dc == 8 {
            ucs2::encode(&unescape_str(text))
        } else {
            unescape(text)
        };
        let at = format!("line {} ({source})", n + 1);
        let result = decode(&bytes, dc);
        if let Some(code) = outcome.strip_prefix("error:") {
            assert_eq!(result.map_err(|e| e.code()), Err(code), "{at}");
            rows += 1;
            continue;
        }
        assert_eq!(outcome, "ok", "{at}");
        let r = result.unwrap_or_else(|e| panic!("{at}: {e}"));
        let mut expected = Receipt::default();
        let mut state = None;
        for kv in &cols[4..] {
            let (k, v) = kv.split_once('=').expect("key=value");
            let v = Cow::Owned(unescape_str(v));
            match k {
                "id" => expected.id = v,
                "stat" => expected.stat = v,
                "sub" => expected.sub = Some(v),
                "dlvrd" => expected.dlvrd = Some(v),
                "submit_date" => expected.submit_date = Some(v),
                "done_date" => expected.done_date = Some(v),
                "err" => expected.err = Some(v),
                "text" => expected.text = Some(v),
                "state" => state = Some(v.into_owned()),
                _ => panic!("{at}: unknown key {k}"),
            }
        }
        assert_eq!(r, expected, "{at}");
        assert_eq!(Some(r.state().as_str()), state.as_deref(), "{at}");
        rows += 1;
    }
    assert!(rows >= 30, "only {rows} rows");
}

#[test]
fn fields_borrow_the_input() {
    let text = "id:42 stat:DELIVRD text:x";
    let r = parse(text).unwrap();
    assert!(matches!(r.id, Cow::Borrowed(_)));
    assert!(text.as_bytes().as_ptr_range().contains(&r.stat.as_ptr()));
    let owned = r.clone().into_owned();
    assert_eq!(owned, r);
}

#[test]
fn ucs2_detected_without_data_coding() {
    // vumi #635: an operator sent UCS2 receipts; accept them even when labelled 0.
    let bytes = ucs2::encode("id:7 stat:UNDELIV");
    let r = decode(&bytes, 0).unwrap();
    assert_eq!((&*r.id, r.state()), ("7", DeliveryState::Failed));
    assert_eq!(parse_ucs2(&bytes).unwrap(), r);
}

#[test]
fn stat_mapping() {
    use DeliveryState::*;
    for (stat, state) in [
        ("DELIVRD", Delivered),
        ("DELIVERED", Delivered),
        ("REJECTD", Failed),
        ("UNDELIV", Failed),
        ("EXPIRED", Failed),
        ("DELETED", Failed),
        ("FAILED", Failed),
        ("ENROUTE", Pending),
        ("ACCEPTD", Pending),
        ("ACCEPTED", Pending),
        ("UNKNOWN", Pending),
        ("", Pending),
        ("0", Pending),
        ("delivered", Delivered),
        ("failed", Failed),
        ("pending", Pending),
    ] {
        assert_eq!(DeliveryState::from_stat(stat), state, "{stat}");
    }
}

#[test]
fn message_state_mapping() {
    use DeliveryState::*;
    let expected = [
        (0, "UNKNOWN", Pending),
        (1, "ENROUTE", Pending),
        (2, "DELIVERED", Delivered),
        (3, "EXPIRED", Failed),
        (4, "DELETED", Failed),
        (5, "UNDELIVERABLE", Failed),
        (6, "ACCEPTED", Pending),
        (7, "UNKNOWN", Pending),
        (8, "REJECTED", Failed),
        (9, "SKIPPED", Failed),
        (10, "UNKNOWN", Pending),
        (255, "UNKNOWN", Pending),
    ];
    for (value, name, state) in expected {
        assert_eq!(message_state_name(value), name);
        assert_eq!(DeliveryState::from_message_state(value), state, "{value}");
    }
    // vumi.md §6.3: message_state 2 delivered, 8 failed, 1 pending.
    assert_eq!(DeliveryState::from_message_state(2).as_str(), "delivered");
    assert_eq!(DeliveryState::from_message_state(8).as_str(), "failed");
    assert_eq!(DeliveryState::from_message_state(1).as_str(), "pending");
}

#[test]
fn dates() {
    let d = |year, month, day, hour, minute, second| Date {
        year,
        month,
        day,
        hour,
        minute,
        second,
    };
    assert_eq!(parse_date("0610191018"), Some(d(2006, 10, 19, 10, 18, 0)));
    assert_eq!(parse_date("240131120059"), Some(d(2024, 1, 31, 12, 0, 59)));
    assert_eq!(
        parse_date("20240131120059"),
        Some(d(2024, 1, 31, 12, 0, 59))
    );
    assert_eq!(parse_date(" 0610191018 "), Some(d(2006, 10, 19, 10, 18, 0)));
    for bad in [
        "",
        "YYMMDDhhmm",
        "061019101",
        "0613191018",
        "0610191078",
        "06101910١٨",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

#[test]
fn id_matching() {
    assert_eq!(canonical_id(" 000ABC "), "abc");
    assert_eq!(canonical_id("0000"), "0");
    assert_eq!(canonical_id(""), "");
    // submit_sm_resp in hex, receipt in decimal, and the other way round.
    assert!(id_variants("2587").contains(&canonical_id("0A1B")));
    assert!(id_variants("a1b").contains(&canonical_id("2587")));
    assert!(id_variants("00002587").contains(&canonical_id("2587")));
    assert_eq!(id_variants("0A1B"), ["a1b", "2587"]);
    assert_eq!(id_variants("2587"), ["2587", "a1b", "9607"]);
    assert_eq!(id_variants("msg-1"), ["msg-1"]);
    assert_eq!(id_variants("10")[0], "10");
    // Beyond 128 bits only the canonical form is offered.
    assert_eq!(id_variants(&"9".repeat(40)), ["9".repeat(40)]);
}

#[test]
fn error_codes() {
    assert_eq!(Error::MissingId.code(), "missing_id");
    assert_eq!(Error::MissingStat.to_string(), "receipt has no stat");
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), dc in any::<u8>()) {
        if let Ok(r) = decode(&bytes, dc) {
            prop_assert!(!r.id.is_empty() && !r.stat.is_empty());
            let _ = r.state();
        }
        let _ = parse_ucs2(&bytes);
    }

    #[test]
    fn keyish_text_never_panics(text in "((id|stat|text|sub|err|done date|submit_date) ?: ?[a-zA-Z0-9 é\t]{0,6} ?){0,8}") {
        if let Ok(r) = parse(&text) {
            prop_assert!(text.contains(&*r.id));
            prop_assert!(text.contains(&*r.stat));
            if let Some(t) = &r.text {
                prop_assert!(text.ends_with(&**t));
            }
        }
    }

    #[test]
    fn well_formed_round_trip(id in "[0-9A-Fa-f]{1,20}", stat in "[A-Z]{5,7}", err in "[0-9]{3}",
                              text in "[ -~é€]{0,20}") {
        let line = format!("id:{id} sub:001 dlvrd:001 submit date:2401311200 \
                            done date:2401311201 stat:{stat} err:{err} text:{text}");
        let r = parse(&line).unwrap();
        prop_assert_eq!(&*r.id, id.as_str());
        prop_assert_eq!(&*r.stat, stat.as_str());
        prop_assert_eq!(r.err.as_deref(), Some(err.as_str()));
        prop_assert_eq!(r.text.as_deref(), Some(text.as_str()));
        let utf16 = ucs2::encode(&line);
        prop_assert_eq!(decode(&utf16, 8).unwrap(), r);
    }

    #[test]
    fn id_variants_start_canonical(id in "[0-9a-zA-Z]{0,45}") {
        let v = id_variants(&id);
        prop_assert_eq!(&v[0], &canonical_id(&id));
        prop_assert_eq!(canonical_id(&v[0]), v[0].clone());
    }
}
