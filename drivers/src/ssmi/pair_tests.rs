//! The SSMI client session against the server session in memory, through the codec's wire
//! form, on virtual time ([`super::pair::Pair`]): login, a refused login, link checks keeping
//! a quiet link up, USSD both ways, and a remote logout.

use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::ssmi::{NackReason, Phase, Request, Response, Text, UssdType};

use super::pair::Pair;
use super::server::{ServerConfig, ServerEvent};
use super::session::{ClientConfig, DisconnectReason, Event};

fn logged_in() -> Pair {
    let mut pair = Pair::connected(
        ClientConfig::new("user", "secret"),
        ServerConfig::new("user", "secret"),
    );
    assert_eq!(pair.take_client_events(), [Event::LoggedIn]);
    assert!(matches!(
        &pair.take_server_events()[..],
        [ServerEvent::LoggedIn { username }] if &username[..] == b"user"
    ));
    pair
}

#[test]
fn a_wrong_password_is_refused_and_the_client_disconnects() {
    let mut pair = Pair::connected(
        ClientConfig::new("user", "wrong"),
        ServerConfig::new("user", "secret"),
    );
    let events = pair.take_client_events();
    assert!(
        matches!(
            &events[..],
            [
                Event::LoginRejected {
                    reason: NackReason::InvalidLogin
                },
                Event::Disconnect {
                    reason: DisconnectReason::LoginRejected
                }
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn link_checks_keep_a_quiet_link_up_for_hours() {
    let mut pair = logged_in();
    for _ in 0..120 {
        pair.advance(Duration::from_secs(61));
    }
    let events = pair.take_client_events();
    assert!(events.is_empty(), "{events:?}");
    assert!(pair.server.is_logged_in());
}

#[test]
fn ussd_goes_both_ways_through_the_wire_form() {
    let mut pair = logged_in();
    pair.server.send(Response::Ussd {
        msisdn: Bytes::from_static(b"27821234567"),
        ussd_type: UssdType::New,
        phase: Phase::Unknown,
        genfields: None,
        message: Text::new("*120*1#"),
    });
    pair.drive();
    let events = pair.take_client_events();
    let [
        Event::Inbound(Response::Ussd {
            msisdn, ussd_type, ..
        }),
    ] = &events[..]
    else {
        panic!("expected the USSD: {events:?}");
    };
    assert_eq!(
        (&msisdn[..], *ussd_type),
        (&b"27821234567"[..], UssdType::New)
    );
    pair.client
        .send(Request::SendUssd {
            msisdn: Bytes::from_static(b"27821234567"),
            ussd_type: UssdType::End,
            genfields: None,
            message: Text::new("Goodbye"),
        })
        .unwrap();
    pair.drive();
    let events = pair.take_server_events();
    assert!(
        matches!(
            &events[..],
            [ServerEvent::Request(Request::SendUssd {
                ussd_type: UssdType::End,
                ..
            })]
        ),
        "{events:?}"
    );
}

#[test]
fn a_remote_logout_ends_the_client_session() {
    let mut pair = logged_in();
    pair.server.remote_logout(Bytes::from_static(b"10.0.0.1"));
    pair.drive();
    let events = pair.take_client_events();
    assert!(
        matches!(
            &events[..],
            [
                Event::RemoteLogout { .. },
                Event::Disconnect {
                    reason: DisconnectReason::RemoteLogout
                }
            ]
        ),
        "{events:?}"
    );
}
