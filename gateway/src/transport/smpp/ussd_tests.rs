//! The USSD flavours' pure rules: ops and session ids in, TLVs out (reference/vumi.md §3.3
//! point 6, §3.6).

use super::*;
use richmond_codecs::vumi::SessionEvent::{Close, New, Resume};

#[test]
fn vumi_ops_and_the_end_bit_give_the_session_event() {
    let d = |op, its| dialog(Ussd::Vumi, op, Some(its), None);
    assert_eq!(
        (d(0x01, 0x162e).event, d(0x01, 0x162e).session),
        (New, 0x162e)
    );
    assert_eq!(d(0x02, 0x162e).event, Resume);
    assert_eq!(d(0x12, 0x162e).event, Resume);
    assert_eq!(d(0x11, 0x162e).event, Close);
    // Anything else closes, as Vumi's default processor; the low bit always closes.
    assert!(d(0x33, 0x162e).unknown_op);
    assert_eq!(d(0x33, 0x162e).event, Close);
    let ended = d(0x12, 0x162f);
    assert_eq!((ended.event, ended.session), (Close, 0x162e));
}

#[test]
fn sixdee_and_mica_read_their_own_ops_and_session_ids() {
    let six = |op| dialog(Ussd::Sixdee, op, Some(0x0a40), None);
    assert_eq!(six(0x01).event, New);
    assert_eq!(six(0x12).event, Resume);
    // 0x81 is the user's release; an op these flavours do not name continues.
    let released = dialog(Ussd::Sixdee, 0x81, Some(0x0a40), None);
    assert_eq!((released.event, released.session), (Close, 0x0a40));
    assert_eq!((six(0x55).event, six(0x55).unknown_op), (Resume, true));
    let mica = dialog(Ussd::Mica, 0x12, None, Some(77));
    assert_eq!((mica.event, mica.session), (Resume, 77));
}

#[test]
fn session_info_goes_out_and_comes_back_in_each_flavour() {
    assert_eq!(session_info(Ussd::Vumi, 0x162e, Some(1)), json!("162e"));
    assert_eq!(
        session_info(Ussd::Sixdee, 0x162e, Some(1)),
        json!({"ussd_service_op": "01", "session_identifier": "162e"})
    );
    for flavor in [Ussd::Vumi, Ussd::Sixdee, Ussd::Mica] {
        let mut m = Metadata::new();
        m.insert(
            "session_info".into(),
            session_info(flavor, 0x004d, Some(0x12)),
        );
        assert_eq!(session_of(&m), Some(0x004d), "{flavor:?}");
    }
    let mut garbage = Metadata::new();
    garbage.insert("session_info".into(), json!({"session_identifier": "zz"}));
    assert_eq!(session_of(&garbage), None);
    assert_eq!(session_of(&Metadata::new()), None);
}

#[test]
fn replies_carry_the_flavours_op_and_session() {
    let ops = |tlvs: &[Tlv]| -> Vec<Tlv> { tlvs.to_vec() };
    assert_eq!(
        ops(&reply_tlvs(Ussd::Vumi, 0x162e, false, 0x17)),
        vec![
            Tlv::UssdServiceOp(UssdServiceOp::from(0x02)),
            Tlv::ItsSessionInfo(ItsSessionInfo::new(0x16, 0x2e)),
        ]
    );
    // Vumi's default processor ends with op 02 and the end bit.
    assert_eq!(
        reply_tlvs(Ussd::Vumi, 0x162e, true, 0x17)[1],
        Tlv::ItsSessionInfo(ItsSessionInfo::new(0x16, 0x2f))
    );
    assert_eq!(
        reply_tlvs(Ussd::Sixdee, 0x162e, true, 0x17),
        vec![
            Tlv::UssdServiceOp(UssdServiceOp::from(0x17)),
            Tlv::ItsSessionInfo(ItsSessionInfo::new(0x16, 0x2f)),
        ]
    );
    assert_eq!(
        reply_tlvs(Ussd::Mica, 77, true, 0x11),
        vec![
            Tlv::UssdServiceOp(UssdServiceOp::from(0x11)),
            Tlv::UserMessageReference(UserMessageReference::new(77)),
        ]
    );
}
