//! Arbitrary bytes as an SMPP byte stream (reference/smpp.md): the driver's framing cuts them
//! into PDUs, each is decoded borrowed and owned (never a panic), whatever decodes re-encodes
//! into something that decodes again, and every frame is fed to a bound ESME session, which
//! must answer or ignore it without panicking. Seeds: fuzz/seeds/smpp_pdu/ (from
//! fixtures/smpp/pdus.txt).
#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use richmond_codecs::smpp::pdu;
use richmond_drivers::smpp::{Codec, Config, Session};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    // Each PDU alone.
    if let Ok(command) = pdu::decode(data) {
        let mut out = BytesMut::new();
        pdu::encode(&command, &mut out);
        assert!(pdu::decode(&out).is_ok(), "re-encoded pdu does not decode");
    }
    let _ = pdu::decode_owned(data);

    // As a stream, into a bound session.
    let now = Instant::now();
    let config = Config::new("127.0.0.1", 2775, "fuzz", "user", "pass");
    let Ok(mut session) = Session::new(config, now, 1) else {
        return;
    };
    session.handle_connected(now);
    while session.poll_transmit().is_some() {}
    let bind_resp = [0, 0, 0, 0x15, 0x80, 0, 0, 0x09, 0, 0, 0, 0, 0, 0, 0, 1, b's', b'm', b's', b'c', 0];
    session.handle_frame(bytes::Bytes::copy_from_slice(&bind_resp), now);
    let mut codec = Codec::new(4096);
    let mut buf = BytesMut::from(data);
    for _ in 0..1024 {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => {
                let _ = pdu::decode_owned(&frame);
                session.handle_frame(frame, now);
            }
            Ok(None) => break,
            Err(_) => {
                session.handle_framing_error(now);
                break;
            }
        }
    }
    session.handle_timeout(now + Duration::from_secs(3600));
    while session.poll_transmit().is_some() {}
    while session.poll_event().is_some() {}
});
