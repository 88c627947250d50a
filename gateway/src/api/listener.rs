//! The API's HTTP/1.1 front door, bounded so that slow or idle clients cannot exhaust the
//! process: at most `api.max_connections` connections (beyond that, new ones wait in the
//! kernel's backlog), each closed when a request's header has not fully arrived within
//! `api.header_timeout_seconds` — which also closes a kept-alive connection left idle that
//! long — and, per request ([`read_body`]), at most `api.max_concurrent_requests` handled at
//! once and the body read within `api.request_timeout_seconds` and `api.max_body_bytes`.
//!
//! Written on hyper's connection builder rather than `axum::serve`, which has no header-read
//! timeout or connection cap. Does not handle: TLS (put a proxy in front), routing
//! (see `super`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ApiError;

/// The source address of a request's connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) std::net::IpAddr);

/// The front door's bounds, from `[api]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// Serves `app` on `listener` until `stop`; then stops accepting, lets each connection finish
/// its request in progress and returns when all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    metrics::counter!("richmond_api_accept_errors_total").increment(1);
                    tracing::warn!(message = "API accept failed; retrying shortly.", error = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // Every request learns the address it came from (the failed-login limit).
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer.ip()));
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, request).await }
        });
        let stop = stop.clone();
        metrics::gauge!("richmond_api_connections").increment(1.0);
        tracker.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(message = "API connection ended with an error.", error = %e);
            }
            metrics::gauge!("richmond_api_connections").decrement(1.0);
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Per-request bounds, shared by every connection of one listener.
#[derive(Clone)]
pub(crate) struct RequestLimits {
    /// How long reading the body (after authentication) may take.
    pub(crate) timeout: Duration,
    /// Largest body accepted.
    pub(crate) max_body_bytes: usize,
    /// Places for requests being handled.
    pub(crate) running: Arc<Semaphore>,
}

/// Middleware, run after authentication: takes one of the concurrent-request places, then
/// reads the whole body within the request timeout and the body limit (408 `timeout`, 413
/// `body_too_large`), and hands it on. The handler itself is not timed: a send bounds its
/// own wait for the bus (`publish_timeout_seconds`), and once a message is taken it is
/// followed to the end, so no timeout ever answers for a message that still goes out.
pub(crate) async fn read_body(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_place) = tokio::time::timeout(limits.timeout, limits.running.acquire()).await else {
        metrics::counter!("richmond_api_request_timeouts_total").increment(1);
        return ApiError::Timeout.into_response();
    };
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, limits.max_body_bytes);
    let collected =
        tokio::time::timeout(limits.timeout, http_body_util::BodyExt::collect(limited)).await;
    let bytes = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return ApiError::BodyTooLarge {
                max_bytes: limits.max_body_bytes,
            }
            .into_response();
        }
        Ok(Err(_)) => {
            return ApiError::invalid("body", "the body could not be read").into_response();
        }
        Err(_) => {
            metrics::counter!("richmond_api_request_timeouts_total").increment(1);
            return ApiError::Timeout.into_response();
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
