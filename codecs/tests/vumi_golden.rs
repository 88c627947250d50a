//! Golden files: every example of reference/vumi.md §1.7 plus a vumi2 reply and a vumi 0.6
//! subset (fixtures/vumi/README.md names the source of each). Each file is decoded, encoded and
//! compared with the original as JSON values: same keys, same values, except for the listed
//! normalisations.

use std::path::PathBuf;

use richmond_codecs::vumi::{self, DeliveryStatus, EventKind, Message, SessionEvent};
use serde_json::{Map, Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/vumi")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn object(bytes: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => map,
        other => panic!("not a JSON object: {other:?}"),
    }
}

/// Decodes, re-encodes, and checks that encode(decode(file)) == file after applying `expected`
/// (the normalisations allowed for this file) to the original.
fn round_trip(name: &str, expected: impl FnOnce(&mut Map<String, Value>)) -> Message {
    let bytes = fixture(name);
    let message = vumi::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let encoded = message.encode();
    let mut original = object(&bytes);
    expected(&mut original);
    let reencoded = object(&encoded);
    let original_keys: Vec<_> = original.keys().collect();
    let encoded_keys: Vec<_> = reencoded.keys().collect();
    assert_eq!(encoded_keys, original_keys, "{name}: keys");
    assert_eq!(reencoded, original, "{name}: values");
    // And the encoded form decodes to the same model.
    assert_eq!(vumi::decode(&encoded).unwrap(), message, "{name}: model");
    message
}

fn unchanged(_: &mut Map<String, Value>) {}

#[test]
fn inbound_sms() {
    let Message::User(m) = round_trip("inbound_sms.json", unchanged) else {
        panic!()
    };
    assert_eq!(
        (m.from_addr.as_deref(), m.to_addr.as_deref()),
        (Some("123"), Some("456"))
    );
    assert_eq!(m.content.as_deref(), Some("foo"));
    assert_eq!(m.timestamp.to_string(), "2015-01-02 23:14:11.456000");
    assert!(m.extra.is_empty());
}

#[test]
fn inbound_ussd_new() {
    let Message::User(m) = round_trip("inbound_ussd_new.json", unchanged) else {
        panic!()
    };
    assert_eq!(m.session_event, Some(SessionEvent::New));
    assert_eq!(m.content, None);
    assert_eq!(m.helper_metadata["truteq"], json!({"genfields": {}}));
}

#[test]
fn outbound_reply() {
    let Message::User(m) = round_trip("outbound_reply.json", unchanged) else {
        panic!()
    };
    assert_eq!(m.content.as_deref(), Some("Welcome\n1. Balance\n2. Exit"));
    assert_eq!(m.endpoint_name(), "default");
    assert_eq!(
        m.in_reply_to.as_deref(),
        Some("a3e1c9d27f6b4b0e9d8c7b6a5f4e3d2c")
    );
}

#[test]
fn vumi2_outbound_reply() {
    let Message::User(m) = round_trip("vumi2_outbound_reply.json", unchanged) else {
        panic!()
    };
    assert_eq!(object(&fixture("vumi2_outbound_reply.json")).len(), 18);
    assert_eq!(m.session_event, Some(SessionEvent::Resume));
    assert!(m.routing_metadata.is_empty() && m.helper_metadata.is_empty());
    assert_eq!(m.endpoint_name(), "default");
}

#[test]
fn vumi06_subset_gains_exactly_the_defaults() {
    let Message::User(m) = round_trip("vumi06_subset.json", |original| {
        assert_eq!(original["timestamp"], "2015-01-02 23:14:11");
        original.insert("timestamp".into(), json!("2015-01-02 23:14:11.000000"));
        for (key, default) in [
            ("group", Value::Null),
            ("provider", Value::Null),
            ("to_addr_type", Value::Null),
            ("from_addr_type", Value::Null),
            ("routing_metadata", json!({})),
        ] {
            assert!(
                original.insert(key.into(), default).is_none(),
                "{key} was in the file"
            );
        }
    }) else {
        panic!()
    };
    assert_eq!(m.content.as_deref(), Some("hello"));
}

#[test]
fn ack() {
    let Message::Event(e) = round_trip("ack.json", unchanged) else {
        panic!()
    };
    assert_eq!(
        e.kind,
        EventKind::Ack {
            sent_message_id: "foo".into()
        }
    );
    assert_eq!(e.status(), "ack");
}

#[test]
fn nack() {
    let Message::Event(e) = round_trip("nack.json", unchanged) else {
        panic!()
    };
    assert_eq!(
        e.kind,
        EventKind::Nack {
            nack_reason: "ESME_RINVDSTADR".into()
        }
    );
}

#[test]
fn delivery_report() {
    let Message::Event(e) = round_trip("delivery_report.json", unchanged) else {
        panic!()
    };
    assert_eq!(
        e.kind,
        EventKind::DeliveryReport {
            delivery_status: DeliveryStatus::Delivered
        }
    );
    assert_eq!(e.status(), "delivery_report.delivered");
    assert_eq!(e.transport_metadata["smpp_delivery_status"], "DELIVRD");
}

#[test]
fn failure() {
    let Message::Failure(f) = round_trip("failure.json", unchanged) else {
        panic!()
    };
    assert_eq!(f.failure_code, None);
    assert_eq!(f.reason.as_deref(), Some("ESME_RSUBMITFAIL"));
    // The failed payload is kept verbatim: its timestamp stays a string, and it decodes.
    let payload = serde_json::to_vec(&f.message).unwrap();
    assert!(matches!(vumi::decode(&payload), Ok(Message::User(_))));
}

#[test]
fn status() {
    let Message::Status(s) = round_trip("status.json", unchanged) else {
        panic!()
    };
    assert_eq!(s.status, vumi::Status::Ok);
    assert_eq!(
        (s.component.as_deref(), s.r#type.as_deref()),
        (Some("smpp"), Some("bound"))
    );
}

#[test]
fn every_fixture_is_covered() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vumi");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ack.json",
            "delivery_report.json",
            "failure.json",
            "inbound_sms.json",
            "inbound_ussd_new.json",
            "nack.json",
            "outbound_reply.json",
            "status.json",
            "vumi06_subset.json",
            "vumi2_outbound_reply.json",
        ]
    );
}
