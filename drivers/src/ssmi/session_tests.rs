//! Tests of the sans-IO sessions with a fake clock (no sockets): login, backoff, link checks,
//! liveness, remote logout, gating of outbound messages; and the server session.

use std::time::{Duration, Instant};

use bytes::Bytes;
use richmond_codecs::ssmi::{
    AckType, Decoded, LineError, NackReason, Phase, Request, Response, Secret, Text, UssdType,
};

use super::server::{ServerConfig, ServerEvent, ServerSession};
use super::session::{ClientConfig, ClientSession, DisconnectReason, Event};

const MINUTE: Duration = Duration::from_secs(60);

fn config() -> ClientConfig {
    ClientConfig::new("username", "password")
}

fn events(session: &mut ClientSession) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn transmits(session: &mut ClientSession) -> Vec<Request> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

const ACK_LOGIN: Response = Response::Ack {
    ack_type: AckType::LoginOk,
};
const ACK_LINK: Response = Response::Ack {
    ack_type: AckType::LinkCheck,
};

/// A session connected and logged in at `t0`, queues drained.
fn logged_in(t0: Instant) -> ClientSession {
    let mut session = ClientSession::new(config(), t0, 7);
    session.handle_connected(t0);
    session.handle_response(ACK_LOGIN, t0);
    events(&mut session);
    transmits(&mut session);
    session
}

fn ussd(text: &'static str) -> Response {
    Response::Ussd {
        msisdn: Bytes::from_static(b"27831112222"),
        ussd_type: UssdType::Existing,
        phase: Phase::Unknown,
        genfields: None,
        message: Text::wire(Bytes::from_static(text.as_bytes())),
    }
}

#[test]
fn login_ok() {
    let t0 = Instant::now();
    let mut session = ClientSession::new(config(), t0, 1);
    assert_eq!(session.next_connect_at(), t0);
    assert!(!session.is_ready());
    session.handle_connected(t0);
    assert_eq!(
        transmits(&mut session),
        [Request::Login {
            username: Bytes::from_static(b"username"),
            password: Secret::from("password")
        }]
    );
    assert!(!session.is_ready());
    assert_eq!(
        session.poll_timeout(),
        Some(t0 + session.config().login_timeout)
    );
    session.handle_response(ACK_LOGIN, t0);
    assert!(session.is_ready());
    assert_eq!(events(&mut session), [Event::LoggedIn]);
    // The first link check goes out right after the login ACK (txssmi / Vumi).
    assert_eq!(transmits(&mut session), [Request::LinkCheck]);
    assert_eq!(session.poll_timeout(), Some(t0 + MINUTE));
}

#[test]
fn login_nack_disconnects_and_backs_off() {
    let mut now = Instant::now();
    let mut session = ClientSession::new(config(), now, 42);
    let mut delays = Vec::new();
    for _ in 0..10 {
        // The owner never connects before `next_connect_at`.
        assert!(session.next_connect_at() <= now);
        session.handle_connected(now);
        transmits(&mut session);
        session.handle_response(
            Response::Nack {
                reason: NackReason::InvalidLogin,
            },
            now,
        );
        assert_eq!(
            events(&mut session),
            [
                Event::LoginRejected {
                    reason: NackReason::InvalidLogin
                },
                Event::Disconnect {
                    reason: DisconnectReason::LoginRejected
                },
            ]
        );
        assert!(!session.is_ready());
        assert_eq!(transmits(&mut session), []);
        assert_eq!(session.poll_timeout(), None);
        session.handle_disconnected(now);
        assert_eq!(events(&mut session), [], "no second disconnect event");
        let delay = session.next_connect_at() - now;
        delays.push(delay);
        now = session.next_connect_at();
    }
    let initial = config().reconnect_initial;
    let max = config().reconnect_max;
    assert!(
        delays[0] >= initial / 2 && delays[0] <= initial,
        "{delays:?}"
    );
    // 1 s doubling reaches the 60 s cap after 6 steps: until then delays never shrink.
    assert!(
        delays[..6].windows(2).all(|w| w[1] >= w[0]),
        "never shrinks: {delays:?}"
    );
    assert!(
        delays[6..].iter().all(|d| *d >= max / 2),
        "stays high at the cap: {delays:?}"
    );
    assert!(delays[5] > delays[0] * 8, "grows: {delays:?}");
    assert!(delays.iter().all(|d| *d <= max), "capped: {delays:?}");
}

#[test]
fn backoff_resets_after_login_and_is_seeded() {
    let t0 = Instant::now();
    let fail = |session: &mut ClientSession, now: Instant| {
        session.handle_connected(now);
        session.handle_disconnected(now);
        session.next_connect_at() - now
    };
    let mut a = ClientSession::new(config(), t0, 5);
    let mut b = ClientSession::new(config(), t0, 5);
    let mut c = ClientSession::new(config(), t0, 6);
    let (da, db, dc): (Vec<_>, Vec<_>, Vec<_>) = (0..4)
        .map(|_| (fail(&mut a, t0), fail(&mut b, t0), fail(&mut c, t0)))
        .fold(
            (vec![], vec![], vec![]),
            |(mut x, mut y, mut z), (p, q, r)| {
                x.push(p);
                y.push(q);
                z.push(r);
                (x, y, z)
            },
        );
    assert_eq!(da, db, "same seed, same jitter");
    assert_ne!(da, dc, "other seed, other jitter");
    assert!(da[3] >= config().reconnect_initial * 4);
    // A successful login resets the backoff.
    a.handle_connected(t0);
    a.handle_response(ACK_LOGIN, t0);
    a.handle_disconnected(t0);
    assert!(a.next_connect_at() - t0 <= config().reconnect_initial);
    // Failed connection attempts (never connected) back off too, without events.
    let mut d = ClientSession::new(config(), t0, 9);
    d.handle_disconnected(t0);
    assert!(d.next_connect_at() > t0);
    assert_eq!(events(&mut d), []);
}

#[test]
fn link_check_every_interval_while_answered() {
    let t0 = Instant::now();
    let mut session = logged_in(t0);
    session.handle_response(ACK_LINK, t0);
    for n in 1..=10u32 {
        let tick = t0 + MINUTE * n;
        session.handle_timeout(tick - Duration::from_millis(1));
        assert_eq!(transmits(&mut session), [], "not before the interval");
        assert_eq!(session.poll_timeout(), Some(tick));
        session.handle_timeout(tick);
        assert_eq!(transmits(&mut session), [Request::LinkCheck]);
        session.handle_response(ACK_LINK, tick);
    }
    assert!(session.is_ready());
    assert_eq!(events(&mut session), [], "link-check ACKs are consumed");
}

#[test]
fn two_unanswered_link_checks_kill_the_link() {
    let t0 = Instant::now();
    let mut session = logged_in(t0); // check 1 sent at t0
    session.handle_timeout(t0 + MINUTE); // check 2
    assert_eq!(transmits(&mut session), [Request::LinkCheck]);
    assert!(session.is_ready());
    session.handle_timeout(t0 + MINUTE * 2);
    assert_eq!(
        events(&mut session),
        [
            Event::LinkDead,
            Event::Disconnect {
                reason: DisconnectReason::LinkDead
            }
        ]
    );
    assert!(!session.is_ready());
    assert_eq!(transmits(&mut session), []);
    assert!(session.next_connect_at() > t0 + MINUTE * 2);
}

#[test]
fn any_line_answers_a_link_check() {
    let t0 = Instant::now();
    let mut session = logged_in(t0);
    for n in 1..=5u32 {
        session.handle_timeout(t0 + MINUTE * n);
        // Inbound traffic or even an undecodable line proves the link is alive.
        if n % 2 == 0 {
            session.handle_response(ussd("1"), t0 + MINUTE * n);
        } else {
            session.handle_unparsed(t0 + MINUTE * n);
        }
    }
    assert!(session.is_ready());
    let inbound = events(&mut session);
    assert_eq!(inbound.len(), 2);
    assert!(
        inbound
            .iter()
            .all(|e| matches!(e, Event::Inbound(Response::Ussd { .. })))
    );
}

#[test]
fn remote_logout_disconnects() {
    let t0 = Instant::now();
    let mut session = logged_in(t0);
    session.handle_response(
        Response::RemoteLogout {
            ip: Bytes::from_static(b"10.0.0.5"),
        },
        t0,
    );
    assert_eq!(
        events(&mut session),
        [
            Event::RemoteLogout {
                ip: Bytes::from_static(b"10.0.0.5")
            },
            Event::Disconnect {
                reason: DisconnectReason::RemoteLogout
            },
        ]
    );
    assert!(!session.is_ready());
    session.handle_disconnected(t0);
    assert_eq!(events(&mut session), []);
    assert!(session.next_connect_at() > t0);
}

#[test]
fn outbound_only_when_logged_in() {
    let t0 = Instant::now();
    let request = Request::SendUssd {
        msisdn: Bytes::from_static(b"27831112222"),
        ussd_type: UssdType::End,
        genfields: None,
        message: Text::new("Bye"),
    };
    let mut session = ClientSession::new(config(), t0, 3);
    assert_eq!(
        session.send(request.clone()),
        Err(request.clone()),
        "not connected"
    );
    session.handle_connected(t0);
    assert_eq!(
        session.send(request.clone()),
        Err(request.clone()),
        "not logged in yet"
    );
    assert!(matches!(
        transmits(&mut session)[..],
        [Request::Login { .. }]
    ));
    session.handle_response(ACK_LOGIN, t0);
    assert_eq!(session.send(request.clone()), Ok(()));
    assert_eq!(
        transmits(&mut session),
        [Request::LinkCheck, request.clone()]
    );
    session.handle_disconnected(t0);
    assert_eq!(session.send(request.clone()), Err(request));
}

#[test]
fn inbound_messages_and_nacks_are_events() {
    let t0 = Instant::now();
    let mut session = logged_in(t0);
    let nack = Response::Nack {
        reason: NackReason::ParseError,
    };
    session.handle_response(ussd("*120#"), t0);
    session.handle_response(nack.clone(), t0);
    assert_eq!(
        events(&mut session),
        [Event::Inbound(ussd("*120#")), Event::Inbound(nack)]
    );
}

#[test]
fn login_timeout_and_connection_loss() {
    let t0 = Instant::now();
    let mut session = ClientSession::new(config(), t0, 11);
    session.handle_connected(t0);
    session.handle_timeout(t0 + Duration::from_secs(29));
    assert_eq!(events(&mut session), []);
    session.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(
        events(&mut session),
        [Event::Disconnect {
            reason: DisconnectReason::LoginTimeout
        }]
    );
    session.handle_disconnected(t0 + Duration::from_secs(30));
    let mut session = logged_in(t0);
    session.handle_disconnected(t0);
    assert_eq!(
        events(&mut session),
        [Event::Disconnect {
            reason: DisconnectReason::ConnectionLost
        }]
    );
    assert_eq!(DisconnectReason::ConnectionLost.code(), "connection_lost");
}

#[test]
fn close_logs_out() {
    let t0 = Instant::now();
    let mut session = logged_in(t0);
    session.close(t0);
    assert_eq!(transmits(&mut session), [Request::Logout]);
    assert_eq!(
        events(&mut session),
        [Event::Disconnect {
            reason: DisconnectReason::Closed
        }]
    );
    assert!(session.is_closed() && !session.is_ready());
    session.handle_disconnected(t0);
    session.handle_connected(t0);
    assert_eq!(
        transmits(&mut session),
        [],
        "closed sessions never log in again"
    );
    let mut idle = ClientSession::new(config(), t0, 1);
    idle.close(t0);
    assert_eq!((transmits(&mut idle), events(&mut idle)), (vec![], vec![]));
    assert!(!format!("{:?}", config()).contains("password\""));
}

fn server_events(server: &mut ServerSession) -> Vec<ServerEvent> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

fn server_transmits(server: &mut ServerSession) -> Vec<Response> {
    std::iter::from_fn(|| server.poll_transmit()).collect()
}

fn login(user: &'static str, password: &'static str) -> Request {
    Request::Login {
        username: Bytes::from_static(user.as_bytes()),
        password: Secret::from(password),
    }
}

#[test]
fn server_checks_login_and_answers_link_checks() {
    let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
    server.handle_request(Request::LinkCheck);
    assert_eq!(
        server_transmits(&mut server),
        [Response::Nack {
            reason: NackReason::InvalidLogin
        }]
    );
    server.handle_request(login("user", "wrong"));
    assert_eq!(
        server_transmits(&mut server),
        [Response::Nack {
            reason: NackReason::InvalidLogin
        }]
    );
    assert_eq!(
        server_events(&mut server),
        [ServerEvent::LoginFailed {
            reason: NackReason::InvalidLogin
        }]
    );
    server.handle_request(login("user", "pass"));
    assert!(server.is_logged_in());
    assert_eq!(server_transmits(&mut server), [ACK_LOGIN]);
    server.handle_request(Request::LinkCheck);
    assert_eq!(server_transmits(&mut server), [ACK_LINK]);
    let sms = Request::SendSms {
        validity: 0,
        msisdn: Bytes::from_static(b"27"),
        message: Text::new("hi"),
    };
    server.handle_request(sms.clone());
    server.handle_decoded(Decoded::Rejected {
        reason: LineError::NoHeader,
    });
    server.handle_decoded(Decoded::Unknown { id: 113 });
    assert_eq!(
        server_transmits(&mut server),
        [
            Response::Nack {
                reason: NackReason::ParseError
            },
            Response::Nack {
                reason: NackReason::InvalidMessageType
            },
        ]
    );
    assert_eq!(
        server_events(&mut server),
        [
            ServerEvent::LoggedIn {
                username: Bytes::from_static(b"user")
            },
            ServerEvent::Request(sms),
            ServerEvent::BadLine {
                reason: NackReason::ParseError
            },
            ServerEvent::BadLine {
                reason: NackReason::InvalidMessageType
            },
        ]
    );
    server.send(ussd("Welcome"));
    server.remote_logout(Bytes::from_static(b"10.0.0.5"));
    assert_eq!(
        server_transmits(&mut server),
        [
            ussd("Welcome"),
            Response::RemoteLogout {
                ip: Bytes::from_static(b"10.0.0.5")
            }
        ]
    );
    assert_eq!(server_events(&mut server), [ServerEvent::Disconnect]);
}

#[test]
fn server_suspended_account_and_logout() {
    let mut config = ServerConfig::new("user", "pass");
    config.suspended = true;
    let mut server = ServerSession::new(config.clone());
    server.handle_request(login("user", "pass"));
    assert_eq!(
        server_transmits(&mut server),
        [Response::Nack {
            reason: NackReason::AccountSuspended
        }]
    );
    assert!(!format!("{config:?}").contains("pass\""));
    let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
    server.handle_request(login("user", "pass"));
    server.handle_request(Request::Logout);
    assert_eq!(
        server_events(&mut server),
        [
            ServerEvent::LoggedIn {
                username: Bytes::from_static(b"user")
            },
            ServerEvent::LoggedOut,
            ServerEvent::Disconnect,
        ]
    );
    assert!(!server.is_logged_in());
}
