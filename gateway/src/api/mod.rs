//! The HTTP API (issue #7): Richmond-compatible send, template send, status and callbacks, so
//! that a user without an AMQP application can send and receive SMS over plain HTTP.
//!
//! For each transport in `api.transports` the API is that transport's Vumi application: a
//! send publishes a `user_message` to `<transport>.outbound` (the returned `id` is its
//! `message_id`); [`events`] consumes `<transport>.event` to move the message's
//! `transport_status` and `<transport>.inbound` to call the accounts' `sms_received` URLs. The
//! transport may run in this process or in another Richmond on the same RabbitMQ.
//!
//! Layout:
//! - [`config`]: the `[api]` section; [`auth`]: Basic auth (argon2) and tokens, the rate
//!   limit; [`credentials`]: the verified-credential cache, the argon2 pool, token digests;
//! - [`send`]: one send's records and messages, written as two batches;
//! - [`handlers`]: the endpoints; [`input`]: bodies, MSISDNs, dates, templates;
//! - [`record`]: message records and the status state machine, in the state store;
//! - [`events`]: the bus consumers; [`callbacks`]: the durable callback queue and its worker;
//!   [`callback_policy`]: which addresses callbacks may reach;
//! - [`openapi`]: the description at `/api/v1/openapi.json`; [`error`]: error answers;
//! - [`listener`]: the bounded front door (connections, header and body timeouts, limits).
//!
//! Metrics: `richmond_api_requests_total{route,status}`,
//! `richmond_api_request_duration_seconds{route}`, `richmond_api_rate_limited_total`,
//! `richmond_api_messages_sent_total{transport}`, plus those of [`events`] and [`callbacks`].
//! Logs carry ids, counts and codes; MSISDNs and message text are never logged at info.
//! Shutdown: on the intake token the listener stops accepting, in-flight requests finish, the
//! consumers stop between messages and the callback worker after its current pass.

pub mod auth;
pub mod callback_client;
pub mod callback_policy;
pub mod callback_worker;
pub mod callbacks;
pub mod config;
pub mod credentials;
mod directory;
pub mod error;
pub mod events;
pub mod handlers;
pub mod input;
pub mod listener;
pub mod login_limit;
pub mod openapi;
pub mod record;
pub mod send;
pub mod telemetry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::config::ApiConfig;
pub use self::error::ApiError;
use crate::bus::Bus;
use crate::store::Store;

/// What every handler and consumer shares; cheap to clone.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) config: Arc<ApiConfig>,
    pub(crate) accounts: auth::Accounts,
    pub(crate) bus: Bus,
    pub(crate) store: Store,
    pub(crate) callbacks: callbacks::Queue,
    /// The gateway's task tracker: sends run on it, so a stop waits for them before the bus
    /// closes.
    pub(crate) tasks: TaskTracker,
    openapi: Arc<serde_json::Value>,
}

impl ApiState {
    pub(crate) fn message_ttl(&self) -> Duration {
        Duration::from_secs(self.config.message_ttl_seconds)
    }

    pub(crate) fn publish_timeout(&self) -> Duration {
        Duration::from_secs(self.config.publish_timeout_seconds)
    }
}

/// The API routes over `state`: every route but `openapi.json` authenticates the caller
/// before anything of the body is read, then reads the body within the request bounds.
fn router(state: ApiState) -> Router {
    let limits = listener::RequestLimits {
        timeout: Duration::from_secs(state.config.request_timeout_seconds),
        max_body_bytes: state.config.max_body_bytes(),
        running: Arc::new(tokio::sync::Semaphore::new(
            state.config.max_concurrent_requests,
        )),
    };
    let authenticated = Router::new()
        .route("/api/v1/sms/{transport}/send.json", post(handlers::send))
        .route(
            "/api/v1/sms/{transport}/template_send.json",
            post(handlers::template_send),
        )
        .route(
            "/api/v1/sms/{transport}/status.json",
            get(handlers::status_list),
        )
        .route(
            "/api/v1/sms/{transport}/status/{file}",
            get(handlers::status_one),
        )
        .route(
            "/api/v1/account/callbacks.json",
            put(handlers::put_callbacks),
        )
        .route_layer(middleware::from_fn_with_state(limits, listener::read_body))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(authenticated)
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(|| async { ApiError::NoRoute })
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Middleware: authenticates the caller (401, 429, 503 `busy`) and hands the account to the
/// handler, before the body is read.
async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<listener::ClientAddr>()
        .map(|c| c.0);
    match state.accounts.authenticate(request.headers(), peer).await {
        Ok(account) => {
            request.extensions_mut().insert(account);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

async fn openapi(State(state): State<ApiState>) -> Response {
    axum::Json(state.openapi.as_ref().clone()).into_response()
}

/// Counts and times every request by its route pattern (a bounded label).
async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    richmond_drivers::telemetry::Event::emit(telemetry::Served {
        route,
        status,
        seconds: started.elapsed().as_secs_f64(),
    });
    response
}

/// A listening socket with a deep accept queue (4096, capped by the kernel's somaxconn):
/// bursts of new connections wait there instead of being dropped.
fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(4096)
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listener's certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The address cannot be bound (in use, not this host's, a privileged port).
    #[error("api.address {address}: cannot listen")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds the API listener and starts it, the bus consumers of every served transport and the
/// callback worker on `tracker`; all stop when `intake` is cancelled.
///
/// # Errors
/// When the certificate cannot be loaded or the address cannot be bound.
pub async fn spawn(
    config: &ApiConfig,
    bus: &Bus,
    store: &Store,
    instances: u32,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<(Option<Arc<crate::listener_tls::ListenerTls>>, Reload), StartError> {
    let tls = crate::listener_tls::ListenerTls::new(
        "api",
        config.tls_cert_file.as_deref(),
        config.tls_key_file.as_deref(),
    )
    .map_err(StartError::Tls)?;
    let tcp = listen(config.address).map_err(|source| StartError::Listen {
        address: config.address,
        source,
    })?;
    let state = ApiState {
        config: Arc::new(config.clone()),
        accounts: auth::Accounts::new(config).shared_by(store, instances),
        bus: bus.clone(),
        store: store.clone(),
        callbacks: callbacks::Queue::new(store.clone(), config.callback_queue_max),
        tasks: tracker.clone(),
        openapi: Arc::new(openapi::document(config)),
    };
    for id in &config.transports {
        // As in app::run: a refused topology is logged, the bus retries it.
        if let Err(e) = bus.declare_transport(id).await {
            tracing::error!(message = "Cannot declare the transport's queues.", transport = %id, error = %e);
        }
        tracker.spawn(events::run_events(
            state.clone(),
            id.clone(),
            intake.clone(),
        ));
        tracker.spawn(events::run_inbound(
            state.clone(),
            id.clone(),
            intake.clone(),
        ));
    }
    let (queue, api, stop, accounts) = (
        state.callbacks.clone(),
        state.config.clone(),
        intake.clone(),
        state.accounts.clone(),
    );
    tracker.spawn(async move { callback_worker::run(queue, &api, &accounts, stop).await });
    let limits = listener::Limits {
        header_timeout: Duration::from_secs(config.header_timeout_seconds),
        max_connections: config.max_connections,
        tls: tls.clone(),
        listener: telemetry::Listener::Api,
    };
    let reload = Reload {
        accounts: state.accounts.clone(),
        transports: config.transports.clone(),
        default_inbound_account: config.default_inbound_account.clone(),
    };
    let app = router(state);
    tracker.spawn(listener::serve(tcp, app, limits, intake.clone()));
    tracing::info!(message = "API listener up.", address = %config.address, transports = config.transports.len(), tls = tls.is_some());
    Ok((tls, reload))
}

/// What of a running API a SIGHUP can change: the accounts (names, passwords, tokens,
/// numbers, keywords, rate limits), while `api.transports` and `default_inbound_account`
/// stay as they started (the queues served, and where unowned messages go).
pub struct Reload {
    accounts: auth::Accounts,
    transports: Vec<String>,
    default_inbound_account: Option<String>,
}

impl Reload {
    /// Takes `config`'s accounts (already validated); returns how many there are now.
    ///
    /// # Errors
    /// When `api.transports` or `api.default_inbound_account` changed: those take a
    /// restart, and accounts read against them would not match what runs.
    pub fn accounts(&self, config: &ApiConfig) -> Result<usize, String> {
        if config.transports != self.transports
            || config.default_inbound_account != self.default_inbound_account
        {
            return Err(
                "api.transports and api.default_inbound_account take a restart; the accounts \
                 were not reloaded"
                    .into(),
            );
        }
        Ok(self.accounts.reload(config))
    }
}
