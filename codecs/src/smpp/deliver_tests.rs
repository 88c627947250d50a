//! [`super::deliver`] over literal wire bytes (SMPP 3.4 §4.6.1, §4.7.1, §5.3.2 layouts written
//! out by hand): every field a transport reads, TLVs over `short_message`, the payload shared
//! with the frame, and the `esm_class` rules.

use bytes::Bytes;

use super::deliver::{Inbound, Sar, esm};
use super::pdu::{decode, id};

fn frame(command_id: u32, body: &[u8]) -> Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(16 + body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&9u32.to_be_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// A `deliver_sm` from 27831234567 (TON 1) to `*120#` with service type "USSD", `esm_class`
/// and `data_coding` as given, `short_message` as given, then `tlvs`.
fn deliver_sm(esm_class: u8, data_coding: u8, short: &[u8], tlvs: &[Vec<u8>]) -> Bytes {
    let mut body = b"USSD\0".to_vec();
    body.extend_from_slice(&[0x01, 0x01]);
    body.extend_from_slice(b"27831234567\0");
    body.extend_from_slice(&[0x00, 0x00]);
    body.extend_from_slice(b"*120#\0");
    // esm_class, protocol_id, priority, schedule "", validity "", registered_delivery,
    // replace_if_present, data_coding, sm_default_msg_id, sm_length
    body.extend_from_slice(&[esm_class, 0, 0, 0, 0, 0, 0, data_coding, 0]);
    body.push(u8::try_from(short.len()).unwrap());
    body.extend_from_slice(short);
    for t in tlvs {
        body.extend_from_slice(t);
    }
    frame(id::DELIVER_SM, &body)
}

fn read(frame: &Bytes) -> Inbound {
    let command = decode(frame).unwrap();
    Inbound::from_pdu(command.pdu().unwrap(), frame).unwrap()
}

#[test]
fn a_deliver_sm_gives_every_field_and_shares_its_payload_with_the_frame() {
    let f = deliver_sm(
        0x40,
        0x08,
        b"\x05\x00\x03\x07\x02\x01hi",
        &[
            tlv(0x0501, &[0x01]),
            tlv(0x020C, &[0x12, 0x34]),
            tlv(0x1383, &[0x16, 0x2F]),
            tlv(0x0204, &[0x00, 0x2A]),
        ],
    );
    let m = read(&f);
    assert_eq!(m.its_session_info, Some(0x162F));
    assert_eq!(m.user_message_reference, Some(42));
    assert!(!m.data_sm);
    assert_eq!(m.service_type, "USSD");
    assert_eq!((m.source.as_str(), m.source_ton), ("27831234567", 1));
    assert_eq!(m.destination, "*120#");
    assert_eq!((m.esm_class, m.data_coding), (0x40, 0x08));
    assert_eq!(&m.payload[..], b"\x05\x00\x03\x07\x02\x01hi");
    assert!(f.as_ptr_range().contains(&m.payload.as_ptr()), "copied");
    assert_eq!(m.ussd_service_op, Some(1));
    assert_eq!(
        m.sar,
        Sar {
            reference: Some(0x1234),
            total: None,
            seq: None
        }
    );
    assert_eq!(m.sar.complete(), None);
    assert!(m.is_part());
    assert!(!m.is_receipt());
}

#[test]
fn message_payload_replaces_short_message_and_sar_comes_whole() {
    let f = deliver_sm(
        0,
        0,
        b"",
        &[
            tlv(0x0424, b"a long text"),
            tlv(0x020C, &[0, 7]),
            tlv(0x020E, &[3]),
            tlv(0x020F, &[2]),
        ],
    );
    let m = read(&f);
    assert_eq!(&m.payload[..], b"a long text");
    assert_eq!(m.sar.complete(), Some((7, 3, 2)));
    assert!(m.is_part());
}

#[test]
fn a_data_sm_gives_its_fields_and_its_payload_from_the_tlv() {
    let mut body = b"\0".to_vec();
    body.extend_from_slice(&[0x00, 0x00]);
    body.extend_from_slice(b"0821234567\0");
    body.extend_from_slice(&[0x00, 0x00]);
    body.extend_from_slice(b"12345\0");
    // esm_class, registered_delivery, data_coding
    body.extend_from_slice(&[0x00, 0x00, 0x00]);
    body.extend_from_slice(&tlv(0x0424, b"hello"));
    let f = frame(id::DATA_SM, &body);
    let m = read(&f);
    assert!(m.data_sm);
    assert_eq!(m.service_type, "");
    assert_eq!((m.source.as_str(), m.source_ton), ("0821234567", 0));
    assert_eq!(&m.payload[..], b"hello");
    assert!(!m.is_part() && !m.is_receipt());
}

#[test]
fn receipts_by_message_type_or_by_tlv_with_a_message_type() {
    let text = b"id:abc sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:";
    // Message type 0x04 (receipt) and 0x20 (intermediate notification).
    for esm_class in [0x04, 0x20, 0x44] {
        let m = read(&deliver_sm(esm_class, 0, text, &[]));
        assert!(m.is_receipt(), "{esm_class:#x}");
    }
    // A receipted_message_id TLV with message state, and a non-default message type (0x08,
    // SME delivery acknowledgement): a receipt.
    let m = read(&deliver_sm(
        0x08,
        0,
        b"",
        &[tlv(0x001E, b"abc\0"), tlv(0x0427, &[2])],
    ));
    assert_eq!(m.receipted_id.as_deref(), Some("abc"));
    assert_eq!(m.message_state, Some(2));
    assert!(m.is_receipt());
    // The same TLV on a default-type message: an MO that happens to carry it.
    let m = read(&deliver_sm(0x00, 0, b"hi", &[tlv(0x001E, b"abc\0")]));
    assert!(!m.is_receipt());
    // A plain MO.
    assert!(!read(&deliver_sm(0x00, 0, b"hi", &[])).is_receipt());
}

#[test]
fn esm_class_rules() {
    assert!(esm::is_receipt(0x04) && esm::is_receipt(0x20) && esm::is_receipt(0x44));
    assert!(!esm::is_receipt(0x00) && !esm::is_receipt(0x08) && !esm::is_receipt(0x40));
    assert!(esm::has_udh(0x40) && esm::has_udh(0x44) && !esm::has_udh(0x04));
    assert!(esm::has_message_type(0x08) && !esm::has_message_type(0x43));
}

#[test]
fn other_pdus_are_not_messages() {
    let f = frame(id::ENQUIRE_LINK, &[]);
    let command = decode(&f).unwrap();
    assert!(Inbound::from_pdu(command.pdu().unwrap(), &f).is_none());
}

#[test]
fn a_clients_submit_sm_is_read_with_the_same_fields() {
    let mut body = b"\0".to_vec();
    body.extend_from_slice(&[0x01, 0x01]);
    body.extend_from_slice(b"27831234567\0");
    body.extend_from_slice(&[0x01, 0x01]);
    body.extend_from_slice(b"27820001111\0");
    // esm_class, protocol_id, priority, schedule "", validity "", registered_delivery 1,
    // replace_if_present, data_coding 8, sm_default_msg_id, sm_length 0
    body.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 8, 0, 0]);
    body.extend_from_slice(&tlv(0x0424, &[0x00, 0x68, 0x00, 0x69]));
    let f = frame(id::SUBMIT_SM, &body);
    let m = read(&f);
    assert_eq!((m.source.as_str(), m.source_ton), ("27831234567", 1));
    assert_eq!(
        (m.destination.as_str(), m.destination_ton),
        ("27820001111", 1)
    );
    assert_eq!((m.registered_delivery, m.data_coding), (1, 8));
    // message_payload, as for deliver_sm.
    assert_eq!(&m.payload[..], &[0x00, 0x68, 0x00, 0x69]);
    assert!(!m.is_part());
}
