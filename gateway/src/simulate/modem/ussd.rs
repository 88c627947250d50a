//! The simulated network's USSD service: a built-in menu behind `*120#`, and how the modem
//! writes the network's answers (plain text, Huawei-style packed GSM-7 hex, UCS2 hex).
//!
//! Reference: TS 27.007 §7.15 (+CUSD: `<m>` 0 no further action, 1 further action required,
//! 2 terminated by network, 4 not supported), TS 23.038 §5 (CBS DCS 15 = GSM-7, 72 = UCS2),
//! §6.1.2.3 (CR padding of packed USSD); reference/modem.md §2.5.
//!
//! Not handled here: network-initiated USSD, `+CSCS` conversions, language-prefixed DCS.

use richmond_codecs::sms::{gsm7, ucs2};

/// The service code that opens the menu.
pub(super) const MENU_CODE: &str = "*120#";
const MENU: &str = "Main menu\n1. Balance\n2. Exit";
const INVALID: &str = "Invalid choice\n1. Balance\n2. Exit";
const BALANCE: &str = "Balance: 42.00";

/// How answers (and requests) are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Encoding {
    /// The text itself in quotes, DCS 15.
    #[default]
    Text,
    /// Hex of packed GSM-7, DCS 15 (Huawei).
    Packed,
    /// Hex of UCS2, DCS 72.
    Ucs2,
}

impl Encoding {
    pub(super) fn parse(word: &str) -> Option<Self> {
        match word {
            "text" => Some(Self::Text),
            "packed" => Some(Self::Packed),
            "ucs2" => Some(Self::Ucs2),
            _ => None,
        }
    }

    /// The string and DCS of an answer.
    pub(super) fn encode(self, text: &str) -> (String, u8) {
        match self {
            Self::Text => (text.to_owned(), 15),
            Self::Packed => {
                let mut septets = gsm7::encode_unpacked(text).unwrap_or_default();
                // 23.038 §6.1.2.3.1: seven spare bits at the end carry CR, not '@'.
                if septets.len() % 8 == 7 {
                    septets.push(0x0D);
                }
                (to_hex(&gsm7::pack(&septets)), 15)
            }
            Self::Ucs2 => (to_hex(&ucs2::encode(text)), 72),
        }
    }

    /// The text of a request string: hex is decoded when the encoding expects it (packed
    /// GSM-7 hex of even length, UCS2 hex in groups of four), anything else taken as it is.
    pub(super) fn decode_request(self, s: &str) -> String {
        let hex = from_hex(s);
        match (self, hex) {
            (Self::Packed, Some(octets)) if !octets.is_empty() => {
                let mut septets = gsm7::unpack(&octets, octets.len() * 8 / 7);
                if septets.len().is_multiple_of(8) && matches!(septets.last(), Some(0x0D | 0x00)) {
                    septets.pop();
                }
                gsm7::decode_unpacked(&septets)
            }
            (Self::Ucs2, Some(octets)) if !octets.is_empty() && octets.len().is_multiple_of(2) => {
                ucs2::decode(&octets)
            }
            _ => s.to_owned(),
        }
    }
}

/// The network's answer to one request: `<m>` and the text, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Answer {
    pub(super) m: u8,
    pub(super) text: Option<String>,
}

/// The menu session.
#[derive(Debug, Default)]
pub(super) struct Session {
    open: bool,
}

impl Session {
    /// The answer to `request` (already decoded), moving the session on.
    pub(super) fn answer(&mut self, request: &str) -> Answer {
        let request = request.trim();
        let (m, text, open) = if request == MENU_CODE {
            (1, Some(MENU), true)
        } else if !self.open {
            (4, None, false)
        } else {
            match request {
                "1" => (0, Some(BALANCE), false),
                "2" => (2, None, false),
                _ => (1, Some(INVALID), true),
            }
        };
        self.open = open;
        Answer {
            m,
            text: text.map(str::to_owned),
        }
    }

    /// `AT+CUSD=2`, or a reset.
    pub(super) fn end(&mut self) {
        self.open = false;
    }
}

fn to_hex(octets: &[u8]) -> String {
    octets.iter().map(|b| format!("{b:02X}")).collect()
}

/// Even-length all-hex → octets.
pub(super) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu() {
        let mut s = Session::default();
        assert_eq!(s.answer("*100#").m, 4);
        assert_eq!(s.answer("1").m, 4);
        assert_eq!(s.answer("*120#").text.as_deref(), Some(MENU));
        assert_eq!(s.answer("9").text.as_deref(), Some(INVALID));
        let a = s.answer("1");
        assert_eq!((a.m, a.text.as_deref()), (0, Some(BALANCE)));
        s.answer("*120#");
        assert_eq!(s.answer("2"), Answer { m: 2, text: None });
        assert_eq!(s.answer("2").m, 4);
    }

    #[test]
    fn huawei_packing() {
        // reference/modem.md §2.5: *100# → AA180C3602.
        assert_eq!(
            Encoding::Packed.encode("*100#"),
            ("AA180C3602".to_owned(), 15)
        );
        assert_eq!(Encoding::Packed.decode_request("AA180C3602"), "*100#");
        assert_eq!(Encoding::Packed.decode_request("*120#"), "*120#");
        assert_eq!(Encoding::Packed.decode_request("1"), "1");
        let (hex, dcs) = Encoding::Packed.encode("1234567");
        assert_eq!(dcs, 15);
        assert_eq!(Encoding::Packed.decode_request(&hex), "1234567");
    }

    #[test]
    fn ucs2() {
        let (hex, dcs) = Encoding::Ucs2.encode("Zoë");
        assert_eq!((hex.as_str(), dcs), ("005A006F00EB", 72));
        assert_eq!(Encoding::Ucs2.decode_request(&hex), "Zoë");
        assert_eq!(Encoding::Text.decode_request("005A"), "005A");
    }
}
