//! Unit tests of segmentation and reassembly: the limits of reference/modem.md §2.8, the
//! vumi.md §6.3 multipart vectors, escape and surrogate pairs at part boundaries, the 255-part
//! cap (vumi #842). Gammu's own splits are checked by `codecs/tests/sms_vectors.rs`.

use super::segment::{Limits, limits, reassemble, segment_binary, split};
use super::*;

#[test]
fn limits_table() {
    let l = |single, part| Limits { single, part };
    assert_eq!(limits(Encoding::Gsm7, Method::Udh8), l(160, 153));
    assert_eq!(limits(Encoding::Gsm7, Method::Udh16), l(160, 152));
    assert_eq!(limits(Encoding::Ucs2, Method::Udh8), l(70, 67));
    assert_eq!(limits(Encoding::Ucs2, Method::Udh16), l(70, 66));
    assert_eq!(limits(Encoding::Latin1, Method::Udh8), l(140, 134));
    assert_eq!(limits(Encoding::Binary, Method::Udh16), l(140, 133));
    assert_eq!(limits(Encoding::Gsm7, Method::Raw), l(160, 153));
}

#[test]
fn vumi_mt_udh_vectors() {
    // vumi.md §6.3: '1'*161 → two parts 05 00 03 ref 02 01/02; '1'*158 → one part, no UDH.
    let parts = segment(&"1".repeat(161), Encoding::Gsm7, 7, Method::Udh8).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0][..6], [5, 0, 3, 7, 2, 1]);
    assert_eq!(parts[1][..6], [5, 0, 3, 7, 2, 2]);
    assert_eq!((parts[0].len(), parts[1].len()), (6 + 153, 6 + 8));
    let one = segment(&"1".repeat(158), Encoding::Gsm7, 7, Method::Udh8).unwrap();
    assert_eq!(one, [b"1".repeat(158)]);
}

#[test]
fn single_limits_are_used_in_full() {
    // python-gsmmodem never used 160/70 for one part (modem.md §3.4); we do.
    for (n, parts) in [(160, 1), (161, 2)] {
        let text = "a".repeat(n);
        assert_eq!(
            split(&text, Encoding::Gsm7, Method::Udh8).unwrap().len(),
            parts
        );
    }
    for (n, parts) in [(70, 1), (71, 2), (134, 2), (135, 3)] {
        let text = "я".repeat(n);
        assert_eq!(
            split(&text, Encoding::Ucs2, Method::Udh8).unwrap().len(),
            parts
        );
    }
    let text = format!("{}]", "a".repeat(152));
    assert_eq!(split(&text, Encoding::Gsm7, Method::Udh8).unwrap(), [&text]);
}

#[test]
fn never_splits_escape_or_surrogate() {
    let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
    let parts = split(&text, Encoding::Gsm7, Method::Udh8).unwrap();
    let (a, b) = ("a".repeat(152), format!("€{}", "b".repeat(10)));
    assert_eq!(parts, [a.as_str(), b.as_str()]);
    let text = format!("{}😃{}", "a".repeat(66), "b".repeat(10));
    let parts = split(&text, Encoding::Ucs2, Method::Udh8).unwrap();
    assert_eq!(parts[0], "a".repeat(66));
    assert!(parts[1].starts_with('😃'));
}

#[test]
fn segment_methods() {
    let text = "x".repeat(300);
    let raw = segment(&text, Encoding::Gsm7, 1, Method::Raw).unwrap();
    assert_eq!(raw.iter().map(Vec::len).collect::<Vec<_>>(), [153, 147]);
    let u16 = segment(&text, Encoding::Gsm7, 0x0102, Method::Udh16).unwrap();
    assert_eq!(u16[1][..7], [6, 8, 4, 1, 2, 2, 2]);
    assert_eq!(u16[0].len(), 7 + 152);
    let ucs2 = segment(&"é".repeat(100), Encoding::Ucs2, 9, Method::Udh8).unwrap();
    assert_eq!(ucs2[0].len(), 6 + 134);
    assert_eq!(
        segment("a`", Encoding::Gsm7, 1, Method::Udh8)
            .unwrap_err()
            .code(),
        "unrepresentable"
    );
    assert_eq!(
        segment("", Encoding::Gsm7, 1, Method::Udh8).unwrap(),
        [Vec::<u8>::new()]
    );
}

#[test]
fn too_many_parts() {
    // 255 parts of 153 septets fit; one more character does not (vumi #842).
    let max = "a".repeat(255 * 153);
    assert_eq!(
        split(&max, Encoding::Gsm7, Method::Udh8).unwrap().len(),
        255
    );
    let over = format!("{max}a");
    assert_eq!(
        segment(&over, Encoding::Gsm7, 1, Method::Udh8),
        Err(Error::TooManyParts)
    );
    assert_eq!(
        segment_binary(&[0; 256 * 134], 1, Method::Udh8),
        Err(Error::TooManyParts)
    );
}

#[test]
fn binary_segments() {
    let data: Vec<u8> = (0..=255).collect();
    let parts = segment_binary(&data, 3, Method::Udh8).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1][..6], [5, 0, 3, 3, 2, 2]);
    assert_eq!(
        segment_binary(&data[..140], 3, Method::Udh8).unwrap().len(),
        1
    );
}

#[test]
fn reassemble_vumi_out_of_order() {
    // vumi.md §6.3: parts 1, 3, 2 give "back at you".
    let payloads: [&[u8]; 3] = [
        b"\x05\x00\x03\xff\x03\x01back",
        b"\x05\x00\x03\xff\x03\x03 you",
        b"\x05\x00\x03\xff\x03\x02 at",
    ];
    let mut parts = Vec::new();
    for p in payloads {
        let (udh, rest) = Udh::parse(p).unwrap();
        let c = udh.concat().unwrap();
        parts.push((c.seq, rest));
    }
    let joined = reassemble(3, parts.iter().copied()).unwrap();
    assert_eq!(Encoding::Gsm7.decode(&joined), "back at you");
    assert_eq!(
        reassemble(3, parts[..2].iter().copied()),
        Err(Error::MissingPart)
    );
    assert_eq!(
        reassemble(2, [(1, &b"a"[..]), (1, b"b")]),
        Err(Error::DuplicatePart)
    );
    assert_eq!(reassemble(2, [(3, &b"a"[..])]), Err(Error::PartOutOfRange));
    assert_eq!(reassemble(2, [(0, &b"a"[..])]), Err(Error::PartOutOfRange));
    assert_eq!(reassemble(0, []), Err(Error::BadConcat));
}
