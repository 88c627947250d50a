//! Arbitrary bytes as an SMS PDU (SMSC field + TPDU, reference/modem.md §2.6), decoded in both
//! directions and as a bare TPDU: never a panic. Whatever decodes re-encodes, and the
//! re-encoding decodes to the same `Pdu`. The octets may differ (and that is not asserted):
//! fill bits and the spare bits of the last GSM-7 octet are written as zeros, TP-LP and the
//! status report's optional part (TP-PI …) are not kept, a zone of "−0" becomes 0, an
//! alphanumeric address length is rewritten as its useful semi-octets, and octets after the
//! user data are dropped. Seeds: fuzz/seeds/sms_pdu/ (vectors of fixtures/sms/pdus.txt).
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::sms::pdu::{self, Direction};

fuzz_target!(|data: &[u8]| {
    for direction in [Direction::ToMs, Direction::FromMs] {
        if let Ok(decoded) = pdu::decode(data, direction) {
            let encoded = pdu::encode(&decoded).expect("a decoded pdu re-encodes");
            let again = pdu::decode(&encoded.octets, direction).expect("the re-encoding decodes");
            assert_eq!(again, decoded, "re-encoded pdu decodes differently");
        }
        let _ = pdu::decode_tpdu(data, direction);
    }
    let _ = pdu::from_hex(data);
});
