//! Wire-level tests of the Vumi decoder through the public API: each class of bad input gives
//! the typed error naming its field, older (vumi 0.6) and newer (vumi2) senders are tolerated,
//! unknown top-level keys survive, and `\uXXXX` escapes and raw UTF-8 decode alike.
//!
//! Reference: reference/vumi.md §1.2, §1.4, §1.6, §7 and §8.

use richmond_codecs::vumi::*;
use serde_json::{Value, json};

fn to_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// A valid vumi 0.6 inbound SMS (reference/vumi.md §1.7) to mutate.
fn inbound() -> Value {
    json!({"message_version": "20110921", "message_type": "user_message",
        "timestamp": "2015-01-02 23:14:11.456000", "message_id": "5c2f0d7e9b1a4f3c8e6d2a1b0c9f8e7d",
        "to_addr": "456", "from_addr": "123", "to_addr_type": null, "from_addr_type": null,
        "content": "foo", "in_reply_to": null, "session_event": null, "group": null, "provider": null,
        "transport_name": "smpp_transport", "transport_type": "sms", "transport_metadata": {},
        "helper_metadata": {}, "routing_metadata": {}})
}

fn ack() -> Value {
    json!({"message_version": "20110921", "message_type": "event",
        "timestamp": "2015-01-02 23:14:13.000001", "event_id": "1f2e3d4c5b6a49788796a5b4c3d2e1f0",
        "event_type": "ack", "user_message_id": "0b9e8d7c6f5a4e3d2c1b0a9f8e7d6c5b",
        "sent_message_id": "foo", "transport_name": "smpp_transport", "transport_metadata": {},
        "helper_metadata": {}, "routing_metadata": {}})
}

fn with(mut value: Value, key: &str, field: Value) -> Value {
    value[key] = field;
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

#[test]
fn bad_inputs_give_typed_errors() {
    let missing = |field| Err(Error::MissingField(field));
    fn invalid(field: &'static str) -> impl Fn(&Error) -> bool {
        move |e| e.code() == "invalid_field" && e.field() == Some(field)
    }
    assert_eq!(decode(b"{\"message_version\":"), Err(Error::NotJson));
    assert_eq!(decode(b"\xff\xfe"), Err(Error::NotJson));
    assert_eq!(decode(b""), Err(Error::NotJson));
    assert_eq!(decode(b"[1, 2]"), Err(Error::NotAnObject));
    assert_eq!(decode(b"\"x\""), Err(Error::NotAnObject));
    let wrong = with(inbound(), "message_version", json!("20110922"));
    assert_eq!(decode(&body(&wrong)), Err(Error::WrongVersion));
    let wrong = with(inbound(), "message_version", json!(20110921));
    assert_eq!(decode(&body(&wrong)), Err(Error::WrongVersion));
    assert_eq!(
        decode(&body(&without(inbound(), "message_version"))),
        missing("message_version")
    );
    assert_eq!(
        decode(&body(&without(inbound(), "message_type"))),
        missing("message_type")
    );
    let unknown = with(inbound(), "message_type", json!("smoke_signal"));
    assert_eq!(decode(&body(&unknown)), Err(Error::UnknownMessageType));
    assert_eq!(
        decode(&body(&without(inbound(), "message_id"))),
        missing("message_id")
    );
    assert_eq!(
        decode(&body(&without(inbound(), "timestamp"))),
        missing("timestamp")
    );
    for key in [
        "to_addr",
        "from_addr",
        "in_reply_to",
        "session_event",
        "content",
    ] {
        assert_eq!(decode(&body(&without(inbound(), key))), missing(key));
    }
    for key in ["transport_name", "transport_type", "transport_metadata"] {
        assert_eq!(decode(&body(&without(inbound(), key))), missing(key));
    }
    let t = with(inbound(), "timestamp", json!("2015-01-02T23:14:11.456000"));
    assert_eq!(decode(&body(&t)), Err(Error::BadTimestamp));
    let t = with(inbound(), "timestamp", json!(1420240451));
    assert!(invalid("timestamp")(&decode(&body(&t)).unwrap_err()));
    let session = with(inbound(), "session_event", json!("open"));
    assert!(invalid("session_event")(
        &decode(&body(&session)).unwrap_err()
    ));
    let content = with(inbound(), "content", json!(42));
    assert!(invalid("content")(&decode(&body(&content)).unwrap_err()));
    let metadata = with(inbound(), "helper_metadata", json!([]));
    assert!(invalid("helper_metadata")(
        &decode(&body(&metadata)).unwrap_err()
    ));
    let id = with(inbound(), "message_id", Value::Null);
    assert!(invalid("message_id")(&decode(&body(&id)).unwrap_err()));

    let dr = with(
        with(ack(), "event_type", json!("delivery_report")),
        "delivery_status",
        json!("lost"),
    );
    assert!(invalid("delivery_status")(&decode(&body(&dr)).unwrap_err()));
    let kind = with(ack(), "event_type", json!("read"));
    assert!(invalid("event_type")(&decode(&body(&kind)).unwrap_err()));
    let null_sent = with(ack(), "sent_message_id", Value::Null);
    assert!(invalid("sent_message_id")(
        &Event::decode(&body(&null_sent)).unwrap_err()
    ));
    assert_eq!(
        decode(&body(&without(ack(), "sent_message_id"))),
        missing("sent_message_id")
    );
    let nack = with(
        with(ack(), "event_type", json!("nack")),
        "nack_reason",
        Value::Null,
    );
    assert!(invalid("nack_reason")(&decode(&body(&nack)).unwrap_err()));
    for key in ["event_id", "user_message_id", "event_type"] {
        assert_eq!(decode(&body(&without(ack(), key))), missing(key));
    }
    // A typed decoder refuses a body of another type.
    assert!(invalid("message_type")(
        &Event::decode(&body(&inbound())).unwrap_err()
    ));
    assert!(invalid("message_type")(
        &UserMessage::decode(&body(&ack())).unwrap_err()
    ));
}

#[test]
fn error_codes_and_messages() {
    let all = [
        (Error::NotJson, "not_json", None),
        (Error::NotAnObject, "not_an_object", None),
        (
            Error::WrongVersion,
            "wrong_version",
            Some("message_version"),
        ),
        (
            Error::MissingField("content"),
            "missing_field",
            Some("content"),
        ),
        (
            Error::InvalidField {
                field: "status",
                reason: "x",
            },
            "invalid_field",
            Some("status"),
        ),
        (
            Error::UnknownMessageType,
            "unknown_message_type",
            Some("message_type"),
        ),
        (Error::BadTimestamp, "bad_timestamp", Some("timestamp")),
    ];
    for (err, code, field) in all {
        assert_eq!((err.code(), err.field()), (code, field));
        let text = err.to_string();
        assert_eq!(text, text.to_lowercase(), "{text}");
        if let Some(field) = field {
            assert!(text.contains(field), "{text}");
        }
    }
}

#[test]
fn tolerant_of_older_and_newer_senders() {
    // vumi 0.6 subset: group, provider, addr types and routing/helper metadata absent.
    let mut old = inbound();
    for key in [
        "group",
        "provider",
        "to_addr_type",
        "from_addr_type",
        "routing_metadata",
    ] {
        old = without(old, key);
    }
    let old = without(old, "helper_metadata");
    let msg = UserMessage::decode(&body(&old)).unwrap();
    assert_eq!((msg.group, msg.provider), (None, None));
    assert!(msg.routing_metadata.is_empty() && msg.helper_metadata.is_empty());
    // Null metadata reads as {}.
    let nulls = with(
        with(inbound(), "transport_metadata", Value::Null),
        "routing_metadata",
        Value::Null,
    );
    let msg = UserMessage::decode(&body(&nulls)).unwrap();
    assert!(msg.transport_metadata.is_empty() && msg.routing_metadata.is_empty());
    assert_eq!(to_value(&msg.encode())["transport_metadata"], json!({}));
    // vumi2 events have no transport_name.
    let event = Event::decode(&body(&without(ack(), "transport_name"))).unwrap();
    assert_eq!(event.transport_name, None);
    assert_eq!(to_value(&event.encode())["transport_name"], Value::Null);
    // vumi2 "resume" from an application.
    let resume = with(inbound(), "session_event", json!("resume"));
    assert_eq!(
        UserMessage::decode(&body(&resume)).unwrap().session_event,
        Some(SessionEvent::Resume)
    );
}

#[test]
fn unknown_top_level_keys_survive() {
    let value = with(
        with(inbound(), "my_app_key", json!({"a": 1})),
        "__cache__",
        json!({"c": [1, "x"]}),
    );
    let msg = UserMessage::decode(&body(&value)).unwrap();
    assert_eq!(msg.extra.len(), 2);
    assert_eq!(to_value(&msg.encode()), value);

    // A field of another event type on an ack is just an extra key.
    let value = with(ack(), "nack_reason", json!("stray"));
    let event = Event::decode(&body(&value)).unwrap();
    assert_eq!(event.extra.get("nack_reason"), Some(&json!("stray")));
    assert_eq!(to_value(&event.encode()), value);

    // An extra key naming a model field never duplicates it.
    let mut msg = UserMessage::decode(&body(&inbound())).unwrap();
    msg.extra.insert("content".into(), json!("shadow"));
    msg.extra.insert("message_type".into(), json!("event"));
    assert_eq!(to_value(&msg.encode()), inbound());
}

#[test]
fn unicode_escaped_or_raw_and_dates_in_content() {
    let escaped = br#"{"message_version": "20110921", "message_type": "user_message", "timestamp": "2015-01-02 23:14:11", "message_id": "a", "to_addr": "+\u2000", "from_addr": null, "in_reply_to": null, "session_event": null, "content": "caf\u00e9 \ud83d\ude00", "transport_name": null, "transport_type": null, "transport_metadata": {}}"#;
    let raw = std::str::from_utf8(escaped)
        .unwrap()
        .replace(r"\u2000", "\u{2000}")
        .replace(r"\u00e9", "é")
        .replace(r"\ud83d\ude00", "😀");
    assert!(!raw.is_ascii() && !raw.contains(r"\u"));
    let a = UserMessage::decode(escaped).unwrap();
    let b = UserMessage::decode(raw.as_bytes()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.content.as_deref(), Some("café 😀"));
    assert_eq!(UserMessage::decode(&a.encode()).unwrap(), a);

    // Only `timestamp` is a date; a date-like content stays the exact string.
    let dated = with(inbound(), "content", json!("2015-01-02 23:14:11"));
    let msg = UserMessage::decode(&body(&dated)).unwrap();
    assert_eq!(to_value(&msg.encode())["content"], "2015-01-02 23:14:11");
}
