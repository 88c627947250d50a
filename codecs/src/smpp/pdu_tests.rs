//! Tests of the PDU layer over literal wire bytes (SMPP 3.4 §3.2 layouts, written out by hand
//! so they do not depend on rusmpp's encoder), and robustness against arbitrary input.

use bytes::BytesMut;
use proptest::prelude::*;

use super::pdu::{
    DecodeError, Header, MAX_SEQUENCE_NUMBER, Pdu, check_frame, command_name, decode, decode_owned,
    encode, encode_empty, id, next_sequence_number, set_sequence_number,
};
use super::rusmpp;
use super::status;

/// A PDU from a header and a body, with its `command_length` filled in.
fn frame(command_id: u32, command_status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(16 + body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&command_status.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A `deliver_sm` body: from 27831234567 (international, ISDN) to 12345, "hello", plus a
/// `receipted_message_id` TLV ("abc").
fn deliver_body() -> Vec<u8> {
    let mut body = vec![0x00]; // service_type ""
    body.extend_from_slice(&[0x01, 0x01]);
    body.extend_from_slice(b"27831234567\0");
    body.extend_from_slice(&[0x00, 0x00]);
    body.extend_from_slice(b"12345\0");
    // esm_class, protocol_id, priority, schedule "", validity "", registered_delivery,
    // replace_if_present, data_coding, sm_default_msg_id, sm_length
    body.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05]);
    body.extend_from_slice(b"hello");
    body.extend_from_slice(&[0x00, 0x1E, 0x00, 0x04]);
    body.extend_from_slice(b"abc\0");
    body
}

#[test]
fn enquire_link_from_the_spec() {
    let bytes = [0, 0, 0, 0x10, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 0x07];
    let command = decode(&bytes).unwrap();
    assert_eq!(command.id(), rusmpp::CommandId::EnquireLink);
    assert_eq!(command.sequence_number(), 7);
    assert!(matches!(command.pdu(), Some(Pdu::EnquireLink)));
    let mut out = BytesMut::new();
    encode_empty(id::ENQUIRE_LINK, 0, 7, &mut out);
    assert_eq!(&out[..], &bytes);
    assert_eq!(encode(&command, &mut BytesMut::new()), 16);
}

#[test]
fn deliver_sm_borrows_from_the_frame() {
    let bytes = frame(id::DELIVER_SM, 0, 42, &deliver_body());
    let command = decode(&bytes).unwrap();
    assert_eq!(command.sequence_number(), 42);
    let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
        panic!("not a deliver_sm: {command:?}");
    };
    assert_eq!(deliver.source_addr.as_str(), "27831234567");
    assert_eq!(deliver.destination_addr.as_str(), "12345");
    assert_eq!(deliver.short_message().as_ref(), b"hello");
    assert_eq!(deliver.tlvs().len(), 1);
    // Zero-copy: the short message lies inside the frame.
    let range = bytes.as_ptr_range();
    assert!(range.contains(&deliver.short_message().as_ref().as_ptr()));

    // The owned decode agrees, and re-encoding gives the same octets.
    let owned = decode_owned(&bytes).unwrap();
    let Some(rusmpp::Pdu::DeliverSm(owned_deliver)) = owned.pdu() else {
        panic!("not a deliver_sm");
    };
    assert_eq!(owned_deliver.short_message().as_ref(), b"hello");
    let mut out = BytesMut::new();
    assert_eq!(encode(&owned, &mut out), bytes.len());
    assert_eq!(&out[..], &bytes[..]);
    let mut out = BytesMut::new();
    encode(&command, &mut out);
    assert_eq!(&out[..], &bytes[..]);
}

#[test]
fn submit_sm_resp_with_and_without_body() {
    let bytes = frame(id::SUBMIT_SM_RESP, 0, 9, b"0a1b2c\0");
    let command = decode(&bytes).unwrap();
    let Some(Pdu::SubmitSmResp(resp)) = command.pdu() else {
        panic!("not a submit_sm_resp");
    };
    assert_eq!(resp.message_id().as_str(), "0a1b2c");
    // An error response without a body (Vumi #804): decodes, with no PDU body.
    let bytes = frame(id::SUBMIT_SM_RESP, status::RSUBMITFAIL, 10, b"");
    let command = decode(&bytes).unwrap();
    assert_eq!(u32::from(command.status()), status::RSUBMITFAIL);
    assert!(command.pdu().is_none());
}

#[test]
fn bind_transceiver_as_vumi_sends_it() {
    // reference/vumi.md §6.3 test_bind_params.
    let mut body = Vec::new();
    body.extend_from_slice(b"myusername\0mypasswd\0SMPP\0");
    body.extend_from_slice(&[0x33, 0x00, 0x00]);
    body.extend_from_slice(b"*12345\0");
    let bytes = frame(id::BIND_TRANSCEIVER, 0, 1, &body);
    let Some(Pdu::BindTransceiver(bind)) = decode(&bytes).unwrap().pdu().cloned() else {
        panic!("not a bind");
    };
    assert_eq!(bind.system_id.as_str(), "myusername");
    assert_eq!(bind.password.as_str(), "mypasswd");
    assert_eq!(u8::from(bind.interface_version), 0x33);
}

#[test]
fn unknown_command_id_decodes_as_other() {
    let bytes = frame(0x0000_0777, 0, 3, b"xyz");
    let command = decode(&bytes).unwrap();
    assert!(matches!(command.pdu(), Some(Pdu::Other { .. })));
    assert_eq!(command_name(0x777), "other");
}

#[test]
fn bad_frames() {
    assert_eq!(decode(&[0, 0, 0]), Err(DecodeError::TooShort { len: 3 }));
    let mut bytes = frame(id::ENQUIRE_LINK, 0, 1, b"");
    bytes[3] = 0x11;
    assert_eq!(
        check_frame(&bytes),
        Err(DecodeError::LengthMismatch {
            declared: 17,
            actual: 16
        })
    );
    // A deliver_sm cut in the middle of its short message, with a consistent length field.
    let body = deliver_body();
    let bytes = frame(id::DELIVER_SM, 0, 2, &body[..body.len() - 12]);
    let error = decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::Truncated);
    assert_eq!(error.code(), "truncated");
    assert_eq!(error.nack_status(), status::RINVCMDLEN);
    // A C-string without its NUL.
    let bytes = frame(id::SUBMIT_SM_RESP, 0, 2, b"abc");
    assert!(decode(&bytes).is_err());
}

#[test]
fn sequence_numbers_wrap_to_one() {
    assert_eq!(next_sequence_number(1), 2);
    assert_eq!(
        next_sequence_number(MAX_SEQUENCE_NUMBER - 1),
        MAX_SEQUENCE_NUMBER
    );
    assert_eq!(next_sequence_number(MAX_SEQUENCE_NUMBER), 1);
    assert_eq!(next_sequence_number(0), 1);
    assert_eq!(next_sequence_number(u32::MAX), 1);
    let mut bytes = frame(id::ENQUIRE_LINK, 0, 1, b"");
    assert!(set_sequence_number(&mut bytes, 0x1234_5678));
    assert_eq!(Header::peek(&bytes).unwrap().sequence_number, 0x1234_5678);
    assert!(!set_sequence_number(&mut [0; 8], 1));
}

#[test]
fn header_and_names() {
    let bytes = frame(id::DELIVER_SM_RESP, 0x64, 5, b"\0");
    let header = Header::peek(&bytes).unwrap();
    assert!(header.is_response());
    assert_eq!(header.name(), "deliver_sm_resp");
    assert_eq!(header.command_length, 17);
    assert_eq!(command_name(id::GENERIC_NACK), "generic_nack");
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(
        command_id in prop::sample::select(vec![
            1u32, 2, 3, 4, 5, 6, 7, 8, 9, 0xB, 0x15, 0x21, 0x102, 0x103, 0x111, 0x112, 0x113,
            0x8000_0000, 0x8000_0001, 0x8000_0004, 0x8000_0005, 0x8000_0103, 0x8000_0021, 0x42,
        ]),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let bytes = frame(command_id, 0, 1, &body);
        let _ = decode(&bytes);
        let _ = decode_owned(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&bytes);
        let _ = decode_owned(&bytes);
    }
}
