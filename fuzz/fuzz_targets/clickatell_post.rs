//! Arbitrary bytes as a post Clickatell made (reference/http-providers.md §1.1, §1.3): the
//! first byte picks how the rest is read — `0` a form, `1` XML (the `data` variant's
//! document), `2` Platform JSON — then the callback and MO readers, and the answer readers on
//! the same text. Never a panic; what they read is consistent with what they were given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::providers::{clickatell, form_fields_raw, json_fields, xml_leaves};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let octets = |fields: Vec<(String, String)>| -> Vec<(String, Vec<u8>)> {
        fields.into_iter().map(|(k, v)| (k, v.into_bytes())).collect()
    };
    let (fields, percent) = match mode % 3 {
        0 => (form_fields_raw(rest), false),
        1 => match std::str::from_utf8(rest).ok().map(xml_leaves) {
            Some(Ok(leaves)) => (octets(leaves), false),
            _ => return,
        },
        _ => match json_fields(rest) {
            Ok(fields) => (octets(fields), true),
            Err(_) => return,
        },
    };
    if let Ok(r) = clickatell::receipt(&fields) {
        assert!(r.api_msg_id.is_some() || r.cli_msg_id.is_some());
        assert_eq!(clickatell::status(&r.raw_status), Some(r.status));
    }
    if let Ok(m) = clickatell::mo(&fields, percent) {
        assert!(!m.id.is_empty() && !m.from.is_empty() && !m.to.is_empty());
        if let Some(c) = m.concat {
            assert!(c.seq >= 1 && c.seq <= c.total);
        }
    }
    let text = String::from_utf8_lossy(rest);
    if let clickatell::Answer::Id(id) = clickatell::answer(&text) {
        assert!(!id.contains(char::is_whitespace));
    }
    let _ = clickatell::platform_answer(&text);
});
