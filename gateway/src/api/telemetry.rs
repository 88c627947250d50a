//! The HTTP API's telemetry events (see `richmond_drivers::telemetry`): requests, logins,
//! callbacks, the bus messages it handles and the messages it sends; and the events of the
//! listeners it shares with the admin endpoint (accepts, connections, TLS handshakes).

use metrics::{counter, gauge, histogram};
use richmond_drivers::telemetry::{Event, Metric};

pub const REQUESTS: Metric = Metric::counter(
    "richmond_api_requests_total",
    "HTTP API requests, by route pattern and status code.",
);
pub const REQUEST_DURATION: Metric = Metric::histogram(
    "richmond_api_request_duration_seconds",
    "HTTP API request handling time, by route pattern.",
);
pub const RATE_LIMITED: Metric = Metric::counter(
    "richmond_api_rate_limited_total",
    "HTTP API requests refused with 429 by the per-account rate limit.",
);
pub const REQUEST_TIMEOUTS: Metric = Metric::counter(
    "richmond_api_request_timeouts_total",
    "API requests answered 408: the body, or a place to run, did not come in time.",
);
pub const CACHE_HITS: Metric = Metric::counter(
    "richmond_api_credential_cache_hits_total",
    "Basic logins admitted from the verified-credential cache (no argon2).",
);
pub const FAILED_LOGIN_BLOCKS: Metric = Metric::counter(
    "richmond_api_failed_login_blocks_total",
    "Basic logins refused (429) because their source address passed its failed-login limit.",
);
pub const PASSWORD_VERIFICATIONS: Metric = Metric::counter(
    "richmond_api_password_verifications_total",
    "argon2 password verifications, by result (ok, wrong).",
);
pub const CALLBACK_ATTEMPTS: Metric = Metric::counter(
    "richmond_api_callback_attempts_total",
    "Callback POSTs attempted (sms_received, sms_receipt).",
);
pub const CALLBACKS: Metric = Metric::counter(
    "richmond_api_callbacks_total",
    "Callbacks finished: delivered or gave_up after the last attempt, or dropped when the account's queue was full and its receiver had taken none for 30 s.",
);
pub const CALLBACK_FAILURES: Metric = Metric::counter(
    "richmond_api_callback_failures_total",
    "Callback POSTs that failed (timeout, connect, tls, refused_address, status_5xx, status_other).",
);
pub const CALLBACK_QUEUE_WAITS: Metric = Metric::counter(
    "richmond_api_callback_queue_waits_total",
    "Callbacks that waited for room in their account's full queue while its receiver was alive (the bus delivery behind them stayed unacknowledged).",
);
pub const BUS_MESSAGES: Metric = Metric::counter(
    "richmond_api_bus_messages_total",
    "Events and inbound messages the HTTP API consumed, by outcome.",
);
pub const MESSAGES_SENT: Metric = Metric::counter(
    "richmond_api_messages_sent_total",
    "Messages the HTTP API published to <transport>.outbound.",
);
pub const API_CONNECTIONS: Metric =
    Metric::gauge("richmond_api_connections", "Open HTTP API connections.");
pub const API_ACCEPT_ERRORS: Metric = Metric::counter(
    "richmond_api_accept_errors_total",
    "Failed accepts on the API listener (e.g. out of file descriptors).",
);
pub const ADMIN_CONNECTIONS: Metric = Metric::gauge(
    "richmond_admin_connections",
    "Open admin listener connections.",
);
pub const ADMIN_ACCEPT_ERRORS: Metric = Metric::counter(
    "richmond_admin_accept_errors_total",
    "Failed accepts on the admin listener (out of file descriptors, most likely).",
);
pub const PROVIDER_CONNECTIONS: Metric = Metric::gauge(
    "richmond_provider_listener_connections",
    "Open connections to the listeners of HTTP-provider transports (MO and receipt posts).",
);
pub const PROVIDER_ACCEPT_ERRORS: Metric = Metric::counter(
    "richmond_provider_listener_accept_errors_total",
    "Failed accepts on the listeners of HTTP-provider transports.",
);
pub const LISTENER_TLS_FAILURES: Metric = Metric::counter(
    "richmond_listener_tls_failures_total",
    "TLS handshakes on the API or admin listener that failed or timed out.",
);

/// Every metric of the API and its listeners.
pub const METRICS: &[Metric] = &[
    REQUESTS,
    REQUEST_DURATION,
    RATE_LIMITED,
    REQUEST_TIMEOUTS,
    CACHE_HITS,
    FAILED_LOGIN_BLOCKS,
    PASSWORD_VERIFICATIONS,
    CALLBACK_ATTEMPTS,
    CALLBACKS,
    CALLBACK_FAILURES,
    CALLBACK_QUEUE_WAITS,
    BUS_MESSAGES,
    MESSAGES_SENT,
    API_CONNECTIONS,
    API_ACCEPT_ERRORS,
    ADMIN_CONNECTIONS,
    ADMIN_ACCEPT_ERRORS,
    PROVIDER_CONNECTIONS,
    PROVIDER_ACCEPT_ERRORS,
    LISTENER_TLS_FAILURES,
];

/// A request answered with `status` after `seconds`.
pub(crate) struct Served {
    pub(crate) route: String,
    pub(crate) status: axum::http::StatusCode,
    pub(crate) seconds: f64,
}

impl Event for Served {
    const METRICS: &'static [Metric] = &[REQUESTS, REQUEST_DURATION, RATE_LIMITED];

    fn emit(self) {
        let status = self.status;
        counter!(
            REQUESTS.name,
            "route" => self.route.clone(),
            "status" => status.as_str().to_owned()
        )
        .increment(1);
        histogram!(REQUEST_DURATION.name, "route" => self.route).record(self.seconds);
        if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
            counter!(RATE_LIMITED.name).increment(1);
        }
    }
}

/// A request answered 408: its body, or a place to run, did not come in time.
pub(crate) struct TimedOut;

impl Event for TimedOut {
    const METRICS: &'static [Metric] = &[REQUEST_TIMEOUTS];

    fn emit(self) {
        counter!(REQUEST_TIMEOUTS.name).increment(1);
    }
}

/// A Basic login checked: from the verified-credential cache, refused while its address is
/// blocked after failures, or verified by argon2 (`ok` or wrong).
pub(crate) enum Login {
    Cached,
    Blocked,
    Verified { ok: bool },
}

impl Event for Login {
    const METRICS: &'static [Metric] = &[CACHE_HITS, FAILED_LOGIN_BLOCKS, PASSWORD_VERIFICATIONS];

    fn emit(self) {
        match self {
            Self::Cached => counter!(CACHE_HITS.name).increment(1),
            Self::Blocked => counter!(FAILED_LOGIN_BLOCKS.name).increment(1),
            Self::Verified { ok } => {
                let result = if ok { "ok" } else { "wrong" };
                counter!(PASSWORD_VERIFICATIONS.name, "result" => result).increment(1);
            }
        }
    }
}

/// One callback of `kind` and what became of it.
pub(crate) enum Callback<'a> {
    /// A POST is being made (attempt `attempts`).
    Attempt {
        kind: &'static str,
    },
    Delivered {
        kind: &'static str,
        attempts: u32,
    },
    /// The POST failed with `code`; retried in `retry_in` seconds.
    Failed {
        kind: &'static str,
        attempts: u32,
        code: &'static str,
        retry_in: f64,
    },
    /// The last attempt failed with `code`.
    GaveUp {
        kind: &'static str,
        attempts: u32,
        code: &'static str,
    },
    /// The account's queue is full (`max` callbacks).
    Dropped {
        kind: &'static str,
        account: &'a str,
        max: usize,
    },
    /// The queue was full; the message waits for room.
    Waiting,
}

impl Event for Callback<'_> {
    const METRICS: &'static [Metric] = &[
        CALLBACK_ATTEMPTS,
        CALLBACKS,
        CALLBACK_FAILURES,
        CALLBACK_QUEUE_WAITS,
    ];

    fn emit(self) {
        match self {
            Self::Attempt { kind } => counter!(CALLBACK_ATTEMPTS.name, "kind" => kind).increment(1),
            Self::Delivered { kind, attempts } => {
                counter!(CALLBACKS.name, "kind" => kind, "outcome" => "delivered").increment(1);
                tracing::debug!(message = "Callback delivered.", kind, attempts);
            }
            Self::Failed {
                kind,
                attempts,
                code,
                retry_in,
            } => {
                counter!(CALLBACK_FAILURES.name, "kind" => kind, "code" => code).increment(1);
                tracing::info!(
                    message = "Callback failed; will retry.",
                    kind,
                    attempts,
                    code,
                    retry_in_seconds = retry_in
                );
            }
            Self::GaveUp {
                kind,
                attempts,
                code,
            } => {
                counter!(CALLBACK_FAILURES.name, "kind" => kind, "code" => code).increment(1);
                counter!(CALLBACKS.name, "kind" => kind, "outcome" => "gave_up").increment(1);
                tracing::warn!(message = "Callback given up.", kind, attempts, code);
            }
            Self::Dropped { kind, account, max } => {
                counter!(CALLBACKS.name, "kind" => kind, "outcome" => "dropped").increment(1);
                tracing::warn!(
                    message = "Callback queue full; callback dropped.",
                    account,
                    kind,
                    max
                );
            }
            Self::Waiting => counter!(CALLBACK_QUEUE_WAITS.name).increment(1),
        }
    }
}

/// A message of `kind` the API consumed from `<transport>.<kind>`, and its outcome.
pub(crate) struct BusMessage<'a> {
    pub(crate) transport: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) outcome: &'static str,
}

impl Event for BusMessage<'_> {
    const METRICS: &'static [Metric] = &[BUS_MESSAGES];

    fn emit(self) {
        counter!(
            BUS_MESSAGES.name,
            "transport" => self.transport.to_owned(),
            "kind" => self.kind.to_owned(),
            "outcome" => self.outcome
        )
        .increment(1);
    }
}

/// `count` messages of a send request handed to the bus for `transport`.
pub(crate) struct Sent<'a> {
    pub(crate) transport: &'a str,
    pub(crate) count: usize,
}

impl Event for Sent<'_> {
    const METRICS: &'static [Metric] = &[MESSAGES_SENT];

    fn emit(self) {
        counter!(MESSAGES_SENT.name, "transport" => self.transport.to_owned())
            .increment(self.count as u64);
    }
}

/// Which listener: the API's, the admin endpoint's or an HTTP-provider transport's (their
/// metrics differ by name).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Listener {
    Api,
    Admin,
    Provider,
}

impl Listener {
    const fn connections(self) -> &'static Metric {
        match self {
            Self::Api => &API_CONNECTIONS,
            Self::Admin => &ADMIN_CONNECTIONS,
            Self::Provider => &PROVIDER_CONNECTIONS,
        }
    }

    const fn accept_errors(self) -> &'static Metric {
        match self {
            Self::Api => &API_ACCEPT_ERRORS,
            Self::Admin => &ADMIN_ACCEPT_ERRORS,
            Self::Provider => &PROVIDER_ACCEPT_ERRORS,
        }
    }
}

/// An accept failed (out of file descriptors, most likely); retried shortly.
pub(crate) struct AcceptFailed<'a> {
    pub(crate) listener: Listener,
    pub(crate) error: &'a std::io::Error,
}

impl Event for AcceptFailed<'_> {
    const METRICS: &'static [Metric] = &[
        API_ACCEPT_ERRORS,
        ADMIN_ACCEPT_ERRORS,
        PROVIDER_ACCEPT_ERRORS,
    ];

    fn emit(self) {
        let counter = self.listener.accept_errors().name;
        counter!(counter).increment(1);
        tracing::warn!(message = "Accept failed; retrying shortly.", counter, error = %self.error);
    }
}

/// A connection opened (`open`) or closed.
pub(crate) struct Connection {
    pub(crate) listener: Listener,
    pub(crate) open: bool,
}

impl Event for Connection {
    const METRICS: &'static [Metric] = &[API_CONNECTIONS, ADMIN_CONNECTIONS, PROVIDER_CONNECTIONS];

    fn emit(self) {
        let g = gauge!(self.listener.connections().name);
        if self.open {
            g.increment(1.0);
        } else {
            g.decrement(1.0);
        }
    }
}

/// A TLS handshake on `listener` failed (`error`) or timed out (None).
pub(crate) struct HandshakeFailed<'a> {
    pub(crate) listener: &'static str,
    pub(crate) error: Option<&'a std::io::Error>,
}

impl Event for HandshakeFailed<'_> {
    const METRICS: &'static [Metric] = &[LISTENER_TLS_FAILURES];

    fn emit(self) {
        counter!(LISTENER_TLS_FAILURES.name, "listener" => self.listener).increment(1);
        if let Some(error) = self.error {
            tracing::debug!(message = "TLS handshake failed.", listener = self.listener, %error);
        }
    }
}
