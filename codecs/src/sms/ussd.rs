//! USSD strings as `+CUSD` carries them: decoding a reply under its Cell Broadcast data coding
//! scheme, and the packed-hex request form Huawei modems want.
//!
//! Reference: 3GPP TS 23.038 §5 (CBS data coding scheme) and §6.1.2.3.1 (CR padding of packed
//! GSM-7 with no septet count), TS 27.007 §7.15 (`+CUSD`); reference/modem.md §2.5.
//!
//! [`decode`] never fails; it picks a reading in this order:
//!
//! * UCS2 DCS (0x48 and other 01xx/1001 groups with alphabet 10; 0x11 with a two-septet
//!   language prefix, which is skipped): the string is hex of UTF-16BE, cut at the first
//!   U+0000 (modem.md §2.5 item 5: binary junk after the text). Not hex → taken literally.
//! * 8-bit DCS (alphabet 01, 0xF4–0xF7): hex octets, read as UTF-8 lossily. Not hex → literal.
//! * GSM-7 DCS (0x0F, 0x00–0x0E and 0x20–0x2F languages, 0x10 with a "xx\r" language prefix,
//!   reserved values, no DCS): when the string is even-length hex (and not all decimal digits)
//!   it is tried as packed GSM-7 (the Huawei quirk, item 1; a final CR is dropped, it is the
//!   padding of §6.1.2.3.1 or the end of the line) and then as UTF-16BE (a modem in
//!   `+CSCS="UCS2"` labels UCS2 hex as 15, item 4; this reading also needs one ASCII
//!   character, a space or a digit). A reading is kept when it is plausible:
//!   no control characters but CR/LF, no U+FFFD, and for GSM-7 at least 90 % ASCII-printable
//!   or Latin-1 characters (Greek capitals and `@` from stray zero septets count against it).
//!   Otherwise the string is taken literally.
//!
//! Not handled: the `+CSCS` character set of literal strings (the caller's conversion, e.g.
//! the `{` for `ä` of item 2), national language tables, and compressed CBS data.

use super::{Error, gsm7, ucs2};
use crate::sms::pdu::from_hex;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Gsm7,
    /// GSM-7 whose first three characters are a language and CR (DCS 0x10).
    Gsm7Language,
    Ucs2,
    /// UCS2 after two packed GSM-7 language characters (DCS 0x11).
    Ucs2Language,
    Octets,
}

const fn alphabet(dcs: u8) -> Alphabet {
    match dcs {
        0x10 => Alphabet::Gsm7Language,
        0x11 => Alphabet::Ucs2Language,
        0x40..=0x7F | 0x90..=0x9F => match (dcs >> 2) & 0x03 {
            _ if dcs & 0x20 != 0 && dcs < 0x80 => Alphabet::Octets,
            1 => Alphabet::Octets,
            2 => Alphabet::Ucs2,
            _ => Alphabet::Gsm7,
        },
        0xF0..=0xFF if dcs & 0x04 != 0 => Alphabet::Octets,
        _ => Alphabet::Gsm7,
    }
}

fn is_clean(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| {
            c == '\r' || c == '\n' || !(c.is_control() || c == gsm7::REPLACEMENT || c == '\0')
        })
}

fn plausible_gsm7(text: &str) -> bool {
    if !is_clean(text) {
        return false;
    }
    let total = text.chars().count();
    let good = text
        .chars()
        .filter(|&c| {
            (c.is_ascii_graphic() && c != '@')
                || c == ' '
                || c == '\r'
                || c == '\n'
                || ('\u{A0}'..='\u{FF}').contains(&c)
                || c == '€'
        })
        .count();
    good * 10 >= total * 9
}

/// UCS2 under a GSM-7 label: clean, no private use characters, and at least one ASCII
/// character (a space or a digit: random packed septets read as UTF-16 almost never hold one).
fn plausible_ucs2(text: &str) -> bool {
    is_clean(text)
        && text.chars().any(|c| c.is_ascii())
        && !text.chars().any(|c| ('\u{E000}'..='\u{F8FF}').contains(&c))
}

fn unpack_hex(octets: &[u8]) -> String {
    let mut septets = gsm7::unpack(octets, octets.len() * 8 / 7);
    if septets.last() == Some(&0x0D) {
        septets.pop();
    }
    gsm7::decode_unpacked(&septets)
}

fn ucs2_until_nul(octets: &[u8]) -> String {
    let mut text = ucs2::decode(octets);
    if let Some(nul) = text.find('\0') {
        text.truncate(nul);
    }
    text
}

fn gsm7_reading(s: &str) -> String {
    let hexlike = !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit());
    if let (true, Ok(octets)) = (hexlike, from_hex(s.as_bytes())) {
        let packed = unpack_hex(&octets);
        if plausible_gsm7(&packed) {
            return packed;
        }
        if octets.len() % 2 == 0 {
            let wide = ucs2::decode(&octets);
            if plausible_ucs2(&wide) {
                return wide;
            }
        }
    }
    s.to_owned()
}

/// Decodes a `+CUSD` string given its CBS DCS (see the module notes). Never panics.
///
/// ```
/// use richmond_codecs::sms::ussd;
/// assert_eq!(ussd::decode("AA180C3602", Some(15)), "*100#");
/// assert_eq!(ussd::decode("Balance: 5.00", Some(15)), "Balance: 5.00");
/// assert_eq!(ussd::decode("0048006900210020", Some(72)), "Hi! ");
/// ```
pub fn decode(s: &str, dcs: Option<u8>) -> String {
    let s = s.trim_matches(|c: char| c == '"' || c.is_ascii_whitespace());
    let hex = || from_hex(s.as_bytes()).ok();
    match dcs.map_or(Alphabet::Gsm7, alphabet) {
        Alphabet::Gsm7 => gsm7_reading(s),
        Alphabet::Gsm7Language => {
            let text = gsm7_reading(s);
            match text.char_indices().nth(2) {
                Some((i, '\r')) => text[i + 1..].to_owned(),
                _ => text,
            }
        }
        Alphabet::Ucs2 => hex().map_or_else(|| s.to_owned(), |o| ucs2_until_nul(&o)),
        Alphabet::Ucs2Language => hex().map_or_else(
            || s.to_owned(),
            |o| ucs2_until_nul(o.get(2..).unwrap_or_default()),
        ),
        Alphabet::Octets => hex().map_or_else(
            || s.to_owned(),
            |o| String::from_utf8_lossy(&o).into_owned(),
        ),
    }
}

/// Hex of packed GSM-7, the request form of Huawei modems: `"*100#"` → `AA180C3602`. When the
/// last octet would have 7 spare bits (septets ≡ 7 mod 8) a CR fills them, and a text that
/// ends in CR on an octet boundary gets a second CR (23.038 §6.1.2.3.1).
///
/// # Errors
/// [`Error::Unrepresentable`] for a character GSM-7 cannot carry.
pub fn encode_packed_hex(text: &str) -> Result<String, Error> {
    let mut septets = gsm7::encode_unpacked(text)?;
    let n = septets.len();
    if n % 8 == 7 || (n % 8 == 0 && septets.last() == Some(&0x0D)) {
        septets.push(0x0D);
    }
    Ok(crate::sms::pdu::to_hex(&gsm7::pack(&septets)))
}

#[cfg(test)]
mod tests {
    use super::{decode, encode_packed_hex};
    use crate::sms::pdu::to_hex;
    use crate::sms::ucs2;

    #[test]
    fn huawei_requests() {
        // modem.md §2.5 item 1 (computed there with python-gsmmodem's packer).
        assert_eq!(encode_packed_hex("*100#").unwrap(), "AA180C3602");
        assert_eq!(encode_packed_hex("*101#").unwrap(), "AA182C3602");
        // 7 septets: a CR fills the 7 spare bits, and the reader drops it.
        let seven = encode_packed_hex("*123*4#").unwrap();
        assert_eq!(seven.len(), 14);
        assert_eq!(decode(&seven, Some(15)), "*123*4#");
        assert!(encode_packed_hex("😃").is_err());
    }

    #[test]
    fn gsm7_replies() {
        // modem.md §2.5 item 1, capture 02-E160 (57 septets ending in CR).
        let reply = "49B41C74ACD3D16171D90D32FBE52072BA0C72CA5DB45CAC76C3CD6CB41B2D060389CB74F9FE4C07D55C371CA85897BF1B";
        assert_eq!(
            decode(reply, Some(15)),
            "Ihr Guthaben für die Nr.4915783647410 beträgt 5.78 Euro"
        );
        assert_eq!(decode(reply, None), decode(reply, Some(15)));
        // Item 2: plain text stays as it is (the `{` is the modem's conversion, not ours).
        let plain = "Kontostand: 3.00 EUR Bitte w{hlen Sie:";
        assert_eq!(decode(plain, Some(15)), plain);
        // Digits only, and short hex that does not read as text: literal.
        assert_eq!(decode("1234", Some(15)), "1234");
        assert_eq!(decode("\"12\"", Some(15)), "12");
        // DCS 0x10: language and CR first.
        assert_eq!(decode("en\rHello", Some(0x10)), "Hello");
    }

    #[test]
    fn ucs2_replies() {
        // Item 3 (text from the capture; hex made here): DCS 72.
        let ru = "Для справки о балансе наберите *105#. Услуга бесплатна.";
        assert_eq!(decode(&to_hex(&ucs2::encode(ru)), Some(72)), ru);
        // Item 4: UCS2 hex labelled 15.
        let hu = "Havi keret: 0Ft. Feltöltött egyenleg: 7777Ft,";
        assert_eq!(decode(&to_hex(&ucs2::encode(hu)), Some(15)), hu);
        // Item 5: DCS 17, packed "ar", Arabic, then junk after a NUL.
        let ar = "6139063106350645062F0000FFFF60B1";
        assert_eq!(decode(ar, Some(17)), "رصمد");
        // 8-bit.
        assert_eq!(decode("48692E", Some(0x44)), "Hi.");
        // Not hex under a UCS2 DCS: literal.
        assert_eq!(decode("Hello", Some(72)), "Hello");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,64}", hex in "[0-9A-F]{0,80}", dcs in proptest::option::of(0u8..=255)) {
            let _ = decode(&s, dcs);
            let _ = decode(&hex, dcs);
        }

        #[test]
        fn packed_round_trip(text in "[A-Za-z0-9*#@ .,]{1,40}") {
            let hex = encode_packed_hex(&text).unwrap();
            let back = decode(&hex, Some(15));
            // A text the heuristics find plausible comes back as it was. One that is not
            // (more than 10 % '@', i.e. zero septets) may come back literally or as another
            // reading: the heuristics guess, and only plausible texts are promised.
            // Hex made only of decimal digits is always taken literally (a balance, a code).
            if super::plausible_gsm7(&text) && !hex.bytes().all(|b| b.is_ascii_digit()) {
                proptest::prop_assert_eq!(back, text);
            }
        }
    }
}
