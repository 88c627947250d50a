//! Property tests of the Vumi codec (reference/vumi.md §1.2, §1.4, §1.6): arbitrary messages
//! survive encode → decode unchanged, timestamps format and parse back over years 0001–9999, and
//! no input makes a decoder panic.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use richmond_codecs::vumi::{
    self, DeliveryStatus, Event, EventKind, Metadata, SessionEvent, Timestamp, UserMessage,
};
use serde_json::Value;

/// 0001-01-01 00:00:00 and 10000-01-01 00:00:00 in Unix microseconds.
const YEAR_1: i64 = -62_135_596_800_000_000;
const YEAR_10000: i64 = 253_402_300_800_000_000;

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (YEAR_1..YEAR_10000).prop_map(Timestamp::from_unix_micros)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9+*#]{0,12}", "\\PC{0,20}"]
}

/// JSON values whose numbers survive a text round trip exactly (integers and binary fractions).
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 8.0)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn metadata() -> impl Strategy<Value = Metadata> {
    btree_map(text(), json(), 0..4).prop_map(|m| m.into_iter().collect())
}

/// Top-level keys unknown to every message type.
fn extra() -> impl Strategy<Value = Metadata> {
    let key = prop_oneof![
        text(),
        Just("__cache__".to_owned()),
        Just("my_app_key".to_owned())
    ]
    .prop_filter("a known key", |k| {
        !UserMessage::KEYS.contains(&k.as_str())
            && !Event::KEYS.contains(&k.as_str())
            && !["sent_message_id", "nack_reason", "delivery_status"].contains(&k.as_str())
    });
    btree_map(key, json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn session_event() -> impl Strategy<Value = Option<SessionEvent>> {
    option::of(prop_oneof![
        Just(SessionEvent::New),
        Just(SessionEvent::Resume),
        Just(SessionEvent::Close),
    ])
}

prop_compose! {
    fn user_message()(
        (message_id, timestamp, to_addr, from_addr, to_addr_type, from_addr_type) in
            (text(), timestamp(), option::of(text()), option::of(text()),
             option::of(text()), option::of(text())),
        (in_reply_to, session_event, content, transport_name, transport_type) in
            (option::of(text()), session_event(), option::of(text()),
             option::of(text()), option::of(text())),
        (transport_metadata, helper_metadata, routing_metadata, group, provider, extra) in
            (metadata(), metadata(), metadata(), option::of(text()), option::of(text()), extra()),
    ) -> UserMessage {
        UserMessage {
            message_id, timestamp, to_addr, from_addr, to_addr_type, from_addr_type, in_reply_to,
            session_event, content, transport_name, transport_type, transport_metadata,
            helper_metadata, routing_metadata, group, provider, extra,
        }
    }
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        text().prop_map(|sent_message_id| EventKind::Ack { sent_message_id }),
        text().prop_map(|nack_reason| EventKind::Nack { nack_reason }),
        prop_oneof![
            Just(DeliveryStatus::Pending),
            Just(DeliveryStatus::Failed),
            Just(DeliveryStatus::Delivered),
        ]
        .prop_map(|delivery_status| EventKind::DeliveryReport { delivery_status }),
    ]
}

prop_compose! {
    fn event()(
        (event_id, timestamp, user_message_id, kind, transport_name) in
            (text(), timestamp(), text(), event_kind(), option::of(text())),
        (transport_metadata, helper_metadata, routing_metadata, extra) in
            (metadata(), metadata(), metadata(), extra()),
    ) -> Event {
        Event {
            event_id, timestamp, user_message_id, kind, transport_name, transport_metadata,
            helper_metadata, routing_metadata, extra,
        }
    }
}

proptest! {
    #[test]
    fn user_message_round_trips(message in user_message()) {
        let encoded = message.encode();
        prop_assert_eq!(UserMessage::decode(&encoded), Ok(message.clone()));
        prop_assert_eq!(vumi::decode(&encoded), Ok(vumi::Message::User(message)));
    }

    #[test]
    fn event_round_trips(event in event()) {
        let encoded = event.encode();
        prop_assert_eq!(Event::decode(&encoded), Ok(event.clone()));
        prop_assert_eq!(vumi::decode(&encoded), Ok(vumi::Message::Event(event)));
    }

    #[test]
    fn timestamp_format_parse_is_identity(t in timestamp()) {
        let text = t.to_string();
        prop_assert_eq!(text.len(), 26);
        prop_assert_eq!(Timestamp::parse(&text), Ok(t));
        prop_assert_eq!(serde_json::to_value(t).ok(), Some(Value::String(text)));
    }

    #[test]
    fn timestamp_since_1970_is_identity(micros in 0..YEAR_10000) {
        let t = Timestamp::from_unix_micros(micros);
        prop_assert_eq!(Timestamp::parse(&t.to_string()).map(Timestamp::unix_micros), Ok(micros));
    }

    #[test]
    fn timestamp_parse_never_panics(s in "\\PC{0,30}|[0-9: .T-]{15,28}") {
        if let Ok(t) = Timestamp::parse(&s) {
            // Whatever parses formats to the canonical form of the same instant.
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        }
    }

    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(message) = vumi::decode(&bytes) {
            prop_assert_eq!(vumi::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn decode_never_panics_on_json_objects(value in btree_map(
        prop_oneof![Just("message_version".to_owned()), Just("message_type".to_owned()),
                    Just("timestamp".to_owned()), Just("event_type".to_owned()), text()],
        json(), 0..8,
    )) {
        let mut value: Metadata = value.into_iter().collect();
        value.insert("message_version".into(), "20110921".into());
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(message) = vumi::decode(&bytes) {
            prop_assert_eq!(vumi::decode(&message.encode()), Ok(message));
        }
    }
}
