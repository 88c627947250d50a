//! `status_event` and `failure_message`: the two transport-side message types apps rarely see.
//!
//! Reference: reference/vumi.md §1.5 (`TransportStatus`, `FailureMessage`), §1.7 (examples),
//! §6.2 (`status='amazing'` is rejected) and §8 (vumi2 has no `.status` or `.failures` queues).
//!
//! Handles: the models and their exact JSON form. Does not decide when a transport publishes
//! them, nor the routing keys they go to (gateway).

use std::fmt;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::wire::{self, Fields};
use super::{Error, MESSAGE_VERSION, Metadata, Timestamp};

/// The health a `status_event` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `"ok"`
    Ok,
    /// `"degraded"`
    Degraded,
    /// `"down"`
    Down,
}

impl Status {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

impl FromStr for Status {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "ok" => Ok(Self::Ok),
            "degraded" => Ok(Self::Degraded),
            "down" => Ok(Self::Down),
            _ => Err(Error::invalid(
                "status",
                "must be \"ok\", \"degraded\" or \"down\"",
            )),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Vumi `status_event` (vumi 0.6 `TransportStatus`).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusEvent {
    pub timestamp: Timestamp,
    /// The part of the transport the status is about, e.g. `"smpp"`.
    pub component: Option<String>,
    pub status: Status,
    /// A machine-readable status type, e.g. `"bound"`.
    pub r#type: Option<String>,
    /// Human-readable text, e.g. `"Bound"`.
    pub message: Option<String>,
    pub reasons: Vec<Value>,
    pub details: Metadata,
    pub helper_metadata: Metadata,
    pub routing_metadata: Metadata,
    /// Top-level keys the model does not know, kept through decode → encode.
    pub extra: Metadata,
}

impl StatusEvent {
    /// Every key [`encode`](Self::encode) writes, in order.
    pub const KEYS: &'static [&'static str] = &[
        "message_version",
        "message_type",
        "timestamp",
        "component",
        "status",
        "type",
        "message",
        "reasons",
        "details",
        "helper_metadata",
        "routing_metadata",
    ];

    /// Decodes a `status_event` body.
    ///
    /// # Errors
    /// See [`Error`]; a `status` outside ok/degraded/down is `InvalidField("status")`.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_fields(wire::open_as(bytes, "status_event")?)
    }

    pub(crate) fn from_fields(mut f: Fields) -> Result<Self, Error> {
        let timestamp = f.timestamp()?;
        let status = f.string("status")?.parse()?;
        let component = f.optional_string("component")?;
        let r#type = f.optional_string("type")?;
        let message = f.optional_string("message")?;
        let reasons = match f.take("reasons") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(reasons)) => reasons,
            Some(_) => return Err(Error::invalid("reasons", "must be an array")),
        };
        let details = f.metadata("details", false)?;
        let (helper_metadata, routing_metadata) = f.envelope_metadata()?;
        Ok(Self {
            timestamp,
            component,
            status,
            r#type,
            message,
            reasons,
            details,
            helper_metadata,
            routing_metadata,
            extra: f.into_extra(),
        })
    }

    /// Compact JSON with every field, then the `extra` keys.
    pub fn encode(&self) -> Vec<u8> {
        wire::to_vec(self)
    }
}

/// The wire form: what [`StatusEvent::encode`] writes.
impl Serialize for StatusEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("message_version", MESSAGE_VERSION)?;
        map.serialize_entry("message_type", "status_event")?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("component", &self.component)?;
        map.serialize_entry("status", self.status.as_str())?;
        map.serialize_entry("type", &self.r#type)?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("reasons", &self.reasons)?;
        map.serialize_entry("details", &self.details)?;
        map.serialize_entry("helper_metadata", &self.helper_metadata)?;
        map.serialize_entry("routing_metadata", &self.routing_metadata)?;
        wire::serialize_extra(&mut map, Self::KEYS, None, &self.extra)?;
        map.end()
    }
}

/// How final a failure is (`failure_code`; JSON null is `None`, "unspecified").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCode {
    /// `"permanent"`: retrying will not help.
    Permanent,
    /// `"temporary"`: a retry may succeed.
    Temporary,
}

impl FailureCode {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Temporary => "temporary",
        }
    }
}

impl FromStr for FailureCode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "permanent" => Ok(Self::Permanent),
            "temporary" => Ok(Self::Temporary),
            _ => Err(Error::invalid(
                "failure_code",
                "must be null, \"permanent\" or \"temporary\"",
            )),
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Vumi `failure_message`: an outbound message the transport could not send.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureMessage {
    pub timestamp: Timestamp,
    /// The failed message's payload, as it was received.
    pub message: Metadata,
    pub failure_code: Option<FailureCode>,
    /// Free text: a traceback or the carrier's status.
    pub reason: Option<String>,
    pub helper_metadata: Metadata,
    pub routing_metadata: Metadata,
    /// Top-level keys the model does not know, kept through decode → encode.
    pub extra: Metadata,
}

impl FailureMessage {
    /// Every key [`encode`](Self::encode) writes, in order.
    pub const KEYS: &'static [&'static str] = &[
        "message_version",
        "message_type",
        "timestamp",
        "message",
        "failure_code",
        "reason",
        "helper_metadata",
        "routing_metadata",
    ];

    /// Decodes a `failure_message` body. `message` is required (null reads as `{}`);
    /// `failure_code` and `reason` may be absent.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_fields(wire::open_as(bytes, "failure_message")?)
    }

    pub(crate) fn from_fields(mut f: Fields) -> Result<Self, Error> {
        let timestamp = f.timestamp()?;
        let message = f.metadata("message", true)?;
        let failure_code = f
            .optional_string("failure_code")?
            .map(|code| code.parse::<FailureCode>())
            .transpose()?;
        let reason = f.optional_string("reason")?;
        let (helper_metadata, routing_metadata) = f.envelope_metadata()?;
        Ok(Self {
            timestamp,
            message,
            failure_code,
            reason,
            helper_metadata,
            routing_metadata,
            extra: f.into_extra(),
        })
    }

    /// Compact JSON with every field (null where unset), then the `extra` keys.
    pub fn encode(&self) -> Vec<u8> {
        wire::to_vec(self)
    }
}

/// The wire form: what [`FailureMessage::encode`] writes.
impl Serialize for FailureMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("message_version", MESSAGE_VERSION)?;
        map.serialize_entry("message_type", "failure_message")?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("failure_code", &self.failure_code.map(FailureCode::as_str))?;
        map.serialize_entry("reason", &self.reason)?;
        map.serialize_entry("helper_metadata", &self.helper_metadata)?;
        map.serialize_entry("routing_metadata", &self.routing_metadata)?;
        wire::serialize_extra(&mut map, Self::KEYS, None, &self.extra)?;
        map.end()
    }
}
