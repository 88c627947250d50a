//! Arbitrary bytes from a client through the SMPP framing codec and the SMSC-side session
//! (drivers::smpp::ServerSession, as the SMPP server transport runs it: the owner decides
//! binds): never a panic, and every PDU the session writes is framed (its command_length is
//! its length) whatever it was fed (SMPP 3.4 §3.2, §4.1, §4.3).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use richmond_codecs::smpp::pdu::Header;
use richmond_drivers::smpp::{Codec, ServerConfig, ServerEvent, ServerSession};
use tokio_util::codec::Decoder;

fuzz_target!(|input: (bool, Vec<u8>)| {
    let (owner_decides, data) = input;
    let mut config = ServerConfig::new("user", "pass");
    config.owner_decides_binds = owner_decides;
    let mut session = ServerSession::new(config);
    let mut codec = Codec::new(4096);
    let mut buf = BytesMut::from(&data[..]);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        session.handle_frame(frame);
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::BindRequest { sequence_number, .. } => {
                    session.respond_bind(sequence_number, 0);
                }
                ServerEvent::SubmitSm { sequence_number, .. } => {
                    session.respond_submit(sequence_number, Ok("fuzz-id"));
                }
                _ => {}
            }
        }
        while let Some(out) = session.poll_transmit() {
            let header = Header::peek(&out).expect("a written PDU has a header");
            assert_eq!(header.command_length as usize, out.len());
        }
    }
});
