//! One send, many recipients, two commits: the records of every recipient are written in one
//! store transaction, then their messages are published as one bus batch (one spool
//! transaction on the embedded bus; pipelined publishes with their confirms awaited together
//! on RabbitMQ). Concurrent sends share group commits on both, so nothing is serialised
//! inside or between requests.
//!
//! What a client is told matches what goes out:
//! - the record is written before the publish, so an ack that beats the publish's return
//!   finds it;
//! - `api.publish_timeout_seconds` bounds only the wait for room on the bus; a message not
//!   taken by then is refused, never sent, and its record removed; a message once taken is
//!   followed to its commit or confirm, so a timeout never reports as failed a message that
//!   still goes out;
//! - the whole job runs as its own task: a client that disconnects mid-request leaves every
//!   message either sent with its record, or not sent without one, and no queue room
//!   reserved.
//!
//! Not handled here: input checks (`handlers`, `input`), the answer's shape (`handlers`).

use super::telemetry::Sent;
use bytes::Bytes;
use richmond_codecs::vumi::{Timestamp, UserMessage};
use richmond_drivers::telemetry::Event as _;

use super::ApiState;
use super::record::{self, Record, Status};
use crate::bus::BusError;
use crate::store::{StoreError, Write};

/// The Vumi `transport_type` of API messages.
const TRANSPORT_TYPE: &str = "sms";

/// What to send: one text per recipient.
pub(crate) struct Job {
    pub(crate) account: String,
    pub(crate) transport: String,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) texts: Vec<String>,
}

/// What happened to a send.
pub(crate) struct Outcome {
    /// Records of the messages the bus took, in recipient order.
    pub(crate) sent: Vec<Record>,
    /// Messages handed to the broker whose confirm never came (the bus closed first): they
    /// may go out; their records stay, `pending`, for status queries.
    pub(crate) unconfirmed: Vec<Record>,
    /// Recipients whose message was not taken, with the reason; nothing was sent to them.
    pub(crate) refused: Vec<(String, BusError)>,
}

/// Runs `job` to its end as a task of its own (see the module docs).
///
/// # Errors
/// When the records cannot be written: then nothing was published.
pub(crate) async fn run(state: &ApiState, job: Job) -> Result<Outcome, StoreError> {
    let state = state.clone();
    let tasks = state.tasks.clone();
    tasks
        .spawn(async move { send(&state, job).await })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::unavailable(
                "api send",
                format!("the send task failed: {e}"),
            ))
        })
}

async fn send(state: &ApiState, job: Job) -> Result<Outcome, StoreError> {
    let ttl = state.message_ttl();
    let conversation_ttl = std::time::Duration::from_secs(state.config.conversation_ttl_seconds);
    let now = Timestamp::now().unix_micros();
    let index = record::index_key(&job.account, &job.transport);
    let mut records = Vec::with_capacity(job.to.len());
    let mut bodies = Vec::with_capacity(job.to.len());
    let mut writes = Vec::with_capacity(3 * job.to.len() + 1);
    writes.push(Write::IndexTrim {
        key: index.clone(),
        below: now.saturating_sub(record::micros(ttl)),
    });
    for (to, text) in job.to.into_iter().zip(job.texts) {
        let msg = UserMessage::new(
            &job.transport,
            TRANSPORT_TYPE,
            &job.from,
            &to,
            Some(text.clone()),
        );
        let rec = Record {
            id: msg.message_id.clone(),
            account: job.account.clone(),
            transport: job.transport.clone(),
            to_msisdn: to,
            from_msisdn: job.from.clone(),
            message: text,
            transport_status: Status::Pending,
            delivered_at: None,
            created_at: now,
            updated_at: now,
        };
        writes.extend(record::writes(&rec, ttl));
        // Answers from this recipient belong to this account (see `events`).
        writes.push(Write::Put {
            key: record::conversation_key(&job.transport, &rec.to_msisdn),
            value: job.account.clone().into_bytes(),
            ttl: conversation_ttl,
        });
        bodies.push(Bytes::from(msg.encode()));
        records.push(rec);
    }
    state.store.write_batch(writes).await?;
    let key = format!("{}.outbound", job.transport);
    let deadline = tokio::time::Instant::now() + state.publish_timeout();
    let results = state.bus.publish_batch(&key, bodies, Some(deadline)).await;
    let mut outcome = Outcome {
        sent: Vec::with_capacity(records.len()),
        unconfirmed: Vec::new(),
        refused: Vec::new(),
    };
    let mut forget = Vec::new();
    for (rec, result) in records.into_iter().zip(results) {
        match result {
            Ok(()) => outcome.sent.push(rec),
            Err(BusError::Unconfirmed { .. }) => outcome.unconfirmed.push(rec),
            Err(e) => {
                // Never published: the record (and the conversation it opened) would only
                // mislead.
                forget.extend(record::forget_writes(&rec));
                forget.push(Write::Delete {
                    key: record::conversation_key(&job.transport, &rec.to_msisdn),
                });
                outcome.refused.push((rec.to_msisdn, e));
            }
        }
    }
    if !forget.is_empty()
        && let Err(e) = state.store.write_batch(forget).await
    {
        // The records stay as `pending` until their retention ends; status queries for ids
        // nobody was given are the only way to see them.
        tracing::warn!(message = "Cannot remove the records of messages not sent.", error = %e);
    }
    if !outcome.refused.is_empty() {
        tracing::warn!(
            message = "Send partly refused: the bus did not take every message.",
            transport = %job.transport,
            sent = outcome.sent.len(),
            refused = outcome.refused.len(),
            error = %outcome.refused[0].1
        );
    }
    Sent {
        transport: &job.transport,
        count: outcome.sent.len(),
    }
    .emit();
    Ok(outcome)
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
