//! Vectors of the SMPP → Vumi mapping: receipts by TLV and by text (reference/vumi.md §3.5),
//! MO numbering by UDH and SAR, text decoding and the metadata Vumi applications read.

use bytes::Bytes;
use richmond_codecs::smpp::deliver::{Inbound, Sar};
use richmond_codecs::smpp::status::{RINVOPTPARAMVAL, RX_P_APPN};
use richmond_codecs::sms::Encoding;
use richmond_codecs::vumi::DeliveryStatus;

use super::*;

fn mo(esm_class: u8, payload: &[u8], sar: Sar) -> Inbound {
    Inbound {
        source: "27820000001".into(),
        source_ton: 1,
        destination: "12345".into(),
        esm_class,
        payload: Bytes::copy_from_slice(payload),
        sar,
        ..Inbound::default()
    }
}

fn sar(reference: u16, total: u8, seq: u8) -> Sar {
    Sar {
        reference: Some(reference),
        total: Some(total),
        seq: Some(seq),
    }
}

#[test]
fn receipts_by_tlv_by_text_and_without_an_id() {
    // TLVs alone: the state from message_state.
    let m = Inbound {
        esm_class: 0x04,
        receipted_id: Some("a1".into()),
        message_state: Some(2),
        ..Inbound::default()
    };
    let r = receipt(&m).unwrap();
    assert_eq!(
        (r.smsc_id.as_str(), r.status, r.raw.as_str()),
        ("a1", DeliveryStatus::Delivered, "message_state:2")
    );
    // The text alone: id and stat from it.
    let text = b"id:0A1B sub:001 dlvrd:000 submit date:2401011200 done date:2401011201 stat:UNDELIV err:001 text:";
    let m = mo(0x04, text, Sar::default());
    let r = receipt(&m).unwrap();
    assert_eq!(
        (r.smsc_id.as_str(), r.status, r.raw.as_str()),
        ("0A1B", DeliveryStatus::Failed, "UNDELIV")
    );
    // Both: the TLV's id, the TLV's state, the text's word for it.
    let m = Inbound {
        receipted_id: Some("tlv-id".into()),
        message_state: Some(1),
        ..mo(0x04, text, Sar::default())
    };
    let r = receipt(&m).unwrap();
    assert_eq!(
        (r.smsc_id.as_str(), r.status, r.raw.as_str()),
        ("tlv-id", DeliveryStatus::Pending, "UNDELIV")
    );
    // No id anywhere: nothing to match.
    assert_eq!(receipt(&mo(0x04, b"garbage", Sar::default())), None);
}

#[test]
fn a_delivery_report_carries_the_raw_state_and_the_smsc_id() {
    let r = Receipt {
        smsc_id: "0A1B".into(),
        status: DeliveryStatus::Delivered,
        raw: "DELIVRD".into(),
    };
    let e = delivery_report("sms", "vumi-id", &r);
    let v: serde_json::Value = serde_json::from_slice(&e.encode()).unwrap();
    assert_eq!(v["event_type"], "delivery_report");
    assert_eq!(v["user_message_id"], "vumi-id");
    assert_eq!(v["delivery_status"], "delivered");
    assert_eq!(v["transport_name"], "sms");
    assert_eq!(v["transport_metadata"]["smpp_delivery_status"], "DELIVRD");
    assert_eq!(v["transport_metadata"]["smpp_message_id"], "0A1B");
}

#[test]
fn parts_are_numbered_by_udh_or_sar_and_impossible_numbers_refused() {
    // UDH, 8-bit reference 7, part 2 of 3: the text is what follows the header.
    let s = split(&mo(
        0x40,
        &[0x05, 0x00, 0x03, 7, 3, 2, b'h', b'i'],
        Sar::default(),
    ));
    assert_eq!(
        s.concat,
        Concat::Part {
            reference: 7,
            total: 3,
            seq: 2
        }
    );
    assert_eq!(&s.octets[..], b"hi");
    // 16-bit reference.
    let s = split(&mo(
        0x40,
        &[0x06, 0x08, 0x04, 0x01, 0x02, 2, 1, b'x'],
        Sar::default(),
    ));
    assert_eq!(
        s.concat,
        Concat::Part {
            reference: 0x0102,
            total: 2,
            seq: 1
        }
    );
    // SAR.
    let s = split(&mo(0, b"one ", sar(9, 3, 1)));
    assert_eq!(
        s.concat,
        Concat::Part {
            reference: 9,
            total: 3,
            seq: 1
        }
    );
    assert_eq!(&s.octets[..], b"one ");
    // Part 1 of 1 is a whole message.
    assert_eq!(split(&mo(0, b"x", sar(9, 1, 1))).concat, Concat::Whole);
    // Impossible numbering: refused, SAR with the TLV status, UDH permanently.
    for (total, seq) in [(3, 0), (3, 4), (0, 1)] {
        assert_eq!(
            split(&mo(0, b"x", sar(7, total, seq))).concat,
            Concat::Refused(RINVOPTPARAMVAL)
        );
    }
    let s = split(&mo(
        0x40,
        &[0x05, 0x00, 0x03, 7, 3, 4, b'x'],
        Sar::default(),
    ));
    assert_eq!(s.concat, Concat::Refused(RX_P_APPN));
    // A UDH that cannot be read: the whole payload as text, the reason kept.
    let s = split(&mo(0x40, &[0x09, 0x00], Sar::default()));
    assert_eq!(s.concat, Concat::Whole);
    assert_eq!(&s.octets[..], &[0x09, 0x00]);
    assert!(s.bad_udh.is_some());
    // A plain MO.
    let s = split(&mo(0, b"hello", Sar::default()));
    assert_eq!(
        (s.concat, &s.octets[..], s.bad_udh),
        (Concat::Whole, &b"hello"[..], None)
    );
}

#[test]
fn user_messages_carry_text_binary_and_the_incomplete_flag() {
    let m = mo(0, b"", Sar::default());
    let (msg, kind) = user_message("sms", &m, Encoding::Gsm7, b"hello", None);
    assert_eq!(kind, "sms");
    assert_eq!(msg.from_addr.as_deref(), Some("+27820000001"));
    assert_eq!(msg.to_addr.as_deref(), Some("12345"));
    assert_eq!(msg.content.as_deref(), Some("hello"));
    assert_eq!(msg.transport_metadata["smpp_data_coding"], 0);
    assert!(
        !msg.transport_metadata
            .contains_key("smpp_multipart_incomplete")
    );
    // A national number stays as it came.
    let national = Inbound {
        source: "0820000001".into(),
        source_ton: 2,
        ..m.clone()
    };
    let (msg, _) = user_message("sms", &national, Encoding::Gsm7, b"x", None);
    assert_eq!(msg.from_addr.as_deref(), Some("0820000001"));
    // Binary: no content, the octets in hex.
    let (msg, _) = user_message("sms", &m, Encoding::Binary, &[0xCA, 0xFE], None);
    assert_eq!(msg.content, None);
    assert_eq!(msg.transport_metadata["smpp_binary"], "cafe");
    // Published without all its parts.
    let (msg, kind) = user_message(
        "sms",
        &m,
        Encoding::Gsm7,
        b"one three",
        Some((vec![1, 3], 3)),
    );
    assert_eq!(kind, "sms_incomplete");
    assert_eq!(msg.transport_metadata["smpp_multipart_incomplete"], true);
    assert_eq!(
        msg.transport_metadata["smpp_multipart_parts"],
        serde_json::json!([1, 3])
    );
    assert_eq!(msg.transport_metadata["smpp_multipart_total"], 3);
}
