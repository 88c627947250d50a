//! The ESME session (the gateway's end of one SMPP bind), sans-IO: bind, window of
//! outstanding submits with response timeouts, enquire_link both ways, unbind both ways,
//! throttling, the outbound rate limit and reconnect backoff. No tokio: time arrives as
//! `now: Instant`.
//!
//! Reference: SMPP 3.4 §2.2–2.9 (session states, sequence numbers, windowing), §4 (PDUs);
//! reference/smpp.md; reference/vumi.md §3 and §5 (Vumi's behaviour and the bugs its users
//! hit: #272 enquire_link while bound RX, #420 unbind from the SMSC, #624 unbind before
//! disconnecting, #1076 an mt_tps that did not hold, #767/#792/#909 throttling).
//!
//! The owner calls `handle_*` as things happen, drains [`Session::poll_transmit`] (whole
//! PDUs to write) and [`Session::poll_event`], sleeps until [`Session::poll_timeout`], and
//! connects no earlier than [`Session::next_connect_at`].
//!
//! * **Bind.** On connect the bind (`bind_transceiver|transmitter|receiver`) is sent. A
//!   refusal or no answer within `bind_timeout` ends the connection; reconnects back off
//!   exponentially from `reconnect_backoff_min` to `_max` with jitter (from a seeded
//!   xorshift, so tests are deterministic). The backoff resets only on a *successful bind*,
//!   never on a TCP connect, so a refusing SMSC (`ESME_RALYBND` after a fast reconnect
//!   included) never sees a storm of binds; even after a bound link drops, the next attempt
//!   waits at least about `reconnect_backoff_min`.
//! * **Submits.** [`Session::submit`] takes an owned `submit_sm` and the caller's token.
//!   At most `window` submits are held (queued or in flight); each yields exactly one
//!   [`Event::SubmitResult`]: `Accepted`, `Rejected` (an error status), or `Retry` (link lost,
//!   response timeout, closing). Responses are matched by sequence number, in any order.
//! * **Throttling.** `ESME_RTHROTTLED` / `ESME_RMSGQFUL` are not results: the message goes
//!   back to the head of the queue, and nothing is sent for `throttle_backoff` (doubling while
//!   the SMSC keeps throttling, up to `throttle_backoff_max`). It is resent under a new
//!   sequence number.
//! * **Rate.** With `mt_tps > 0` submits leave at most `mt_tps` per second (a GCRA with a
//!   burst of `max(1, mt_tps / 50)`), over the session clock. Nothing else resets it.
//! * **Inbound.** `deliver_sm` / `data_sm` become [`Event::Deliver`] and are answered only by
//!   [`Session::respond_deliver`]. `enquire_link` is answered at once (in every bind mode),
//!   `unbind` is answered and ends the connection. A request that cannot be decoded, or that
//!   an ESME does not serve, is answered with `generic_nack`; the bind stays up.
//! * **Liveness.** After `enquire_link_interval` without any PDU from the SMSC an
//!   `enquire_link` is sent; no response within `enquire_link_timeout` ends the connection.
//! * **Closing.** [`Session::close`] stops new submits, lets the in-flight ones finish (or
//!   time out), then sends `unbind` and waits `unbind_timeout` for `unbind_resp`.
//!
//! Not handled here: sockets and framing (`task.rs`, `codec.rs`), what inbound messages mean.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::pdu::{self, Header, Pdu, id};
use richmond_codecs::smpp::rusmpp::{self, CommandStatus, pdus::SubmitSm};
use richmond_codecs::smpp::status;

use super::Error;
use super::backoff::Backoff;
use super::config::{Config, encode_bind};
use super::event::{Deliver, DeliverId, Event, RetryReason, SubmitOutcome, UnboundReason};
use super::outbound::{Kind, Outbound, Outstanding, Queued};
use super::pace::Pace;

/// Longest delay the session ever schedules (guards `Instant` arithmetic).
mod responses;
mod steps;

use steps::{earliest, later};

const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No connection; the next attempt is due at `next_connect_at`.
    Idle,
    /// Connected, bind sent.
    Binding,
    /// Bound.
    Bound,
    /// Closing: waiting for in-flight submits before sending `unbind`.
    Draining,
    /// `unbind` sent, waiting for `unbind_resp`.
    Unbinding,
    /// The session asked to disconnect; waiting for `handle_disconnected`.
    Dropping,
    /// Closed for good.
    Closed,
}

/// What an inbound request asks for.
enum Request {
    EnquireLink,
    Unbind,
    Deliver(Inbound),
    Ignore,
    Empty,
    Unsupported,
}

/// Why [`Session::submit`] refused a submit (it was not queued and yields no event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Not bound, or bound as a receiver.
    #[error("not bound for submitting")]
    NotBound,
    /// `window` submits are already held.
    #[error("window full")]
    WindowFull,
    /// The session is closing.
    #[error("session closing")]
    Closing,
}

/// The ESME end of one SMPP bind. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    closing: bool,
    /// Counts connections, so answers for an old connection are recognised.
    connection: u64,
    last_sequence_number: u32,
    /// The bind PDU with sequence number 0, patched on each send.
    bind_frame: Bytes,
    transmit: VecDeque<Bytes>,
    events: VecDeque<Event>,
    out: Outbound,
    /// Inbound deliver_sm / data_sm awaiting the transport's answer: seq → response id.
    delivers: HashMap<u32, u32>,
    /// When to send the next enquire_link (idle timer), and the one outstanding.
    next_enquire_at: Instant,
    enquire_outstanding: bool,
    /// The `mt_tps` limit and throttling.
    pace: Pace,
    /// Reconnect backoff (failures since the last successful bind).
    backoff: Backoff,
}

impl Session {
    /// A session that wants to connect at once. `seed` drives the reconnect jitter. Fails
    /// when the bind fields cannot be encoded (too long, not ASCII).
    pub fn new(config: Config, now: Instant, seed: u64) -> Result<Self, Error> {
        let bind_frame = encode_bind(&config)?;
        Ok(Self {
            state: State::Idle,
            closing: false,
            connection: 0,
            last_sequence_number: 0,
            bind_frame,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            out: Outbound::new(config.window.max(1)),
            delivers: HashMap::new(),
            next_enquire_at: later(now, config.enquire_link_interval),
            enquire_outstanding: false,
            pace: Pace::new(&config, now),
            backoff: Backoff::new(&config, now, seed),
            config,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// Makes the next request use `sequence_number + 1` (wrapping): for tests and the
    /// simulator.
    pub const fn set_last_sequence_number(&mut self, sequence_number: u32) {
        self.last_sequence_number = sequence_number;
    }

    /// A TCP connection is up: queues the bind.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.connection = self.connection.wrapping_add(1);
        self.transmit.clear();
        self.delivers.clear();
        let seq = self.next_seq();
        let mut frame = BytesMut::from(&self.bind_frame[..]);
        pdu::set_sequence_number(&mut frame, seq);
        self.transmit.push_back(frame.freeze());
        let deadline = later(now, self.config.bind_timeout);
        self.out.track(seq, Outstanding::new(Kind::Bind, deadline));
        self.state = State::Binding;
    }

    /// The connection dropped, or a connection attempt failed. Fails whatever was held and
    /// schedules the next attempt (unless the session already did when it asked to
    /// disconnect).
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.transmit.clear();
        match self.state {
            State::Binding | State::Bound | State::Draining | State::Unbinding => {
                self.end_connection(UnboundReason::ConnectionLost, now);
            }
            State::Idle => self.schedule_reconnect(now),
            State::Dropping | State::Closed => {}
        }
        self.state = if self.closing {
            State::Closed
        } else {
            State::Idle
        };
    }

    /// The byte stream could not be framed: ends the connection (the owner closes it).
    pub fn handle_framing_error(&mut self, now: Instant) {
        if self.is_connected() {
            self.transmit.clear();
            self.end_connection(UnboundReason::FramingError, now);
        }
    }

    /// A whole PDU arrived (as framed by the codec).
    pub fn handle_frame(&mut self, frame: Bytes, now: Instant) {
        // Nothing more is read once the session has decided to disconnect.
        if !self.is_connected() || self.state == State::Dropping {
            return;
        }
        if !self.enquire_outstanding {
            self.next_enquire_at = later(now, self.config.enquire_link_interval);
        }
        let Some(header) = Header::peek(&frame) else {
            self.handle_framing_error(now);
            return;
        };
        let command = match pdu::decode(&frame) {
            Ok(command) => command,
            Err(error) => {
                self.events.push_back(Event::Malformed {
                    command_id: header.command_id,
                    error,
                });
                if header.is_response() {
                    // Still an answer: its status is in the header.
                    self.handle_response(header, None, &frame, now);
                } else {
                    self.send_empty(
                        id::GENERIC_NACK,
                        error.nack_status(),
                        header.sequence_number,
                    );
                }
                return;
            }
        };
        if header.is_response() {
            self.handle_response(header, command.pdu(), &frame, now);
            return;
        }
        let seq = header.sequence_number;
        let request = match command.pdu() {
            Some(Pdu::EnquireLink) => Request::EnquireLink,
            Some(Pdu::Unbind) => Request::Unbind,
            Some(pdu @ (Pdu::DeliverSm(_) | Pdu::DataSm(_))) => {
                Inbound::from_pdu(pdu, &frame).map_or(Request::Unsupported, Request::Deliver)
            }
            // No response exists for these.
            Some(Pdu::AlertNotification(_) | Pdu::Outbind(_)) => Request::Ignore,
            // A known request without its body.
            None if !matches!(command.id(), rusmpp::CommandId::Other(_)) => Request::Empty,
            _ => Request::Unsupported,
        };
        drop(command);
        match request {
            Request::EnquireLink => self.send_empty(id::ENQUIRE_LINK_RESP, status::ROK, seq),
            Request::Unbind => {
                self.send_empty(id::UNBIND_RESP, status::ROK, seq);
                self.end_connection(UnboundReason::RemoteUnbind, now);
            }
            Request::Deliver(message) => {
                let response = header.command_id | pdu::RESPONSE_BIT;
                if matches!(self.state, State::Binding) {
                    self.send_resp(response, status::RINVBNDSTS, seq);
                } else {
                    self.delivers.insert(seq, response);
                    self.events.push_back(Event::Deliver(Deliver {
                        id: DeliverId {
                            connection: self.connection,
                            sequence_number: seq,
                        },
                        message,
                        frame,
                    }));
                }
            }
            Request::Ignore => {}
            Request::Empty => self.send_empty(id::GENERIC_NACK, status::RINVCMDLEN, seq),
            Request::Unsupported => self.send_empty(id::GENERIC_NACK, status::RINVCMDID, seq),
        }
    }

    /// Time passed: bind and response timeouts, enquire_link, and queued submits whose turn
    /// has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((seq, outstanding)) = self.out.pop_expired(now) {
            match outstanding.kind {
                Kind::Bind => {
                    self.end_connection(UnboundReason::BindTimeout, now);
                    return;
                }
                Kind::EnquireLink => {
                    self.end_connection(UnboundReason::EnquireLinkTimeout, now);
                    return;
                }
                Kind::Unbind => {
                    self.end_connection(UnboundReason::Closed, now);
                    return;
                }
                Kind::Submit {
                    token, first_sent, ..
                } => {
                    let _ = seq;
                    let reason = RetryReason::ResponseTimeout;
                    self.report(token, SubmitOutcome::Retry { reason }, first_sent, now);
                    self.after_submit_resolved(now);
                }
            }
        }
        if self.is_bound_or_draining() && !self.enquire_outstanding && now >= self.next_enquire_at {
            let seq = self.next_seq();
            self.send_empty(id::ENQUIRE_LINK, status::ROK, seq);
            let deadline = later(now, self.config.enquire_link_timeout);
            self.out
                .track(seq, Outstanding::new(Kind::EnquireLink, deadline));
            self.enquire_outstanding = true;
        }
        self.flush_queue(now);
    }

    /// Queues a `submit_sm` for sending (at once if the window, the rate and throttling
    /// allow). Exactly one [`Event::SubmitResult`] with `token` follows — unless this
    /// returns an error, in which case nothing was queued.
    pub fn submit(&mut self, token: u64, submit_sm: SubmitSm, now: Instant) -> Result<(), Refused> {
        if self.closing {
            return Err(Refused::Closing);
        }
        if self.state != State::Bound || !self.config.bind_mode.can_submit() {
            return Err(Refused::NotBound);
        }
        if self.out.held() >= self.out.window() {
            return Err(Refused::WindowFull);
        }
        let command = rusmpp::Command::new(CommandStatus::EsmeRok, 0, submit_sm);
        let mut frame = BytesMut::new();
        pdu::encode(&command, &mut frame);
        self.out.enqueue(Queued {
            token,
            pdu: frame.freeze(),
            first_sent: None,
        });
        self.flush_queue(now);
        Ok(())
    }

    /// Answers an inbound `deliver_sm` / `data_sm` with `status` (`ESME_ROK`, or e.g.
    /// `ESME_RX_T_APPN` for "try again later"). Returns `false` (and sends nothing) when the
    /// PDU is unknown or came on a connection that has ended.
    pub fn respond_deliver(&mut self, id: DeliverId, status: u32) -> bool {
        if id.connection != self.connection || !self.is_connected() {
            return false;
        }
        match self.delivers.remove(&id.sequence_number) {
            Some(response) => {
                self.send_resp(response, status, id.sequence_number);
                true
            }
            None => false,
        }
    }

    /// Closes for good: no new submits (queued ones are reported `Retry { Closing }`),
    /// in-flight ones are awaited, then `unbind` is sent and answered (or times out).
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        for queued in self.out.drain_queue() {
            let reason = RetryReason::Closing;
            self.report(
                queued.token,
                SubmitOutcome::Retry { reason },
                queued.first_sent,
                now,
            );
        }
        match self.state {
            State::Idle => self.state = State::Closed,
            State::Binding => self.end_connection(UnboundReason::Closed, now),
            State::Bound => {
                self.state = State::Draining;
                self.after_submit_resolved(now);
            }
            State::Draining | State::Unbinding | State::Dropping | State::Closed => {}
        }
    }

    /// The next PDU to write.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] should next be called, if at all (may be in the past:
    /// call it at once).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.is_connected() || self.state == State::Dropping {
            return None;
        }
        let mut next = self.out.next_deadline();
        if self.is_bound_or_draining() && !self.enquire_outstanding {
            next = earliest(next, Some(self.next_enquire_at));
        }
        if self.state == State::Bound && self.out.queued() > 0 {
            next = earliest(next, Some(self.pace.send_allowed_at()));
        }
        next
    }

    /// The earliest time the next connection attempt may start.
    pub const fn next_connect_at(&self) -> Instant {
        self.backoff.next_attempt_at()
    }

    /// Bound (in any mode) and not closing.
    pub fn is_bound(&self) -> bool {
        self.state == State::Bound && !self.closing
    }

    /// A submit would be accepted now (bound for submitting, window not full).
    pub fn can_submit(&self) -> bool {
        self.is_bound() && self.config.bind_mode.can_submit() && self.out.held() < self.out.window()
    }

    /// Submits sent and awaiting their response.
    pub fn in_flight(&self) -> usize {
        self.out.in_flight()
    }

    /// Submits held: queued plus in flight (at most `window`).
    pub fn held(&self) -> usize {
        self.out.held()
    }

    /// The session asked to disconnect and awaits `handle_disconnected`.
    pub fn wants_disconnect(&self) -> bool {
        self.state == State::Dropping
    }

    /// Closed by [`Session::close`] and disconnected: never connect again.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }
}
