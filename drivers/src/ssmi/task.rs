//! The tokio task of the SSMI client: connects over TCP, frames lines with [`ClientCodec`],
//! pumps a [`ClientSession`], reconnects with backoff, and serves a [`ClientHandle`].
//!
//! Reference: reference/vumi.md §4.6 (connect, log in, link check, reconnect) and §7 (outbound
//! paused while the link is down, so no reply is written into a dead connection).
//!
//! ```text
//!  transport ──ClientHandle::send(Request)──▶ mpsc ──▶ task ──▶ TCP (only while logged in)
//!  transport ◀──────────── mpsc<Event> ◀───────────── task ◀── TCP
//!  transport ◀── watch<bool> (logged in) ─────────────┘
//! ```
//!
//! * [`ClientHandle::send`] resolves once the line is written to the socket. While the link
//!   is down the request waits in the channel (it is not lost); the task only takes requests
//!   when the session is logged in. A write that fails reports an error and is not retried
//!   (the line may be partly written): the transport decides (e.g. nack and requeue).
//! * Events ([`Event`]) come out of an `mpsc` channel: inbound messages, login outcome, remote
//!   logout, dead link, and `Disconnect` once per ended connection. A full channel pauses
//!   reading from the socket (backpressure).
//! * On cancellation the task sends `SSMI,99` if logged in, closes the socket and returns.
//!
//! Metrics (label `transport` from [`TaskConfig`]): `richmond_ssmi_lines_total{direction,kind}`
//! (every line read or written; `kind` is the message kind, `rejected` or `unknown`),
//! `richmond_ssmi_rejected_lines_total{code}`, `richmond_ssmi_link_checks_total`,
//! `richmond_ssmi_reconnects_total` (connection attempts after the first) and
//! `richmond_ssmi_tls_failures_total` (TLS handshakes that failed, with `tls`).
//!
//! Not handled here: protocol state (`session.rs`) and Vumi messages (the gateway).

use std::hash::BuildHasher;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use richmond_codecs::ssmi::{Charset, Decoded, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::Error;
use super::codec::{ClientCodec, DEFAULT_MAX_LINE_BYTES};
use super::session::{ClientConfig, ClientSession, DisconnectReason, Event};
use super::telemetry::{LineMoved, LineRejected, Reconnecting, TlsFailed};
use crate::telemetry::Event as _;

/// Settings of the client task.
#[derive(Clone, Debug)]
pub struct TaskConfig {
    /// `host:port` of the TruTeq server.
    pub addr: String,
    /// The transport id: the `transport` metric label and log field.
    pub transport: String,
    /// The session settings (credentials, link check, backoff).
    pub session: ClientConfig,
    /// How message text is encoded (Latin-1 unless TruTeq says otherwise).
    pub charset: Charset,
    /// Longest accepted line in bytes.
    pub max_line_bytes: usize,
    /// Give up a TCP connect after this long.
    pub connect_timeout: Duration,
    /// Treat the connection as lost when a write takes longer than this.
    pub write_timeout: Duration,
    /// Seed of the reconnect jitter; random when `None`.
    pub seed: Option<u64>,
    /// TLS over the TCP connection (the server's certificate verified), or plain TCP.
    pub tls: Option<crate::tls::Tls>,
}

impl TaskConfig {
    /// Defaults: Latin-1, 4096-byte lines, 10 s connect timeout, 30 s write timeout.
    pub fn new(
        addr: impl Into<String>,
        transport: impl Into<String>,
        session: ClientConfig,
    ) -> Self {
        Self {
            addr: addr.into(),
            transport: transport.into(),
            session,
            charset: Charset::Latin1,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            seed: None,
            tls: None,
        }
    }
}

/// A request waiting to be written, and where to report that it was.
#[derive(Debug)]
struct Outbound {
    request: Request,
    written: oneshot::Sender<Result<(), Error>>,
}

/// The transport's side of a running client: send requests, watch the login state.
#[derive(Clone, Debug)]
pub struct ClientHandle {
    outbound: mpsc::Sender<Outbound>,
    logged_in: watch::Receiver<bool>,
}

impl ClientHandle {
    /// Sends a request; resolves once it is written to the socket. Waits while the link is
    /// down. Errors: [`Error::Encode`] (not sendable, nothing written), [`Error::Io`] (the
    /// write failed, possibly partly written), [`Error::Stopped`] (the task ended first).
    /// Dropping the future does not withdraw a request the task has already taken.
    pub async fn send(&self, request: Request) -> Result<(), Error> {
        let (written, result) = oneshot::channel();
        self.outbound
            .send(Outbound { request, written })
            .await
            .map_err(|_| Error::Stopped)?;
        result.await.unwrap_or(Err(Error::Stopped))
    }

    /// A receiver of the login state (`true` while logged in).
    pub fn logged_in(&self) -> watch::Receiver<bool> {
        self.logged_in.clone()
    }

    /// Logged in right now.
    pub fn is_logged_in(&self) -> bool {
        *self.logged_in.borrow()
    }
}

/// The task itself; run it with [`ClientTask::run`] (e.g. in `tokio::spawn`).
#[derive(Debug)]
pub struct ClientTask {
    config: TaskConfig,
    outbound: mpsc::Receiver<Outbound>,
    events: mpsc::Sender<Event>,
    logged_in: watch::Sender<bool>,
}

/// Creates a client: the handle, the event receiver and the task to run. `capacity` bounds
/// both the outbound and the event channel (at least 1).
pub fn client(
    config: TaskConfig,
    capacity: usize,
) -> (ClientHandle, mpsc::Receiver<Event>, ClientTask) {
    let capacity = capacity.max(1);
    let (outbound_tx, outbound) = mpsc::channel(capacity);
    let (events, events_rx) = mpsc::channel(capacity);
    let (logged_in, logged_in_rx) = watch::channel(false);
    let handle = ClientHandle {
        outbound: outbound_tx,
        logged_in: logged_in_rx,
    };
    (
        handle,
        events_rx,
        ClientTask {
            config,
            outbound,
            events,
            logged_in,
        },
    )
}

impl ClientTask {
    /// Connects, logs in, pumps, reconnects — until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let Self {
            config,
            mut outbound,
            events,
            logged_in,
        } = self;
        let span = info_span!("ssmi", transport = %config.transport);
        let pump = Pump {
            config,
            events,
            logged_in,
            cancel,
        };
        pump.run(&mut outbound).instrument(span).await;
    }
}

/// The task's state besides the outbound receiver.
struct Pump {
    config: TaskConfig,
    events: mpsc::Sender<Event>,
    logged_in: watch::Sender<bool>,
    cancel: CancellationToken,
}

/// A seed for the jitter from the standard library's per-process random keys.
fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

impl Pump {
    async fn run(&self, outbound: &mut mpsc::Receiver<Outbound>) {
        let seed = self.config.seed.unwrap_or_else(random_seed);
        let mut session = ClientSession::new(self.config.session.clone(), Instant::now(), seed);
        let mut attempts: u64 = 0;
        loop {
            let at = tokio::time::Instant::from_std(session.next_connect_at());
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                () = tokio::time::sleep_until(at) => {}
            }
            if attempts > 0 {
                Reconnecting {
                    transport: &self.config.transport,
                }
                .emit();
            }
            attempts += 1;
            let connect = tokio::time::timeout(
                self.config.connect_timeout,
                TcpStream::connect(self.config.addr.as_str()),
            );
            let connected = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                connected = connect => connected,
            };
            let stream = match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    warn!(message = "SSMI connect failed.", addr = %self.config.addr, %error);
                    session.handle_disconnected(Instant::now());
                    continue;
                }
                Err(_) => {
                    warn!(message = "SSMI connect timed out.", addr = %self.config.addr);
                    session.handle_disconnected(Instant::now());
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            if let Some(tls) = &self.config.tls {
                let handshake =
                    tokio::time::timeout(self.config.connect_timeout, tls.connect(stream));
                let done = tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => break,
                    done = handshake => done,
                };
                match done {
                    Ok(Ok(stream)) => {
                        info!(message = "SSMI connected over TLS.", addr = %self.config.addr);
                        session.handle_connected(Instant::now());
                        self.connection(&mut session, stream, outbound).await;
                    }
                    Ok(Err(error)) => {
                        TlsFailed {
                            transport: &self.config.transport,
                            addr: &self.config.addr,
                            error: Some(&error),
                        }
                        .emit();
                        session.handle_disconnected(Instant::now());
                        continue;
                    }
                    Err(_) => {
                        TlsFailed {
                            transport: &self.config.transport,
                            addr: &self.config.addr,
                            error: None,
                        }
                        .emit();
                        session.handle_disconnected(Instant::now());
                        continue;
                    }
                }
            } else {
                info!(message = "SSMI connected.", addr = %self.config.addr);
                session.handle_connected(Instant::now());
                self.connection(&mut session, stream, outbound).await;
            }
            session.handle_disconnected(Instant::now());
            self.forward_events(&mut session).await;
            self.publish_state(&session);
            if session.is_closed() {
                break;
            }
        }
        self.logged_in.send_replace(false);
    }

    /// Pumps one connection until it ends (lost, or the session asked to disconnect).
    async fn connection<S>(
        &self,
        session: &mut ClientSession,
        stream: S,
        outbound: &mut mpsc::Receiver<Outbound>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut codec = ClientCodec::new()
            .with_max_line_bytes(self.config.max_line_bytes)
            .with_charset(self.config.charset);
        let mut read_buf = BytesMut::with_capacity(4096);
        let mut closing = false;
        loop {
            if let Err(Error::Io(error)) =
                self.write_transmits(session, &mut codec, &mut writer).await
            {
                warn!(message = "SSMI write failed.", %error);
                return;
            }
            if self.forward_events(session).await {
                let _ = tokio::time::timeout(self.config.write_timeout, writer.shutdown()).await;
                return;
            }
            self.publish_state(session);
            let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
            let ready = session.is_ready();
            tokio::select! {
                biased;
                () = self.cancel.cancelled(), if !closing => {
                    closing = true;
                    session.close(Instant::now());
                }
                read = reader.read_buf(&mut read_buf) => {
                    let end = !matches!(read, Ok(n) if n > 0);
                    loop {
                        let item = if end {
                            codec.decode_eof(&mut read_buf)
                        } else {
                            codec.decode(&mut read_buf)
                        };
                        match item {
                            Ok(Some(item)) => self.handle_item(session, item),
                            Ok(None) | Err(_) => break,
                        }
                    }
                    if end {
                        match read {
                            Err(error) => warn!(message = "SSMI read failed.", %error),
                            Ok(_) => info!(message = "SSMI connection closed by the server."),
                        }
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => session.handle_timeout(Instant::now()),
                Some(Outbound { request, written }) = outbound.recv(), if ready => {
                    let result = match session.send(request) {
                        Ok(()) => self.write_transmits(session, &mut codec, &mut writer).await,
                        Err(_) => Err(Error::ConnectionLost),
                    };
                    let lost = matches!(result, Err(Error::Io(_)));
                    let _ = written.send(result);
                    if lost {
                        return;
                    }
                }
            }
        }
    }

    /// Writes every queued request. Returns the I/O error, or else the last encode error.
    async fn write_transmits(
        &self,
        session: &mut ClientSession,
        codec: &mut ClientCodec,
        writer: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), Error> {
        let mut buf = BytesMut::new();
        let mut refused = Ok(());
        while let Some(request) = session.poll_transmit() {
            let kind = request.kind();
            match codec.encode(request, &mut buf) {
                Ok(()) => self.count_line("out", kind),
                Err(error) => {
                    warn!(
                        message = "SSMI request not encodable, not sent.",
                        kind,
                        code = error.code()
                    );
                    refused = Err(error);
                }
            }
        }
        if !buf.is_empty() {
            match tokio::time::timeout(self.config.write_timeout, writer.write_all(&buf)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(Error::Io(error)),
                Err(_) => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "ssmi write timed out",
                    )));
                }
            }
        }
        refused
    }

    fn handle_item(&self, session: &mut ClientSession, item: Decoded<Response>) {
        let now = Instant::now();
        match item {
            Decoded::Message(response) => {
                self.count_line("in", response.kind());
                session.handle_response(response, now);
            }
            Decoded::Rejected { reason } => {
                self.count_line("in", "rejected");
                LineRejected {
                    transport: &self.config.transport,
                    reason: &reason,
                }
                .emit();
                session.handle_unparsed(now);
            }
            Decoded::Unknown { id } => {
                self.count_line("in", "unknown");
                debug!(message = "SSMI line with unknown command id, skipped.", id);
                session.handle_unparsed(now);
            }
        }
    }

    /// Hands session events to the transport. Returns `true` when the session asked to
    /// disconnect.
    async fn forward_events(&self, session: &mut ClientSession) -> bool {
        let mut disconnect = false;
        while let Some(event) = session.poll_event() {
            match &event {
                Event::LoggedIn => info!(message = "SSMI logged in."),
                Event::LoginRejected { reason } => {
                    warn!(message = "SSMI login rejected.", reason = reason.name())
                }
                Event::RemoteLogout { .. } => warn!(message = "SSMI remote logout."),
                Event::LinkDead => warn!(message = "SSMI link checks unanswered, link dead."),
                Event::Disconnect { reason } => {
                    info!(message = "SSMI disconnect.", reason = reason.code());
                    disconnect |= *reason != DisconnectReason::ConnectionLost;
                }
                _ => {}
            }
            tokio::select! {
                biased;
                _ = self.events.send(event) => {}
                () = self.cancel.cancelled() => {}
            }
        }
        disconnect
    }

    fn publish_state(&self, session: &ClientSession) {
        let ready = session.is_ready();
        self.logged_in
            .send_if_modified(|state| std::mem::replace(state, ready) != ready);
    }

    fn count_line(&self, direction: &'static str, kind: &'static str) {
        LineMoved {
            transport: &self.config.transport,
            direction,
            kind,
        }
        .emit();
    }
}
