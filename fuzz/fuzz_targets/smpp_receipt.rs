//! Arbitrary bytes as the short_message of an SMPP delivery receipt (SMPP 3.4 Appendix B,
//! reference/vumi.md §3.5): parsing must never panic, through the text path, the UCS2 path
//! (data_coding 8) and the Latin-1 fallback; a parsed receipt has a non-empty id and stat that
//! occur in the decoded text, and the id helpers accept whatever id comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::smpp::receipt::{self, DeliveryState};

fuzz_target!(|data: &[u8]| {
    for data_coding in [0u8, 3, 8] {
        if let Ok(r) = receipt::decode(data, data_coding) {
            assert!(
                !r.id.is_empty() && !r.stat.is_empty(),
                "empty required field"
            );
            let _ = r.state();
            let variants = receipt::id_variants(&r.id);
            assert_eq!(variants[0], receipt::canonical_id(&r.id));
            for date in [&r.submit_date, &r.done_date].into_iter().flatten() {
                let _ = receipt::parse_date(date);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = receipt::parse(text)
    {
        assert!(text.contains(&*r.id) && text.contains(&*r.stat));
        if let Some(t) = &r.text {
            assert!(text.ends_with(&**t), "text is not the tail");
        }
    }
    if let Some(&state) = data.first() {
        let _ = DeliveryState::from_message_state(state);
    }
});
