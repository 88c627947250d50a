//! A validator for what Richmond emits, encoding reference/vumi.md §8 (what vumi2
//! applications accept; a message that fails is nacked without requeue by vumi2, i.e. lost):
//! `transport_type` from the standard list and never null; address types null or standard;
//! `to_addr`, `from_addr`, `transport_name` non-null; timestamps `%Y-%m-%d %H:%M:%S.%f`; no
//! top-level key outside the standard ones (vumi2 drops them silently). Events: the vumi 0.6
//! rules (ack has `sent_message_id`, nack a `nack_reason`, delivery_report a standard status)
//! and `transport_name` kept.

use serde_json::Value;

const TRANSPORT_TYPES: &[&str] = &[
    "http_api", "irc", "telnet", "twitter", "sms", "ussd", "xmpp", "mxit", "wechat",
];
const ADDRESS_TYPES: &[&str] = &[
    "irc_nickname",
    "twitter_handle",
    "msisdn",
    "gtalk_id",
    "jabber_id",
    "mxit_id",
    "wechat_id",
];
const MESSAGE_KEYS: &[&str] = &[
    "message_version",
    "message_type",
    "timestamp",
    "routing_metadata",
    "helper_metadata",
    "message_id",
    "in_reply_to",
    "to_addr",
    "from_addr",
    "group",
    "session_event",
    "content",
    "transport_name",
    "transport_type",
    "transport_metadata",
    "provider",
    "to_addr_type",
    "from_addr_type",
];
const EVENT_KEYS: &[&str] = &[
    "message_version",
    "message_type",
    "timestamp",
    "routing_metadata",
    "helper_metadata",
    "event_id",
    "event_type",
    "user_message_id",
    "sent_message_id",
    "nack_reason",
    "delivery_status",
    "transport_name",
    "transport_metadata",
];

fn object(raw: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("not a JSON object: {other}")),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn timestamp(m: &serde_json::Map<String, Value>) -> Result<(), String> {
    let ts = m
        .get("timestamp")
        .and_then(Value::as_str)
        .ok_or("timestamp: missing")?;
    let b = ts.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let ok = b.len() == 26
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26);
    if ok {
        Ok(())
    } else {
        Err(format!("timestamp {ts:?}: not %Y-%m-%d %H:%M:%S.%f"))
    }
}

fn only_keys(m: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{k}: not a standard top-level key (vumi2 drops it)"
        )),
        None => Ok(()),
    }
}

fn non_null_string(m: &serde_json::Map<String, Value>, key: &str) -> Result<(), String> {
    match m.get(key) {
        Some(Value::String(_)) => Ok(()),
        other => Err(format!("{key}: must be a string, is {other:?}")),
    }
}

/// Checks an inbound user message as vumi2 would.
///
/// # Errors
/// What is wrong.
pub fn check_message(raw: &[u8]) -> Result<(), String> {
    let m = object(raw)?;
    only_keys(&m, MESSAGE_KEYS)?;
    if m.get("message_type").and_then(Value::as_str) != Some("user_message") {
        return Err("message_type: not user_message".into());
    }
    if m.get("message_version").and_then(Value::as_str) != Some("20110921") {
        return Err("message_version: not 20110921".into());
    }
    match m.get("transport_type").and_then(Value::as_str) {
        Some(t) if TRANSPORT_TYPES.contains(&t) => {}
        other => return Err(format!("transport_type {other:?}: not a standard type")),
    }
    for key in ["to_addr", "from_addr", "transport_name", "message_id"] {
        non_null_string(&m, key)?;
    }
    for key in ["to_addr_type", "from_addr_type"] {
        match m.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if ADDRESS_TYPES.contains(&s.as_str()) => {}
            Some(other) => return Err(format!("{key} {other}: not a standard address type")),
        }
    }
    match m.get("session_event") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if ["new", "resume", "close"].contains(&s.as_str()) => {}
        Some(other) => return Err(format!("session_event {other}: not new/resume/close")),
    }
    timestamp(&m)
}

/// Checks an event as vumi2 (and vumi 0.6) would.
///
/// # Errors
/// What is wrong.
pub fn check_event(raw: &[u8]) -> Result<(), String> {
    let m = object(raw)?;
    only_keys(&m, EVENT_KEYS)?;
    if m.get("message_type").and_then(Value::as_str) != Some("event") {
        return Err("message_type: not event".into());
    }
    for key in ["event_id", "user_message_id", "transport_name"] {
        non_null_string(&m, key)?;
    }
    match m.get("event_type").and_then(Value::as_str) {
        Some("ack") => non_null_string(&m, "sent_message_id")?,
        Some("nack") => non_null_string(&m, "nack_reason")?,
        Some("delivery_report") => match m.get("delivery_status").and_then(Value::as_str) {
            Some("pending" | "failed" | "delivered") => {}
            other => return Err(format!("delivery_status {other:?}")),
        },
        other => return Err(format!("event_type {other:?}")),
    }
    timestamp(&m)
}
