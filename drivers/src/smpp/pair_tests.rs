//! The ESME session against the SMSC session in memory ([`super::pair::Pair`]), on virtual
//! time: bind, a submit accepted with its message id, a throttled submit sent again after the
//! pause, an MO answered only when the transport says so, and enquire_link keeping an idle
//! link bound.

use std::time::Duration;

use richmond_codecs::smpp::pdu::id;
use richmond_codecs::smpp::rusmpp::pdus::DeliverSm;
use richmond_codecs::smpp::rusmpp::types::{COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::EsmClass;
use richmond_codecs::smpp::status;

use super::config::BindMode;
use super::event::{Event, SubmitOutcome};
use super::pair::Pair;
use super::server::ServerEvent;
use super::session_tests::{config, submit_sm};

fn bound() -> Pair {
    let mut pair = Pair::connected(config());
    assert!(pair.client.is_bound());
    assert!(matches!(
        pair.take_client_events()[..],
        [Event::Bound {
            mode: BindMode::Transceiver,
            ..
        }]
    ));
    assert!(matches!(
        pair.take_server_events()[..],
        [ServerEvent::Bound {
            mode: BindMode::Transceiver,
            ..
        }]
    ));
    pair
}

/// The sequence number of the one `submit_sm` the SMSC was handed.
fn one_submit(pair: &mut Pair) -> u32 {
    let events = pair.take_server_events();
    let [
        ServerEvent::SubmitSm {
            sequence_number, ..
        },
    ] = events[..]
    else {
        panic!("expected one submit_sm: {events:?}");
    };
    sequence_number
}

#[test]
fn a_submit_is_accepted_with_the_smscs_message_id() {
    let mut pair = bound();
    pair.client.submit(1, submit_sm("hello"), pair.now).unwrap();
    pair.drive();
    let seq = one_submit(&mut pair);
    pair.server.respond_submit(seq, Ok("abc123"));
    pair.drive();
    let events = pair.take_client_events();
    let [
        Event::SubmitResult {
            token: 1,
            outcome: SubmitOutcome::Accepted { message_id },
            ..
        },
    ] = &events[..]
    else {
        panic!("expected the submit's result: {events:?}");
    };
    assert_eq!(&message_id[..], b"abc123");
    assert_eq!(pair.client.in_flight(), 0);
}

#[test]
fn a_throttled_submit_is_sent_again_after_the_pause_and_reported_once() {
    let mut pair = bound();
    pair.client
        .submit(1, submit_sm("slow down"), pair.now)
        .unwrap();
    pair.drive();
    let seq = one_submit(&mut pair);
    pair.server.respond_submit(seq, Err(status::RTHROTTLED));
    pair.drive();
    let events = pair.take_client_events();
    assert!(
        matches!(
            events[..],
            [Event::Throttled {
                status: status::RTHROTTLED
            }]
        ),
        "{events:?}"
    );
    // Nothing goes out until the pause is over.
    assert!(pair.take_server_events().is_empty());
    let mut resent = None;
    for _ in 0..120 {
        pair.advance(Duration::from_millis(500));
        let events = pair.take_server_events();
        if let [
            ServerEvent::SubmitSm {
                sequence_number, ..
            },
        ] = events[..]
        {
            resent = Some(sequence_number);
            break;
        }
        assert!(events.is_empty(), "{events:?}");
    }
    let seq = resent.expect("the submit sent again within a minute of virtual time");
    pair.server.respond_submit(seq, Ok("later"));
    pair.drive();
    let results: Vec<_> = pair
        .take_client_events()
        .into_iter()
        .filter(|e| matches!(e, Event::SubmitResult { .. }))
        .collect();
    assert!(
        matches!(
            &results[..],
            [Event::SubmitResult {
                token: 1,
                outcome: SubmitOutcome::Accepted { .. },
                ..
            }]
        ),
        "{results:?}"
    );
}

#[test]
fn an_mo_is_answered_only_when_the_transport_says_so() {
    let mut pair = bound();
    let mo = DeliverSm::builder()
        .source_addr(COctetString::from_static_slice(b"27831234567\0").unwrap())
        .destination_addr(COctetString::from_static_slice(b"1234\0").unwrap())
        .esm_class(EsmClass::from(0u8))
        .short_message(OctetString::from_slice(b"hi there").unwrap())
        .build();
    let seq = pair.server.send(mo);
    pair.drive();
    let events = pair.take_client_events();
    let [Event::Deliver(deliver)] = &events[..] else {
        panic!("expected the MO: {events:?}");
    };
    assert_eq!(&deliver.message.payload[..], b"hi there");
    assert_eq!(deliver.message.source, "27831234567");
    // Unanswered until the transport answers.
    assert!(pair.take_server_events().is_empty());
    assert!(pair.client.respond_deliver(deliver.id, status::ROK));
    pair.drive();
    let events = pair.take_server_events();
    let [ServerEvent::Response { header }] = events[..] else {
        panic!("expected the deliver_sm_resp: {events:?}");
    };
    assert_eq!(
        (
            header.command_id,
            header.command_status,
            header.sequence_number
        ),
        (id::DELIVER_SM_RESP, status::ROK, seq)
    );
}

#[test]
fn enquire_link_keeps_an_idle_link_bound() {
    let mut pair = bound();
    let interval = config().enquire_link_interval;
    for _ in 0..5 {
        pair.advance(interval + Duration::from_secs(1));
    }
    assert!(pair.client.is_bound());
    let events = pair.take_client_events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Unbound { .. })),
        "{events:?}"
    );
}
