//! The ESME session's internal steps: connection state tests, sequence numbers, writing
//! empty PDUs and responses, reporting submit outcomes, throttling, flushing the queue into
//! the window, draining, and ending a connection. Sans-IO like its parent (`session.rs`);
//! split out to keep each file readable.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use richmond_codecs::smpp::pdu::{self, id, next_sequence_number};
use richmond_codecs::smpp::status;

use super::super::event::{Event, RetryReason, SubmitOutcome, UnboundReason};
use super::super::outbound::{Kind, Outstanding};
use super::{MAX_DELAY, Session, State};

impl Session {
    pub(super) fn is_connected(&self) -> bool {
        matches!(
            self.state,
            State::Binding | State::Bound | State::Draining | State::Unbinding | State::Dropping
        )
    }

    pub(super) fn is_bound_or_draining(&self) -> bool {
        matches!(self.state, State::Bound | State::Draining)
    }

    pub(super) fn next_seq(&mut self) -> u32 {
        let mut seq = next_sequence_number(self.last_sequence_number);
        // Skip numbers still awaiting a response (only possible after a wrap).
        for _ in 0..=self.out.tracked() {
            if !self.out.is_tracked(seq) {
                break;
            }
            seq = next_sequence_number(seq);
        }
        self.last_sequence_number = seq;
        seq
    }

    pub(super) fn send_empty(&mut self, command_id: u32, status: u32, seq: u32) {
        let mut frame = BytesMut::with_capacity(pdu::HEADER_LEN);
        pdu::encode_empty(command_id, status, seq, &mut frame);
        self.transmit.push_back(frame.freeze());
    }

    /// A `deliver_sm_resp` / `data_sm_resp`: the header and an empty `message_id`.
    pub(super) fn send_resp(&mut self, command_id: u32, status: u32, seq: u32) {
        let mut frame = BytesMut::with_capacity(pdu::HEADER_LEN + 1);
        pdu::encode_empty(command_id, status, seq, &mut frame);
        frame.extend_from_slice(&[0]);
        pdu::set_command_length(&mut frame);
        self.transmit.push_back(frame.freeze());
    }

    pub(super) fn report(
        &mut self,
        token: u64,
        outcome: SubmitOutcome,
        first: Option<Instant>,
        now: Instant,
    ) {
        let latency = first.map(|first| now.saturating_duration_since(first));
        self.events.push_back(Event::SubmitResult {
            token,
            outcome,
            latency,
        });
    }

    pub(super) fn throttle(&mut self, status: u32, now: Instant) {
        self.pace.throttle(now);
        self.events.push_back(Event::Throttled { status });
    }

    /// Sends queued submits while the window, the rate and throttling allow.
    pub(super) fn flush_queue(&mut self, now: Instant) {
        if self.state != State::Bound {
            return;
        }
        for _ in 0..self.out.queued() {
            if self.out.in_flight() >= self.out.window() {
                break;
            }
            if now < self.pace.send_allowed_at() {
                break;
            }
            let Some(queued) = self.out.dequeue() else {
                break;
            };
            self.pace.on_send(now);
            let seq = self.next_seq();
            let mut frame = BytesMut::from(&queued.pdu[..]);
            pdu::set_sequence_number(&mut frame, seq);
            self.transmit.push_back(frame.freeze());
            let deadline = later(now, self.config.response_timeout);
            let kind = Kind::Submit {
                token: queued.token,
                pdu: queued.pdu,
                first_sent: queued.first_sent.or(Some(now)),
            };
            self.out.track(seq, Outstanding::new(kind, deadline));
        }
    }

    /// A submit left the window: send more, or finish draining.
    pub(super) fn after_submit_resolved(&mut self, now: Instant) {
        if self.state == State::Draining && self.out.in_flight() == 0 {
            let seq = self.next_seq();
            self.send_empty(id::UNBIND, status::ROK, seq);
            let deadline = later(now, self.config.unbind_timeout);
            self.out
                .track(seq, Outstanding::new(Kind::Unbind, deadline));
            self.state = State::Unbinding;
        } else {
            self.flush_queue(now);
        }
    }

    /// Ends the connection: every submit in flight is reported `Retry { LinkLost }` and every
    /// queued one `Retry { NotSent }`, inbound PDUs awaiting an answer are forgotten (the SMSC
    /// redelivers), the next attempt is scheduled.
    pub(super) fn end_connection(&mut self, reason: UnboundReason, now: Instant) {
        let (in_flight, queued) = self.out.clear();
        let in_flight = in_flight.into_iter().map(|h| (h, RetryReason::LinkLost));
        let queued = queued.into_iter().map(|h| (h, RetryReason::NotSent));
        for ((token, first_sent), reason) in in_flight.chain(queued) {
            self.report(token, SubmitOutcome::Retry { reason }, first_sent, now);
        }
        self.delivers.clear();
        self.enquire_outstanding = false;
        self.events.push_back(Event::Unbound { reason });
        self.schedule_reconnect(now);
        self.state = State::Dropping;
    }

    pub(super) fn schedule_reconnect(&mut self, now: Instant) {
        self.backoff.schedule(now);
    }
}

/// `now + delay`, with the delay capped so the arithmetic cannot overflow.
pub(super) fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now)
}

pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A C-string's octets without the NUL.
pub(super) fn c_str(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(&[0]).unwrap_or(bytes)
}
