//! Property tests: texts (GSM-7 with extension characters, UCS2 with emoji) survive encode →
//! decode with every field; arbitrary octets never panic the decoder, and whatever decodes
//! re-encodes to something that decodes to the same PDU.

use proptest::prelude::*;

use super::*;

const GSM7: &str = "@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\u{000C}";

fn gsm7_text(max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = GSM7.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..max).prop_map(String::from_iter)
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        gsm7_text(400),
        ".{0,200}",
        prop::collection::vec(
            prop::sample::select(vec!['😃', '😎', 'a', 'й', '€', '{']),
            0..200
        )
        .prop_map(String::from_iter),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        "[0-9]{1,20}".prop_map(|d| Address::new(1, 1, d)),
        ("[0-7]", "[0-9*#abc]{0,20}").prop_map(|(t, d)| Address::new(
            if t == "1" || t == "5" {
                0
            } else {
                t.parse().unwrap_or(0)
            },
            1,
            d
        )),
        gsm7_text(11).prop_filter_map("alphanumeric fits", |t| {
            (crate::sms::gsm7::septet_count(&t)? <= 11 && !t.is_empty())
                .then(|| Address::new(5, 0, t))
        }),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // 2000-01-01 .. 2099-12-31 in local time whatever the zone.
    (946_771_200i64..4_102_358_400, -79i8..=79).prop_map(|(s, q)| Timestamp::from_unix(s, q))
}

fn validity() -> impl Strategy<Value = Validity> {
    prop_oneof![
        Just(Validity::None),
        any::<u8>().prop_map(Validity::Relative),
        timestamp().prop_map(Validity::Absolute),
        any::<[u8; 7]>().prop_map(Validity::Enhanced),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::Udh8), Just(Method::Udh16)]
}

fn decoded_texts(parts: &[Encoded], direction: Direction) -> Vec<(Pdu, String)> {
    parts
        .iter()
        .map(|p| {
            let pdu = decode(&p.octets, direction).expect("own parts decode");
            assert_eq!(p.tpdu_len + 1 + usize::from(p.octets[0]), p.octets.len());
            let text = match &pdu.tpdu {
                Tpdu::Submit(s) => s.user_data.text.clone(),
                Tpdu::Deliver(d) => d.user_data.text.clone(),
                Tpdu::StatusReport(_) => panic!("status report"),
            };
            (pdu, text)
        })
        .collect()
}

proptest! {
    #[test]
    fn submit_parts_round_trip(
        to in address(),
        text in any_text(),
        reference in any::<u16>(),
        method in method(),
        status_report in any::<bool>(),
        validity in validity(),
    ) {
        let options = SubmitOptions { preferred: Encoding::Gsm7, reference, method, status_report, validity };
        let parts = submit_parts(&to, &text, &options).expect("submit_parts");
        let decoded = decoded_texts(&parts, Direction::FromMs);
        let total = decoded.len();
        let mut joined = String::new();
        for (i, (pdu, part)) in decoded.into_iter().enumerate() {
            prop_assert_eq!(pdu.smsc, None);
            let Tpdu::Submit(s) = pdu.tpdu else { panic!("not a submit") };
            prop_assert_eq!(&s.recipient, &to);
            prop_assert_eq!(s.status_report_request, status_report);
            prop_assert_eq!(s.validity, validity);
            prop_assert_eq!(s.mr, 0);
            let expected = crate::sms::choose(&text, Encoding::Gsm7);
            prop_assert_eq!(s.user_data.encoding, expected);
            if total > 1 {
                let c = s.user_data.concat.expect("concat");
                let reference = if method == Method::Udh8 { reference & 0xFF } else { reference };
                prop_assert_eq!((c.reference, usize::from(c.total), usize::from(c.seq)), (reference, total, i + 1));
            } else {
                prop_assert!(s.user_data.udh.is_empty());
            }
            joined.push_str(&part);
        }
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn deliver_parts_round_trip(
        smsc in prop::option::of("[0-9]{1,20}".prop_map(|d| Address::new(1, 1, d))),
        from in address(),
        text in any_text(),
        scts in timestamp(),
        reference in any::<u16>(),
        method in method(),
    ) {
        let parts = deliver_parts(smsc.as_ref(), &from, &text, scts, Encoding::Gsm7, reference, method)
            .expect("deliver_parts");
        let mut joined = String::new();
        for (pdu, part) in decoded_texts(&parts, Direction::ToMs) {
            prop_assert_eq!(&pdu.smsc, &smsc);
            let Tpdu::Deliver(d) = pdu.tpdu else { panic!("not a deliver") };
            prop_assert_eq!(&d.originator, &from);
            prop_assert_eq!(d.scts, scts);
            prop_assert_eq!(d.scts.unix_seconds(), scts.unix_seconds());
            joined.push_str(&part);
        }
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn national_user_data_round_trip(text in "[a-zA-Z çğışİĞŞáíóúÁÍÓÚ]{0,60}", locking in 0u8..4, single in 0u8..4) {
        let shift = national::Shift { locking, single };
        let Ok(septets) = national::encode(&text, shift) else { return Ok(()) };
        prop_assume!(septets.len() <= 140);
        let mut udh = shift.udh_elements();
        udh.insert(0, udh.len() as u8);
        let udh = if udh.len() > 1 { udh } else { Vec::new() };
        let pdu = Pdu {
            smsc: None,
            tpdu: Tpdu::Submit(Submit {
                reject_duplicates: false, status_report_request: false, reply_path: false, mr: 7,
                recipient: Address::new(1, 1, "905321234567"), pid: 0, dcs: 0,
                validity: Validity::None,
                user_data: UserData { udh, ..UserData::text(Encoding::Gsm7, text.clone()) },
            }),
        };
        let back = decode(&encode(&pdu).expect("encode").octets, Direction::FromMs).expect("decode");
        let Tpdu::Submit(s) = back.tpdu else { panic!("not a submit") };
        prop_assert_eq!(s.user_data.text, text);
        prop_assert_eq!(s.user_data.octets, septets);
    }

    #[test]
    fn arbitrary_octets_never_panic(octets in prop::collection::vec(any::<u8>(), 0..200)) {
        for direction in [Direction::ToMs, Direction::FromMs] {
            if let Ok(pdu) = decode(&octets, direction) {
                let encoded = encode(&pdu).expect("a decoded pdu re-encodes");
                prop_assert_eq!(decode(&encoded.octets, direction).expect("re-decodes"), pdu);
            }
            let _ = decode_tpdu(&octets, direction);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Octets shaped like a TPDU (valid SMSC, first octet, short addresses) reach the user
    /// data parser far more often than random ones.
    #[test]
    fn shaped_octets_round_trip(
        fo in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..180),
        alpha in any::<bool>(),
    ) {
        let mut octets = vec![0x00, fo, 0x00, 0x04, if alpha { 0xD0 } else { 0x91 }, 0x21, 0x43];
        octets.extend_from_slice(&body);
        for direction in [Direction::ToMs, Direction::FromMs] {
            if let Ok(pdu) = decode(&octets, direction) {
                let encoded = encode(&pdu).expect("a decoded pdu re-encodes");
                prop_assert_eq!(decode(&encoded.octets, direction).expect("re-decodes"), pdu);
            }
        }
    }
}
