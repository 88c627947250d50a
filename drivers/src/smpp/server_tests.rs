//! Tests of the SMSC-side session: bind checks, submit hand-off and answers, enquire_link and
//! unbind, bad PDUs.

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{self, Header, id};
use richmond_codecs::smpp::status;

use super::config::{BindMode, Config};
use super::server::{BindPassword, ServerConfig, ServerEvent, ServerSession};
use super::session::Session;
use super::session_tests::submit_sm;

fn bind_pdu(password: &str) -> Bytes {
    let config = Config::new("127.0.0.1", 0, "t", "user", password);
    let mut session = Session::new(config, std::time::Instant::now(), 1).unwrap();
    session.handle_connected(std::time::Instant::now());
    session.poll_transmit().unwrap()
}

fn headers(session: &mut ServerSession) -> Vec<Header> {
    std::iter::from_fn(|| session.poll_transmit())
        .map(|pdu| Header::peek(&pdu).unwrap())
        .collect()
}

fn empty(command_id: u32, seq: u32) -> Bytes {
    let mut out = BytesMut::new();
    pdu::encode_empty(command_id, 0, seq, &mut out);
    out.freeze()
}

#[test]
fn bind_checked_against_the_credentials() {
    let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
    server.handle_frame(bind_pdu("wrong"));
    let resp = headers(&mut server);
    assert_eq!(resp[0].command_id, 0x8000_0009);
    assert_eq!(resp[0].command_status, status::RINVPASWD);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::BindRefused {
            status: status::RINVPASWD
        })
    );
    server.handle_frame(bind_pdu("pass"));
    assert_eq!(headers(&mut server)[0].command_status, status::ROK);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Bound {
            mode: BindMode::Transceiver,
            system_id: "user".into()
        })
    );
    // A second bind on the same connection.
    server.handle_frame(bind_pdu("pass"));
    assert_eq!(headers(&mut server)[0].command_status, status::RALYBND);
}

#[test]
fn forced_bind_status_and_unknown_system_id() {
    let mut server = ServerSession::new(ServerConfig::new("someone else", "pass"));
    server.handle_frame(bind_pdu("pass"));
    assert_eq!(headers(&mut server)[0].command_status, status::RINVSYSID);
    let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
    server.set_bind_status(Some(status::RALYBND));
    server.handle_frame(bind_pdu("pass"));
    assert_eq!(headers(&mut server)[0].command_status, status::RALYBND);
}

#[test]
fn submit_handed_over_and_answered() {
    let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
    let mut submit = BytesMut::new();
    let command = richmond_codecs::smpp::rusmpp::Command::new(
        richmond_codecs::smpp::rusmpp::CommandStatus::EsmeRok,
        5,
        submit_sm("hi"),
    );
    pdu::encode(&command, &mut submit);
    let submit = submit.freeze();
    // Before the bind: refused.
    server.handle_frame(submit.clone());
    let resp = headers(&mut server);
    assert_eq!(
        (resp[0].command_id, resp[0].command_status),
        (id::SUBMIT_SM_RESP, status::RINVBNDSTS)
    );
    server.handle_frame(bind_pdu("pass"));
    headers(&mut server);
    server.poll_event();
    server.handle_frame(submit.clone());
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::SubmitSm {
            sequence_number: 5,
            ..
        })
    ));
    assert!(headers(&mut server).is_empty(), "the owner answers");
    server.respond_submit(5, Ok("abc"));
    server.respond_submit(5, Err(status::RTHROTTLED));
    let answers: Vec<Bytes> = std::iter::from_fn(|| server.poll_transmit()).collect();
    let Some(pdu::Pdu::SubmitSmResp(resp)) = pdu::decode(&answers[0]).unwrap().pdu().cloned()
    else {
        panic!("not a submit_sm_resp");
    };
    assert_eq!(resp.message_id().as_str(), "abc");
    assert_eq!(
        Header::peek(&answers[1]).unwrap().command_status,
        status::RTHROTTLED
    );
}

#[test]
fn enquire_link_unbind_and_bad_pdus() {
    let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
    server.handle_frame(empty(id::ENQUIRE_LINK, 3));
    server.handle_frame(empty(0x0000_0999, 4));
    let mut truncated = BytesMut::new();
    pdu::encode_empty(id::SUBMIT_SM, 0, 6, &mut truncated);
    truncated.extend_from_slice(b"\0\0");
    pdu::set_command_length(&mut truncated);
    server.handle_frame(truncated.freeze());
    let out = headers(&mut server);
    assert_eq!(
        out.iter()
            .map(|h| (h.command_id, h.command_status, h.sequence_number))
            .collect::<Vec<_>>(),
        [
            (id::ENQUIRE_LINK_RESP, 0, 3),
            (id::GENERIC_NACK, status::RINVCMDID, 4),
            (id::GENERIC_NACK, status::RINVCMDLEN, 6),
        ]
    );
    assert_eq!(server.send_enquire_link(), 1);
    assert_eq!(server.send_unbind(), 2);
    headers(&mut server);
    server.handle_frame(empty(id::UNBIND, 9));
    assert_eq!(headers(&mut server)[0].command_id, id::UNBIND_RESP);
    let events: Vec<ServerEvent> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(events.ends_with(&[ServerEvent::Unbound, ServerEvent::Disconnect]));
}

#[test]
fn the_owner_decides_binds_when_asked_to() {
    let mut config = ServerConfig::new("ignored", "ignored");
    config.owner_decides_binds = true;
    let mut server = ServerSession::new(config);
    server.handle_frame(bind_pdu("secret"));
    // Nothing is answered until the owner decides; the password is not in Debug.
    assert!(server.poll_transmit().is_none());
    let Some(ServerEvent::BindRequest {
        sequence_number,
        mode,
        system_id,
        password,
    }) = server.poll_event()
    else {
        panic!("a bind request");
    };
    assert_eq!((mode, system_id.as_str()), (BindMode::Transceiver, "user"));
    assert_eq!(password, BindPassword("secret".into()));
    assert!(!format!("{password:?}").contains("secret"));
    // A second bind while the first is being decided.
    server.handle_frame(bind_pdu("secret"));
    assert_eq!(headers(&mut server)[0].command_status, status::RALYBND);
    let _ = server.poll_event();
    server.respond_bind(sequence_number, status::RINVPASWD);
    assert_eq!(headers(&mut server)[0].command_status, status::RINVPASWD);
    assert_eq!(server.bound(), None);
    // Refused: the next bind is asked again, and this one is accepted.
    server.handle_frame(bind_pdu("secret"));
    let Some(ServerEvent::BindRequest {
        sequence_number, ..
    }) = server.poll_event()
    else {
        panic!("a bind request");
    };
    server.respond_bind(sequence_number, status::ROK);
    let resp = headers(&mut server);
    assert_eq!(
        (resp[0].command_status, resp[0].sequence_number),
        (status::ROK, sequence_number)
    );
    assert_eq!(server.bound(), Some(BindMode::Transceiver));
}

/// The `sc_interface_version` TLV of a bind_resp, if any.
fn sc_interface_version(resp: &[u8]) -> Option<u8> {
    // Header (16), system_id (C-string), then TLVs.
    let body = resp.get(16..)?;
    let end = body.iter().position(|&b| b == 0)?;
    match body.get(end + 1..)? {
        [0x02, 0x10, 0x00, 0x01, v] => Some(*v),
        _ => None,
    }
}

#[test]
fn a_bind_is_answered_with_the_version_spoken() {
    for (asked, answered) in [(0x34, Some(0x34)), (0x50, Some(0x50)), (0x33, None)] {
        let mut config = Config::new("127.0.0.1", 0, "t", "user", "pass");
        config.interface_version = asked;
        let mut client = Session::new(config, std::time::Instant::now(), 1).unwrap();
        client.handle_connected(std::time::Instant::now());
        let mut server = ServerSession::new(ServerConfig::new("user", "pass"));
        server.handle_frame(client.poll_transmit().unwrap());
        let resp = server.poll_transmit().unwrap();
        assert_eq!(Header::peek(&resp).unwrap().command_status, status::ROK);
        assert_eq!(server.interface_version(), asked);
        assert_eq!(
            sc_interface_version(&resp),
            answered,
            "bind with {asked:#x}"
        );
        // The client's session reads the answer as a bind.
        client.handle_frame(resp, std::time::Instant::now());
        assert!(client.is_bound());
    }
}
