//! More tests of the sans-IO ESME session with a fake clock: response timeout, unbind from
//! the SMSC, bad PDUs, sequence wrap, enquire_link, deliver_sm answered only by the
//! transport, closing.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{self, MAX_SEQUENCE_NUMBER, id};
use richmond_codecs::smpp::status;

use super::config::BindMode;
use super::event::{Event, RetryReason, SubmitOutcome, UnboundReason};
use super::session::Refused;
use super::session_tests::{
    SECOND, bound, bound_with, config, deliver_sm, events, frame, headers, results, sent,
    submit_resp, submit_sm,
};

#[test]
fn response_timeout_then_a_late_response_is_ignored() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(3, submit_sm("x"), t0).unwrap();
    let seq = headers(&mut session)[0].sequence_number;
    let timeout = session.config().response_timeout;
    assert_eq!(session.poll_timeout(), Some(t0 + timeout));
    session.handle_timeout(t0 + timeout);
    assert_eq!(
        results(&events(&mut session)),
        [(
            3,
            SubmitOutcome::Retry {
                reason: RetryReason::ResponseTimeout
            }
        )]
    );
    session.handle_frame(submit_resp(seq, "late"), t0 + timeout + SECOND);
    // Reported (counted by the task), nothing else.
    assert_eq!(
        events(&mut session),
        [Event::UnmatchedResponse {
            command_id: 0x8000_0004,
            sequence_number: seq
        }]
    );
    assert!(session.is_bound() && session.can_submit());
}

#[test]
fn unbind_from_the_smsc_is_answered_and_ends_the_connection() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(1, submit_sm("x"), t0).unwrap();
    sent(&mut session);
    session.handle_frame(frame(id::UNBIND, 0, 77, b""), t0);
    let answer = headers(&mut session);
    assert_eq!(answer[0].command_id, id::UNBIND_RESP);
    assert_eq!(answer[0].sequence_number, 77);
    let events = events(&mut session);
    assert_eq!(
        results(&events),
        [(
            1,
            SubmitOutcome::Retry {
                reason: RetryReason::LinkLost
            }
        )]
    );
    assert!(events.contains(&Event::Unbound {
        reason: UnboundReason::RemoteUnbind
    }));
    assert!(session.wants_disconnect());
}

#[test]
fn bad_pdus_keep_the_bind_up() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    // Unknown command id → generic_nack ESME_RINVCMDID, same sequence number.
    session.handle_frame(frame(0x0000_0777, 0, 11, b"??"), t0);
    // Truncated deliver_sm body → generic_nack ESME_RINVCMDLEN.
    let deliver = deliver_sm(12);
    let mut cut = BytesMut::from(&deliver[..deliver.len() - 4]);
    pdu::set_command_length(&mut cut);
    session.handle_frame(cut.freeze(), t0);
    // A PDU type an ESME does not serve → generic_nack.
    session.handle_frame(frame(id::QUERY_SM, 0, 13, b"1\0\0\0\0"), t0);
    let nacks = headers(&mut session);
    assert_eq!(
        nacks
            .iter()
            .map(|h| (h.command_id, h.command_status, h.sequence_number))
            .collect::<Vec<_>>(),
        [
            (id::GENERIC_NACK, status::RINVCMDID, 11),
            (id::GENERIC_NACK, status::RINVCMDLEN, 12),
            (id::GENERIC_NACK, status::RINVCMDID, 13),
        ]
    );
    let events = events(&mut session);
    assert!(matches!(
        events[..],
        [Event::Malformed {
            command_id: id::DELIVER_SM,
            ..
        }]
    ));
    assert!(session.is_bound());
    // A framing error (the task's codec) ends the connection cleanly.
    session.handle_framing_error(t0);
    assert_eq!(
        self::events(&mut session),
        [Event::Unbound {
            reason: UnboundReason::FramingError
        }]
    );
    session.handle_disconnected(t0);
    assert!(session.next_connect_at() > t0);
}

#[test]
fn sequence_numbers_wrap_to_one_and_skip_numbers_in_use() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.set_last_sequence_number(MAX_SEQUENCE_NUMBER - 1);
    session.submit(1, submit_sm("x"), t0).unwrap();
    session.submit(2, submit_sm("y"), t0).unwrap();
    let seqs: Vec<u32> = headers(&mut session)
        .iter()
        .map(|h| h.sequence_number)
        .collect();
    assert_eq!(seqs, [MAX_SEQUENCE_NUMBER, 1]);
    // Wrap again while 1 is still in flight: 1 is skipped.
    session.set_last_sequence_number(MAX_SEQUENCE_NUMBER);
    session.submit(3, submit_sm("z"), t0).unwrap();
    assert_eq!(headers(&mut session)[0].sequence_number, 2);
    session.handle_frame(submit_resp(MAX_SEQUENCE_NUMBER, "a"), t0);
    session.handle_frame(submit_resp(1, "b"), t0);
    session.handle_frame(submit_resp(2, "c"), t0);
    let tokens: Vec<u64> = results(&events(&mut session)).iter().map(|r| r.0).collect();
    assert_eq!(tokens, [1, 2, 3]);
}

#[test]
fn enquire_link_timeout_ends_the_connection() {
    let t0 = Instant::now();
    let mut config = config();
    config.bind_mode = BindMode::Receiver; // also when bound RX (Vumi #272)
    let mut session = bound_with(config, t0);
    let interval = session.config().enquire_link_interval;
    let timeout = session.config().enquire_link_timeout;
    // Traffic from the SMSC postpones it.
    session.handle_frame(frame(id::ENQUIRE_LINK, 0, 5, b""), t0 + interval / 2);
    assert_eq!(headers(&mut session)[0].command_id, id::ENQUIRE_LINK_RESP);
    assert_eq!(session.poll_timeout(), Some(t0 + interval / 2 + interval));
    let at = t0 + interval / 2 + interval;
    session.handle_timeout(at);
    let enquire = headers(&mut session);
    assert_eq!(enquire[0].command_id, id::ENQUIRE_LINK);
    assert_eq!(session.poll_timeout(), Some(at + timeout));
    session.handle_timeout(at + timeout);
    assert_eq!(
        events(&mut session),
        [Event::Unbound {
            reason: UnboundReason::EnquireLinkTimeout
        }]
    );
    assert!(session.wants_disconnect());
}

#[test]
fn enquire_link_answered_keeps_the_link() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    let at = t0 + session.config().enquire_link_interval;
    session.handle_timeout(at);
    let seq = headers(&mut session)[0].sequence_number;
    session.handle_frame(frame(id::ENQUIRE_LINK_RESP, 0, seq, b""), at);
    session.handle_timeout(at + session.config().enquire_link_timeout);
    assert!(events(&mut session).is_empty());
    assert!(session.is_bound());
}

#[test]
fn deliver_sm_is_answered_only_by_the_transport() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.handle_frame(deliver_sm(31), t0);
    assert!(
        sent(&mut session).is_empty(),
        "no automatic deliver_sm_resp"
    );
    let [Event::Deliver(deliver)] = &events(&mut session)[..] else {
        panic!("expected one deliver");
    };
    assert_eq!(deliver.id.sequence_number(), 31);
    let super::event::InboundPdu::DeliverSm(body) = deliver.pdu().unwrap() else {
        panic!("not a deliver_sm");
    };
    assert_eq!(body.short_message().as_ref(), b"hi");
    // The session's own decode gave the message: the payload shares the frame.
    assert_eq!(&deliver.message.payload[..], b"hi");
    assert!(
        deliver
            .frame
            .as_ptr_range()
            .contains(&deliver.message.payload.as_ptr())
    );
    // The bus refused it: a temporary error asks the SMSC to redeliver.
    assert!(session.respond_deliver(deliver.id, status::RX_T_APPN));
    let resp = headers(&mut session);
    assert_eq!(
        (
            resp[0].command_id,
            resp[0].command_status,
            resp[0].sequence_number
        ),
        (id::DELIVER_SM_RESP, status::RX_T_APPN, 31)
    );
    assert!(
        !session.respond_deliver(deliver.id, status::ROK),
        "answered once"
    );
    // An answer for a PDU of an ended connection is not sent on the next one.
    session.handle_frame(deliver_sm(32), t0);
    let [Event::Deliver(old)] = &events(&mut session)[..] else {
        panic!("expected one deliver");
    };
    session.handle_disconnected(t0);
    session.handle_connected(t0 + 10 * SECOND);
    sent(&mut session);
    assert!(!session.respond_deliver(old.id, status::ROK));
    assert!(sent(&mut session).is_empty());
}

#[test]
fn close_drains_in_flight_then_unbinds() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(1, submit_sm("x"), t0).unwrap();
    let seq = headers(&mut session)[0].sequence_number;
    session.close(t0);
    assert!(!session.can_submit());
    assert_eq!(session.submit(2, submit_sm("y"), t0), Err(Refused::Closing));
    assert!(
        sent(&mut session).is_empty(),
        "unbind waits for the in-flight submit"
    );
    session.handle_frame(submit_resp(seq, "ok"), t0);
    let unbind = headers(&mut session);
    assert_eq!(unbind[0].command_id, id::UNBIND);
    session.handle_frame(
        frame(id::UNBIND_RESP, 0, unbind[0].sequence_number, b""),
        t0,
    );
    let events = events(&mut session);
    assert_eq!(results(&events)[0].1.code(), "accepted");
    assert!(events.contains(&Event::Unbound {
        reason: UnboundReason::Closed
    }));
    session.handle_disconnected(t0);
    assert!(session.is_closed());
}

#[test]
fn link_lost_tells_queued_submits_from_those_in_flight() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(1, submit_sm("x"), t0).unwrap();
    session.submit(2, submit_sm("y"), t0).unwrap();
    let first = headers(&mut session);
    // The first is throttled back into the queue; the second stays in flight.
    session.handle_frame(
        frame(
            id::SUBMIT_SM_RESP,
            status::RTHROTTLED,
            first[0].sequence_number,
            b"",
        ),
        t0,
    );
    events(&mut session);
    session.handle_disconnected(t0 + SECOND / 100);
    let outcomes = results(&events(&mut session));
    let reason = |token| {
        outcomes.iter().find_map(|(t, o)| match o {
            SubmitOutcome::Retry { reason } if *t == token => Some(*reason),
            _ => None,
        })
    };
    assert_eq!(reason(1), Some(RetryReason::NotSent));
    assert_eq!(reason(2), Some(RetryReason::LinkLost));
    assert!(RetryReason::NotSent.not_taken() && !RetryReason::LinkLost.not_taken());
}

#[test]
fn a_response_of_another_kind_does_not_resolve_a_pending_submit() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(4, submit_sm("x"), t0).unwrap();
    let seq = headers(&mut session)[0].sequence_number;
    // A deliver_sm_resp with the submit's number: reported, the submit still pending.
    session.handle_frame(frame(id::DELIVER_SM_RESP, 0, seq, &[0]), t0);
    assert_eq!(
        events(&mut session),
        [Event::UnmatchedResponse {
            command_id: id::DELIVER_SM_RESP,
            sequence_number: seq
        }]
    );
    session.handle_frame(submit_resp(seq, "abc"), t0);
    assert_eq!(
        results(&events(&mut session)),
        [(
            4,
            SubmitOutcome::Accepted {
                message_id: Bytes::from_static(b"abc")
            }
        )]
    );
}

#[test]
fn a_generic_nack_with_status_zero_rejects_the_submit() {
    let t0 = Instant::now();
    let mut session = bound(t0);
    session.submit(5, submit_sm("x"), t0).unwrap();
    let seq = headers(&mut session)[0].sequence_number;
    session.handle_frame(frame(id::GENERIC_NACK, 0, seq, &[]), t0);
    let results = results(&events(&mut session));
    assert!(
        matches!(
            results.as_slice(),
            [(
                5,
                SubmitOutcome::Rejected {
                    status: status::RSYSERR,
                    ..
                }
            )]
        ),
        "{results:?}"
    );
}
