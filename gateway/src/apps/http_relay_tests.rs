//! The relay's pure part: which URL, what is posted (Vumi JSON or form fields), what an
//! answer means (reply, USSD session end, no reply), authorization, and configuration checks.

use richmond_codecs::vumi::{Event as VumiEvent, SessionEvent, UserMessage};

use super::{Format, HttpRelayConfig, event_body, message_body, reply};

fn config(extra: &str) -> HttpRelayConfig {
    toml::from_str(&format!(
        "url = \"http://127.0.0.1:9000/all\"\nallowed_networks = [\"127.0.0.1/32\"]\n{extra}"
    ))
    .unwrap()
}

fn mo(text: &str) -> UserMessage {
    UserMessage::new("sms1", "sms", "+27831112222", "4455", Some(text.into()))
}

#[test]
fn the_keyword_picks_its_url_else_the_default() {
    let c = config("[keyword_urls]\njoin = \"http://127.0.0.1:9000/join\"\n");
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.url_for(&mo("JOIN now")), "http://127.0.0.1:9000/join");
    assert_eq!(c.url_for(&mo("joinme")), "http://127.0.0.1:9000/all");
    assert_eq!(c.url_for(&mo("")), "http://127.0.0.1:9000/all");
}

#[test]
fn form_fields_carry_what_kannel_and_jasmin_send() {
    let mut m = mo("hello & welcome");
    m.session_event = Some(SessionEvent::New);
    let (body, ct) = message_body(Format::Form, &m, b"ignored");
    assert_eq!(ct, "application/x-www-form-urlencoded");
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("from"), Some("+27831112222"));
    assert_eq!(get("to"), Some("4455"));
    assert_eq!(get("content"), Some("hello & welcome"));
    assert_eq!(get("message_id"), Some(m.message_id.as_str()));
    assert_eq!(get("transport"), Some("sms1"));
    assert_eq!(get("transport_type"), Some("sms"));
    assert_eq!(get("session_event"), Some("new"));
    // Vumi format: the message as it came.
    let raw = m.encode();
    assert_eq!(
        message_body(Format::Vumi, &m, &raw),
        (raw, "application/json")
    );

    let e = VumiEvent::nack("sms1", &m.message_id, "ESME_RSYSERR");
    let (body, _) = event_body(Format::Form, &e, b"");
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    assert!(fields.contains(&("event_type".into(), "nack".into())));
    assert!(fields.contains(&("message_id".into(), m.message_id.clone())));
    assert!(fields.contains(&("reason".into(), "ESME_RSYSERR".into())));
}

#[test]
fn the_answer_body_is_the_reply_and_a_header_ends_a_ussd_session() {
    let sms = mo("hi");
    assert_eq!(
        reply(&sms, b"Thanks!\r\n", None, None),
        Some(("Thanks!".into(), false))
    );
    assert_eq!(reply(&sms, b"", None, None), None);
    assert_eq!(reply(&sms, b"\n", None, None), None);
    assert_eq!(reply(&sms, b"text", Some("false"), None), None);
    let mut ussd = UserMessage::new("u", "ussd", "+27831112222", "*120#", Some("1".into()));
    ussd.session_event = Some(SessionEvent::Resume);
    assert_eq!(
        reply(&ussd, b"Menu", None, None),
        Some(("Menu".into(), true))
    );
    assert_eq!(
        reply(&ussd, b"Bye", None, Some("end")),
        Some(("Bye".into(), false))
    );
    assert_eq!(
        reply(&ussd, b"Bye", None, Some(" Close ")),
        Some(("Bye".into(), false))
    );
    // A session the user closed is never answered.
    ussd.session_event = Some(SessionEvent::Close);
    assert_eq!(reply(&ussd, b"Too late", None, None), None);
}

#[test]
fn basic_or_token_authorization() {
    let c = config("username = \"app\"\npassword = \"s3cret\"\n");
    assert_eq!(c.validate(), Ok(()));
    // base64("app:s3cret")
    assert_eq!(c.authorization().as_deref(), Some("Basic YXBwOnMzY3JldA=="));
    let c = config("token = \"t0k\"\n");
    assert_eq!(c.authorization().as_deref(), Some("Bearer t0k"));
    assert!(
        !format!("{c:?}").contains("t0k"),
        "a secret in Debug output"
    );
    assert_eq!(config("").authorization(), None);
}

#[test]
fn configuration_mistakes_are_named() {
    let cases = [
        (
            "",
            "url = \"http://127.0.0.1:9000/x\"\n",
            "url: the address is not allowed",
        ),
        (
            "allowed_networks = [\"127.0.0.1/32\"]\n",
            "url = \"http://169.254.169.254/latest\"\n",
            "url: the address is not allowed",
        ),
        (
            "allowed_networks = [\"127.0.0.1/32\"]\n",
            "url = \"ftp://127.0.0.1/x\"\n",
            "url: not an absolute",
        ),
        (
            "allowed_networks = [\"127.0.0.1/32\"]\n",
            "url = \"http://u:p@127.0.0.1/x\"\n",
            "url: user information",
        ),
        (
            "allowed_networks = [\"nonsense\"]\n",
            "url = \"http://a.example/\"\n",
            "allowed_networks",
        ),
    ];
    for (extra, url, want) in cases {
        let c: HttpRelayConfig = toml::from_str(&format!("{url}{extra}")).unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.contains(want), "{url} {extra}: {err}");
    }
    for (extra, want) in [
        (
            "[keyword_urls]\n\"Join\" = \"http://127.0.0.1/j\"\n",
            "one lower-case word",
        ),
        (
            "event_url = \"http://10.0.0.1/e\"\n",
            "event_url: the address",
        ),
        ("attempts = 0\n", "attempts"),
        ("timeout_seconds = 0\n", "timeout_seconds"),
        ("username = \"u\"\n", "both or neither"),
        (
            "token = \"t\"\nusername = \"u\"\npassword = \"p\"\n",
            "token",
        ),
        ("max_requests_per_url = 0\n", "max_requests_per_url"),
        ("attempts = 20\ntimeout_seconds = 60\n", "could wait"),
        ("token = \"t\\n\"\n", "visible ASCII"),
    ] {
        let err = config(extra).validate().unwrap_err();
        assert!(err.contains(want), "{extra}: {err}");
    }
}
