//! The API's HTTP/1.1 front door, bounded so that slow or idle clients cannot exhaust the
//! process: at most `api.max_connections` connections (beyond that, new ones wait in the
//! kernel's backlog), each closed when a request's header has not fully arrived within
//! `api.header_timeout_seconds` — which also closes a kept-alive connection left idle that
//! long — and, per request ([`read_body`]), at most `api.max_concurrent_requests` handled at
//! once and the body read within `api.request_timeout_seconds` and `api.max_body_bytes`.
//!
//! With TLS ([`crate::listener_tls`]) the handshake runs in the connection's own task and
//! must finish within the header timeout too (a failed one is counted in
//! `richmond_listener_tls_failures_total{listener}`). The admin listener is served the same
//! way.
//!
//! Written on hyper's connection builder rather than `axum::serve`, which has no header-read
//! timeout or connection cap. Does not handle: routing (see `super`).

use super::telemetry::{AcceptFailed, Connection, HandshakeFailed, Listener, TimedOut};
use richmond_drivers::telemetry::Event as _;
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
use crate::listener_tls::ListenerTls;

/// The source address of a request's connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) std::net::IpAddr);

/// The front door's bounds, from `[api]`, and its TLS.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) header_timeout: Duration,
    pub(crate) max_connections: usize,
    /// Serve TLS with this certificate (reloadable), or plain HTTP.
    pub(crate) tls: Option<Arc<ListenerTls>>,
    /// Which listener this is (its connection and accept-error metrics).
    pub(crate) listener: Listener,
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
                    AcceptFailed {
                        listener: limits.listener,
                        error: &e,
                    }
                    .emit();
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
        let (header_timeout, tls, gauge) =
            (limits.header_timeout, limits.tls.clone(), limits.listener);
        tracker.spawn(async move {
            let _permit = permit;
            let Some(tls) = tls else {
                return connection(TokioIo::new(stream), service, header_timeout, gauge, stop)
                    .await;
            };
            let server = tls.server();
            let handshake = tokio::time::timeout(header_timeout, server.accept(stream));
            let stream = tokio::select! {
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        return HandshakeFailed {
                            listener: tls.listener(),
                            error: Some(&e),
                        }
                        .emit();
                    }
                    Err(_) => {
                        return HandshakeFailed {
                            listener: tls.listener(),
                            error: None,
                        }
                        .emit();
                    }
                },
                () = stop.cancelled() => return,
            };
            connection(TokioIo::new(stream), service, header_timeout, gauge, stop).await;
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Serves one connection until it ends or `stop` (then its request in progress finishes).
async fn connection<I, S>(
    io: I,
    service: S,
    header_timeout: Duration,
    listener: Listener,
    stop: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Connection {
        listener,
        open: true,
    }
    .emit();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(message = "Connection ended with an error.", error = %e);
    }
    Connection {
        listener,
        open: false,
    }
    .emit();
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
        TimedOut.emit();
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
            TimedOut.emit();
            return ApiError::Timeout.into_response();
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
