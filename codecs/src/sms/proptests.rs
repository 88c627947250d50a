//! Property tests of the SMS text layer: GSM-7, UCS2 and Latin-1 round trips, packing round
//! trips with every fill, segmentation (parts decode back to the text, each within its limit,
//! no split escape or surrogate, correct headers), UDH parsing and decoding never panic.

use proptest::prelude::*;

use super::segment::{limits, reassemble, split};
use super::*;

/// Every character of the GSM-7 default alphabet and extension table.
fn gsm7_chars() -> Vec<char> {
    let mut chars: Vec<char> = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
        ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
        .chars()
        .collect();
    chars.extend("\u{C}^{}\\[~]|€".chars());
    chars
}

fn gsm7_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(gsm7_chars()), 0..max)
        .prop_map(|v| v.into_iter().collect())
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::Udh8), Just(Method::Udh16), Just(Method::Raw)]
}

/// Text mixing GSM-7, Latin-1, other BMP characters and emoji.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        proptest::sample::select(gsm7_chars()),
        any::<char>(),
        proptest::char::range('\u{1F600}', '\u{1F64F}'),
    ];
    proptest::collection::vec(ch, 0..max).prop_map(|v| v.into_iter().collect())
}

/// Checks the parts of `text`: headers, limits, and that they decode back to it.
fn check_parts(text: &str, encoding: Encoding, reference: u16, method: Method) {
    let parts = segment(text, encoding, reference, method).unwrap();
    let chunks = split(text, encoding, method).unwrap();
    assert_eq!(parts.len(), chunks.len());
    assert_eq!(chunks.concat(), text);
    let limits = limits(encoding, method);
    let total = parts.len();
    let mut bodies = Vec::new();
    for (i, (part, chunk)) in parts.iter().zip(&chunks).enumerate() {
        let body: &[u8] = if total > 1 && method != Method::Raw {
            let (udh, rest) = Udh::parse(part).unwrap();
            let concat = udh.concat().unwrap();
            assert_eq!(usize::from(concat.total), total);
            assert_eq!(usize::from(concat.seq), i + 1);
            let expected = match method {
                Method::Udh16 => reference,
                _ => reference & 0xFF,
            };
            assert_eq!(concat.reference, expected);
            rest
        } else {
            part
        };
        // Each part stands alone: it decodes to its own chunk (no split pair).
        assert_eq!(encoding.decode(body), *chunk);
        let size = segment::measure(chunk, encoding).unwrap();
        let limit = if total == 1 {
            limits.single
        } else {
            limits.part
        };
        assert!(size <= limit, "part {i}: {size} > {limit}");
        if encoding == Encoding::Gsm7 {
            assert_ne!(body.last(), Some(&gsm7::ESCAPE), "escape split");
        }
        if encoding == Encoding::Ucs2 && body.len() >= 2 {
            let last = u16::from_be_bytes([body[body.len() - 2], body[body.len() - 1]]);
            assert!(!(0xD800..0xDC00).contains(&last), "surrogate split");
        }
        bodies.push((u8::try_from(i + 1).unwrap(), body));
    }
    let joined = reassemble(u8::try_from(total).unwrap(), bodies.iter().rev().copied()).unwrap();
    assert_eq!(encoding.decode(&joined), text);
}

proptest! {
    #[test]
    fn gsm7_round_trip(text in gsm7_text(200)) {
        let septets = gsm7::encode_unpacked(&text).unwrap();
        prop_assert_eq!(Some(septets.len()), gsm7::septet_count(&text));
        prop_assert!(septets.iter().all(|&s| s < 0x80));
        prop_assert_eq!(gsm7::decode_unpacked(&septets), text);
    }

    #[test]
    fn gsm7_pack_round_trip(septets in proptest::collection::vec(0u8..0x80, 0..200), fill in 0u8..7) {
        let packed = gsm7::pack_with_fill(&septets, fill);
        prop_assert_eq!(packed.len(), (septets.len() * 7 + usize::from(fill)).div_ceil(8));
        prop_assert_eq!(gsm7::unpack_with_fill(&packed, septets.len(), fill), septets);
    }

    #[test]
    fn gsm7_decode_and_unpack_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                          n in 0usize..100, fill in any::<u8>()) {
        let _ = gsm7::decode_unpacked(&bytes);
        let septets = gsm7::unpack_with_fill(&bytes, n, fill);
        prop_assert!(septets.len() <= n);
    }

    #[test]
    fn gsm7_encode_any_text(text in any_text(40)) {
        // Either it encodes and round-trips, or the error names a character of the text.
        match gsm7::encode_unpacked(&text) {
            Ok(septets) => prop_assert_eq!(gsm7::decode_unpacked(&septets), text),
            Err(Error::Unrepresentable { ch, offset, .. }) => {
                prop_assert_eq!(text[offset..].chars().next(), Some(ch));
                prop_assert!(!gsm7::is_representable(&text));
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn ucs2_round_trip(text in any_text(100)) {
        let octets = ucs2::encode(&text);
        prop_assert_eq!(octets.len(), ucs2::unit_count(&text) * 2);
        prop_assert_eq!(ucs2::decode(&octets), text);
    }

    #[test]
    fn ucs2_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = ucs2::decode(&bytes);
    }

    #[test]
    fn latin1_round_trip(text in "[\u{0}-\u{ff}]{0,60}") {
        prop_assert_eq!(latin1::decode(&latin1::encode(&text).unwrap()), text);
    }

    #[test]
    fn segment_gsm7(text in gsm7_text(700), reference in any::<u16>(), method in method()) {
        check_parts(&text, Encoding::Gsm7, reference, method);
    }

    #[test]
    fn segment_gsm7_escape_heavy(text in "[a€\\[]{140,400}", method in method()) {
        check_parts(&text, Encoding::Gsm7, 0x1234, method);
    }

    #[test]
    fn segment_ucs2(text in any_text(400), reference in any::<u16>(), method in method()) {
        check_parts(&text, Encoding::Ucs2, reference, method);
    }

    #[test]
    fn segment_utf8_and_latin1(text in any_text(300), latin in "[\u{0}-\u{ff}]{0,400}",
                               method in method()) {
        check_parts(&text, Encoding::Utf8, 77, method);
        check_parts(&latin, Encoding::Latin1, 77, method);
    }

    #[test]
    fn choose_can_encode(text in any_text(40)) {
        let chosen = choose(&text, Encoding::Gsm7);
        prop_assert!(chosen.encode(&text).is_ok());
        prop_assert_eq!(chosen == Encoding::Gsm7, gsm7::is_representable(&text));
    }

    #[test]
    fn udh_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok((udh, rest)) = Udh::parse(&bytes) {
            prop_assert_eq!(udh.octet_len() + rest.len(), bytes.len());
            let element_octets: usize = udh.elements().map(|e| 2 + e.data.len()).sum();
            prop_assert_eq!(element_octets + 1, udh.octet_len());
            if let Some(c) = udh.concat() {
                prop_assert!(c.seq >= 1 && c.seq <= c.total);
            }
        }
    }

    #[test]
    fn data_coding_is_total(dc in any::<u8>()) {
        let e = Encoding::from_data_coding(dc, Encoding::Gsm7);
        // Whatever the coding, decoding arbitrary octets never panics.
        let _ = e.decode(&[dc, 0xFF, 0x1B]);
    }
}
