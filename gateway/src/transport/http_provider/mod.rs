//! HTTP-provider transports (issue 22): SMS through an aggregator's HTTP API instead of an
//! SMPP link. Each provider is a Vumi transport like the others: `<id>.outbound` in, acked on
//! the bus only after the provider answered (`ack` or `nack` event); MO and delivery
//! notifications the provider posts to the transport's own listener go to `<id>.inbound` and
//! `<id>.event`, answered to the provider only once the bus owns them.
//!
//! Shared here: the outbound loop (a token bucket of `mt_tps` requests a second, retries with
//! doubling backoff on no answer and on 5xx, never on a definite refusal), the listener (the
//! API's hardened HTTP server: header timeout, connection cap) serving
//! `/api/v1/sms/<id>/<name>` for the names the provider posts to (GET and POST), its guards
//! (the inbound secret as `?secret=` or the HTTP Basic password, `allowed_networks`), and the
//! metrics.
//!
//! * [`chikka`] — Chikka (reference/http-providers.md §3).
//! * [`clickatell`] — Clickatell, legacy HTTP API or Platform (reference/http-providers.md §1).
//! * [`opera`] — Opera, XML-RPC out, XML posts in (reference/http-providers.md §2).
//!
//! Metrics: `richmond_http_provider_requests_total{transport,outcome}` (accepted, refused,
//! retried, later), `richmond_http_provider_posts_total{transport,kind,outcome}`.

pub(crate) mod chikka;
pub(crate) mod clickatell;
pub(crate) mod client;
mod config;
pub(crate) mod opera;
mod report;

pub(crate) use config::is_peso_amount;
pub use config::{ChikkaConfig, ClickatellApi, ClickatellConfig, HttpOptions, OperaConfig};
pub(crate) use report::{Reported, clip, refusal};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use metrics::counter;
use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Context;
use super::common::{self, OnRefusal};
use crate::api::callback_policy::Networks;
use crate::api::listener::{ClientAddr, Limits};
use client::{Answer, ProviderClient};
use richmond_drivers::telemetry::Metric;

/// What a provider's request for one message came to.
pub(crate) enum Outcome {
    /// Taken, under this provider id.
    Accepted(String),
    /// Refused for good (or no answer after every try): the nack's reason.
    Refused(String),
    /// Not tried (the store failed): back to the queue.
    Later(String),
}

/// A post from the provider to one of its paths, past the guards.
pub(crate) struct Post {
    /// The last path segment (one of [`Provider::PATHS`]).
    pub(crate) name: String,
    /// The query's fields (the secret left out), values as posted octets.
    pub(crate) query: Vec<(String, Vec<u8>)>,
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

impl Post {
    /// Whether the body says it is JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.content_type.contains("json")
    }
}

/// The answer to a post: status, content type, body.
pub(crate) type Reply = (u16, &'static str, String);

/// The id a provider gets for Vumi message `id`: the id without dashes when that is at most
/// 32 letters and digits (a Vumi UUID), else a new one (Chikka's `message_id` and
/// Clickatell's `climsgid` both take 32 alphanumerics).
pub(crate) fn provider_id(id: &str) -> String {
    let plain: String = id.chars().filter(|c| *c != '-').collect();
    if !plain.is_empty() && plain.len() <= 32 && plain.chars().all(|c| c.is_ascii_alphanumeric()) {
        plain
    } else {
        richmond_codecs::vumi::new_id()
    }
}

/// One provider's protocol.
pub(crate) trait Provider: Send + Sync + Sized + 'static {
    /// The names under `/api/v1/sms/<id>/` the provider posts to.
    const PATHS: &'static [&'static str];

    /// Sends `msg`.
    fn send(
        &self,
        shared: &Shared<Self>,
        msg: &UserMessage,
    ) -> impl Future<Output = Outcome> + Send;

    /// Handles what the provider posted: the status, content type and body to answer.
    fn inbound(&self, shared: &Arc<Shared<Self>>, post: Post)
    -> impl Future<Output = Reply> + Send;

    /// Runs once the ack of `msg` (sent under `provider_id`) is on the bus, so what it
    /// publishes (receipts that came early) follows the ack.
    fn after_ack(
        &self,
        _shared: &Shared<Self>,
        _msg: &UserMessage,
        _provider_id: &str,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A running provider transport.
pub(crate) struct Shared<P> {
    pub(crate) id: String,
    pub(crate) ctx: Context,
    pub(crate) client: ProviderClient,
    pub(crate) provider: P,
    pub(crate) receipt_ttl_seconds: u64,
    send_attempts: u32,
    retry_initial: Duration,
    inbound_secret: Option<String>,
    networks: Networks,
    bucket: Mutex<Bucket>,
    mt_tps: u32,
}

/// Requests allowed now: `mt_tps` tokens refilled at `mt_tps` a second.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<P: Provider> Shared<P> {
    /// Waits for a token of the `mt_tps` bucket (none without a limit).
    async fn throttle(&self) {
        if self.mt_tps == 0 {
            return;
        }
        loop {
            let wait = {
                let mut b = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                let rate = f64::from(self.mt_tps);
                b.tokens = rate.min(b.tokens + now.duration_since(b.at).as_secs_f64() * rate);
                b.at = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Publishes `body` to `<id>.<suffix>`; whether the bus took it.
    pub(crate) async fn publish(&self, suffix: &str, body: Vec<u8>) -> bool {
        match common::publish(&self.ctx.bus, &self.id, suffix, body, OnRefusal::HandBack).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(message = "The bus did not take a provider's post.", transport = %self.id, error = %e);
                false
            }
        }
    }

    /// Counts a post of `kind` with `outcome`.
    pub(crate) fn post(&self, kind: &'static str, outcome: &'static str) {
        counter!(POSTS.name, "transport" => self.id.clone(), "kind" => kind, "outcome" => outcome)
            .increment(1);
    }

    fn request(&self, outcome: &'static str) {
        counter!(REQUESTS.name, "transport" => self.id.clone(), "outcome" => outcome).increment(1);
    }
}

/// Runs `request` until it gets an answer other than a 5xx or a 429, at most `send_attempts` times,
/// waiting `retry_initial_seconds` doubling in between (capped at a minute).
pub(crate) async fn send_with_retries<P, F, Fut>(shared: &Shared<P>, request: F) -> Answer
where
    P: Provider,
    F: Fn() -> Fut,
    Fut: Future<Output = Answer>,
{
    send_with_retries_when(shared, request, |_| false).await
}

/// [`send_with_retries`], also trying again after an answer `passing` says is passing (a
/// provider's own "try later" inside a 200).
pub(crate) async fn send_with_retries_when<P, F, Fut>(
    shared: &Shared<P>,
    request: F,
    passing: impl Fn(&Answer) -> bool,
) -> Answer
where
    P: Provider,
    F: Fn() -> Fut,
    Fut: Future<Output = Answer>,
{
    let mut wait = shared.retry_initial;
    let mut attempt = 1;
    loop {
        shared.throttle().await;
        let answer = request().await;
        let passing = passing(&answer)
            || match &answer {
                Answer::None { .. } => true,
                Answer::Status { status, .. } => *status >= 500 || *status == 429,
            };
        if !passing || attempt >= shared.send_attempts {
            return answer;
        }
        shared.request("retried");
        tracing::info!(message = "Provider request failed for a passing reason; trying again.", transport = %shared.id, attempt, answer = ?answer);
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(60));
        attempt += 1;
    }
}

/// Starts Chikka transport `id`: binds its listener now (a port in use fails the start),
/// consumes `<id>.outbound` until `intake`.
///
/// # Errors
/// The listener cannot be bound or the client made.
pub(crate) fn spawn_chikka(
    id: &str,
    config: &ChikkaConfig,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<(), super::StartError> {
    let provider = chikka::Chikka {
        id: id.to_owned(),
        url: format!("{}/smsapi/request", config.base_url.trim_end_matches('/')),
        client_id: config.client_id.clone(),
        secret_key: crate::config::secret::exposed(&config.secret_key),
        shortcode: config.shortcode.clone(),
        request_cost: config.request_cost.clone(),
    };
    spawn(id, &config.http, provider, ctx, tracker, intake).map(|_| ())
}

/// Starts provider transport `id` with `options`: binds its listener now (a port in use
/// fails the start), consumes `<id>.outbound` until `intake`.
///
/// # Errors
/// The listener cannot be bound or the client made.
pub(crate) fn spawn<P: Provider>(
    id: &str,
    options: &HttpOptions,
    provider: P,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<Arc<Shared<P>>, super::StartError> {
    let fail = |detail: String| super::StartError::Config {
        id: id.to_owned(),
        detail,
    };
    let timeout = Duration::from_secs(options.request_timeout_seconds);
    let client = ProviderClient::new(timeout, options.tls_ca_file.as_deref()).map_err(fail)?;
    let shared = Arc::new(Shared {
        id: id.to_owned(),
        ctx: ctx.clone(),
        client,
        provider,
        receipt_ttl_seconds: options.receipt_ttl_seconds,
        send_attempts: options.send_attempts,
        retry_initial: Duration::from_secs_f64(options.retry_initial_seconds),
        inbound_secret: options
            .inbound_secret
            .as_ref()
            .map(|s| s.expose().to_owned()),
        networks: Networks::parse(&options.allowed_networks).unwrap_or_default(),
        bucket: Mutex::new(Bucket {
            tokens: f64::from(options.mt_tps),
            at: Instant::now(),
        }),
        mt_tps: options.mt_tps,
    });
    let listener = std::net::TcpListener::bind(options.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| fail(format!("cannot listen on {}: {e}", options.listen)))?;
    start(
        shared.clone(),
        options.max_in_flight,
        listener,
        tracker,
        intake,
    );
    Ok(shared)
}

/// Runs the outbound consumer and the listener of `shared`.
fn start<P: Provider>(
    shared: Arc<Shared<P>>,
    max_in_flight: usize,
    listener: tokio::net::TcpListener,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) {
    let path = format!("/api/v1/sms/{}/{{name}}", shared.id);
    let app = Router::new()
        .route(&path, axum::routing::post(receive::<P>).get(receive::<P>))
        .with_state(shared.clone());
    let limits = Limits {
        header_timeout: Duration::from_secs(10),
        max_connections: 256,
        tls: None,
        listener: crate::api::telemetry::Listener::Provider,
    };
    let address = listener.local_addr().ok();
    tracing::info!(message = "Provider listener up.", transport = %shared.id, address = ?address, path);
    tracker.spawn(crate::api::listener::serve(
        listener,
        app,
        limits,
        intake.clone(),
    ));
    let latch = format!("transport:{}", shared.id);
    shared.ctx.readiness.set(&latch, true);
    let intake = intake.clone();
    tracker.spawn(async move {
        let bus = shared.ctx.bus.clone();
        let id = shared.id.clone();
        let s = shared.clone();
        common::consume_outbound(&bus, &id, max_in_flight, &intake, move |msg, delivery| {
            let shared = s.clone();
            async move { outbound(&shared, msg, delivery).await }
        })
        .await;
        shared.ctx.readiness.set(&latch, false);
    });
}

/// Sends one outbound message and settles its delivery.
async fn outbound<P: Provider>(
    shared: &Shared<P>,
    msg: UserMessage,
    delivery: crate::bus::Delivery,
) {
    let mut accepted = None;
    let event = match shared.provider.send(shared, &msg).await {
        Outcome::Accepted(provider_id) => {
            shared.request("accepted");
            let ack = VumiEvent::ack(&shared.id, &msg.message_id, &provider_id);
            accepted = Some(provider_id);
            ack
        }
        Outcome::Refused(reason) => {
            shared.request("refused");
            tracing::warn!(message = "Provider refused a message; nacked.", transport = %shared.id, message_id = %msg.message_id, reason = %reason);
            VumiEvent::nack(&shared.id, &msg.message_id, &reason)
        }
        Outcome::Later(reason) => {
            shared.request("later");
            tracing::warn!(message = "Message not sent; back to its queue.", transport = %shared.id, reason = %reason);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = delivery.nack(true).await;
            return;
        }
    };
    common::settle(&shared.ctx.bus, &shared.id, delivery, event).await;
    if let Some(provider_id) = accepted {
        shared.provider.after_ack(shared, &msg, &provider_id).await;
    }
}

/// A post from the provider: guarded, handed to the provider.
async fn receive<P: Provider>(
    State(shared): State<Arc<Shared<P>>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    axum::Extension(peer): axum::Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !P::PATHS.contains(&name.as_str()) {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    if !shared.networks.is_empty() && !shared.networks.contain(peer.0) {
        shared.post("any", "forbidden");
        tracing::warn!(message = "Provider post from a network not allowed; refused.", transport = %shared.id, peer = %peer.0);
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    let mut query =
        richmond_codecs::providers::form_fields_raw(query.unwrap_or_default().as_bytes());
    let given = query
        .iter()
        .position(|(k, _)| k == "secret")
        .map(|i| String::from_utf8_lossy(&query.remove(i).1).into_owned());
    if let Some(secret) = &shared.inbound_secret {
        // Digests compared, so the time taken tells nothing about the secret's bytes.
        let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
        let matches = |s: &str| digest(s).as_ref() == digest(secret).as_ref();
        let basic = crate::api::auth::basic_password(&headers);
        if !(given.as_deref().is_some_and(matches) || basic.as_deref().is_some_and(matches)) {
            shared.post("any", "forbidden");
            tracing::warn!(message = "Provider post without the inbound secret; refused.", transport = %shared.id, peer = %peer.0);
            return (StatusCode::FORBIDDEN, "Forbidden").into_response();
        }
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let post = Post {
        name,
        query,
        content_type,
        body,
    };
    let (status, content_type, text) = shared.provider.inbound(&shared, post).await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, content_type)],
        text,
    )
        .into_response()
}

pub const REQUESTS: Metric = Metric::counter(
    "richmond_http_provider_requests_total",
    "Messages an HTTP-provider transport sent, by outcome (accepted, refused, retried: a request tried again, later: back to the queue).",
);
pub const POSTS: Metric = Metric::counter(
    "richmond_http_provider_posts_total",
    "Posts a provider made to an HTTP-provider transport, by kind (mo, mo_part, notification, receipt, receipt_late: a receipt held until its message was known, other, any) and outcome (accepted, unmatched, bad_request, forbidden, bus_error, store_error).",
);

/// Every metric of the HTTP-provider transports.
pub const METRICS: &[Metric] = &[REQUESTS, POSTS];
