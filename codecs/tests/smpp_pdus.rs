//! The golden PDUs of fixtures/smpp/pdus.txt: each decodes (borrowed and owned) as its name
//! says, and re-encodes to the same octets; the malformed ones are refused with their error.

use bytes::BytesMut;
use richmond_codecs::smpp::pdu::{self, DecodeError, Pdu};

fn vectors() -> Vec<(String, Vec<u8>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/smpp/pdus.txt");
    let text = std::fs::read_to_string(path).expect("fixtures/smpp/pdus.txt");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next().expect("name").to_owned();
            let hex = fields.next().expect("hex");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name, bytes)
        })
        .collect()
}

#[test]
fn golden_pdus() {
    let vectors = vectors();
    assert!(vectors.len() >= 10);
    for (name, bytes) in vectors {
        let decoded = pdu::decode(&bytes);
        match name.as_str() {
            "deliver_sm_truncated" => {
                assert_eq!(decoded.unwrap_err(), DecodeError::Truncated, "{name}");
                continue;
            }
            "unknown_command" => {
                assert!(matches!(decoded.unwrap().pdu(), Some(Pdu::Other { .. })));
                continue;
            }
            _ => {}
        }
        let command = decoded.unwrap_or_else(|error| panic!("{name}: {error}"));
        let header = pdu::Header::peek(&bytes).unwrap();
        assert_eq!(
            header.name(),
            name.trim_end_matches("_mo")
                .trim_end_matches("_receipt")
                .trim_end_matches("_error_no_body"),
            "{name}"
        );
        let mut out = BytesMut::new();
        pdu::encode(&command, &mut out);
        assert_eq!(&out[..], &bytes[..], "{name}: borrowed re-encode");
        let owned = pdu::decode_owned(&bytes).unwrap_or_else(|error| panic!("{name}: {error}"));
        let mut out = BytesMut::new();
        pdu::encode(&owned, &mut out);
        assert_eq!(&out[..], &bytes[..], "{name}: owned re-encode");
    }
}

#[test]
fn receipt_carries_its_tlvs() {
    let (_, bytes) = vectors()
        .into_iter()
        .find(|(name, _)| name == "deliver_sm_receipt")
        .expect("vector");
    let command = pdu::decode(&bytes).unwrap();
    let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
        panic!("not a deliver_sm");
    };
    assert_eq!(u8::from(deliver.esm_class), 0x04);
    assert_eq!(deliver.tlvs().len(), 2);
    assert!(deliver.short_message().as_ref().starts_with(b"id:0a1b2c "));
}

/// Found by the `smpp_pdu` fuzz target: a bind_receiver_resp whose TLV claims 0xEE00 octets
/// and holds one. rusmpp parsed it (keeping the wire length), and the re-encoded PDU did not
/// decode; it is now refused as malformed, borrowed and owned.
#[test]
fn a_tlv_longer_than_the_pdu_is_refused() {
    let data: &[u8] = &[
        0, 0, 0, 0x1e, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 6, 0x0d, 0xee, 0, 0, 2, 0x0f,
        0x33, 0, 4, 0x6f, 0, 0xfe,
    ];
    assert_eq!(pdu::decode(data).err(), Some(DecodeError::InvalidField));
    assert_eq!(
        pdu::decode_owned(data).err(),
        Some(DecodeError::InvalidField)
    );
}
