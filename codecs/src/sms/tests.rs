//! Unit tests of the SMS alphabets, data_coding and UDH with the vectors of reference/modem.md
//! §2.6–§2.7 and §3 and reference/vumi.md §6.3. Segmentation tests are in `segment_tests.rs`,
//! property tests in `proptests.rs`; the Gammu-made packing vectors of `fixtures/sms/gsm7.txt`
//! are checked by `codecs/tests/sms_vectors.rs`.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

// --- GSM-7 ------------------------------------------------------------------------------

#[test]
fn gsm7_septets_python_gsmmodem() {
    // modem.md §3.4, python-gsmmodem test_pdu.py (GSM-7 septets).
    assert_eq!(
        gsm7::encode_unpacked("Hello World!").unwrap(),
        hex("48 65 6C 6C 6F 20 57 6F 72 6C 64 21")
    );
    assert_eq!(
        gsm7::encode_unpacked("[{abc}]~").unwrap(),
        hex("1B 3C 1B 28 61 62 63 1B 29 1B 3E 1B 3D")
    );
    assert_eq!(
        gsm7::encode_unpacked("{åΦΓΛΩΠΨΣΘ€}").unwrap(),
        hex("1B 28 0F 12 13 14 15 16 17 18 19 1B 65 1B 29")
    );
}

#[test]
fn gsm7_basic_table_differences() {
    // modem.md §2.7: every code whose character differs from ASCII, both ways.
    let table = [
        (0x00, '@'),
        (0x01, '£'),
        (0x02, '$'),
        (0x03, '¥'),
        (0x09, 'Ç'),
        (0x0B, 'Ø'),
        (0x10, 'Δ'),
        (0x11, '_'),
        (0x1F, 'É'),
        (0x24, '¤'),
        (0x40, '¡'),
        (0x5B, 'Ä'),
        (0x5F, '§'),
        (0x60, '¿'),
        (0x7B, 'ä'),
        (0x7F, 'à'),
    ];
    for (code, ch) in table {
        let s = ch.to_string();
        assert_eq!(gsm7::encode_unpacked(&s).unwrap(), [code], "{ch}");
        assert_eq!(gsm7::decode_unpacked(&[code]), s, "{code:#04x}");
    }
}

#[test]
fn gsm7_extension_table() {
    for (code, ch) in [
        (0x0A, '\u{C}'),
        (0x14, '^'),
        (0x28, '{'),
        (0x29, '}'),
        (0x2F, '\\'),
        (0x3C, '['),
        (0x3D, '~'),
        (0x3E, ']'),
        (0x40, '|'),
        (0x65, '€'),
    ] {
        let s = ch.to_string();
        assert_eq!(gsm7::encode_unpacked(&s).unwrap(), [0x1B, code], "{ch}");
        assert_eq!(gsm7::decode_unpacked(&[0x1B, code]), s);
        assert_eq!(gsm7::septet_count(&s), Some(2));
    }
}

#[test]
fn gsm7_unrepresentable_names_first_char() {
    // ` has no GSM-7 code; ç is not mapped to Ç (modem.md §2.7).
    for (text, ch, offset) in [("ab`c", '`', 2), ("Zoë ç", 'ë', 2), ("çà", 'ç', 0)] {
        let err = gsm7::encode_unpacked(text).unwrap_err();
        assert_eq!(
            err,
            Error::Unrepresentable {
                encoding: Encoding::Gsm7,
                ch,
                offset
            }
        );
        assert_eq!(err.code(), "unrepresentable");
        assert_eq!(gsm7::septet_count(text), None);
    }
    assert_eq!(gsm7::septet_count("a€[]"), Some(7));
}

#[test]
fn gsm7_decode_bad_input() {
    // 0x80+ is not a septet; lone trailing escape; escape + code without extension entry
    // decodes as the basic character (23.038 §6.2.1.1); 1B 1B is a space.
    assert_eq!(
        gsm7::decode_unpacked(&[0x41, 0x80, 0xFF]),
        "A\u{FFFD}\u{FFFD}"
    );
    assert_eq!(gsm7::decode_unpacked(&[0x41, 0x1B]), "A\u{FFFD}");
    assert_eq!(gsm7::decode_unpacked(&[0x1B, 0x41]), "A");
    assert_eq!(gsm7::decode_unpacked(&[0x1B, 0x1B, 0x41]), " A");
    assert_eq!(gsm7::decode_unpacked(&[0x1B, 0x90]), "\u{FFFD}");
}

#[test]
fn gsm7_packing_vectors() {
    // modem.md §2.6 and §3.4.
    let cases = [
        ("hellohello", "E8 32 9B FD 46 97 D9 EC 37"),
        ("123", "31 D9 0C"),
        ("12345678", "31 D9 8C 56 B3 DD 70"),
        ("123456789", "31 D9 8C 56 B3 DD 70 39"),
        ("Hello World!", "C8 32 9B FD 06 5D DF 72 36 39 04"),
        ("[{abc}]~", "1B DE 06 15 16 8F 37 A9 8D 6F D3 03"),
        ("a[]{}€", "E1 0D 6F E3 DB A0 36 A9 4D 19"),
        ("@", "00"),
    ];
    for (text, packed) in cases {
        let septets = gsm7::encode_unpacked(text).unwrap();
        assert_eq!(gsm7::pack(&septets), hex(packed), "{text}");
        assert_eq!(gsm7::unpack(&hex(packed), septets.len()), septets, "{text}");
        assert_eq!(
            gsm7::decode_unpacked(&gsm7::unpack(&hex(packed), septets.len())),
            text
        );
    }
}

#[test]
fn gsm7_fill_bits_modem_md() {
    assert_eq!(
        [6, 7, 4, 12].map(gsm7::fill_bits),
        [1, 0, 3, 2],
        "modem.md §2.6"
    );
    assert_eq!(gsm7::fill_bits(0), 0);
}

#[test]
fn gsm7_unpack_gm_d6_after_udh() {
    // GM-D6: UDL 89 septets, UDH 05 00 03 C3 01 01 (6 octets → 1 fill bit, 7 header septets).
    let ud = hex(
        "050003C30101916536FB1DCABEEB2074D85E064941B19CAB060319A5C522289C96D3D3ED32286C0FA7D96131\
         BBEC024941B19CAB0603DDD36C36A88C87A7E565D0DB0D82C55EB0DB4B068BCD5C20",
    );
    let (udh, rest) = Udh::parse(&ud).unwrap();
    assert_eq!(udh.concat(), Some(Concat::new(0xC3, 1, 1).unwrap()));
    let fill = gsm7::fill_bits(udh.octet_len());
    let septets = gsm7::unpack_with_fill(rest, 89 - 7, fill);
    assert_eq!(
        gsm7::decode_unpacked(&septets),
        "Hello!You have R 19.50 FREE airtime available. R 19.50 will expire on 01/07/2013. "
    );
    // The sender set its fill bit (0x91, not 0x90): unpacking ignores it, packing writes 0.
    let mut zero_fill = rest.to_vec();
    zero_fill[0] &= 0xFE;
    assert_eq!(gsm7::pack_with_fill(&septets, fill), zero_fill);
}

#[test]
fn gsm7_unpack_sp_mp16_3_after_16bit_udh() {
    // SP-MP16-3: UDL 55, UDH 06 08 04 00 05 03 03 (7 octets → 0 fill bits, 8 septets).
    let ud = hex(
        "06080400050303202ABA0C8AD7D3E335482C7FDFDD20F31B0F52D7DBF03219F4B697E5203ABA0C6287F5\
         7910F97D768100",
    );
    let (udh, rest) = Udh::parse(&ud).unwrap();
    assert_eq!(udh.concat(), Some(Concat::new(5, 3, 3).unwrap()));
    assert_eq!(gsm7::fill_bits(udh.octet_len()), 0);
    let septets = gsm7::unpack(rest, 55 - 8);
    assert_eq!(
        gsm7::decode_unpacked(&septets),
        " The quick brown fox jumped over the lazy dog. "
    );
}

#[test]
fn gsm7_unpack_short_input() {
    // Fewer octets than the count claims: as many septets as there are, no panic.
    assert_eq!(gsm7::unpack(&hex("E8 32"), 10), hex("68 65"));
    assert_eq!(gsm7::unpack(&[], 5), Vec::<u8>::new());
    assert_eq!(gsm7::unpack_with_fill(&[0xFF], 3, 6), Vec::<u8>::new());
}

// --- UCS2, Latin-1, ASCII ---------------------------------------------------------------

#[test]
fn ucs2_vectors() {
    assert_eq!(ucs2::encode("あ叶葉"), hex("30 42 53 F6 84 49"));
    assert_eq!(ucs2::encode("はい"), hex("30 6F 30 44"));
    // EMOJI-UTF16 (modem.md §3.2): surrogate pairs, no BOM.
    let emoji = hex("D83DDE03D83DDE0E0020");
    assert_eq!(ucs2::decode(&emoji), "😃😎 ");
    assert_eq!(ucs2::encode("😃😎 "), emoji);
    assert_eq!(ucs2::unit_count("😃😎 "), 5);
}

#[test]
fn ucs2_lossy() {
    assert_eq!(ucs2::decode(&hex("D83D 0041")), "\u{FFFD}A");
    assert_eq!(ucs2::decode(&hex("0041 DE03")), "A\u{FFFD}");
    assert_eq!(ucs2::decode(&hex("0041 00")), "A\u{FFFD}");
    assert_eq!(ucs2::decode(&[]), "");
}

#[test]
fn latin1_and_ascii() {
    assert_eq!(latin1::encode("Zoë").unwrap(), b"Zo\xeb");
    assert_eq!(latin1::decode(b"Zo\xeb"), "Zoë");
    assert_eq!(
        latin1::encode("a€").unwrap_err(),
        Error::Unrepresentable {
            encoding: Encoding::Latin1,
            ch: '€',
            offset: 1
        }
    );
    assert_eq!(latin1::encode_ascii("Funny!").unwrap(), b"Funny!");
    assert_eq!(
        latin1::encode_ascii("Zoë").unwrap_err().code(),
        "unrepresentable"
    );
    // vumi.md §3.2 test_mo_bad_encoding: 0xa7 with data_coding 1.
    assert_eq!(latin1::decode_ascii(b"a\xa7"), "a\u{FFFD}");
}

// --- Encoding and data_coding -----------------------------------------------------------

#[test]
fn data_coding_map() {
    let d = Encoding::Latin1;
    let cases = [
        (0x00, Encoding::Latin1),
        (0x01, Encoding::Ascii),
        (0x02, Encoding::Binary),
        (0x03, Encoding::Latin1),
        (0x04, Encoding::Binary),
        (0x05, Encoding::Binary),
        (0x06, Encoding::Binary),
        (0x08, Encoding::Ucs2),
        (0x09, Encoding::Binary),
        (0x10, Encoding::Gsm7),
        (0x11, Encoding::Gsm7),
        (0x14, Encoding::Binary),
        (0x18, Encoding::Ucs2),
        (0x1C, Encoding::Binary),
        (0x30, Encoding::Binary), // compressed
        (0x48, Encoding::Ucs2),   // automatic deletion group
        (0x80, Encoding::Binary),
        (0xC8, Encoding::Gsm7), // DCS-C8-VIVO: MWI, text is GSM-7
        (0xD0, Encoding::Gsm7),
        (0xE0, Encoding::Ucs2),
        (0xF0, Encoding::Gsm7),
        (0xF1, Encoding::Gsm7),
        (0xF5, Encoding::Binary), // SP-VCARD
        (0xF6, Encoding::Binary),
    ];
    for (dc, expected) in cases {
        assert_eq!(Encoding::from_data_coding(dc, d), expected, "{dc:#04x}");
    }
    assert_eq!(
        Encoding::from_data_coding(0, Encoding::Gsm7),
        Encoding::Gsm7
    );
    for e in [
        Encoding::Gsm7,
        Encoding::Ascii,
        Encoding::Latin1,
        Encoding::Ucs2,
        Encoding::Binary,
    ] {
        assert_eq!(Encoding::from_data_coding(e.data_coding(), e), e);
    }
    assert_eq!(Encoding::Utf8.data_coding(), 0);
}

#[test]
fn encoding_encode_decode() {
    assert_eq!(Encoding::Utf8.encode("Zoë").unwrap(), b"Zo\xc3\xab");
    assert_eq!(Encoding::Utf8.decode(b"Zo\xc3\xab"), "Zoë"); // vumi.md §6.3
    assert_eq!(Encoding::Binary.encode("x"), Err(Error::BinaryText));
    assert_eq!(Encoding::Gsm7.decode(&[0x00, 0x1B, 0x65]), "@€");
    assert_eq!(Encoding::Ucs2.to_string(), "ucs2");
}

#[test]
fn choose_policy() {
    assert_eq!(choose("Hello {world} €", Encoding::Gsm7), Encoding::Gsm7);
    assert_eq!(choose("Hello `world`", Encoding::Gsm7), Encoding::Ucs2);
    assert_eq!(choose("Да", Encoding::Latin1), Encoding::Ucs2);
    assert_eq!(choose("abc", Encoding::Ucs2), Encoding::Ucs2);
    assert_eq!(choose("abc", Encoding::Binary), Encoding::Gsm7);
    assert_eq!(choose("😃", Encoding::Utf8), Encoding::Utf8);
}

// --- UDH --------------------------------------------------------------------------------

#[test]
fn udh_vumi_parts() {
    // vumi.md §6.3: "\x05\x00\x03\xff\x03\x01back" …
    let (udh, rest) = Udh::parse(b"\x05\x00\x03\xff\x03\x01back").unwrap();
    assert_eq!(
        udh.concat(),
        Some(Concat {
            reference: 0xFF,
            total: 3,
            seq: 1
        })
    );
    assert_eq!((udh.octet_len(), rest), (6, &b"back"[..]));
}

#[test]
fn udh_build_python_gsmmodem() {
    // modem.md §3.4: concat ref 23 part 1 of 3 → 00 03 17 03 01; 16-bit ref 384 part 2 of 4.
    assert_eq!(
        Concat::new(23, 3, 1).unwrap().udh8(),
        [0x05, 0x00, 0x03, 0x17, 0x03, 0x01]
    );
    assert_eq!(
        Concat::new(384, 4, 2).unwrap().udh16(),
        [0x06, 0x08, 0x04, 0x01, 0x80, 0x04, 0x02]
    );
    let c = Concat::new(0x1234, 9, 9).unwrap();
    let (udh16, udh8) = (c.udh16(), c.udh8());
    assert_eq!(Udh::parse(&udh16).unwrap().0.concat(), Some(c));
    let low = Concat {
        reference: 0x34,
        ..c
    };
    assert_eq!(Udh::parse(&udh8).unwrap().0.concat(), Some(low));
    assert_eq!(Concat::new(1, 0, 0), Err(Error::BadConcat));
    assert_eq!(Concat::new(1, 2, 3), Err(Error::BadConcat));
}

#[test]
fn udh_skips_unknown_elements() {
    // SP-VCARD: 16-bit ports (IEI 05) before the concat element.
    let ud = hex("0B 05 04 23F4 23F4 00 03 01 02 01 42 45");
    let (udh, rest) = Udh::parse(&ud).unwrap();
    let ids: Vec<u8> = udh.elements().map(|e| e.id).collect();
    assert_eq!(ids, [0x05, 0x00]);
    assert_eq!(udh.concat(), Some(Concat::new(1, 2, 1).unwrap()));
    assert_eq!(rest, b"BE");
}

#[test]
fn udh_malformed() {
    assert_eq!(Udh::parse(&[]), Err(Error::UdhMissing));
    assert_eq!(Udh::parse(&hex("05 00 03 01")), Err(Error::UdhOverrun));
    assert_eq!(Udh::parse(&hex("03 00 05 01")), Err(Error::IeOverrun));
    assert_eq!(Udh::parse(&hex("01 00")), Err(Error::IeOverrun));
    // Well-formed lengths, bad concat numbers: no concat, the part stands alone.
    let bad = hex("05 00 03 01 02 03");
    let (udh, _) = Udh::parse(&bad).unwrap();
    assert_eq!(udh.concat(), None);
    let empty = hex("00 41");
    let (udh, rest) = Udh::parse(&empty).unwrap();
    assert_eq!((udh.elements().count(), rest), (0, &b"A"[..]));
    assert_eq!(Error::IeOverrun.code(), "ie_overrun");
}
