//! Arbitrary bytes into the Vumi JSON decoder (reference/vumi.md §1): decoding must never panic,
//! and whatever decodes must survive encode → decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::vumi;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = vumi::decode(data) {
        let encoded = message.encode();
        assert_eq!(
            vumi::decode(&encoded),
            Ok(message),
            "round trip changed the message"
        );
    }
});
