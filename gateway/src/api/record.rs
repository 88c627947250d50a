//! Message records in the state store: one per message sent through the API, and one sorted
//! index per (account, transport) for `status.json?since=`.
//!
//! Keys: `api:msg:<id>` (JSON record, kept `api.message_ttl_seconds`), and
//! `api:idx:<account>:<transport>` (id scored by `created_at` in µs; entries older than the
//! retention are trimmed on every send). Both live in the store, so statuses survive a restart
//! (redb in `data_dir`) and are shared by instances (Redis).
//!
//! `transport_status` state machine, driven by the events on `<transport>.event`:
//!
//! ```text
//!   pending ──ack──▶ submitted ──delivery_report(delivered)──▶ delivered (delivered_at set)
//!      │                 │    └──delivery_report(failed)────▶ failed
//!      └──nack──▶ failed └─delivery_report(pending): stays submitted
//! ```
//! `ack` and `nack` only move a `pending` message (a late ack never undoes a receipt); a
//! `delivery_report` pending makes `pending` `submitted`; a final delivery report
//! (delivered/failed) always applies, as the carrier's latest word.
//! Does not handle: concurrent writers to one record across instances (the last write wins).

use std::time::Duration;

use richmond_codecs::vumi::{DeliveryStatus, EventKind};
use serde::{Deserialize, Serialize};

use super::input::format_date;
use crate::store::{Store, StoreError, Write};

/// Most records one `status.json?since=` answer lists.
pub(crate) const MAX_LIST: usize = 1000;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Published to `<transport>.outbound`; the transport has not answered yet.
    Pending,
    /// The carrier accepted it (ack, or a pending delivery report).
    Submitted,
    /// The carrier reported it delivered.
    Delivered,
    /// Refused (nack) or reported failed.
    Failed,
}

impl Status {
    pub(crate) const ALL: &'static [&'static str] =
        &["pending", "submitted", "delivered", "failed"];
}

/// What the store keeps about one message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) transport: String,
    pub(crate) to_msisdn: String,
    pub(crate) from_msisdn: String,
    pub(crate) message: String,
    pub(crate) transport_status: Status,
    pub(crate) delivered_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// How an event changed a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing to write.
    None,
    /// The status moved; no receipt callback.
    Updated,
    /// The status moved and the account's `sms_receipt` callback is due (nack, delivery report).
    Receipt,
}

impl Record {
    /// Applies an event at `now` (µs); see the module docs.
    pub(crate) fn apply(&mut self, kind: &EventKind, now: i64) -> Change {
        let (next, receipt) = match kind {
            EventKind::Ack { .. } if self.transport_status == Status::Pending => {
                (Status::Submitted, false)
            }
            EventKind::Nack { .. } if self.transport_status == Status::Pending => {
                (Status::Failed, true)
            }
            EventKind::Ack { .. } | EventKind::Nack { .. } => return Change::None,
            EventKind::DeliveryReport { delivery_status } => match delivery_status {
                DeliveryStatus::Pending if self.transport_status == Status::Pending => {
                    (Status::Submitted, true)
                }
                DeliveryStatus::Pending => return Change::None,
                DeliveryStatus::Delivered => (Status::Delivered, true),
                DeliveryStatus::Failed => (Status::Failed, true),
            },
        };
        if next == self.transport_status {
            return Change::None;
        }
        self.transport_status = next;
        self.updated_at = now;
        if next == Status::Delivered {
            self.delivered_at = Some(now);
        }
        if receipt {
            Change::Receipt
        } else {
            Change::Updated
        }
    }

    /// The public JSON form (the account and transport are implied by the request).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "to_msisdn": self.to_msisdn,
            "from_msisdn": self.from_msisdn,
            "message": self.message,
            "transport_status": self.transport_status,
            "delivered_at": self.delivered_at.map(format_date),
            "created_at": format_date(self.created_at),
            "updated_at": format_date(self.updated_at),
        })
    }
}

/// A duration in µs (saturating).
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

pub(crate) fn record_key(id: &str) -> String {
    format!("api:msg:{id}")
}

pub(crate) fn index_key(account: &str, transport: &str) -> String {
    format!("api:idx:{account}:{transport}")
}

/// The conversation key of `msisdn` on `transport`: the account that last sent to it.
pub(crate) fn conversation_key(transport: &str, msisdn: &str) -> String {
    format!("api:conv:{transport}:{}", msisdn.trim_start_matches('+'))
}

/// Whether `id` looks like a Vumi message id (32 hex digits): anything else is never stored.
pub(crate) fn is_message_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The writes that store a new record and index it (for a [`Store::write_batch`]).
pub(crate) fn writes(record: &Record, ttl: Duration) -> [Write; 2] {
    [
        Write::Put {
            key: record_key(&record.id),
            value: serde_json::to_vec(record).unwrap_or_default(),
            ttl,
        },
        Write::IndexAdd {
            key: index_key(&record.account, &record.transport),
            member: record.id.clone(),
            score: record.created_at,
            ttl,
        },
    ]
}

/// The writes that remove a record that was never published, and its index entry.
pub(crate) fn forget_writes(record: &Record) -> [Write; 2] {
    [
        Write::Delete {
            key: record_key(&record.id),
        },
        Write::IndexRemove {
            key: index_key(&record.account, &record.transport),
            member: record.id.clone(),
        },
    ]
}

/// Writes a record (an update: new records go through [`writes`]).
///
/// # Errors
/// When the store fails.
pub(crate) async fn save(store: &Store, record: &Record, ttl: Duration) -> Result<(), StoreError> {
    store.write_batch(vec![save_write(record, ttl)]).await
}

/// [`save`] as a write of a [`Store::write_batch`].
pub(crate) fn save_write(record: &Record, ttl: Duration) -> Write {
    Write::Put {
        key: record_key(&record.id),
        value: serde_json::to_vec(record).unwrap_or_default(),
        ttl,
    }
}

/// Reads a record; an unreadable one counts as absent.
///
/// # Errors
/// When the store fails.
pub(crate) async fn load(store: &Store, id: &str) -> Result<Option<Record>, StoreError> {
    if !is_message_id(id) {
        return Ok(None);
    }
    Ok(store
        .get(&record_key(id))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            id: "0".repeat(32),
            account: "a".into(),
            transport: "t".into(),
            to_msisdn: "+27831234567".into(),
            from_msisdn: "123".into(),
            message: "hi".into(),
            transport_status: Status::Pending,
            delivered_at: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn dr(s: DeliveryStatus) -> EventKind {
        EventKind::DeliveryReport { delivery_status: s }
    }

    #[test]
    fn ack_then_delivered() {
        let mut r = record();
        let ack = EventKind::Ack {
            sent_message_id: "x".into(),
        };
        assert_eq!(r.apply(&ack, 2), Change::Updated);
        assert_eq!(r.transport_status, Status::Submitted);
        assert_eq!(r.apply(&ack, 3), Change::None);
        assert_eq!(r.apply(&dr(DeliveryStatus::Pending), 3), Change::None);
        assert_eq!(r.apply(&dr(DeliveryStatus::Delivered), 4), Change::Receipt);
        assert_eq!(
            (r.transport_status, r.delivered_at),
            (Status::Delivered, Some(4))
        );
        assert_eq!(r.updated_at, 4);
    }

    #[test]
    fn nack_fails_and_late_ack_does_not_undo_a_receipt() {
        let mut r = record();
        let nack = EventKind::Nack {
            nack_reason: "no".into(),
        };
        assert_eq!(r.apply(&nack, 2), Change::Receipt);
        assert_eq!(r.transport_status, Status::Failed);
        let mut r = record();
        assert_eq!(r.apply(&dr(DeliveryStatus::Delivered), 2), Change::Receipt);
        let ack = EventKind::Ack {
            sent_message_id: "x".into(),
        };
        assert_eq!(r.apply(&ack, 3), Change::None);
        assert_eq!(r.transport_status, Status::Delivered);
    }

    #[test]
    fn json_form() {
        let v = record().to_json();
        assert_eq!(v["transport_status"], "pending");
        assert_eq!(v["delivered_at"], serde_json::Value::Null);
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000001Z");
    }
}
