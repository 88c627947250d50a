//! `smitter`: the Vumi workshop's app. `+` joins, `-` leaves, anything else is broadcast to
//! every other member, and the sender is told how many got it. Membership lives in the state
//! store (an index per application: redb, or Redis so several gateway instances share it);
//! a broadcast goes to the bus as one batch.
//!
//! Reference: reference/routing-and-apps.md §6.3 (the texts; its quirks fixed here: the count
//! is of the members who get the broadcast, a `-` from a non-member is answered, not an error,
//! and membership survives a restart).

use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::vumi::UserMessage;
use serde::{Deserialize, Serialize};

use super::telemetry::Kind;
use crate::bus::Bus;
use crate::store::{Store, StoreError};

/// `[applications.<name>]` with `type = "smitter"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmitterConfig {
    /// The queues it uses (`<transport_name>.inbound` …); default: the application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_name: Option<String>,
    /// Members at most (a join beyond it is refused; a broadcast is one batch of this size).
    #[serde(default = "default_max_members")]
    pub max_members: usize,
    /// Membership is forgotten when nobody joined for this long (default a year).
    #[serde(default = "default_membership_ttl")]
    pub membership_ttl_seconds: u64,
}

const fn default_max_members() -> usize {
    10_000
}

const fn default_membership_ttl() -> u64 {
    365 * 24 * 3600
}

impl SmitterConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(1..=100_000).contains(&self.max_members) {
            return Err("max_members: 1 to 100000".into());
        }
        if !(3600..=10 * 365 * 24 * 3600).contains(&self.membership_ttl_seconds) {
            return Err("membership_ttl_seconds: 3600 (an hour) to 315360000 (ten years)".into());
        }
        Ok(())
    }
}

pub const JOINED: &str = "You have joined Smitter! SMS \"-\" to leave.";
pub const LEFT: &str = "You have left Smitter. SMS \"+\" to join.";
pub const NOT_A_MEMBER: &str = "You are not a member. SMS \"+\" to join.";
pub const FULL: &str = "Smitter is full; try again later.";

/// What one inbound message does.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Join,
    Leave,
    Broadcast(&'a str),
}

/// The command in `content` (`+` and `-` alone, white space around them ignored).
pub fn command(content: Option<&str>) -> Command<'_> {
    match content.map(str::trim) {
        Some("+") => Command::Join,
        Some("-") => Command::Leave,
        _ => Command::Broadcast(content.unwrap_or("")),
    }
}

/// The membership of one application in the store.
pub(super) struct Members<'a> {
    pub(super) store: &'a Store,
    pub(super) key: String,
    pub(super) config: &'a SmitterConfig,
}

impl Members<'_> {
    async fn all(&self) -> Result<Vec<String>, StoreError> {
        let all = self
            .store
            .index_range(&self.key, i64::MIN, i64::MAX, self.config.max_members + 1)
            .await?;
        Ok(all.into_iter().map(|(m, _)| m).collect())
    }
}

/// Handles one inbound message: the replies to publish (each a body for `<q>.outbound`), in
/// order — the broadcast first (as one batch), then the answer to the sender.
pub(super) async fn handle(
    members: &Members<'_>,
    msg: &UserMessage,
) -> Result<(Kind, Vec<Bytes>, Bytes), StoreError> {
    let sender = msg.from_addr.clone().unwrap_or_default();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros(),
    )
    .unwrap_or(i64::MAX);
    let reply = |text: String| Bytes::from(msg.reply(Some(text), false).encode());
    let ttl = Duration::from_secs(members.config.membership_ttl_seconds);
    match command(msg.content.as_deref()) {
        Command::Join => {
            let all = members.all().await?;
            if !all.contains(&sender) && all.len() >= members.config.max_members {
                return Ok((Kind::Refused, Vec::new(), reply(FULL.into())));
            }
            members
                .store
                .index_add(&members.key, &sender, now, ttl)
                .await?;
            Ok((Kind::Join, Vec::new(), reply(JOINED.into())))
        }
        Command::Leave => {
            let all = members.all().await?;
            if !all.contains(&sender) {
                return Ok((Kind::Refused, Vec::new(), reply(NOT_A_MEMBER.into())));
            }
            members.store.index_remove(&members.key, &sender).await?;
            Ok((Kind::Leave, Vec::new(), reply(LEFT.into())))
        }
        Command::Broadcast(text) => {
            let to: Vec<String> = members
                .all()
                .await?
                .into_iter()
                .filter(|m| *m != sender)
                .collect();
            let transport = msg.transport_name.as_deref().unwrap_or("");
            let from = msg.to_addr.as_deref().unwrap_or("");
            let kind = msg.transport_type.as_deref().unwrap_or("sms");
            let batch = to
                .iter()
                .map(|m| {
                    let out = UserMessage::new(transport, kind, from, m, Some(text.to_owned()));
                    Bytes::from(out.encode())
                })
                .collect();
            let answer = format!("Broadcast to {} members", to.len());
            Ok((Kind::Broadcast, batch, reply(answer)))
        }
    }
}

/// Publishes the broadcast batch, then the answer, to `<queues>.outbound`; false when the
/// bus closed before it took them all (the delivery is not acknowledged and comes back). Of a
/// batch the bus took only in part, only the refused messages are published again (with a
/// growing pause): sending the whole broadcast again would give its members duplicates.
pub(super) async fn publish(bus: &Bus, queues: &str, batch: Vec<Bytes>, answer: Bytes) -> bool {
    let key = format!("{queues}.outbound");
    let mut left = batch;
    let mut pause = Duration::from_millis(100);
    while !left.is_empty() {
        let results = bus.publish_batch(&key, left.clone(), None).await;
        if results
            .iter()
            .any(|r| matches!(r, Err(crate::bus::BusError::Closed)))
        {
            return false;
        }
        let refused: Vec<Bytes> = left
            .into_iter()
            .zip(&results)
            .filter(|(_, r)| r.is_err())
            .map(|(b, _)| b)
            .collect();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            tracing::warn!(message = "Broadcast not all published; publishing the rest again.", queues, left = refused.len(), error = %e);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        left = refused;
    }
    crate::transport::common::publish(
        bus,
        queues,
        "outbound",
        answer.to_vec(),
        crate::transport::common::OnRefusal::Hold,
    )
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::{Command, SmitterConfig, command};

    #[test]
    fn plus_joins_minus_leaves_and_the_rest_is_a_broadcast() {
        assert_eq!(command(Some("+")), Command::Join);
        assert_eq!(command(Some(" - ")), Command::Leave);
        assert_eq!(command(Some("+ hi")), Command::Broadcast("+ hi"));
        assert_eq!(command(Some("hello all")), Command::Broadcast("hello all"));
        assert_eq!(command(None), Command::Broadcast(""));
    }

    #[test]
    fn bounds_are_checked() {
        let mut c: SmitterConfig = toml::from_str("").unwrap();
        assert_eq!(c.validate(), Ok(()));
        c.max_members = 0;
        assert!(c.validate().unwrap_err().contains("max_members"));
    }
}
