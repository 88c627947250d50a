//! The tokio task of one ESME bind: connects, frames, pumps [`Session`], reconnects with
//! backoff and jitter, and gives the transport a [`Handle`].
//!
//! Reference: reference/smpp.md; DESIGN.md (no-loss rules, metrics naming).
//!
//! * [`Handle::submit`] waits while the bind is down or the window is full (never drops), and
//!   resolves with the SMSC's answer: exactly one [`SubmitOutcome`] per call. Throttling and
//!   the `mt_tps` limit only delay it. `Err(Error::Stopped)` means the task ended before the
//!   submit was handed to the session (it was not sent). Dropping the future does not withdraw
//!   a submit the task has already taken.
//! * Inbound `deliver_sm` / `data_sm` arrive as [`Event::Deliver`] on the event channel; the
//!   transport answers each with [`Handle::respond_deliver`] once it has published it. The
//!   event channel is bounded: a transport that stops reading events stops the task reading
//!   the socket (back-pressure on the SMSC), so read events in a task of their own, not in
//!   the one awaiting `submit`. While paused the task takes no new submit and runs no timer
//!   (no response times out for want of a read) but still writes the `deliver_sm_resp`s the
//!   transport gives, which is what frees the SMSC's window.
//! * Submit results are delivered through `submit`, never on the event channel.
//! * The session clock is tokio's (`tokio::time::Instant`), so tests with paused time see the
//!   rate limit and timeouts in virtual time.
//!
//! Not handled here: protocol state (`session.rs`), Vumi messages (the gateway).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io;
use std::time::Instant;

use bytes::BytesMut;
use richmond_codecs::smpp::pdu::Header;
use richmond_codecs::smpp::rusmpp::pdus::SubmitSm;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::Error;
use super::codec::Codec;
use super::config::Config;
use super::event::{DeliverId, Event, RetryReason, SubmitOutcome};
use super::session::Session;
use super::telemetry::{BindMoved, Connecting, PduMoved};
use crate::telemetry::Event as _;

mod dispatch;

/// The session clock: tokio's, as a std `Instant`.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A submit handed to the task, and where its outcome goes.
#[derive(Debug)]
struct SubmitRequest {
    pdu: SubmitSm,
    reply: oneshot::Sender<SubmitOutcome>,
}

/// The transport's side of a running bind.
#[derive(Clone, Debug)]
pub struct Handle {
    submits: mpsc::Sender<SubmitRequest>,
    responses: mpsc::UnboundedSender<(DeliverId, u32)>,
    bound: watch::Receiver<bool>,
}

impl Handle {
    /// Submits a `submit_sm` and waits for its outcome (see the module documentation).
    pub async fn submit(&self, pdu: SubmitSm) -> Result<SubmitOutcome, Error> {
        let (reply, outcome) = oneshot::channel();
        self.submits
            .send(SubmitRequest { pdu, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        outcome.await.map_err(|_| Error::Stopped)
    }

    /// Answers an inbound `deliver_sm` / `data_sm` ([`Event::Deliver`]) with `status`:
    /// `ESME_ROK` once the message is safe, or a temporary error (`ESME_RX_T_APPN`) to have
    /// the SMSC redeliver it. Ignored if its connection has ended (the SMSC redelivers).
    pub fn respond_deliver(&self, id: DeliverId, status: u32) -> Result<(), Error> {
        self.responses
            .send((id, status))
            .map_err(|_| Error::Stopped)
    }

    /// A receiver of the bind state (`true` while bound).
    pub fn bound(&self) -> watch::Receiver<bool> {
        self.bound.clone()
    }

    /// Bound right now.
    pub fn is_bound(&self) -> bool {
        *self.bound.borrow()
    }
}

/// The task itself; run it with [`Task::run`] (e.g. in `tokio::spawn`).
#[derive(Debug)]
pub struct Task {
    config: Config,
    session: Session,
    submits: mpsc::Receiver<SubmitRequest>,
    responses: mpsc::UnboundedReceiver<(DeliverId, u32)>,
    events: mpsc::Sender<Event>,
    bound: watch::Sender<bool>,
    /// This bind's share of the `richmond_smpp_window_in_use` gauge (summed over binds).
    reported_window: usize,
}

/// Creates a bind: the handle, the event receiver and the task to run. Fails when the bind
/// fields cannot be encoded.
pub fn client(config: Config) -> Result<(Handle, mpsc::Receiver<Event>, Task), Error> {
    let seed = config.seed.unwrap_or_else(random_seed);
    let session = Session::new(config.clone(), now(), seed)?;
    let window = config.window.max(1);
    let (submits_tx, submits) = mpsc::channel(window);
    let (responses_tx, responses) = mpsc::unbounded_channel();
    let (events, events_rx) = mpsc::channel(window.saturating_mul(2).max(16));
    let (bound, bound_rx) = watch::channel(false);
    let handle = Handle {
        submits: submits_tx,
        responses: responses_tx,
        bound: bound_rx,
    };
    let task = Task {
        config,
        session,
        submits,
        responses,
        events,
        bound,
        reported_window: 0,
    };
    Ok((handle, events_rx, task))
}

/// A seed for the jitter from the standard library's per-process random keys.
fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

impl Task {
    /// Connects, binds, pumps, reconnects — until `cancel` fires; then drains in-flight
    /// submits, unbinds and returns.
    pub async fn run(mut self, cancel: CancellationToken) {
        let span = info_span!("smpp", transport = %self.config.transport);
        async move {
            let mut pump = Pump {
                waiting: HashMap::new(),
                next_token: 0,
                held: std::collections::VecDeque::new(),
                cancel,
            };
            pump.run(&mut self).await;
            BindMoved {
                transport: &self.config.transport,
                binds: if self.bound.send_replace(false) {
                    -1
                } else {
                    0
                },
                window: -(self.reported_window as f64),
            }
            .emit();
        }
        .instrument(span)
        .await;
    }
}

/// The task's bookkeeping besides the session.
struct Pump {
    /// Callers awaiting a submit outcome, by token.
    waiting: HashMap<u64, oneshot::Sender<SubmitOutcome>>,
    next_token: u64,
    cancel: CancellationToken,
    /// Events the transport has no room for yet, in order. While any wait, the connection
    /// reads nothing, takes no new submit and runs no timer (nothing times out for want of
    /// a read), but still writes the answers the transport gives to earlier deliver_sm.
    held: std::collections::VecDeque<Event>,
}

impl Pump {
    async fn run(&mut self, task: &mut Task) {
        let addr = format!("{}:{}", task.config.host, task.config.port);
        let mut attempts: u64 = 0;
        loop {
            if task.session.is_closed() {
                break;
            }
            let at = tokio::time::Instant::from_std(task.session.next_connect_at());
            // While the link is down, submits are answered at once (`NotBound`: never sent)
            // so the caller can try another bind, or hand the message back when stopping.
            let cancelled = loop {
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => break true,
                    Some(request) = task.submits.recv() => {
                        let reason = RetryReason::NotBound;
                        let _ = request.reply.send(SubmitOutcome::Retry { reason });
                    }
                    () = tokio::time::sleep_until(at) => break false,
                }
            };
            if cancelled {
                task.session.close(now());
                self.dispatch(task).await;
                self.flush_held(task).await;
                break;
            }
            Connecting {
                transport: &task.config.transport,
                before: attempts,
            }
            .emit();
            attempts += 1;
            let connect =
                tokio::time::timeout(task.config.connect_timeout, TcpStream::connect(&addr));
            let connected = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    task.session.close(now());
                    self.dispatch(task).await;
                    self.flush_held(task).await;
                    break;
                }
                connected = connect => connected,
            };
            let stream = match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    warn!(message = "SMPP connect failed.", %addr, %error);
                    task.session.handle_disconnected(now());
                    continue;
                }
                Err(_) => {
                    warn!(message = "SMPP connect timed out.", %addr);
                    task.session.handle_disconnected(now());
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            if let Some(tls) = task.config.tls.clone() {
                let handshake =
                    tokio::time::timeout(task.config.connect_timeout, tls.connect(stream));
                let stream = tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => {
                        task.session.close(now());
                        self.dispatch(task).await;
                        self.flush_held(task).await;
                        break;
                    }
                    done = handshake => match done {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            warn!(message = "SMPP TLS handshake failed.", %addr, %error);
                            task.session.handle_disconnected(now());
                            continue;
                        }
                        Err(_) => {
                            warn!(message = "SMPP TLS handshake timed out.", %addr);
                            task.session.handle_disconnected(now());
                            continue;
                        }
                    },
                };
                info!(message = "SMPP connected over TLS, binding.", %addr, mode = task.config.bind_mode.code());
                task.session.handle_connected(now());
                self.connection(task, stream).await;
            } else {
                info!(message = "SMPP connected, binding.", %addr, mode = task.config.bind_mode.code());
                task.session.handle_connected(now());
                self.connection(task, stream).await;
            }
            task.session.handle_disconnected(now());
            self.dispatch(task).await;
            self.flush_held(task).await;
            self.publish(task);
        }
    }

    /// Pumps one connection until it ends (lost, or the session asked to disconnect).
    async fn connection<S>(&mut self, task: &mut Task, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut codec = Codec::new(task.config.max_pdu_bytes);
        let mut read_buf = BytesMut::with_capacity(16 * 1024);
        let mut closing = false;
        loop {
            if let Err(error) = write_transmits(task, &mut writer).await {
                warn!(message = "SMPP write failed.", %error);
                return;
            }
            self.dispatch(task).await;
            if task.session.wants_disconnect() {
                let _ = tokio::time::timeout(task.config.write_timeout, writer.shutdown()).await;
                return;
            }
            self.publish(task);
            let deadline = task
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            // Closing, the unbind needs its answer read: reading goes on (new deliver_sm are
            // held, never answered, so the SMSC delivers them again).
            let paused = !self.held.is_empty() && !closing;
            let can_submit = task.session.can_submit() && !paused;
            tokio::select! {
                biased;
                () = self.cancel.cancelled(), if !closing => {
                    closing = true;
                    task.session.close(now());
                }
                permit = task.events.reserve(), if paused => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.held.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => self.held.clear(),
                },
                read = reader.read_buf(&mut read_buf), if !paused => {
                    match read {
                        Ok(n) if n > 0 => {}
                        Ok(_) => {
                            info!(message = "SMPP connection closed by the SMSC.");
                            return;
                        }
                        Err(error) => {
                            warn!(message = "SMPP read failed.", %error);
                            return;
                        }
                    }
                    // Bounded: each decoded frame consumes at least 16 octets.
                    loop {
                        match codec.decode(&mut read_buf) {
                            Ok(Some(frame)) => {
                                count_pdu(&task.config.transport, "in", Header::peek(&frame));
                                task.session.handle_frame(frame, now());
                            }
                            Ok(None) => break,
                            Err(error) => {
                                warn!(message = "SMPP framing lost.", code = error.code(), %error);
                                task.session.handle_framing_error(now());
                                break;
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() && !paused => task.session.handle_timeout(now()),
                Some(request) = task.submits.recv(), if can_submit => {
                    let token = self.next_token;
                    self.next_token = self.next_token.wrapping_add(1);
                    match task.session.submit(token, request.pdu, now()) {
                        Ok(()) => {
                            self.waiting.insert(token, request.reply);
                        }
                        Err(refused) => {
                            debug!(message = "SMPP submit refused by the session.", %refused);
                            let reason = RetryReason::NotBound;
                            let _ = request.reply.send(SubmitOutcome::Retry { reason });
                        }
                    }
                }
                Some((id, status)) = task.responses.recv() => {
                    if !task.session.respond_deliver(id, status) {
                        debug!(message = "SMPP deliver answer for a gone connection, dropped.", seq = id.sequence_number());
                    }
                }
            }
        }
    }
}

/// Writes every queued PDU in one write.
async fn write_transmits(
    task: &mut Task,
    writer: &mut (impl AsyncWrite + Unpin),
) -> io::Result<()> {
    let mut buf = BytesMut::new();
    while let Some(pdu) = task.session.poll_transmit() {
        count_pdu(&task.config.transport, "out", Header::peek(&pdu));
        buf.extend_from_slice(&pdu);
    }
    if buf.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(task.config.write_timeout, writer.write_all(&buf)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "smpp write timed out",
        )),
    }
}

fn count_pdu(transport: &str, direction: &'static str, header: Option<Header>) {
    PduMoved {
        transport,
        direction,
        command: header.map_or("other", |header| header.name()),
    }
    .emit();
}
