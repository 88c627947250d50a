//! Arbitrary bytes as a post Opera made, or its answer to SendSMS
//! (reference/http-providers.md §2): the document (raw XML or `XmlMsg=`), then the MO and
//! receipts readers, and the XML-RPC answer reader on the same bytes. Never a panic; what
//! they read is consistent with what they were given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::providers::opera;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = opera::document(data) {
        if let Ok(mo) = opera::mo(&xml) {
            assert!(!mo.message_id.is_empty() && !mo.from.is_empty());
            assert!(!mo.to.starts_with('*'));
        }
        if let Ok(receipts) = opera::receipts(&xml) {
            assert!(!receipts.is_empty());
            for r in receipts {
                assert!(!r.reference.is_empty());
                assert_eq!(opera::status(&r.raw_status), r.status);
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    if let opera::Answer::Identifier(id) = opera::answer(&text) {
        assert!(!id.is_empty() && id.trim() == id);
    }
});
