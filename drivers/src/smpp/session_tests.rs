//! Tests of the sans-IO ESME session with a fake clock (no sockets): bind, backoff, window,
//! link loss, throttling, the rate limit, timeouts, enquire_link, unbind both ways, bad PDUs,
//! sequence wrap, and the no-auto-answer rule for deliver_sm.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{self, Header, Pdu, id};
use richmond_codecs::smpp::rusmpp::pdus::SubmitSm;
use richmond_codecs::smpp::rusmpp::types::{COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::EsmClass;
use richmond_codecs::smpp::{StatusClass, status};

use super::config::{BindMode, Config};
use super::event::{Event, RetryReason, SubmitOutcome, UnboundReason};
use super::session::{Refused, Session};

pub(super) const SECOND: Duration = Duration::from_secs(1);

pub(super) fn config() -> Config {
    let mut config = Config::new("127.0.0.1", 2775, "smpp_test", "user", "pass");
    config.window = 3;
    config
}

pub(super) fn submit_sm(text: &str) -> SubmitSm {
    SubmitSm::builder()
        .source_addr(COctetString::from_static_slice(b"1234\0").unwrap())
        .destination_addr(COctetString::from_static_slice(b"27831234567\0").unwrap())
        .short_message(OctetString::from_slice(text.as_bytes()).unwrap())
        // rusmpp's default EsmClass encodes as 0x08 (an ANSI-41 bit): set 0 explicitly.
        .esm_class(EsmClass::from(0u8))
        .build()
}

pub(super) fn frame(command_id: u32, command_status: u32, seq: u32, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    pdu::encode_empty(command_id, command_status, seq, &mut out);
    out.extend_from_slice(body);
    pdu::set_command_length(&mut out);
    out.freeze()
}

/// A deliver_sm from 27831234567 to 1234 saying "hi".
pub(super) fn deliver_sm(seq: u32) -> Bytes {
    let mut body = vec![0, 1, 1];
    body.extend_from_slice(b"27831234567\0");
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(b"1234\0");
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    body.extend_from_slice(b"hi");
    frame(id::DELIVER_SM, 0, seq, &body)
}

pub(super) fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

pub(super) fn sent(session: &mut Session) -> Vec<Bytes> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

pub(super) fn headers(session: &mut Session) -> Vec<Header> {
    sent(session)
        .iter()
        .map(|pdu| Header::peek(pdu).unwrap())
        .collect()
}

pub(super) fn results(events: &[Event]) -> Vec<(u64, SubmitOutcome)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::SubmitResult { token, outcome, .. } => Some((*token, outcome.clone())),
            _ => None,
        })
        .collect()
}

/// A session connected and bound at `t0`, queues drained.
pub(super) fn bound_with(config: Config, t0: Instant) -> Session {
    let mut session = Session::new(config, t0, 7).unwrap();
    session.handle_connected(t0);
    let bind = headers(&mut session);
    assert_eq!(bind.len(), 1);
    let resp = bind[0].command_id | pdu::RESPONSE_BIT;
    session.handle_frame(frame(resp, 0, bind[0].sequence_number, b"smsc\0"), t0);
    assert!(session.is_bound());
    events(&mut session);
    session
}

pub(super) fn bound(t0: Instant) -> Session {
    bound_with(config(), t0)
}

pub(super) fn submit_resp(seq: u32, message_id: &str) -> Bytes {
    let mut body = message_id.as_bytes().to_vec();
    body.push(0);
    frame(id::SUBMIT_SM_RESP, 0, seq, &body)
}

#[test]
fn bind_transceiver_then_bound() {
    let t0 = Instant::now();
    let mut session = Session::new(config(), t0, 1).unwrap();
    assert_eq!(session.next_connect_at(), t0);
    session.handle_connected(t0);
    let bind = sent(&mut session);
    let command = pdu::decode(&bind[0]).unwrap();
    assert_eq!(command.sequence_number(), 1);
    let Some(Pdu::BindTransceiver(body)) = command.pdu() else {
        panic!("not a bind_transceiver");
    };
    assert_eq!(body.system_id.as_str(), "user");
    assert_eq!(body.password.as_str(), "pass");
    assert_eq!(u8::from(body.interface_version), 0x34);
    assert!(!session.can_submit());
    session.handle_frame(frame(0x8000_0009, 0, 1, b"smsc\0"), t0);
    assert_eq!(
        events(&mut session),
        [Event::Bound {
            mode: BindMode::Transceiver,
            system_id: "smsc".into()
        }]
    );
    assert!(session.can_submit());
}

#[test]
fn password_that_cannot_be_sent_is_refused() {
    let mut config = config();
    config.password = "longer than eight".into();
    let error = Session::new(config, Instant::now(), 1).unwrap_err();
    assert_eq!(error.code(), "invalid_config");
}

#[test]
fn bind_rejected_backs_off_and_the_backoff_grows() {
    let t0 = Instant::now();
    let mut session = Session::new(config(), t0, 3).unwrap();
    let min = session.config().reconnect_backoff_min;
    let mut now = t0;
    let mut delays = Vec::new();
    for status in [status::RINVPASWD, status::RALYBND, status::RBINDFAIL] {
        session.handle_connected(now);
        let seq = headers(&mut session)[0].sequence_number;
        session.handle_frame(frame(0x8000_0009, status, seq, b""), now);
        assert_eq!(
            events(&mut session),
            [
                Event::BindRejected { status },
                Event::Unbound {
                    reason: UnboundReason::BindRejected
                }
            ]
        );
        assert!(session.wants_disconnect());
        session.handle_disconnected(now);
        assert!(events(&mut session).is_empty());
        let delay = session.next_connect_at() - now;
        delays.push(delay);
        now = session.next_connect_at();
    }
    // No storm: at least 3/4 of min, 2×min, 4×min.
    assert!(delays[0] >= min * 3 / 4 && delays[0] <= min, "{delays:?}");
    assert!(delays[1] >= min * 3 / 2, "{delays:?}");
    assert!(delays[2] >= min * 3, "{delays:?}");
    // A successful bind resets it.
    session.handle_connected(now);
    let seq = headers(&mut session)[0].sequence_number;
    session.handle_frame(frame(0x8000_0009, 0, seq, b"x\0"), now);
    session.handle_disconnected(now);
    assert!(session.next_connect_at() - now <= min);
}

#[test]
fn bind_timeout_ends_the_connection() {
    let t0 = Instant::now();
    let mut session = Session::new(config(), t0, 1).unwrap();
    session.handle_connected(t0);
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + session.config().bind_timeout);
    session.handle_timeout(deadline - SECOND);
    assert!(events(&mut session).is_empty());
    session.handle_timeout(deadline);
    assert_eq!(
        events(&mut session),
        [Event::Unbound {
            reason: UnboundReason::BindTimeout
        }]
    );
}

#[test]
fn submit_accepted_with_its_message_id() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(42, submit_sm("hello"), t0).unwrap();
    let pdus = sent(&mut session);
    let command = pdu::decode(&pdus[0]).unwrap();
    let Some(Pdu::SubmitSm(body)) = command.pdu() else {
        panic!("not a submit_sm");
    };
    assert_eq!(body.short_message().as_ref(), b"hello");
    let seq = command.sequence_number();
    session.handle_frame(submit_resp(seq, "msg-1"), t0 + SECOND);
    assert_eq!(
        events(&mut session),
        [Event::SubmitResult {
            token: 42,
            outcome: SubmitOutcome::Accepted {
                message_id: Bytes::from_static(b"msg-1")
            },
            latency: Some(SECOND),
        }]
    );
    assert_eq!(session.held(), 0);
}

#[test]
fn error_status_is_a_rejection_with_its_class() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(1, submit_sm("a"), t0).unwrap();
    session.submit(2, submit_sm("b"), t0).unwrap();
    let seqs: Vec<u32> = headers(&mut session)
        .iter()
        .map(|h| h.sequence_number)
        .collect();
    // Out of order; an error response without a body (Vumi #804).
    session.handle_frame(
        frame(id::SUBMIT_SM_RESP, status::RSUBMITFAIL, seqs[1], b""),
        t0,
    );
    session.handle_frame(
        frame(id::SUBMIT_SM_RESP, status::RINVDSTADR, seqs[0], b""),
        t0,
    );
    assert_eq!(
        results(&events(&mut session)),
        [
            (
                2,
                SubmitOutcome::Rejected {
                    status: status::RSUBMITFAIL,
                    class: StatusClass::Other
                }
            ),
            (
                1,
                SubmitOutcome::Rejected {
                    status: status::RINVDSTADR,
                    class: StatusClass::InvalidDestination
                }
            ),
        ]
    );
}

#[test]
fn link_lost_with_a_full_window_reports_every_submit_once() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    for token in 0..3 {
        session.submit(token, submit_sm("x"), t0).unwrap();
    }
    assert_eq!(session.in_flight(), 3);
    assert!(!session.can_submit());
    assert_eq!(
        session.submit(9, submit_sm("x"), t0),
        Err(Refused::WindowFull)
    );
    let seqs: Vec<u32> = headers(&mut session)
        .iter()
        .map(|h| h.sequence_number)
        .collect();
    session.handle_disconnected(t0 + SECOND);
    let events = events(&mut session);
    let retry = SubmitOutcome::Retry {
        reason: RetryReason::LinkLost,
    };
    assert_eq!(
        results(&events),
        [(0, retry.clone()), (1, retry.clone()), (2, retry)]
    );
    assert!(events.contains(&Event::Unbound {
        reason: UnboundReason::ConnectionLost
    }));
    // Nothing more, whatever happens next.
    session.handle_timeout(t0 + 3600 * SECOND);
    session.handle_connected(t0 + 3600 * SECOND);
    for seq in seqs {
        session.handle_frame(submit_resp(seq, "late"), t0 + 3600 * SECOND);
    }
    assert!(results(&self::events(&mut session)).is_empty());
}

#[test]
fn throttling_slows_down_and_retries_without_failing() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    let backoff = session.config().throttle_backoff;
    session.submit(5, submit_sm("x"), t0).unwrap();
    session.submit(6, submit_sm("y"), t0).unwrap();
    let first = headers(&mut session);
    session.handle_frame(
        frame(
            id::SUBMIT_SM_RESP,
            status::RTHROTTLED,
            first[0].sequence_number,
            b"",
        ),
        t0,
    );
    assert_eq!(
        events(&mut session),
        [Event::Throttled {
            status: status::RTHROTTLED
        }]
    );
    // Paused: nothing leaves before the backoff.
    assert_eq!(session.poll_timeout(), Some(t0 + backoff));
    session.handle_timeout(t0 + backoff / 2);
    assert!(sent(&mut session).is_empty());
    // Queue full on the second: the pause doubles.
    session.handle_frame(
        frame(
            id::SUBMIT_SM_RESP,
            status::RMSGQFUL,
            first[1].sequence_number,
            b"",
        ),
        t0 + backoff / 2,
    );
    events(&mut session);
    let resume = t0 + backoff / 2 + backoff * 2;
    assert_eq!(session.poll_timeout(), Some(resume));
    session.handle_timeout(resume);
    let resent = sent(&mut session);
    assert_eq!(resent.len(), 2);
    // Same message, in the same order, under new sequence numbers.
    let seqs: Vec<u32> = resent
        .iter()
        .map(|pdu| Header::peek(pdu).unwrap().sequence_number)
        .collect();
    assert_eq!(&resent[0][16..], &encoded("x")[16..]);
    assert!(seqs[0] > first[1].sequence_number);
    session.handle_frame(submit_resp(seqs[0], "a"), resume);
    session.handle_frame(submit_resp(seqs[1], "b"), resume);
    let events = events(&mut session);
    assert_eq!(events[0], Event::ThrottleEnded);
    assert_eq!(
        results(&events)
            .iter()
            .map(|(token, outcome)| (*token, outcome.code()))
            .collect::<Vec<_>>(),
        [(5, "accepted"), (6, "accepted")]
    );
}

/// A submit_sm as the session encodes it (for comparing a resend with the original).
fn encoded(text: &str) -> Bytes {
    let mut out = BytesMut::new();
    let command = richmond_codecs::smpp::rusmpp::Command::new(
        richmond_codecs::smpp::rusmpp::CommandStatus::EsmeRok,
        0,
        submit_sm(text),
    );
    pdu::encode(&command, &mut out);
    out.freeze()
}

#[test]
fn mt_tps_holds_over_the_session_clock() {
    let t0 = Instant::now();
    let mut config = config();
    config.window = 100;
    config.mt_tps = 10;
    let mut session = bound_with(config, t0);
    for token in 0..20 {
        session.submit(token, submit_sm("x"), t0).unwrap();
    }
    let mut now = t0;
    let mut sent_at = Vec::new();
    for _ in 0..1000 {
        for pdu in sent(&mut session) {
            let header = Header::peek(&pdu).unwrap();
            if header.command_id == id::SUBMIT_SM {
                sent_at.push(now);
                // Answer at once: responses must not reset the limit (Vumi #1076).
                session.handle_frame(submit_resp(header.sequence_number, "m"), now);
            } else if header.command_id == id::ENQUIRE_LINK {
                session.handle_frame(
                    frame(id::ENQUIRE_LINK_RESP, 0, header.sequence_number, b""),
                    now,
                );
            }
        }
        if sent_at.len() == 20 {
            break;
        }
        now = session.poll_timeout().unwrap().max(now);
        session.handle_timeout(now);
    }
    assert_eq!(sent_at.len(), 20);
    assert!(
        sent_at[19] - t0 >= Duration::from_millis(1900),
        "{:?}",
        sent_at[19] - t0
    );
    for pair in sent_at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(100));
    }
}
