//! `user_message`: the text (or USSD step) travelling between a user and an application.
//!
//! Reference: reference/vumi.md §1.2 (fields, defaults, decode rules), §1.3 (`reply()`), §6.2
//! (test vectors), §7 (what to tolerate on decode) and §8 (vumi2 differences: `"resume"` from
//! applications, empty metadata, 18 keys).
//!
//! Handles: the model, its exact JSON form, construction, replies. Does not check
//! `transport_type` or the address types against [`TRANSPORT_TYPES`](super::TRANSPORT_TYPES) /
//! [`ADDRESS_TYPES`](super::ADDRESS_TYPES) (vumi 0.6 does not either; vumi2 does, so a transport
//! must fill them correctly), and does not map session events to a carrier protocol (drivers do).

use std::fmt;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::wire::{self, Fields};
use super::{DEFAULT_ENDPOINT_NAME, Error, MESSAGE_VERSION, Metadata, Timestamp, new_id};

/// The session state a message carries (`session_event`; JSON null is `None`).
///
/// From a transport: `New`, `Resume` or `Close`. From an application: `None` or `Resume`
/// (vumi2) to continue, `Close` to end the session after this message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// `"new"`: the user opened a session.
    New,
    /// `"resume"`: a step inside an open session.
    Resume,
    /// `"close"`: the session ends.
    Close,
}

impl SessionEvent {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Resume => "resume",
            Self::Close => "close",
        }
    }
}

impl FromStr for SessionEvent {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "new" => Ok(Self::New),
            "resume" => Ok(Self::Resume),
            "close" => Ok(Self::Close),
            _ => Err(Error::invalid(
                "session_event",
                "must be null, \"new\", \"resume\" or \"close\"",
            )),
        }
    }
}

impl fmt::Display for SessionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Vumi `user_message` (vumi 0.6 `TransportUserMessage`).
#[derive(Clone, Debug, PartialEq)]
pub struct UserMessage {
    pub message_id: String,
    pub timestamp: Timestamp,
    pub to_addr: Option<String>,
    pub from_addr: Option<String>,
    pub to_addr_type: Option<String>,
    pub from_addr_type: Option<String>,
    pub in_reply_to: Option<String>,
    pub session_event: Option<SessionEvent>,
    pub content: Option<String>,
    pub transport_name: Option<String>,
    pub transport_type: Option<String>,
    pub transport_metadata: Metadata,
    pub helper_metadata: Metadata,
    pub routing_metadata: Metadata,
    pub group: Option<String>,
    pub provider: Option<String>,
    /// Top-level keys the model does not know (including `"__cache__"`), kept through
    /// decode → encode. A key here that names a model field is ignored on encode.
    pub extra: Metadata,
}

impl UserMessage {
    /// Every key [`encode`](Self::encode) writes, in order (the 18 keys vumi2 serialises).
    pub const KEYS: &'static [&'static str] = &[
        "message_version",
        "message_type",
        "timestamp",
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
        "helper_metadata",
        "routing_metadata",
        "group",
        "provider",
    ];

    /// A fresh message (new id, timestamp now, no session event, empty metadata).
    pub fn new(
        transport_name: &str,
        transport_type: &str,
        from_addr: &str,
        to_addr: &str,
        content: Option<String>,
    ) -> Self {
        Self {
            message_id: new_id(),
            timestamp: Timestamp::now(),
            to_addr: Some(to_addr.to_owned()),
            from_addr: Some(from_addr.to_owned()),
            to_addr_type: None,
            from_addr_type: None,
            in_reply_to: None,
            session_event: None,
            content,
            transport_name: Some(transport_name.to_owned()),
            transport_type: Some(transport_type.to_owned()),
            transport_metadata: Metadata::new(),
            helper_metadata: Metadata::new(),
            routing_metadata: Metadata::new(),
            group: None,
            provider: None,
            extra: Metadata::new(),
        }
    }

    /// The reply vumi 0.6's `reply()` builds (§1.3): addresses swapped, `in_reply_to` set,
    /// `session_event` null (or `"close"` when `continue_session` is false), group, provider,
    /// transport fields and `helper_metadata` copied, address types not copied, and
    /// `routing_metadata` = `{"endpoint_name": <this message's endpoint>}`.
    pub fn reply(&self, content: Option<String>, continue_session: bool) -> Self {
        self.build_reply(content, continue_session, self.from_addr.clone())
    }

    /// Like [`reply`](Self::reply), but to the group: `to_addr` is null when `group` is set.
    pub fn reply_group(&self, content: Option<String>, continue_session: bool) -> Self {
        let to_addr = match self.group {
            Some(_) => None,
            None => self.from_addr.clone(),
        };
        self.build_reply(content, continue_session, to_addr)
    }

    fn build_reply(
        &self,
        content: Option<String>,
        continue_session: bool,
        to_addr: Option<String>,
    ) -> Self {
        let mut routing_metadata = Metadata::new();
        routing_metadata.insert(
            "endpoint_name".to_owned(),
            Value::String(self.endpoint_name().to_owned()),
        );
        Self {
            message_id: new_id(),
            timestamp: Timestamp::now(),
            to_addr,
            from_addr: self.to_addr.clone(),
            to_addr_type: None,
            from_addr_type: None,
            in_reply_to: Some(self.message_id.clone()),
            session_event: (!continue_session).then_some(SessionEvent::Close),
            content,
            transport_name: self.transport_name.clone(),
            transport_type: self.transport_type.clone(),
            transport_metadata: self.transport_metadata.clone(),
            helper_metadata: self.helper_metadata.clone(),
            routing_metadata,
            group: self.group.clone(),
            provider: self.provider.clone(),
            extra: Metadata::new(),
        }
    }

    /// `routing_metadata.endpoint_name`, or `"default"` when it is missing, null or not a string.
    pub fn endpoint_name(&self) -> &str {
        endpoint_name(&self.routing_metadata)
    }

    /// Decodes a `user_message` body.
    ///
    /// # Errors
    /// See [`Error`]; a body of another `message_type` is `InvalidField("message_type")`.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_fields(wire::open_as(bytes, "user_message")?)
    }

    pub(crate) fn from_fields(mut f: Fields) -> Result<Self, Error> {
        let timestamp = f.timestamp()?;
        let message_id = f.string("message_id")?;
        let to_addr = f.nullable_string("to_addr")?;
        let from_addr = f.nullable_string("from_addr")?;
        let in_reply_to = f.nullable_string("in_reply_to")?;
        let session_event = f
            .nullable_string("session_event")?
            .map(|s| s.parse::<SessionEvent>())
            .transpose()?;
        let content = f.nullable_string("content")?;
        let transport_name = f.nullable_string("transport_name")?;
        let transport_type = f.nullable_string("transport_type")?;
        let transport_metadata = f.metadata("transport_metadata", true)?;
        let to_addr_type = f.optional_string("to_addr_type")?;
        let from_addr_type = f.optional_string("from_addr_type")?;
        let group = f.optional_string("group")?;
        let provider = f.optional_string("provider")?;
        let (helper_metadata, routing_metadata) = f.envelope_metadata()?;
        Ok(Self {
            message_id,
            timestamp,
            to_addr,
            from_addr,
            to_addr_type,
            from_addr_type,
            in_reply_to,
            session_event,
            content,
            transport_name,
            transport_type,
            transport_metadata,
            helper_metadata,
            routing_metadata,
            group,
            provider,
            extra: f.into_extra(),
        })
    }

    /// Compact JSON with every field (null where unset) and the `extra` keys.
    pub fn encode(&self) -> Vec<u8> {
        wire::to_vec(self)
    }
}

/// The routing endpoint of any message: `endpoint_name` or `"default"`.
pub(crate) fn endpoint_name(routing_metadata: &Metadata) -> &str {
    match routing_metadata.get("endpoint_name") {
        Some(Value::String(name)) => name,
        _ => DEFAULT_ENDPOINT_NAME,
    }
}

/// The wire form: what [`UserMessage::encode`] writes.
impl Serialize for UserMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("message_version", MESSAGE_VERSION)?;
        map.serialize_entry("message_type", "user_message")?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("message_id", &self.message_id)?;
        map.serialize_entry("to_addr", &self.to_addr)?;
        map.serialize_entry("from_addr", &self.from_addr)?;
        map.serialize_entry("to_addr_type", &self.to_addr_type)?;
        map.serialize_entry("from_addr_type", &self.from_addr_type)?;
        map.serialize_entry("in_reply_to", &self.in_reply_to)?;
        map.serialize_entry(
            "session_event",
            &self.session_event.map(SessionEvent::as_str),
        )?;
        map.serialize_entry("content", &self.content)?;
        map.serialize_entry("transport_name", &self.transport_name)?;
        map.serialize_entry("transport_type", &self.transport_type)?;
        map.serialize_entry("transport_metadata", &self.transport_metadata)?;
        map.serialize_entry("helper_metadata", &self.helper_metadata)?;
        map.serialize_entry("routing_metadata", &self.routing_metadata)?;
        map.serialize_entry("group", &self.group)?;
        map.serialize_entry("provider", &self.provider)?;
        wire::serialize_extra(&mut map, Self::KEYS, None, &self.extra)?;
        map.end()
    }
}
