//! Unit tests of the Vumi model: the §6.2 vectors (dates, defaults, reply, group reply, event
//! status, status 'amazing'), timestamp edges, ids and the other message types.
//!
//! Reference: reference/vumi.md §1.2–§1.6 and §6.2. Not here: bad-input classes and wire
//! tolerance (codecs/tests/vumi_errors.rs), golden files (codecs/tests/vumi_golden.rs) and the
//! property tests (codecs/tests/vumi_roundtrip.rs).

use serde_json::{Value, json};

use super::*;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

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
fn dates_of_test_message_py() {
    let t = ts("2015-01-02 23:14:11.456000");
    assert_eq!(t.unix_micros(), 1_420_240_451_456_000);
    assert_eq!(t.to_string(), "2015-01-02 23:14:11.456000");

    let whole = ts("2015-01-02 23:14:11");
    assert_eq!(whole.unix_micros() % 1_000_000, 0);
    assert_eq!(whole.to_string(), "2015-01-02 23:14:11.000000");

    let t = ts("2015-01-02 12:01:02.134001");
    assert_eq!(t.to_string(), "2015-01-02 12:01:02.134001");
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#""2015-01-02 12:01:02.134001""#
    );
}

#[test]
fn timestamp_edges() {
    assert_eq!(
        Timestamp::from_unix_micros(0).to_string(),
        "1970-01-01 00:00:00.000000"
    );
    assert_eq!(
        Timestamp::from_unix_micros(-1).to_string(),
        "1969-12-31 23:59:59.999999"
    );
    assert_eq!(
        ts("0001-01-01 00:00:00").unix_micros(),
        -62_135_596_800_000_000
    );
    assert_eq!(
        ts("9999-12-31 23:59:59.999999").unix_micros(),
        253_402_300_799_999_999
    );
    // Python's %f right-pads a short fraction.
    assert_eq!(
        ts("2015-01-02 23:14:11.5"),
        ts("2015-01-02 23:14:11.500000")
    );
    assert_eq!(
        ts("2015-01-02 23:14:11.00012"),
        ts("2015-01-02 23:14:11.000120")
    );
    assert_eq!(
        ts("2016-02-29 00:00:00").to_string(),
        "2016-02-29 00:00:00.000000"
    );
    assert_eq!(
        ts("2000-02-29 00:00:00").to_string(),
        "2000-02-29 00:00:00.000000"
    );
    // Out of the parseable range still displays, and does not panic.
    assert_eq!(
        Timestamp::from_unix_micros(i64::MIN).unix_micros(),
        i64::MIN
    );
    assert!(!Timestamp::from_unix_micros(i64::MIN).to_string().is_empty());
    assert!(!Timestamp::from_unix_micros(i64::MAX).to_string().is_empty());
    assert!(Timestamp::now() > ts("2020-01-01 00:00:00"));
}

#[test]
fn timestamp_rejects_other_forms() {
    for bad in [
        "2015-01-02T23:14:11.456000",
        "2015-01-02 23:14:11.456000Z",
        "2015-01-02 23:14:11+00:00",
        "2015-01-02 23:14:11.",
        "2015-01-02 23:14:11.4560001",
        "2015-01-02 23:14",
        " 2015-01-02 23:14:11",
        "2015-01-02 23:14:11 ",
        "2015-1-2 23:14:11",
        "2015-13-02 23:14:11",
        "2015-00-02 23:14:11",
        "2015-02-29 23:14:11",
        "1900-02-29 23:14:11",
        "2015-04-31 23:14:11",
        "2015-01-00 23:14:11",
        "2015-01-02 24:00:00",
        "2015-01-02 23:60:00",
        "2015-01-02 23:14:60",
        "0000-01-01 00:00:00",
        "+015-01-02 23:14:11",
        "2015-01-02 23:14:1a",
        "2015-01-02 23:14:11.-45",
        "",
    ] {
        assert_eq!(Timestamp::parse(bad), Err(Error::BadTimestamp), "{bad:?}");
    }
}

#[test]
fn ids_are_32_lowercase_hex() {
    let id = new_id();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_ne!(id, new_id());
}

#[test]
fn defaults_of_a_new_message() {
    let msg = UserMessage::new("sphex", "sms", "12345", "+27831234567", None);
    let value = to_value(&msg.encode());
    assert_eq!(value["message_type"], "user_message");
    assert_eq!(value["message_version"], "20110921");
    assert_eq!(value["message_id"].as_str().unwrap().len(), 32);
    for null in [
        "content",
        "to_addr_type",
        "from_addr_type",
        "in_reply_to",
        "session_event",
    ] {
        assert_eq!(value[null], Value::Null, "{null}");
    }
    assert_eq!(value["to_addr"], "+27831234567");
    assert_eq!(value["from_addr"], "12345");
    assert_eq!(value["transport_metadata"], json!({}));
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = UserMessage::KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "all 18 keys, nothing else");
    assert_eq!(msg.endpoint_name(), "default");
}

fn original() -> UserMessage {
    let mut msg = UserMessage::new("sphex", "sms", "456", "123", Some("hi".into()));
    msg.transport_metadata.insert("foo".into(), json!("bar"));
    msg.helper_metadata
        .insert("otherfoo".into(), json!("otherbar"));
    msg.to_addr_type = Some("msisdn".into());
    msg.from_addr_type = Some("msisdn".into());
    msg.provider = Some("MNO".into());
    msg
}

#[test]
fn reply_follows_vumi_reply() {
    let msg = original();
    let reply = msg.reply(Some("there".into()), true);
    assert_eq!(reply.from_addr.as_deref(), Some("123"));
    assert_eq!(reply.to_addr.as_deref(), Some("456"));
    assert_eq!(reply.group, None);
    assert_eq!(reply.session_event, None);
    assert_eq!(reply.in_reply_to.as_ref(), Some(&msg.message_id));
    assert_ne!(reply.message_id, msg.message_id);
    assert_eq!(reply.content.as_deref(), Some("there"));
    assert_eq!(reply.transport_name, msg.transport_name);
    assert_eq!(reply.transport_type, msg.transport_type);
    assert_eq!(reply.transport_metadata, msg.transport_metadata);
    assert_eq!(reply.helper_metadata, msg.helper_metadata);
    assert_eq!(reply.provider.as_deref(), Some("MNO"));
    assert_eq!((reply.to_addr_type, reply.from_addr_type), (None, None));
    assert_eq!(
        Value::Object(reply.routing_metadata),
        json!({"endpoint_name": "default"})
    );

    let close = msg.reply(None, false);
    assert_eq!(close.session_event, Some(SessionEvent::Close));

    let mut routed = msg;
    routed
        .routing_metadata
        .insert("endpoint_name".into(), json!("ussd"));
    routed.routing_metadata.insert("other".into(), json!(1));
    assert_eq!(routed.endpoint_name(), "ussd");
    let reply = routed.reply(None, true);
    assert_eq!(
        Value::Object(reply.routing_metadata),
        json!({"endpoint_name": "ussd"})
    );
}

#[test]
fn group_reply() {
    let mut msg = original();
    msg.to_addr = None;
    msg.group = Some("#channel".into());
    let reply = msg.reply(None, true);
    assert_eq!(reply.from_addr, None);
    assert_eq!(reply.to_addr.as_deref(), Some("456"));
    assert_eq!(reply.group.as_deref(), Some("#channel"));
    let to_group = msg.reply_group(None, true);
    assert_eq!(to_group.to_addr, None);
    assert_eq!(to_group.group.as_deref(), Some("#channel"));
    // Without a group, reply_group is reply.
    assert_eq!(
        original().reply_group(None, true).to_addr.as_deref(),
        Some("456")
    );
}

#[test]
fn event_status_strings() {
    let ack = Event::ack("sphex", "abc", "ghi");
    assert_eq!(ack.status(), "ack");
    assert_eq!(ack.user_message_id, "abc");
    assert_eq!(Event::nack("sphex", "abc", "unknown").status(), "nack");
    let dr = Event::delivery_report("sphex", "abc", DeliveryStatus::Delivered);
    assert_eq!(dr.status(), "delivery_report.delivered");
    let value = to_value(&dr.encode());
    assert_eq!(value["event_type"], "delivery_report");
    assert_eq!(value["delivery_status"], "delivered");
    assert!(value.get("sent_message_id").is_none() && value.get("nack_reason").is_none());
    assert_eq!(value.as_object().unwrap().len(), Event::KEYS.len() + 1);
}

#[test]
fn status_event_details_default_and_amazing_rejected() {
    let status = json!({"message_version": "20110921", "message_type": "status_event",
        "timestamp": "2015-01-02 23:14:11", "component": "foo", "status": "ok", "type": "bar",
        "message": "baz"});
    let Ok(Message::Status(decoded)) = decode(&body(&status)) else {
        panic!()
    };
    assert!(decoded.details.is_empty() && decoded.reasons.is_empty());
    assert_eq!(decoded.status, Status::Ok);
    let amazing = with(status, "status", json!("amazing"));
    let err = StatusEvent::decode(&body(&amazing)).unwrap_err();
    assert_eq!(err.field(), Some("status"));
    assert_eq!(err.code(), "invalid_field");
}

#[test]
fn failure_message_round_trip_and_codes() {
    let value = json!({"message_version": "20110921", "message_type": "failure_message",
        "timestamp": "2015-01-02 23:14:13.500000", "message": inbound(),
        "failure_code": "temporary", "reason": "ESME_RSUBMITFAIL",
        "helper_metadata": {}, "routing_metadata": {}});
    let Ok(Message::Failure(failure)) = decode(&body(&value)) else {
        panic!()
    };
    assert_eq!(failure.failure_code, Some(FailureCode::Temporary));
    assert_eq!(to_value(&failure.encode()), value);
    let bad = with(value.clone(), "failure_code", json!("forever"));
    assert!(decode(&body(&bad)).unwrap_err().field() == Some("failure_code"));
    assert_eq!(
        decode(&body(&without(value, "message"))),
        Err(Error::MissingField("message"))
    );
}

#[test]
fn message_dispatch_and_type_names() {
    let user = decode(&body(&inbound())).unwrap();
    assert_eq!(user.message_type(), "user_message");
    assert_eq!(decode(&user.encode()).unwrap(), user);
    let event = decode(&body(&ack())).unwrap();
    assert_eq!(event.message_type(), "event");
    assert_eq!(to_value(&event.encode()), ack());
    for (s, e) in [
        ("new", SessionEvent::New),
        ("resume", SessionEvent::Resume),
        ("close", SessionEvent::Close),
    ] {
        assert_eq!(s.parse::<SessionEvent>(), Ok(e));
        assert_eq!(e.to_string(), s);
    }
    assert!(TRANSPORT_TYPES.contains(&"ussd") && ADDRESS_TYPES.contains(&"msisdn"));
}
