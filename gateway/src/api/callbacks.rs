//! Callbacks: an account's `sms_received` and `sms_receipt` URLs, and the durable queue that
//! POSTs inbound messages and delivery receipts there as JSON.
//!
//! A callback is first written to the store (`api:cb:<id>`, scheduled in its account's index
//! `api:cbq:<account>` by its next attempt time); only then is the bus delivery that
//! caused it acknowledged. [`super::callback_worker`] POSTs them: each account's queue on its
//! own places, so one slow receiver never delays another account's callbacks. Delivery is at
//! least once: receivers should ignore a repeated `id`.
//!
//! Each account's queue holds at most `api.callback_queue_max` callbacks. When it is full
//! and the account's receiver took a callback within the last [`HEALTHY_FOR`], the new one
//! waits for room (the bus delivery that caused it stays unacknowledged, so a burst beyond
//! what the receiver takes backs up on the bus, durable, instead of being lost); when the
//! receiver has taken none for that long, it is dropped, counted and logged (a receiver down
//! for long must not fill the disk, nor hold up other accounts' events). The wait is not
//! per account: while it lasts, the event holds its lane of the API's consumer
//! ([`super::events`]), so other accounts' events on the same transport slow to the live
//! receiver's pace until its queue has room. After a restart an account counts as not alive
//! until its receiver takes one callback.
//!
//! Metrics: `richmond_api_callback_attempts_total{kind}`,
//! `richmond_api_callback_failures_total{kind,code}` and
//! `richmond_api_callbacks_total{kind,outcome=delivered|gave_up|dropped}`,
//! `richmond_api_callback_queue_waits_total`.
//! Where callbacks may connect is [`super::callback_policy`]'s to say (checked when a URL is
//! set and at every attempt; a refused address fails the attempt with code
//! `refused_address`).
//! `https://` URLs are verified against the system's roots or `api.callback_tls_ca_file`
//! ([`super::callback_client`]).

use super::telemetry::Callback;
use richmond_drivers::telemetry::Event as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::Uri;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::callback_policy::Policy;
use crate::store::{Store, StoreError, Write};

/// The scheduling index of callbacks queued before queues were per account (drained too).
pub(super) const QUEUE: &str = "api:callbacks";
/// How long the index and pending callbacks are kept at most.
pub(super) const QUEUE_TTL: Duration = Duration::from_secs(30 * 86_400);
/// Callback settings do not expire.
const SETTINGS_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// An account's callback URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) sms_received: Option<String>,
    pub(crate) sms_receipt: Option<String>,
}

fn settings_key(account: &str) -> String {
    format!("api:callbacks:{account}")
}

/// Reads an account's callbacks (none set: defaults).
///
/// # Errors
/// When the store fails.
pub(crate) async fn settings(store: &Store, account: &str) -> Result<Settings, StoreError> {
    Ok(store
        .get(&settings_key(account))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// Replaces an account's callbacks.
///
/// # Errors
/// When the store fails.
pub(crate) async fn save_settings(
    store: &Store,
    account: &str,
    settings: &Settings,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(settings).unwrap_or_default();
    store
        .put(&settings_key(account), &bytes, SETTINGS_TTL)
        .await
}

/// Checks a callback URL; `Err` is the reason.
pub(crate) fn check_url(url: &str, policy: &Policy) -> Result<(), &'static str> {
    if url.len() > 2048 {
        return Err("the URL is longer than 2048 bytes");
    }
    let uri: Uri = url.parse().map_err(|_| "not a URL")?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("user information (user:password@) is not allowed in a callback URL");
    }
    if let Some(ip) = literal_ip(&uri)
        && !policy.permits(ip)
    {
        return Err(
            "the address is not allowed (loopback, private, link-local and other internal \
             addresses must be listed: api.callback_allowed_networks for API callbacks, \
             allowed_networks for an http_relay application)",
        );
    }
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("not an absolute http:// or https:// URL"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host");
    }
    Ok(())
}

/// The host of `uri` when it is a literal address (`[::1]` unbracketed).
pub(crate) fn literal_ip(uri: &Uri) -> Option<std::net::IpAddr> {
    let host = uri.host()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// An inbound message (`sms_received`).
    Received,
    /// A status change of a sent message (`sms_receipt`).
    Receipt,
}

impl Kind {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Received => "sms_received",
            Self::Receipt => "sms_receipt",
        }
    }
}

/// One pending POST.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) kind: Kind,
    pub(super) url: String,
    pub(super) body: String,
    pub(super) attempts: u32,
}

pub(super) fn pending_key(id: &str) -> String {
    format!("api:cb:{id}")
}

/// The scheduling index of `account`'s pending callbacks (each account its own, so one slow
/// receiver never holds up another's callbacks).
pub(super) fn account_index(account: &str) -> String {
    format!("api:cbq:{account}")
}

/// Where an earlier version kept `account`'s queue: the settings' key, which only redb can
/// hold as an index beside a value (on Redis it made every enqueue fail), so only redb
/// drains it.
pub(super) fn legacy_account_index(account: &str) -> String {
    format!("api:callbacks:{account}")
}

pub(super) fn now_micros() -> i64 {
    richmond_codecs::vumi::Timestamp::now().unix_micros()
}

/// A receiver that took a callback this recently is alive: a full queue waits for it.
pub(super) const HEALTHY_FOR: Duration = Duration::from_secs(30);

/// The writes that store `pending` as callback `id` and schedule it in `index` at `due`
/// (microseconds), in one commit.
pub(super) fn schedule(index: &str, id: String, pending: &Pending, due: i64) -> Vec<Write> {
    vec![
        Write::Put {
            key: pending_key(&id),
            value: serde_json::to_vec(pending).unwrap_or_default(),
            ttl: QUEUE_TTL,
        },
        Write::IndexAdd {
            key: index.to_owned(),
            member: id,
            score: due,
            ttl: QUEUE_TTL,
        },
    ]
}

/// The queue, cheap to clone.
#[derive(Clone)]
pub(crate) struct Queue {
    pub(super) store: Store,
    pub(super) wake: Arc<Notify>,
    /// Told when a callback leaves a queue (delivered or given up).
    room: Arc<Notify>,
    /// When each account's receiver (by queue index) last took a callback.
    taken: Arc<Mutex<HashMap<String, Instant>>>,
    /// Callbacks waiting per account at most.
    max: usize,
}

impl Queue {
    pub(crate) fn new(store: Store, max: usize) -> Self {
        Self {
            store,
            wake: Arc::default(),
            room: Arc::default(),
            taken: Arc::default(),
            max,
        }
    }

    /// The worker: a callback of `index` left the queue, `delivered` or given up.
    pub(super) fn left(&self, index: &str, delivered: bool) {
        if delivered {
            self.taken
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(index.to_owned(), Instant::now());
        }
        self.room.notify_waiters();
    }

    /// Whether the receiver of `index` took a callback within [`HEALTHY_FOR`].
    fn receiver_alive(&self, index: &str) -> bool {
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(index)
            .is_some_and(|t| t.elapsed() < HEALTHY_FOR)
    }

    /// Waits until the queue `index` has room; false when it is full and its receiver is not
    /// alive (the callback is then to be dropped).
    async fn room_for(&self, index: &str) -> Result<bool, StoreError> {
        let mut waited = false;
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.store.index_len(index, self.max).await? < self.max {
                return Ok(true);
            }
            if !self.receiver_alive(index) {
                return Ok(false);
            }
            if !waited {
                waited = true;
                Callback::Waiting.emit();
            }
            // Re-checked at least every second: a Redis queue may drain in another gateway.
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
        }
    }

    /// Stores a callback for delivery; returns once it is durable. When the account's queue
    /// is full it waits for room while the receiver is alive, else the callback is dropped
    /// (counted and logged) and it returns at once.
    ///
    /// # Errors
    /// When the store fails (the caller must not acknowledge what caused it).
    pub(crate) async fn enqueue(
        &self,
        kind: Kind,
        account: &str,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.enqueue_with(kind, account, url, body, Vec::new())
            .await
    }

    /// [`enqueue`](Self::enqueue), committing `writes` (say the record whose change the
    /// callback reports) in the same transaction: they are written only once the callback
    /// has room or is dropped, so a wait cut short writes nothing and the bus delivery that
    /// caused both is handled again in full.
    ///
    /// # Errors
    /// When the store fails (nothing was written).
    pub(crate) async fn enqueue_with(
        &self,
        kind: Kind,
        account: &str,
        url: &str,
        body: &serde_json::Value,
        mut writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        let index = account_index(account);
        if !self.room_for(&index).await? {
            Callback::Dropped {
                kind: kind.label(),
                account,
                max: self.max,
            }
            .emit();
            return if writes.is_empty() {
                Ok(())
            } else {
                self.store.write_batch(writes).await
            };
        }
        let id = richmond_codecs::vumi::new_id();
        let pending = Pending {
            kind,
            url: url.to_owned(),
            body: body.to_string(),
            attempts: 0,
        };
        writes.extend(schedule(&index, id, &pending, now_micros()));
        self.store.write_batch(writes).await?;
        self.wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        use super::check_url;
        let open = Policy::new(&["127.0.0.0/8".into()]).unwrap();
        let strict = Policy::default();
        assert!(check_url("http://127.0.0.1:9000/mo", &open).is_ok());
        assert!(check_url("http://127.0.0.1:9000/mo", &strict).is_err());
        for internal in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9464/metrics",
            "http://10.0.0.1/x",
            "http://0.0.0.0/",
        ] {
            assert!(check_url(internal, &strict).is_err(), "{internal}");
        }
        assert!(check_url("http://receiver.example.com/mo", &strict).is_ok());
        assert!(check_url("http://user:pw@receiver.example.com/mo", &strict).is_err());
        let long = format!("http://receiver.example.com/{}", "a".repeat(2048));
        assert!(check_url(&long, &strict).is_err());
        assert!(check_url("https://receiver.example.com/mo", &strict).is_ok());
        assert!(check_url("https://127.0.0.1/mo", &strict).is_err());
        assert!(check_url("ftp://x/", &open).is_err());
        assert!(check_url("/relative", &open).is_err());
        assert!(check_url("not a url", &open).is_err());
    }
}
