//! Multipart reassembly for every transport that receives messages in parts (SMPP by UDH or
//! SAR, the modem by UDH, and the HTTP providers to come): typed parts wait in the store until
//! all have come, then the whole message is published; parts that stop coming are published
//! as they are once the timeout has passed since the first one, flagged the same way
//! everywhere ([`flag_incomplete`]: `<prefix>_multipart_incomplete`, `_parts`, `_total` in
//! `transport_metadata`). Every part was acknowledged to the carrier when it was stored, so
//! none may be dropped: parts live a day past their deadline, and only a publish the bus took
//! removes them.
//!
//! Store layout, per message: a hash `<key>` (the transport names it, its last `:` field
//! being the total) with one field per part (`001`…), each a JSON [`Part`]; the index
//! `<open>` holds every open message's key scored by its deadline (ms since the epoch). One
//! join at a time per transport, so the last part and the timer never both publish a message,
//! and no part is stored while a join runs (the join deletes what it published).
//!
//! Reference: reference/smpp.md (UDH, SAR), reference/modem.md §0 item 5 (what identifies a
//! concatenated message), reference/vumi.md §5.
//!
//! Not handled here: how a transport numbers its parts and decodes the joined text.

use crate::transport::telemetry::MultipartUnreadable;
use richmond_drivers::telemetry::Event as _;
use std::time::Duration;

use richmond_codecs::vumi::Metadata;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::common::now_millis;
use crate::store::{Store, StoreError};

/// How long parts outlive their deadline: a day, so a long bus outage cannot expire them
/// before the timer has published them.
const KEEP_AFTER_DEADLINE: Duration = Duration::from_secs(86_400);

/// One part as stored: its octets (user data without the header), the text it decoded to
/// alone when the transport decodes per part, and what the transport needs to publish the
/// message from any part (flattened into the same JSON object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Part<M> {
    #[serde(serialize_with = "hex_out", deserialize_with = "hex_in")]
    pub(crate) octets: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(flatten)]
    pub(crate) meta: M,
}

fn hex_out<S: Serializer>(octets: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&richmond_codecs::sms::pdu::to_hex(octets))
}

fn hex_in<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let hex = String::deserialize(d)?;
    richmond_codecs::sms::pdu::from_hex(hex.as_bytes()).map_err(serde::de::Error::custom)
}

/// The parts of a message that were stored, in order.
#[derive(Clone, Debug)]
pub(crate) struct Joined<M> {
    pub(crate) total: u8,
    pub(crate) parts: Vec<(u8, Part<M>)>,
}

/// A message published without all its parts: the part numbers that came, the total.
pub(crate) type Incomplete = (Vec<u8>, u8);

impl<M> Joined<M> {
    /// `None` when every part came; else which did.
    pub(crate) fn incomplete(&self) -> Option<Incomplete> {
        (self.parts.len() < usize::from(self.total))
            .then(|| (self.parts.iter().map(|(s, _)| *s).collect(), self.total))
    }

    /// The parts' octets joined in order (decoded once, so a pair split across parts comes
    /// out whole).
    pub(crate) fn octets(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|(_, p)| p.octets.iter().copied())
            .collect()
    }

    /// The first part's metadata (every part carries the message's).
    pub(crate) fn first(&self) -> Option<&Part<M>> {
        self.parts.first().map(|(_, p)| p)
    }
}

/// Flags a message published without all its parts: `<prefix>_multipart_incomplete` (true),
/// `<prefix>_multipart_parts` (the numbers that came), `<prefix>_multipart_total`.
pub(crate) fn flag_incomplete(meta: &mut Metadata, prefix: &str, incomplete: &Incomplete) {
    let (parts, total) = incomplete;
    meta.insert(format!("{prefix}_multipart_incomplete"), json!(true));
    meta.insert(format!("{prefix}_multipart_parts"), json!(parts));
    meta.insert(format!("{prefix}_multipart_total"), json!(total));
}

/// What became of a stored part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// More parts are to come.
    Waiting,
    /// This was the last one: join now.
    Complete,
}

/// One transport's reassembly: its open index, its timeout and its join lock.
pub(crate) struct Reassembly {
    transport: String,
    open: String,
    timeout: Duration,
    joining: tokio::sync::Mutex<()>,
}

impl Reassembly {
    /// Reassembly for `transport`, open messages indexed under `open`, published incomplete
    /// `timeout` after their first part.
    pub(crate) fn new(transport: &str, open: String, timeout: Duration) -> Self {
        Self {
            transport: transport.to_owned(),
            open,
            timeout,
            joining: tokio::sync::Mutex::new(()),
        }
    }

    /// Stores part `seq` of the message `key` (of `total` parts).
    ///
    /// # Errors
    /// The store failed: the part is not kept (answer the carrier "try again").
    pub(crate) async fn add<M: Serialize>(
        &self,
        store: &Store,
        key: &str,
        seq: u8,
        total: u8,
        part: &Part<M>,
    ) -> Result<Added, StoreError> {
        let ttl = self.timeout + KEEP_AFTER_DEADLINE;
        let value = serde_json::to_vec(part).unwrap_or_default();
        // Not while a join runs: it deletes the whole message once published, and a part
        // stored in between (already answered) would go with it.
        let _not_while_joining = self.joining.lock().await;
        let n = store
            .hash_put(key, &format!("{seq:03}"), &value, ttl)
            .await?;
        if n == 1 {
            let deadline = now_millis()
                .saturating_add(i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX));
            store.index_add(&self.open, key, deadline, ttl).await?;
        }
        Ok(if n >= usize::from(total) {
            Added::Complete
        } else {
            Added::Waiting
        })
    }

    /// Reads the parts of `key` (each with `read`, which also takes older stored formats)
    /// and hands them to `publish`; forgets them once it returns true. True when the message
    /// is published or was already (by the other path); false when the store or `publish`
    /// failed (the parts stay for the timer).
    pub(crate) async fn join<M, F, Fut>(
        &self,
        store: &Store,
        key: &str,
        total: u8,
        read: impl Fn(&[u8]) -> Option<Part<M>>,
        publish: F,
    ) -> bool
    where
        F: FnOnce(Joined<M>) -> Fut,
        Fut: Future<Output = bool>,
    {
        let _one_at_a_time = self.joining.lock().await;
        let Ok(fields) = store.hash_get_all(key).await else {
            return false;
        };
        let mut parts: Vec<(u8, Part<M>)> = fields
            .iter()
            .filter_map(|(field, value)| Some((field.parse::<u8>().ok()?, read(value)?)))
            .collect();
        if parts.is_empty() {
            if !fields.is_empty() {
                // Stored, answered, and not one part readable: said loudly, never silently.
                MultipartUnreadable {
                    transport: &self.transport,
                    parts: fields.len(),
                }
                .emit();
                let _ = store.delete(key).await;
            }
            // Already published (and deleted) by the other path, or unreadable.
            let _ = store.index_remove(&self.open, key).await;
            return true;
        }
        parts.sort_by_key(|(seq, _)| *seq);
        if !publish(Joined { total, parts }).await {
            return false;
        }
        let _ = store.delete(key).await;
        let _ = store.index_remove(&self.open, key).await;
        true
    }

    /// Every few seconds (at most the timeout) until `intake`, hands each message whose
    /// deadline has passed to `deliver` with its key and total (the key's last `:` field).
    pub(crate) async fn timer<F, Fut>(
        &self,
        store: &Store,
        intake: &CancellationToken,
        mut deliver: F,
    ) where
        F: FnMut(String, u8) -> Fut,
        Fut: Future<Output = ()>,
    {
        let period = self
            .timeout
            .clamp(Duration::from_secs(1), Duration::from_secs(5));
        loop {
            tokio::select! {
                () = intake.cancelled() => return,
                () = tokio::time::sleep(period) => {}
            }
            let Ok(due) = store.index_range(&self.open, 0, now_millis(), 100).await else {
                continue;
            };
            for (key, _) in due {
                let total = key
                    .rsplit(':')
                    .next()
                    .and_then(|t| t.parse::<u8>().ok())
                    .unwrap_or(0);
                tracing::info!(message = "Multipart message timed out; delivering the parts that came.", transport = %self.transport);
                deliver(key, total).await;
            }
        }
    }
}

/// Reads a part stored as JSON.
pub(crate) fn read_json<M: DeserializeOwned>(value: &[u8]) -> Option<Part<M>> {
    serde_json::from_slice(value).ok()
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
