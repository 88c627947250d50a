//! The SMPP server transport (`type = "smpp_server"`, issue 21 point 1, first part): client
//! ESMEs (resellers, other gateways, enterprise applications) bind to Richmond as to an SMSC,
//! and each `submit_sm` becomes a Vumi `user_message` on `<id>.inbound`, so a router or any
//! application decides where it goes.
//!
//! Reference: SMPP 3.4 §4.1 (binds and their errors), §4.4 (submit_sm), §5.1.3 (statuses);
//! reference/routing-peers.md §3 (Jasmin's smpps: bad credentials `ESME_RINVPASWD`, a network
//! not allowed or too many binds `ESME_RBINDFAIL`, a second bind on a session
//! `ESME_RALYBND`; throughput per user).
//!
//! * Accounts (`accounts`): `system_id`, an argon2 `password_hash` (checked on a bounded pool
//!   and remembered as a keyed hash once it verified, as the API's Basic auth),
//!   `allowed_networks`, `max_binds` (every mode counted), `mt_tps`.
//! * `submit_sm` (whole messages: `short_message` or `message_payload`, any data_coding):
//!   `submit_sm_resp` with the message's Vumi id only after the bus owns it (`ESME_RSYSERR`
//!   when it refused, so the client sends it again); above `mt_tps` `ESME_RTHROTTLED` (a
//!   token bucket: bursts up to one second's worth). The parts of a long message (UDH or
//!   SAR) are joined and go on as one message, so one carrier link sends all of it
//!   ([`parts`]); numbering that can never be joined, or partial SAR TLVs, are refused
//!   (`ESME_RINVESMCLASS`, `ESME_RINVOPTPARAMVAL`), as is a UDH with any element besides
//!   concatenation (not passed on).
//! * Binds of SMPP 3.3, 3.4 and 5.0 clients; the answer carries `sc_interface_version`
//!   (0x34 or 0x50, the highest not above the client's) to 3.4 and later clients. Not
//!   served: what 5.0 adds beyond 3.4 (`broadcast_sm` and its kin: `ESME_RINVCMDID`).
//! * `enquire_link`, `unbind` answered; a bind idle for `enquire_link_seconds` is sent an
//!   `enquire_link` and dropped when it does not answer within `response_timeout_seconds`;
//!   a bind silent for `inactivity_timeout_seconds` is
//!   dropped.
//!
//! * Outbound (`<id>.outbound`): messages for a client account go to it as `deliver_sm`
//!   ([`deliver`]).
//!
//! * Receipts: the events of a client's message that asked for one, published to
//!   `<id>.receipts`, go back to it as `deliver_sm` receipts ([`receipts`]).
//!
//! * A connection must bind within 30 s; a refused bind closes it once answered.
//! * TLS (`tls_cert_file`, `tls_key_file`; rustls, reloaded on SIGHUP as the API's): the
//!   handshake must finish within 10 s.
//!
//! A router's `forward` sends the clients' submits on to a carrier transport and their
//! events to `<id>.receipts`.

mod config;
mod conn;
mod deliver;
mod parts;
mod receipts;

pub use config::{Account, SmppServerConfig};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics::{counter, gauge};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Context;
use crate::api::credentials::{Cache, Pool};
use crate::listener_tls::ListenerTls;

/// The submits of one account allowed now: a bucket of `mt_tps` tokens refilled at
/// `mt_tps` a second.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One account, ready for binds.
struct Client {
    config: Account,
    networks: config::Networks,
    verified: Cache,
    binds: Mutex<usize>,
    bucket: Mutex<Bucket>,
}

impl Client {
    /// Takes one token; false when the account is over its `mt_tps`.
    fn take_token(&self, now: Instant) -> bool {
        let rate = f64::from(self.config.mt_tps);
        if rate == 0.0 {
            return true;
        }
        let mut b = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the connections of one server share.
struct Server {
    id: String,
    config: SmppServerConfig,
    ctx: Context,
    clients: HashMap<String, Arc<Client>>,
    pool: Pool,
    /// Each account's receiving binds ([`deliver`]).
    receivers: Mutex<HashMap<String, deliver::Receivers>>,
    next_receiver: AtomicUsize,
    /// Woken when a receiving bind comes.
    bind_changed: tokio::sync::Notify,
    next_conn: AtomicU64,
    /// Parts of long messages ([`parts`]).
    reassembly: crate::transport::multipart::Reassembly,
}

/// Starts SMPP server transport `id`: binds its listener now (so a port in use fails the
/// start) and accepts clients until `intake` is cancelled.
///
/// # Errors
/// The listener cannot be bound.
///
/// Returns the listener's TLS certificate, when it has one, for the gateway's SIGHUP reload.
pub(crate) fn spawn(
    id: &str,
    config: &SmppServerConfig,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<Option<Arc<ListenerTls>>, super::StartError> {
    let tls = ListenerTls::new(
        "smpp_server",
        config.tls_cert_file.as_deref(),
        config.tls_key_file.as_deref(),
    )
    .map_err(|detail| super::StartError::Config {
        id: id.to_owned(),
        detail,
    })?;
    let listener = std::net::TcpListener::bind(config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std)
        .map_err(|e| super::StartError::Config {
            id: id.to_owned(),
            detail: format!("cannot listen on {}: {e}", config.listen),
        })?;
    let clients = config
        .accounts
        .iter()
        .map(|a| {
            let client = Client {
                networks: config::Networks::parse(&a.allowed_networks).unwrap_or_default(),
                verified: Cache::new(),
                binds: Mutex::new(0),
                bucket: Mutex::new(Bucket {
                    tokens: f64::from(a.mt_tps),
                    at: Instant::now(),
                }),
                config: a.clone(),
            };
            (a.system_id.clone(), Arc::new(client))
        })
        .collect();
    let server = Arc::new(Server {
        id: id.to_owned(),
        config: config.clone(),
        ctx: ctx.clone(),
        clients,
        pool: Pool::new(),
        receivers: Mutex::new(HashMap::new()),
        next_receiver: AtomicUsize::new(0),
        bind_changed: tokio::sync::Notify::new(),
        next_conn: AtomicU64::new(1),
        reassembly: parts::reassembly(id, config.multipart_timeout_seconds),
    });
    tracker.spawn(deliver::run(server.clone(), intake.clone()));
    tracker.spawn(receipts::run(server.clone(), intake.clone()));
    tracker.spawn(parts::timer(server.clone(), intake.clone()));
    let latch = format!("transport:{id}");
    ctx.readiness.set(&latch, true);
    tracing::info!(message = "SMPP server listening.", transport = id, address = %config.listen);
    let (tracker2, intake) = (tracker.clone(), intake.clone());
    let certificate = tls.clone();
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = intake.cancelled() => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (server, intake) = (server.clone(), intake.clone());
                    match tls.as_ref().map(|t| t.server()) {
                        None => {
                            tracker2.spawn(conn::serve(server, stream, peer, intake));
                        }
                        Some(tls) => {
                            tracker2.spawn(async move {
                                // A handshake that does not finish in time holds nothing.
                                let shake = tokio::time::timeout(HANDSHAKE, tls.accept(stream));
                                match shake.await {
                                    Ok(Ok(stream)) => conn::serve(server, stream, peer, intake).await,
                                    Ok(Err(e)) => tracing::warn!(message = "TLS handshake failed.", transport = %server.id, peer = %peer, error = %e),
                                    Err(_) => tracing::warn!(message = "TLS handshake timed out.", transport = %server.id, peer = %peer),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(message = "Accept failed.", transport = %server.id, error = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        server.ctx.readiness.set(&latch, false);
    });
    Ok(certificate)
}

/// A client's TLS handshake must finish within this long.
const HANDSHAKE: Duration = Duration::from_secs(10);

impl Server {
    fn client(&self, system_id: &str) -> Option<&Arc<Client>> {
        self.clients.get(system_id)
    }

    /// A bind failed: counted by reason, logged without the password.
    fn auth_failed(&self, system_id: &str, peer: SocketAddr, reason: &'static str) {
        counter!(AUTH_FAILURES.name, "transport" => self.id.clone(), "reason" => reason)
            .increment(1);
        tracing::warn!(message = "SMPP bind refused.", transport = %self.id, system_id, peer = %peer, reason);
    }

    fn binds_changed(&self, account: &str, mode: &'static str, delta: f64) {
        gauge!(BINDS.name, "transport" => self.id.clone(), "account" => account.to_owned(),
            "mode" => mode)
        .increment(delta);
    }

    /// `deliver_sm` sent to `account`'s binds and not answered yet changed by `delta`.
    fn outstanding(&self, account: &str, delta: f64) {
        gauge!(OUTSTANDING.name, "transport" => self.id.clone(), "account" => account.to_owned())
            .increment(delta);
    }

    fn delivered(&self, account: &str, outcome: &'static str) {
        counter!(DELIVERS.name, "transport" => self.id.clone(), "account" => account.to_owned(),
            "outcome" => outcome)
        .increment(1);
    }

    fn receipt(&self, outcome: &'static str) {
        counter!(RECEIPTS.name, "transport" => self.id.clone(), "outcome" => outcome).increment(1);
    }

    fn submitted(&self, account: &str, outcome: &'static str) {
        counter!(SUBMITS.name, "transport" => self.id.clone(), "account" => account.to_owned(),
            "outcome" => outcome)
        .increment(1);
    }
}

use richmond_drivers::telemetry::Metric;

pub const BINDS: Metric = Metric::gauge(
    "richmond_smpp_server_binds",
    "Client binds to an SMPP server transport now, by account and mode.",
);
pub const SUBMITS: Metric = Metric::counter(
    "richmond_smpp_server_submits_total",
    "submit_sm from clients of an SMPP server transport, by account and outcome (accepted, throttled, refused, failed).",
);
pub const AUTH_FAILURES: Metric = Metric::counter(
    "richmond_smpp_server_auth_failures_total",
    "Binds an SMPP server transport refused, by reason (password, network, max_binds, busy: the password check pool was full).",
);

pub const DELIVERS: Metric = Metric::counter(
    "richmond_smpp_server_delivers_total",
    "Messages an SMPP server transport sent to its clients as deliver_sm, by account and outcome (delivered, refused, expired).",
);

pub const OUTSTANDING: Metric = Metric::gauge(
    "richmond_smpp_server_delivers_outstanding",
    "deliver_sm an SMPP server transport sent to a client account's binds and awaits the answer to, by account.",
);

pub const RECEIPTS: Metric = Metric::counter(
    "richmond_smpp_server_receipts_total",
    "Events on <id>.receipts of an SMPP server transport, by outcome (sent, undelivered, unmatched, not_asked).",
);

/// Every metric of the SMPP server transport.
pub const METRICS: &[Metric] = &[
    BINDS,
    SUBMITS,
    AUTH_FAILURES,
    DELIVERS,
    OUTSTANDING,
    RECEIPTS,
];
