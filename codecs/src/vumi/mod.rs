//! The Vumi message model with exact JSON wire compatibility (vumi 0.6 and vumi2 applications).
//!
//! Reference: reference/vumi.md §1 (wire format: fields, defaults, validation, serialisation,
//! examples), §6.2 (test vectors), §7 (what a compatible gateway must match) and §8 (vumi2).
//!
//! Handles: `user_message`, `event`, `status_event` and `failure_message` — decoding with vumi
//! 0.6's validation rules (tolerant of the keys older senders omit), encoding with every field
//! present, the Vumi timestamp format, ids, `reply()`, and unknown top-level keys kept in
//! `extra`. Decoding never panics on any input.
//!
//! Does not handle: AMQP (exchange, routing keys, acks — gateway bus), mapping carrier traffic to
//! messages (gateway transports), or vumi 0.6's quirk of turning *every* date-like string into a
//! datetime: only `timestamp` is parsed as a date here; other strings stay strings.
//!
//! Encoding is compact `serde_json` output and keeps non-ASCII text as UTF-8 (Python vumi escapes
//! it as `\uXXXX`; both are the same JSON and both decode).
//!
//! ```
//! use richmond_codecs::vumi::{self, Message, UserMessage};
//!
//! let inbound = UserMessage::new("truteq_ussd", "ussd", "+27831112222", "*120*663#", None);
//! let reply = inbound.reply(Some("Welcome".to_owned()), false);
//! let Ok(Message::User(decoded)) = vumi::decode(&reply.encode()) else { unreachable!() };
//! assert_eq!(decoded, reply);
//! assert_eq!(decoded.endpoint_name(), "default");
//! ```

mod error;
mod event;
mod message;
mod other;
mod timestamp;
mod wire;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use event::{DeliveryStatus, Event, EventKind};
pub use message::{SessionEvent, UserMessage};
pub use other::{FailureCode, FailureMessage, Status, StatusEvent};
pub use timestamp::Timestamp;

/// The only `message_version` Vumi has ever used.
pub const MESSAGE_VERSION: &str = "20110921";

/// The endpoint a message is routed to when `routing_metadata` names none.
pub const DEFAULT_ENDPOINT_NAME: &str = "default";

/// A JSON object: metadata maps and the `extra` keys of a message.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// The canonical `transport_type` values (vumi2 rejects any other, and null).
pub const TRANSPORT_TYPES: &[&str] = &[
    "http_api", "irc", "telnet", "twitter", "sms", "ussd", "xmpp", "mxit", "wechat",
];

/// The canonical `to_addr_type` / `from_addr_type` values (vumi2 accepts these or null).
pub const ADDRESS_TYPES: &[&str] = &[
    "irc_nickname",
    "twitter_handle",
    "msisdn",
    "gtalk_id",
    "jabber_id",
    "mxit_id",
    "wechat_id",
];

/// A fresh message or event id: a random UUID as 32 lowercase hex characters, no dashes.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Any Vumi message, as routed on the `vumi` exchange.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `message_type: "user_message"`
    User(UserMessage),
    /// `message_type: "event"`
    Event(Event),
    /// `message_type: "status_event"`
    Status(StatusEvent),
    /// `message_type: "failure_message"`
    Failure(FailureMessage),
}

impl Message {
    /// Compact JSON of the message (see the `encode` of each type).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::User(m) => m.encode(),
            Self::Event(m) => m.encode(),
            Self::Status(m) => m.encode(),
            Self::Failure(m) => m.encode(),
        }
    }

    /// The wire `message_type`.
    pub const fn message_type(&self) -> &'static str {
        match self {
            Self::User(_) => "user_message",
            Self::Event(_) => "event",
            Self::Status(_) => "status_event",
            Self::Failure(_) => "failure_message",
        }
    }
}

/// Decodes any Vumi message, dispatching on `message_type`.
///
/// # Errors
/// [`Error::NotJson`], [`Error::NotAnObject`], [`Error::WrongVersion`],
/// [`Error::UnknownMessageType`], or the error of the type's own decoder.
pub fn decode(bytes: &[u8]) -> Result<Message, Error> {
    let (fields, message_type) = wire::open(bytes)?;
    match message_type.as_str() {
        "user_message" => UserMessage::from_fields(fields).map(Message::User),
        "event" => Event::from_fields(fields).map(Message::Event),
        "status_event" => StatusEvent::from_fields(fields).map(Message::Status),
        "failure_message" => FailureMessage::from_fields(fields).map(Message::Failure),
        _ => Err(Error::UnknownMessageType),
    }
}
