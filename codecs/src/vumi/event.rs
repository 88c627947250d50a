//! `event`: what became of an outbound `user_message` (ack, nack, delivery report).
//!
//! Reference: reference/vumi.md §1.4 (fields, the extra field of each `event_type`, `status()`),
//! §6.2 (test vectors) and §8 (vumi2 drops `transport_name` but keeps the 0.6 rules).
//!
//! Handles: the model and its exact JSON form. Does not map carrier responses or receipts to
//! events (gateway transports do) and does not keep the id mapping for receipts (the store does).

use std::fmt;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::wire::{self, Fields};
use super::{Error, MESSAGE_VERSION, Metadata, Timestamp, new_id};

/// The `delivery_status` of a delivery report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// `"pending"`: accepted, not yet final.
    Pending,
    /// `"failed"`: final, not delivered.
    Failed,
    /// `"delivered"`: final, delivered.
    Delivered,
}

impl DeliveryStatus {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "pending" => Ok(Self::Pending),
            "failed" => Ok(Self::Failed),
            "delivered" => Ok(Self::Delivered),
            _ => Err(Error::invalid(
                "delivery_status",
                "must be \"pending\", \"failed\" or \"delivered\"",
            )),
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `event_type` with the one field that type requires.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// `"ack"`: the carrier accepted the message; `sent_message_id` is the carrier's id.
    Ack { sent_message_id: String },
    /// `"nack"`: the message was refused; `nack_reason` is free text.
    Nack { nack_reason: String },
    /// `"delivery_report"`: a receipt from the carrier.
    DeliveryReport { delivery_status: DeliveryStatus },
}

impl EventKind {
    /// The wire `event_type`.
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::Ack { .. } => "ack",
            Self::Nack { .. } => "nack",
            Self::DeliveryReport { .. } => "delivery_report",
        }
    }

    /// The wire name of the type's own field.
    pub const fn field_name(&self) -> &'static str {
        match self {
            Self::Ack { .. } => "sent_message_id",
            Self::Nack { .. } => "nack_reason",
            Self::DeliveryReport { .. } => "delivery_status",
        }
    }
}

/// A Vumi `event` (vumi 0.6 `TransportEvent`).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub event_id: String,
    pub timestamp: Timestamp,
    /// The `message_id` of the outbound message this event is about.
    pub user_message_id: String,
    pub kind: EventKind,
    pub transport_name: Option<String>,
    pub transport_metadata: Metadata,
    pub helper_metadata: Metadata,
    pub routing_metadata: Metadata,
    /// Top-level keys the model does not know, kept through decode → encode. A key here that
    /// names a field [`encode`](Self::encode) writes is ignored on encode.
    pub extra: Metadata,
}

impl Event {
    /// The keys every event writes; [`EventKind::field_name`] adds one more.
    pub const KEYS: &'static [&'static str] = &[
        "message_version",
        "message_type",
        "timestamp",
        "event_id",
        "event_type",
        "user_message_id",
        "transport_name",
        "transport_metadata",
        "helper_metadata",
        "routing_metadata",
    ];

    fn new(transport_name: &str, user_message_id: &str, kind: EventKind) -> Self {
        Self {
            event_id: new_id(),
            timestamp: Timestamp::now(),
            user_message_id: user_message_id.to_owned(),
            kind,
            transport_name: Some(transport_name.to_owned()),
            transport_metadata: Metadata::new(),
            helper_metadata: Metadata::new(),
            routing_metadata: Metadata::new(),
            extra: Metadata::new(),
        }
    }

    /// An ack: the carrier took `user_message_id` and calls it `sent_message_id`.
    pub fn ack(transport_name: &str, user_message_id: &str, sent_message_id: &str) -> Self {
        let sent_message_id = sent_message_id.to_owned();
        Self::new(
            transport_name,
            user_message_id,
            EventKind::Ack { sent_message_id },
        )
    }

    /// A nack with its reason.
    pub fn nack(transport_name: &str, user_message_id: &str, reason: &str) -> Self {
        let nack_reason = reason.to_owned();
        Self::new(
            transport_name,
            user_message_id,
            EventKind::Nack { nack_reason },
        )
    }

    /// A delivery report.
    pub fn delivery_report(
        transport_name: &str,
        user_message_id: &str,
        status: DeliveryStatus,
    ) -> Self {
        let kind = EventKind::DeliveryReport {
            delivery_status: status,
        };
        Self::new(transport_name, user_message_id, kind)
    }

    /// vumi's `status()`: `"ack"`, `"nack"` or `"delivery_report.<status>"`.
    pub fn status(&self) -> String {
        match &self.kind {
            EventKind::DeliveryReport { delivery_status } => {
                format!("delivery_report.{}", delivery_status.as_str())
            }
            kind => kind.event_type().to_owned(),
        }
    }

    /// Decodes an `event` body.
    ///
    /// # Errors
    /// See [`Error`]; a body of another `message_type` is `InvalidField("message_type")`.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_fields(wire::open_as(bytes, "event")?)
    }

    pub(crate) fn from_fields(mut f: Fields) -> Result<Self, Error> {
        let timestamp = f.timestamp()?;
        let event_id = f.string("event_id")?;
        let user_message_id = f.string("user_message_id")?;
        let kind = match f.string("event_type")?.as_str() {
            "ack" => EventKind::Ack {
                sent_message_id: f.string("sent_message_id")?,
            },
            "nack" => EventKind::Nack {
                nack_reason: f.string("nack_reason")?,
            },
            "delivery_report" => EventKind::DeliveryReport {
                delivery_status: f.string("delivery_status")?.parse()?,
            },
            _ => {
                return Err(Error::invalid(
                    "event_type",
                    "must be \"ack\", \"nack\" or \"delivery_report\"",
                ));
            }
        };
        let transport_name = f.optional_string("transport_name")?;
        let transport_metadata = f.metadata("transport_metadata", false)?;
        let (helper_metadata, routing_metadata) = f.envelope_metadata()?;
        Ok(Self {
            event_id,
            timestamp,
            user_message_id,
            kind,
            transport_name,
            transport_metadata,
            helper_metadata,
            routing_metadata,
            extra: f.into_extra(),
        })
    }

    /// Compact JSON with every field (null where unset), `event_type` and its one field, then
    /// the `extra` keys.
    pub fn encode(&self) -> Vec<u8> {
        wire::to_vec(self)
    }
}

/// The wire form: what [`Event::encode`] writes.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("message_version", MESSAGE_VERSION)?;
        map.serialize_entry("message_type", "event")?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("event_id", &self.event_id)?;
        map.serialize_entry("event_type", self.kind.event_type())?;
        map.serialize_entry("user_message_id", &self.user_message_id)?;
        match &self.kind {
            EventKind::Ack { sent_message_id } => {
                map.serialize_entry("sent_message_id", sent_message_id)?;
            }
            EventKind::Nack { nack_reason } => map.serialize_entry("nack_reason", nack_reason)?,
            EventKind::DeliveryReport { delivery_status } => {
                map.serialize_entry("delivery_status", delivery_status.as_str())?;
            }
        }
        map.serialize_entry("transport_name", &self.transport_name)?;
        map.serialize_entry("transport_metadata", &self.transport_metadata)?;
        map.serialize_entry("helper_metadata", &self.helper_metadata)?;
        map.serialize_entry("routing_metadata", &self.routing_metadata)?;
        let own_field = Some(self.kind.field_name());
        wire::serialize_extra(&mut map, Self::KEYS, own_field, &self.extra)?;
        map.end()
    }
}
