//! Shared decode/encode plumbing for all Vumi message types (crate-private).
//!
//! Reference: reference/vumi.md §1.1 (envelope: `message_version`, `message_type`, `timestamp`,
//! `helper_metadata`, `routing_metadata`) and §1.6 (serialisation).
//!
//! Decoding parses the body in one pass with a hand-written serde visitor: each top-level key
//! that any message type knows goes into a fixed slot (matched without allocating), every other
//! key into `extra`. The per-type decoders then *take* their slots; slots left untaken (say a
//! `nack_reason` on an ack) return to `extra` under their own name, so nothing is lost. Values are
//! `serde_json::Value`s, moved, never copied. Encoding writes a compact JSON object through serde
//! with every known key, then the `extra` keys that do not collide with a known key.
//!
//! Does not handle the per-type field rules: see message.rs, event.rs, other.rs.

use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::Value;

use super::{Error, MESSAGE_VERSION, Metadata, Timestamp};

/// Every top-level key some message type knows; a decoded body has one slot per entry.
const KNOWN: [&str; 32] = [
    "message_version",
    "message_type",
    "timestamp",
    "helper_metadata",
    "routing_metadata",
    // user_message
    "message_id",
    "to_addr",
    "from_addr",
    "to_addr_type",
    "from_addr_type",
    "in_reply_to",
    "session_event",
    "content",
    "transport_name",
    "transport_type",
    "transport_metadata",
    "group",
    "provider",
    // event
    "event_id",
    "event_type",
    "user_message_id",
    "sent_message_id",
    "nack_reason",
    "delivery_status",
    // status_event (and `message`, shared with failure_message)
    "component",
    "status",
    "type",
    "message",
    "reasons",
    "details",
    // failure_message
    "failure_code",
    "reason",
];

/// The slot of a known key.
fn slot_of(key: &str) -> Option<usize> {
    KNOWN.iter().position(|known| *known == key)
}

/// The keys of a decoded body that have not been taken yet.
pub(crate) struct Fields {
    slots: [Option<Value>; KNOWN.len()],
    extra: Metadata,
}

/// Parses the JSON object and checks `message_version`; returns the rest and the `message_type`.
pub(crate) fn open(bytes: &[u8]) -> Result<(Fields, String), Error> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => Error::NotAnObject,
            Err(_) => Error::NotJson,
        });
    }
    let mut fields: Fields = serde_json::from_slice(bytes).map_err(|_| Error::NotJson)?;
    match fields.take("message_version") {
        None => return Err(Error::MissingField("message_version")),
        Some(Value::String(version)) if version == MESSAGE_VERSION => {}
        Some(_) => return Err(Error::WrongVersion),
    }
    let message_type = fields.string("message_type")?;
    Ok((fields, message_type))
}

/// Like [`open`], for a decoder of one message type.
pub(crate) fn open_as(bytes: &[u8], message_type: &'static str) -> Result<Fields, Error> {
    let (fields, found) = open(bytes)?;
    if found == message_type {
        Ok(fields)
    } else {
        Err(Error::invalid(
            "message_type",
            "not the expected message type",
        ))
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields {
            slots: [const { None }; KNOWN.len()],
            extra: Metadata::new(),
        };
        // A repeated key keeps its last value, as serde_json's own Map does.
        while let Some(key) = map.next_key::<Key>()? {
            let value: Value = map.next_value()?;
            match key {
                Key::Known(slot) => {
                    if let Some(slot) = fields.slots.get_mut(slot) {
                        *slot = Some(value);
                    }
                }
                Key::Other(name) => {
                    fields.extra.insert(name, value);
                }
            }
        }
        Ok(fields)
    }
}

/// A top-level key: the slot of a known one (no allocation), or an unknown one's name.
enum Key {
    Known(usize),
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(slot_of(key).map_or_else(|| Key::Other(key.to_owned()), Key::Known))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Key, E> {
        Ok(slot_of(&key).map_or(Key::Other(key), Key::Known))
    }
}

impl Fields {
    /// A key that must be present, as a string that may be null.
    pub(crate) fn nullable_string(&mut self, key: &'static str) -> Result<Option<String>, Error> {
        match self.take(key) {
            None => Err(Error::MissingField(key)),
            Some(value) => string_or_null(key, value),
        }
    }

    /// A key that may be absent, as a string that may be null.
    pub(crate) fn optional_string(&mut self, key: &'static str) -> Result<Option<String>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => string_or_null(key, value),
        }
    }

    /// A key that must be present as a non-null string.
    pub(crate) fn string(&mut self, key: &'static str) -> Result<String, Error> {
        match self.take(key) {
            None => Err(Error::MissingField(key)),
            Some(Value::String(s)) => Ok(s),
            Some(Value::Null) => Err(Error::invalid(key, "must not be null")),
            Some(_) => Err(Error::invalid(key, "must be a string")),
        }
    }

    /// A metadata object; absent (when allowed) or null reads as `{}`.
    pub(crate) fn metadata(
        &mut self,
        key: &'static str,
        required: bool,
    ) -> Result<Metadata, Error> {
        match self.take(key) {
            None if required => Err(Error::MissingField(key)),
            None | Some(Value::Null) => Ok(Metadata::new()),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(Error::invalid(key, "must be an object")),
        }
    }

    /// The `helper_metadata` and `routing_metadata` pair every message type carries.
    pub(crate) fn envelope_metadata(&mut self) -> Result<(Metadata, Metadata), Error> {
        Ok((
            self.metadata("helper_metadata", false)?,
            self.metadata("routing_metadata", false)?,
        ))
    }

    /// The required `timestamp`, in the Vumi date format.
    pub(crate) fn timestamp(&mut self) -> Result<Timestamp, Error> {
        match self.take("timestamp") {
            None => Err(Error::MissingField("timestamp")),
            Some(Value::String(s)) => Timestamp::parse(&s),
            Some(_) => Err(Error::invalid("timestamp", "must be a string")),
        }
    }

    /// Removes a known key whatever its value.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.slots.get_mut(slot_of(key)?)?.take()
    }

    /// Everything not taken: the message's `extra`.
    pub(crate) fn into_extra(self) -> Metadata {
        let mut extra = self.extra;
        for (key, value) in KNOWN.iter().zip(self.slots) {
            if let Some(value) = value {
                extra.insert((*key).to_owned(), value);
            }
        }
        extra
    }
}

fn string_or_null(key: &'static str, value: Value) -> Result<Option<String>, Error> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(Error::invalid(key, "must be a string or null")),
    }
}

/// Writes the `extra` keys that are neither in `known_keys` nor `also` (a model field always
/// wins over an extra key of the same name, so the output never has duplicate keys).
pub(crate) fn serialize_extra<M: SerializeMap>(
    map: &mut M,
    known_keys: &[&str],
    also: Option<&str>,
    extra: &Metadata,
) -> Result<(), M::Error> {
    for (key, value) in extra {
        if !known_keys.contains(&key.as_str()) && also != Some(key.as_str()) {
            map.serialize_entry(key, value)?;
        }
    }
    Ok(())
}

/// Compact JSON of a message.
pub(crate) fn to_vec<T: Serialize>(message: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    // Writing to a Vec cannot fail and every key is a string, so an error is impossible; should
    // one ever occur, an empty body fails loudly at the receiver instead of a panic here.
    match message.serialize(&mut serde_json::Serializer::new(&mut out)) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}
