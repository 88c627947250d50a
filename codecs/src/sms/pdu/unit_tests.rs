//! Unit checks of the TPDU layer beyond the published vectors: time conversions, MSISDN forms,
//! status outcomes, the part helpers, encoder refusals and the national language tables.

use super::*;

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

#[test]
fn timestamps_convert() {
    let t = ts("2013-03-08T15:02:16+02:00");
    assert_eq!(t.unix_seconds(), 1_362_747_736);
    assert_eq!(Timestamp::from_unix(1_362_747_736, 8), t);
    assert_eq!(t.to_rfc3339(), "2013-03-08T15:02:16+02:00");
    let west = ts("2017-05-19T14:35:02-03:00");
    assert_eq!(west.unix_seconds(), 1_495_215_302);
    assert_eq!(Timestamp::from_unix(west.unix_seconds(), -12), west);
    assert_eq!(
        Timestamp::from_unix(0, 0).to_rfc3339(),
        "1970-01-01T00:00:00+00:00"
    );
    assert_eq!(ts("2001-12-23T09:53:42+01:00").offset_quarters, 4);
    // Out of range for the wire.
    let mut far = t;
    far.year = 2100;
    assert_eq!(far.to_octets(), Err(Error::BadTimestamp));
}

#[test]
fn msisdn_forms() {
    let a = Address::from_msisdn("+27821234567").unwrap();
    assert_eq!((a.ton, a.npi, a.value.as_str()), (1, 1, "27821234567"));
    assert_eq!(a.to_msisdn(), "+27821234567");
    let a = Address::from_msisdn("0821234567").unwrap();
    assert_eq!((a.ton, a.npi, a.to_msisdn().as_str()), (0, 1, "0821234567"));
    let a = Address::from_msisdn("InternetSMS").unwrap();
    assert_eq!((a.ton, a.npi), (5, 0));
    assert_eq!(Address::from_msisdn(""), Err(Error::EmptyAddress));
    assert_eq!(
        Address::from_msisdn(&"1".repeat(21)),
        Err(Error::BadAddressLength)
    );
    assert_eq!(
        Address::from_msisdn("Twelve chars"),
        Err(Error::BadAddressLength)
    );
    assert_eq!(Address::from_msisdn("+12a"), Err(Error::BadAddress));
}

#[test]
fn outcomes() {
    let report = |status| StatusReport {
        mr: 0,
        recipient: Address::new(1, 1, "1"),
        scts: Timestamp::from_unix(0, 0),
        discharge: Timestamp::from_unix(0, 0),
        status,
        more_messages: false,
    };
    for (st, outcome) in [
        (0x00, Outcome::Delivered),
        (0x1F, Outcome::Delivered),
        (0x20, Outcome::Pending),
        (0x3F, Outcome::Pending),
        (0x40, Outcome::Failed),
        (0x60, Outcome::Failed),
        (0xFF, Outcome::Failed),
    ] {
        assert_eq!(report(st).outcome(), outcome, "{st:#x}");
    }
}

#[test]
fn submit_parts_split_and_number() {
    let to = Address::from_msisdn("+27821234567").unwrap();
    let options = SubmitOptions {
        reference: 0x1234,
        method: Method::Udh16,
        status_report: true,
        validity: Validity::Relative(167),
        ..SubmitOptions::default()
    };
    // 152 septets per part with a 16-bit reference; the € costs two and is not split.
    let text = format!("{}€{}", "a".repeat(151), "b".repeat(10));
    let parts = submit_parts(&to, &text, &options).unwrap();
    assert_eq!(parts.len(), 2);
    let mut joined = String::new();
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.octets[0], 0, "no smsc");
        assert_eq!(part.tpdu_len, part.octets.len() - 1);
        let Tpdu::Submit(s) = decode(&part.octets, Direction::FromMs).unwrap().tpdu else {
            panic!("not a submit")
        };
        assert!(s.status_report_request);
        assert_eq!(s.mr, 0);
        assert_eq!(s.validity, Validity::Relative(167));
        let c = s.user_data.concat.unwrap();
        assert_eq!(
            (c.reference, c.total, usize::from(c.seq)),
            (0x1234, 2, i + 1)
        );
        joined.push_str(&s.user_data.text);
    }
    assert_eq!(joined, text);
    // UCS2 fallback, surrogate pairs kept whole (66 units per part).
    let emoji = "😃".repeat(40);
    let parts = submit_parts(&to, &emoji, &options).unwrap();
    assert_eq!(parts.len(), 2);
    let texts: Vec<String> = parts
        .iter()
        .map(
            |p| match decode(&p.octets, Direction::FromMs).unwrap().tpdu {
                Tpdu::Submit(s) => {
                    assert_eq!(s.dcs, 0x08);
                    s.user_data.text
                }
                _ => panic!("not a submit"),
            },
        )
        .collect();
    assert_eq!(texts.concat(), emoji);
    let raw = SubmitOptions {
        method: Method::Raw,
        ..SubmitOptions::default()
    };
    assert_eq!(submit_parts(&to, "x", &raw), Err(Error::RawMethod));
}

#[test]
fn deliver_parts_carry_smsc_and_time() {
    let smsc = Address::from_msisdn("+31624000000").unwrap();
    let from = Address::from_msisdn("Richmond").unwrap();
    let scts = Timestamp::from_unix(1_700_000_000, -16);
    let text = "ça va? ".repeat(30);
    let parts = deliver_parts(
        Some(&smsc),
        &from,
        &text,
        scts,
        Encoding::Gsm7,
        300,
        Method::Udh8,
    )
    .unwrap();
    assert_eq!(parts.len(), 4);
    let mut joined = String::new();
    for part in &parts {
        let pdu = decode(&part.octets, Direction::ToMs).unwrap();
        assert_eq!(pdu.smsc.as_ref(), Some(&smsc));
        let Tpdu::Deliver(d) = pdu.tpdu else {
            panic!("not a deliver")
        };
        assert_eq!((d.originator.clone(), d.scts), (from.clone(), scts));
        assert_eq!(d.user_data.concat.unwrap().reference, 300 & 0xFF);
        joined.push_str(&d.user_data.text);
    }
    assert_eq!(joined, text);
}

#[test]
fn encode_refuses_bad_input() {
    let to = Address::from_msisdn("+27821234567").unwrap();
    let submit = |user_data: UserData, dcs: u8| Pdu {
        smsc: None,
        tpdu: Tpdu::Submit(Submit {
            reject_duplicates: false,
            status_report_request: false,
            reply_path: false,
            mr: 0,
            recipient: to.clone(),
            pid: 0,
            dcs,
            validity: Validity::None,
            user_data,
        }),
    };
    let long = UserData::text(Encoding::Gsm7, "x".repeat(161));
    assert_eq!(encode(&submit(long, 0)), Err(Error::UserDataTooLong));
    let mismatch = UserData::text(Encoding::Ucs2, "x");
    assert_eq!(encode(&submit(mismatch, 0)), Err(Error::DcsMismatch));
    let bad_udh = UserData {
        udh: vec![0x05, 0x00, 0x03],
        ..UserData::text(Encoding::Gsm7, "x")
    };
    assert_eq!(encode(&submit(bad_udh, 0)), Err(Error::BadUdh));
    let unrepresentable = UserData::text(Encoding::Gsm7, "😃");
    assert!(matches!(
        encode(&submit(unrepresentable, 0)),
        Err(Error::Text(_))
    ));
    assert_eq!(from_hex(b"0"), Err(Error::BadHex));
    assert_eq!(from_hex(b"0g"), Err(Error::BadHex));
    assert_eq!(from_hex(b"aBcD").unwrap(), [0xAB, 0xCD]);
    assert_eq!(to_hex(&[0xAB, 0x01]), "AB01");
}

#[test]
fn national_tables_decode_what_they_encode() {
    for (locking, single, text) in [
        (1, 1, "Ağaç şişe İstanbul ı Ğ ç €"),
        (0, 2, "Buenos días, ¿qué tal? Ñandú ç Á Í Ó Ú"),
        (3, 3, "Não há ação sem emoção: ê Ô ô Á á Ç ∞ ª º `"),
        (3, 0, "Olá ç"),
    ] {
        let shift = national::Shift { locking, single };
        let septets = national::encode(text, shift).unwrap();
        assert!(septets.iter().all(|&s| s < 0x80));
        assert_eq!(
            national::decode(&septets, shift),
            text,
            "{locking}/{single}"
        );
    }
    // Ids without tables use the default ones.
    let hindi = national::Shift {
        locking: 6,
        single: 6,
    };
    assert_eq!(
        national::encode("{x}", hindi).unwrap(),
        [0x1B, 0x28, 0x78, 0x1B, 0x29]
    );
}
