//! The legacy `sendmsg` form (reference/http-providers.md §1.1, §1.2).

use super::*;

fn clickatell(from: Option<&str>) -> Clickatell {
    Clickatell {
        id: "ct".into(),
        api: ClickatellApi::Http,
        base: "http://127.0.0.1:1".into(),
        api_id: "3186".into(),
        user: "richmond".into(),
        password: "pw".into(),
        api_key: String::new(),
        session: None,
        from: from.map(str::to_owned),
        max_parts: 3,
        two_way: true,
        reassembly: Reassembly::new("ct", "open".into(), Duration::from_secs(1)),
    }
}

fn form(c: &Clickatell, msg: &UserMessage, session: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(&c.sendmsg_form(msg, "abc123", session))
        .into_owned()
        .collect()
}

fn get<'f>(form: &'f [(String, String)], k: &str) -> Option<&'f str> {
    form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str())
}

#[test]
fn a_plain_text_goes_with_the_credentials_and_richmonds_callback_settings() {
    let msg = UserMessage::new("ct", "sms", "+27120000", "+27831234567", Some("Hi".into()));
    let f = form(&clickatell(None), &msg, None);
    for (k, v) in [
        ("api_id", "3186"),
        ("user", "richmond"),
        ("password", "pw"),
        ("to", "27831234567"),
        ("text", "Hi"),
        ("climsgid", "abc123"),
        ("callback", "3"),
        ("deliv_ack", "1"),
        ("mo", "1"),
    ] {
        assert_eq!(get(&f, k), Some(v), "{k}");
    }
    for absent in ["unicode", "concat", "from", "session_id"] {
        assert_eq!(get(&f, absent), None, "{absent}");
    }
}

#[test]
fn unicode_goes_as_ucs2_hex_and_long_texts_name_their_parts() {
    let mut msg = UserMessage::new("ct", "sms", "+27120000", "+2783", Some("Hi 😀".into()));
    let f = form(&clickatell(Some("message")), &msg, Some("sess"));
    assert_eq!(get(&f, "text"), Some("004800690020D83DDE00"));
    assert_eq!(get(&f, "unicode"), Some("1"));
    assert_eq!(get(&f, "session_id"), Some("sess"));
    assert_eq!(get(&f, "from"), Some("27120000"));
    assert_eq!(get(&f, "password"), None);
    msg.content = Some("x".repeat(400));
    let f = form(&clickatell(Some("Richmond")), &msg, None);
    assert_eq!(get(&f, "concat"), Some("3"));
    assert_eq!(get(&f, "from"), Some("Richmond"));
}
