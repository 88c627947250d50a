//! Callbacks: an account's `sms_received` and `sms_receipt` URLs, and the durable queue that
//! POSTs inbound messages and delivery receipts there as JSON.
//!
//! A callback is first written to the store (`api:cb:<id>`, scheduled in the index
//! `api:callbacks` by its next attempt time); only then is the bus delivery that caused it
//! acknowledged. A worker takes due callbacks, pushes each one's next attempt a lease ahead
//! (so a crash mid-POST means a retry, not a loss), POSTs, and on a 2xx answer forgets it. Any
//! other answer, a timeout or a refused connection schedules a retry after a backoff that
//! doubles from `api.callback_backoff_initial_seconds` up to `..._max_seconds`; after
//! `api.callback_max_attempts` attempts the callback is dropped with a warning. Delivery is
//! at least once: receivers should ignore a repeated `id`.
//!
//! Metrics: `richmond_api_callback_attempts_total{kind}`,
//! `richmond_api_callback_failures_total{kind,code}` and
//! `richmond_api_callbacks_total{kind,outcome=delivered|gave_up}`.
//! Where callbacks may connect is [`super::callback_policy`]'s to say (checked when a URL is
//! set and at every attempt; a refused address fails the attempt with code
//! `refused_address`).
//! Does not handle: https URLs (rejected when set; put a forwarding proxy on loopback).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::callback_policy::{GuardedResolver, Policy};
use super::config::ApiConfig;
use crate::store::{Store, StoreError};

/// The scheduling index of pending callbacks.
const QUEUE: &str = "api:callbacks";
/// How long the index and pending callbacks are kept at most.
const QUEUE_TTL: Duration = Duration::from_secs(30 * 86_400);
/// Callback settings do not expire.
const SETTINGS_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);
/// The callback client's connector: names resolved through the address policy.
type Connector = HttpConnector<GuardedResolver>;

/// Callbacks handled per pass of the worker.
const BATCH: usize = 32;

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
            "the address is not allowed for callbacks (loopback, private, link-local \
                    and other internal addresses need api.callback_allowed_networks)",
        );
    }
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https callbacks are not supported by this build; give an http URL \
                 (e.g. a local TLS-terminating proxy)",
            );
        }
        _ => return Err("not an absolute http:// URL"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host");
    }
    Ok(())
}

/// The host of `uri` when it is a literal address (`[::1]` unbracketed).
fn literal_ip(uri: &Uri) -> Option<std::net::IpAddr> {
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
    fn label(self) -> &'static str {
        match self {
            Self::Received => "sms_received",
            Self::Receipt => "sms_receipt",
        }
    }
}

/// One pending POST.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    kind: Kind,
    url: String,
    body: String,
    attempts: u32,
}

fn pending_key(id: &str) -> String {
    format!("api:cb:{id}")
}

fn now_micros() -> i64 {
    richmond_codecs::vumi::Timestamp::now().unix_micros()
}

/// The queue, cheap to clone.
#[derive(Clone)]
pub(crate) struct Queue {
    store: Store,
    wake: Arc<Notify>,
}

impl Queue {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            wake: Arc::default(),
        }
    }

    /// Stores a callback for delivery; returns once it is durable.
    ///
    /// # Errors
    /// When the store fails (the caller must not acknowledge what caused it).
    pub(crate) async fn enqueue(
        &self,
        kind: Kind,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let id = richmond_codecs::vumi::new_id();
        let pending = Pending {
            kind,
            url: url.to_owned(),
            body: body.to_string(),
            attempts: 0,
        };
        let bytes = serde_json::to_vec(&pending).unwrap_or_default();
        self.store.put(&pending_key(&id), &bytes, QUEUE_TTL).await?;
        self.store
            .index_add(QUEUE, &id, now_micros(), QUEUE_TTL)
            .await?;
        self.wake.notify_one();
        Ok(())
    }
}

/// The worker's settings.
struct Retry {
    max_attempts: u32,
    initial: f64,
    max: f64,
    timeout: Duration,
    /// Where callbacks may connect.
    policy: Arc<Policy>,
}

impl Retry {
    /// The delay after attempt number `attempts` (1-based) failed.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self.initial
            * 2f64.powi(i32::try_from(attempts.saturating_sub(1).min(30)).unwrap_or(30));
        Duration::from_secs_f64(exp.min(self.max))
    }
}

/// POSTs due callbacks until `stop`; a pass in progress finishes first.
pub(crate) async fn run(queue: Queue, config: &ApiConfig, stop: CancellationToken) {
    let retry = Retry {
        max_attempts: config.callback_max_attempts,
        initial: config.callback_backoff_initial_seconds,
        max: config.callback_backoff_max_seconds,
        timeout: Duration::from_secs_f64(config.callback_timeout_seconds),
        policy: Arc::new(config.callback_policy()),
    };
    let policy = retry.policy.clone();
    let client: Client<Connector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(
        HttpConnector::new_with_resolver(GuardedResolver::new(policy.clone())),
    );
    loop {
        let worked = match pass(&queue, &client, &retry).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(message = "Callback queue unavailable.", error = %e);
                0
            }
        };
        if worked == BATCH {
            if stop.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = queue.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// One pass: every due callback (up to [`BATCH`]) attempted concurrently.
async fn pass(
    queue: &Queue,
    client: &Client<Connector, Full<Bytes>>,
    retry: &Retry,
) -> Result<usize, StoreError> {
    let due = queue
        .store
        .index_range(QUEUE, i64::MIN, now_micros(), BATCH)
        .await?;
    let n = due.len();
    let attempts = due
        .into_iter()
        .map(|(id, _)| attempt(queue, client, retry, id));
    for r in futures_util::future::join_all(attempts).await {
        r?;
    }
    Ok(n)
}

async fn attempt(
    queue: &Queue,
    client: &Client<Connector, Full<Bytes>>,
    retry: &Retry,
    id: String,
) -> Result<(), StoreError> {
    let store = &queue.store;
    let Some(mut pending) = store
        .get(&pending_key(&id))
        .await?
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
    else {
        return store.index_remove(QUEUE, &id).await;
    };
    // The lease: if this process dies mid-POST, the callback comes due again.
    let lease = retry.timeout + retry.backoff(pending.attempts + 1);
    store
        .index_add(QUEUE, &id, now_micros() + micros(lease), QUEUE_TTL)
        .await?;
    pending.attempts += 1;
    let kind = pending.kind.label();
    metrics::counter!("richmond_api_callback_attempts_total", "kind" => kind).increment(1);
    let outcome = post(client, &retry.policy, &pending, retry.timeout).await;
    match outcome {
        Ok(()) => {
            metrics::counter!("richmond_api_callbacks_total", "kind" => kind, "outcome" => "delivered")
                .increment(1);
            tracing::debug!(
                message = "Callback delivered.",
                kind,
                attempts = pending.attempts
            );
            store.delete(&pending_key(&id)).await?;
            store.index_remove(QUEUE, &id).await
        }
        Err(code) => {
            metrics::counter!("richmond_api_callback_failures_total", "kind" => kind, "code" => code)
                .increment(1);
            if pending.attempts >= retry.max_attempts {
                metrics::counter!("richmond_api_callbacks_total", "kind" => kind, "outcome" => "gave_up")
                    .increment(1);
                tracing::warn!(
                    message = "Callback given up.",
                    kind,
                    attempts = pending.attempts,
                    code
                );
                store.delete(&pending_key(&id)).await?;
                return store.index_remove(QUEUE, &id).await;
            }
            let delay = retry.backoff(pending.attempts);
            tracing::info!(
                message = "Callback failed; will retry.",
                kind,
                attempts = pending.attempts,
                code,
                retry_in_seconds = delay.as_secs_f64()
            );
            let bytes = serde_json::to_vec(&pending).unwrap_or_default();
            store.put(&pending_key(&id), &bytes, QUEUE_TTL).await?;
            store
                .index_add(QUEUE, &id, now_micros() + micros(delay), QUEUE_TTL)
                .await
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

/// One POST; `Err` is a failure code for the metric.
async fn post(
    client: &Client<Connector, Full<Bytes>>,
    policy: &Policy,
    pending: &Pending,
    timeout: Duration,
) -> Result<(), &'static str> {
    let uri: Uri = pending.url.parse().map_err(|_| "bad_url")?;
    // Literal addresses skip the resolver: checked here, at every attempt.
    if literal_ip(&uri).is_some_and(|ip| !policy.permits(ip)) {
        return Err("refused_address");
    }
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("richmond/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(pending.body.clone())))
        .map_err(|_| "bad_url")?;
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => Err("timeout"),
        Ok(Err(e)) if format!("{e:?}").contains("callback address policy") => {
            Err("refused_address")
        }
        Ok(Err(_)) => Err("connect"),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) if response.status().is_server_error() => Err("status_5xx"),
        Ok(Ok(_)) => Err("status_other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
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
        assert!(check_url("https://example.invalid/mo", &open).is_err());
        assert!(check_url("ftp://x/", &open).is_err());
        assert!(check_url("/relative", &open).is_err());
        assert!(check_url("not a url", &open).is_err());
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let r = Retry {
            max_attempts: 5,
            initial: 1.0,
            max: 5.0,
            timeout: Duration::from_secs(1),
            policy: Arc::default(),
        };
        let secs: Vec<u64> = (1..=5).map(|a| r.backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 5, 5]);
    }
}
