//! The callback worker: POSTs due callbacks from every account's queue, each attempt as its
//! own task, at most [`PER_ACCOUNT`] at once per account and [`TOTAL`] in all, so one
//! account's black-holed or slow receiver never delays another account's callbacks (it only
//! ties up its own few places until `api.callback_timeout_seconds`). On a shared (Redis)
//! store the callback's next attempt is pushed a lease ahead before each POST, so another
//! gateway does not take it meanwhile; a crash mid-POST means a retry, never a loss; a 2xx forgets it, anything else schedules a retry with doubling backoff, up to
//! `api.callback_max_attempts`. Where a callback may connect is
//! [`super::callback_policy`]'s to say.
//!
//! Does not handle: what is queued (see [`super::callbacks`]).

use super::telemetry::Callback;
use richmond_drivers::telemetry::Event as _;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::callback_client::CallbackClient;
use super::callback_policy::Policy;
use super::callbacks::{
    Pending, QUEUE, QUEUE_TTL, Queue, account_index, legacy_account_index, literal_ip, now_micros,
    pending_key, schedule,
};
use super::config::ApiConfig;
use crate::store::{StoreError, Write};

/// Attempts under way at once for one account: each attempt waits for a store commit (two
/// on Redis) besides its POST, so 16 carry ~1,500 callbacks/s to a quick receiver.
pub(super) const PER_ACCOUNT: usize = 16;
/// Attempts under way at once in all.
pub(super) const TOTAL: usize = 128;

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

/// POSTs due callbacks until `stop`; attempts under way get a few seconds to finish (an
/// attempt cut short keeps its lease and is retried).
pub(crate) async fn run(
    queue: Queue,
    config: &ApiConfig,
    accounts: &super::auth::Accounts,
    stop: CancellationToken,
) {
    let retry = Arc::new(Retry {
        max_attempts: config.callback_max_attempts,
        initial: config.callback_backoff_initial_seconds,
        max: config.callback_backoff_max_seconds,
        timeout: Duration::from_secs_f64(config.callback_timeout_seconds),
        policy: Arc::new(config.callback_policy()),
    });
    let client = match super::callback_client::new(
        retry.policy.clone(),
        config.callback_tls_ca_file.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(message = "Cannot make the callback client; callbacks stay queued.", error = %e);
            return;
        }
    };
    // Every account's queue, and those of callbacks queued by older versions (one shared,
    // then per account under the settings' key).
    let mut indexes: Vec<String> = config
        .accounts
        .iter()
        .map(|a| account_index(&a.username))
        .collect();
    indexes.push(QUEUE.to_owned());
    if matches!(queue.store, crate::store::Store::Redb(_)) {
        indexes.extend(
            config
                .accounts
                .iter()
                .map(|a| legacy_account_index(&a.username)),
        );
    }
    let mut running: JoinSet<()> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, (String, String)> = HashMap::new();
    let mut busy: HashMap<String, usize> = HashMap::new();
    let mut ids: HashSet<String> = HashSet::new();
    loop {
        // Accounts a SIGHUP added have queues too (a removed account's is still drained).
        for name in accounts.names() {
            let index = account_index(&name);
            if !indexes.contains(&index) {
                indexes.push(index);
            }
        }
        for index in &indexes {
            let taken = busy.get(index).copied().unwrap_or(0);
            let free = PER_ACCOUNT
                .saturating_sub(taken)
                .min(TOTAL.saturating_sub(running.len()));
            if free == 0 {
                continue;
            }
            let due = match queue
                .store
                .index_range(index, i64::MIN, now_micros(), free + taken)
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(message = "Callback queue unavailable.", error = %e);
                    break;
                }
            };
            for (id, _) in due {
                if busy.get(index).copied().unwrap_or(0) >= PER_ACCOUNT || running.len() >= TOTAL {
                    break;
                }
                if !ids.insert(id.clone()) {
                    continue;
                }
                *busy.entry(index.clone()).or_default() += 1;
                let (q, c, r, idx, cb) = (
                    queue.clone(),
                    client.clone(),
                    retry.clone(),
                    index.clone(),
                    id.clone(),
                );
                let handle = running.spawn(async move {
                    if let Err(e) = attempt(&q, &c, &r, &idx, cb).await {
                        tracing::warn!(message = "Callback queue unavailable.", error = %e);
                    }
                });
                tasks.insert(handle.id(), (index.clone(), id));
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let task = match done {
                    Ok((task, ())) => task,
                    Err(e) => e.id(),
                };
                if let Some((index, id)) = tasks.remove(&task) {
                    ids.remove(&id);
                    if let Some(n) = busy.get_mut(&index) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            () = queue.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while running.join_next().await.is_some() {}
    })
    .await;
    running.shutdown().await;
}

async fn attempt(
    queue: &Queue,
    client: &CallbackClient,
    retry: &Retry,
    index: &str,
    id: String,
) -> Result<(), StoreError> {
    let store = &queue.store;
    let Some(mut pending) = store
        .get(&pending_key(&id))
        .await?
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
    else {
        store.index_remove(index, &id).await?;
        queue.left(index, false);
        return Ok(());
    };
    // The lease, where other gateways share the queue (Redis): none of them takes this
    // callback while it is under way here, and if this process dies mid-POST it comes due
    // again after the lease. On redb the file belongs to this process alone: the callback
    // stays due, this worker skips the ones under way, and after a crash it is retried at
    // once; one commit per attempt is saved.
    if matches!(store, crate::store::Store::Redis(_)) {
        let lease = retry.timeout + retry.backoff(pending.attempts + 1);
        store
            .index_add(index, &id, now_micros() + micros(lease), QUEUE_TTL)
            .await?;
    }
    pending.attempts += 1;
    let kind = pending.kind.label();
    Callback::Attempt { kind }.emit();
    let outcome = post(client, &retry.policy, &pending, retry.timeout).await;
    match outcome {
        Ok(()) => {
            Callback::Delivered {
                kind,
                attempts: pending.attempts,
            }
            .emit();
            store.write_batch(forget(index, &id)).await?;
            queue.left(index, true);
            Ok(())
        }
        Err(code) => {
            if pending.attempts >= retry.max_attempts {
                Callback::GaveUp {
                    kind,
                    attempts: pending.attempts,
                    code,
                }
                .emit();
                store.write_batch(forget(index, &id)).await?;
                queue.left(index, false);
                return Ok(());
            }
            let delay = retry.backoff(pending.attempts);
            Callback::Failed {
                kind,
                attempts: pending.attempts,
                code,
                retry_in: delay.as_secs_f64(),
            }
            .emit();
            store
                .write_batch(schedule(index, id, &pending, now_micros() + micros(delay)))
                .await
        }
    }
}

/// The writes that drop callback `id` and its place in `index`, in one commit.
fn forget(index: &str, id: &str) -> Vec<Write> {
    vec![
        Write::Delete {
            key: pending_key(id),
        },
        Write::IndexRemove {
            key: index.to_owned(),
            member: id.to_owned(),
        },
    ]
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

/// One POST; `Err` is a failure code for the metric.
async fn post(
    client: &CallbackClient,
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
        Ok(Err(e)) => Err(failure_code(&e)),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) if response.status().is_server_error() => Err("status_5xx"),
        Ok(Ok(_)) => Err("status_other"),
    }
}

/// Why a request got no answer, as a metric label: `refused_address` (the address policy),
/// `tls` (the handshake) or `connect`.
pub(crate) fn failure_code(e: &hyper_util::client::legacy::Error) -> &'static str {
    if format!("{e:?}").contains("callback address policy") {
        "refused_address"
    } else if is_tls_failure(e) {
        "tls"
    } else {
        "connect"
    }
}

/// Whether a failed request failed in the TLS handshake (an untrusted or wrong-name
/// certificate, a receiver that does not speak TLS).
fn is_tls_failure(e: &hyper_util::client::legacy::Error) -> bool {
    // The connector wraps rustls's error in io::Errors (nested): their payload is looked at,
    // as `source()` of an io::Error skips it.
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            return true;
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

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
