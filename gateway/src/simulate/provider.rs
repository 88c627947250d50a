//! What the HTTP-provider simulators share: starting (bind, announce, read commands, serve),
//! the queues of requests to fail, refuse or leave hanging (`fail`, `hang`, a provider's own
//! errors), and posting to the gateway with the provider's retries.
//!
//! Reference: reference/http-providers.md §1.1 (Clickatell retries callbacks it could not
//! deliver), §3.6 (Chikka re-posts until `Accepted`). Here every post is tried at most four
//! times, 200 ms apart: enough for a test to see the retries, bounded so a simulator never
//! posts forever.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use super::{Output, SimulateError, io};
use crate::transport::http_provider::client::{Answer, ProviderClient};

/// Binds `listen` and makes the client the simulator posts with.
///
/// # Errors
/// The address cannot be bound; the client cannot be made.
pub(crate) async fn start(
    listen: SocketAddr,
) -> Result<(tokio::net::TcpListener, ProviderClient), SimulateError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(io(format!("--listen {listen}")))?;
    let client = ProviderClient::new(Duration::from_secs(10), None)
        .map_err(|e| io("the HTTP client")(std::io::Error::other(e)))?;
    Ok((listener, client))
}

/// Announces the address (`listening`), hands each stdin line to `command`, and serves `app`
/// on `listener` until `stop`.
///
/// # Errors
/// Serving failed.
pub(crate) async fn serve<C, Fut>(
    listener: tokio::net::TcpListener,
    out: &Output,
    app: axum::Router,
    command: C,
    stop: CancellationToken,
) -> Result<(), SimulateError>
where
    C: Fn(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let address = listener.local_addr().map_err(io("the listener"))?;
    out.emit(&json!({"event": "listening", "address": address.to_string()}));
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            command(line.trim().to_owned()).await;
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(io("serving"))
}

/// What the next requests are told, in order (a command queues it, a request takes it).
pub(crate) struct Queue<T>(Mutex<Vec<T>>);

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<T: Clone> Queue<T> {
    /// Queues `n` requests answered `fate`.
    pub(crate) fn push(&self, fate: T, n: usize) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(std::iter::repeat_n(fate, n));
    }

    /// The fate of the next request, if one is queued.
    pub(crate) fn next(&self) -> Option<T> {
        let mut q = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!q.is_empty()).then(|| q.remove(0))
    }
}

/// HTTP misbehaviour: `Some(status)` an HTTP error, `None` no answer at all.
pub(crate) type Misbehave = Queue<Option<u16>>;

/// The count of a `fail`/`hang` command's optional argument (default 1).
pub(crate) fn count_arg(rest: &[&str]) -> usize {
    rest.first().and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// Posts `body` to `url` until `accepted` says yes of the answer (at most 4 tries); the last
/// status (none: no answer), body, and the tries made.
pub(crate) async fn post_until(
    client: &ProviderClient,
    url: &str,
    content_type: &str,
    body: &[u8],
    accepted: impl Fn(u16, &str) -> bool,
) -> (Option<u16>, String, u32) {
    let mut last = (None, String::new());
    for attempt in 1..=4 {
        last = match client.post(url, content_type, body.to_vec()).await {
            Answer::Status { status, body } => (Some(status), body),
            Answer::None { why } => (None, why.to_owned()),
        };
        if let (Some(status), body) = &last
            && accepted(*status, body)
        {
            return (last.0, last.1, attempt);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (last.0, last.1, 4)
}
