//! Pins the length-delimited settings over real PDU bytes.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::Error;
use super::codec::{Codec, length_delimited};

/// enquire_link, seq 1 (SMPP 3.4 §4.11.1), then submit_sm_resp seq 2 with message id "ab".
const TWO_PDUS: [u8; 35] = [
    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, // enquire_link
    0x00, 0x00, 0x00, 0x13, 0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    b'a', b'b', 0x00, // submit_sm_resp
];

#[test]
fn one_frame_is_one_whole_pdu() {
    let mut codec = Codec::default();
    let mut buf = BytesMut::from(&TWO_PDUS[..]);
    let first = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&first[..], &TWO_PDUS[..16]);
    let second = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&second[..], &TWO_PDUS[16..]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert!(buf.is_empty());
}

#[test]
fn frames_arriving_octet_by_octet() {
    let mut codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in TWO_PDUS {
        buf.extend_from_slice(&[byte]);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].len(), 19);
}

#[test]
fn adjustment_minus_four_is_wrong() {
    // "The length field counts itself, so adjust by -4" cuts each PDU four octets short when
    // the length field is kept in the frame (num_skip(0)).
    let mut wrong = tokio_util::codec::LengthDelimitedCodec::builder()
        .length_field_length(4)
        .length_adjustment(-4)
        .num_skip(0)
        .new_codec();
    let mut buf = BytesMut::from(&TWO_PDUS[..]);
    assert_eq!(wrong.decode(&mut buf).unwrap().unwrap().len(), 12);
    // The pinned settings are the codec's.
    let mut right = length_delimited(1024);
    let mut buf = BytesMut::from(&TWO_PDUS[..]);
    assert_eq!(right.decode(&mut buf).unwrap().unwrap().len(), 16);
    assert_eq!(right.decode(&mut buf).unwrap().unwrap().len(), 19);
}

#[test]
fn length_below_the_header_is_a_stream_error() {
    let mut codec = Codec::default();
    let mut buf = BytesMut::from(&[0u8, 0, 0, 0x0F, 0, 0, 0, 0x15][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(Error::FrameTooShort { length: 15 })
    ));
    let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(Error::FrameTooShort { length: 0 })
    ));
}

#[test]
fn length_over_the_maximum_is_a_stream_error() {
    let mut codec = Codec::new(64);
    assert_eq!(codec.max_pdu_bytes(), 64);
    let mut buf = BytesMut::from(&[0u8, 0, 0, 65][..]);
    let error = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        error,
        Error::FrameTooLong {
            length: 65,
            max: 64
        }
    ));
    assert_eq!(error.code(), "frame_too_long");
    // Exactly the maximum is fine.
    let mut pdu = [0u8; 64];
    pdu[3] = 64;
    let mut buf = BytesMut::from(&pdu[..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 64);
}
