//! Arbitrary bytes as a form Chikka posted (reference/http-providers.md §3.3, §3.4), through
//! the form decoding and the post reader: never a panic, and what it reads is what the form
//! holds (every field it returns is one of the form's values).
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::providers::{chikka, form_fields};

fuzz_target!(|data: &[u8]| {
    let form = form_fields(data);
    let has = |v: &str| form.iter().any(|(_, value)| value == v);
    match chikka::parse(&form) {
        Ok(chikka::Post::Incoming {
            number,
            request_id,
            text,
            shortcode,
        }) => {
            assert!(has(number) && has(request_id) && has(text));
            assert!(!number.is_empty() && !request_id.is_empty());
            assert!(shortcode.is_none_or(has));
        }
        Ok(chikka::Post::Notification {
            message_id,
            raw_status,
            ..
        }) => {
            assert!(has(message_id) && !message_id.is_empty());
            assert!(raw_status == "SENT" || raw_status == "FAILED");
        }
        Err(bad) => assert!(matches!(bad.code(), "mo" | "notification" | "other")),
    }
});
