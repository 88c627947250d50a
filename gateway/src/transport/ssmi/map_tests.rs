//! The §4.7 vectors of Vumi's TruTeq transport, and Richmond's additions.

use bytes::{Bytes, BytesMut};
use richmond_codecs::ssmi::{
    Charset, Decoded, Genfields, Response, Text, UssdType, decode_response,
};
use richmond_codecs::vumi::{SessionEvent, UserMessage};
use serde_json::json;

use super::*;

fn line(msg: &UserMessage, charset: Charset) -> Result<Vec<u8>, String> {
    let req = request(msg, charset, 0)?;
    let mut buf = BytesMut::new();
    req.encode(&mut buf, charset).map_err(|e| e.to_string())?;
    Ok(buf.to_vec())
}

fn ussd_out(to: &str, content: Option<&str>, event: Option<SessionEvent>) -> UserMessage {
    let mut m = UserMessage::new("t", "ussd", "*120#", to, content.map(str::to_owned));
    m.session_event = event;
    m
}

#[test]
fn vumi_outbound_vectors() {
    let cases: [(Option<&str>, Option<SessionEvent>, &[u8]); 5] = [
        (Some("Test"), None, b"SSMI,110,1234,2,Test\r"),
        (None, None, b"SSMI,110,1234,2,\r"),
        (
            Some("Test"),
            Some(SessionEvent::Close),
            b"SSMI,110,1234,3,Test\r",
        ),
        (
            Some("f\u{f6}\u{f3}b\u{e6}r"),
            None,
            b"SSMI,110,1234,2,f\xf6\xf3b\xe6r\r",
        ),
        (
            Some("hello world, universe"),
            Some(SessionEvent::Resume),
            b"SSMI,110,1234,2,hello world, universe\r",
        ),
    ];
    for (content, event, want) in cases {
        let got = line(&ussd_out("+1234", content, event), Charset::Latin1).unwrap();
        assert_eq!(got, want, "{content:?} {event:?}");
    }
}

#[test]
fn line_breaks_become_lf_and_new_is_type_1() {
    let m = ussd_out("+27831112222", Some("a\r\nb\rc"), Some(SessionEvent::New));
    assert_eq!(
        line(&m, Charset::Latin1).unwrap(),
        b"SSMI,110,27831112222,1,a\nb\nc\r"
    );
}

#[test]
fn latin1_cannot_carry_is_a_nack_reason_utf8_can() {
    let m = ussd_out("+1234", Some("snowman \u{2603}"), None);
    let err = line(&m, Charset::Latin1).unwrap_err();
    assert!(err.contains("U+2603"), "{err}");
    assert_eq!(
        line(&m, Charset::Utf8).unwrap(),
        "SSMI,110,1234,2,snowman \u{2603}\r".as_bytes()
    );
}

#[test]
fn bad_addresses_are_nack_reasons() {
    for to in ["", "+", "12,34", "abc", "+27 83"] {
        let err = line(&ussd_out(to, Some("x"), None), Charset::Latin1).unwrap_err();
        assert!(err.starts_with("to_addr"), "{to:?}: {err}");
    }
    let mut m = ussd_out("1", None, None);
    m.to_addr = None;
    assert_eq!(line(&m, Charset::Latin1).unwrap_err(), "to_addr: missing");
}

#[test]
fn sms_and_binary_sms_requests() {
    let m = UserMessage::new("t", "sms", "+2700", "+2700000000", Some("hi, there".into()));
    assert_eq!(
        request(&m, Charset::Latin1, 5).map(|r| {
            let mut b = BytesMut::new();
            r.encode(&mut b, Charset::Latin1).unwrap();
            b.to_vec()
        }),
        Ok(b"SSMI,2,5,2700000000,hi, there\r".to_vec())
    );
    let mut bin = UserMessage::new("t", "sms", "+2700", "+2700000000", None);
    bin.transport_metadata.insert(
        "truteq".into(),
        json!({"hex_msg": "68656C6C6F", "pid": 15, "coding": 246}),
    );
    assert_eq!(
        line(&bin, Charset::Latin1).unwrap(),
        b"SSMI,4,0,2700000000,15,246,68656c6c6f\r"
    );
    bin.transport_metadata
        .insert("truteq".into(), json!({"hex_msg": "abc"}));
    assert!(line(&bin, Charset::Latin1).unwrap_err().contains("hex_msg"));
}

fn decoded(raw: &'static [u8]) -> Response {
    match decode_response(&Bytes::from_static(raw)) {
        Decoded::Message(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn inbound_ussd_new_and_extended_genfields() {
    let Response::Ussd {
        msisdn,
        ussd_type,
        genfields,
        message,
        ..
    } = decoded(b"SSMI,111,27831112222,1,2,655011234567890:1::,*156")
    else {
        panic!()
    };
    let code = dialled_code(&message.text(Charset::Latin1));
    assert_eq!(code, "*156#");
    let m = ussd_message(
        "t",
        &msisdn,
        &code,
        ussd_type,
        genfields.as_ref(),
        &message,
        Charset::Latin1,
    );
    assert_eq!(m.from_addr.as_deref(), Some("+27831112222"));
    assert_eq!(m.to_addr.as_deref(), Some("*156#"));
    assert_eq!(m.session_event, Some(SessionEvent::New));
    assert_eq!(m.content, None);
    assert_eq!(m.transport_type.as_deref(), Some("ussd"));
    assert_eq!(
        m.helper_metadata["truteq"]["genfields"],
        json!({"IMSI": "655011234567890", "Subscriber Type": "1", "OperatorID": "",
               "SessionID": "", "ValiPort": ""})
    );
}

#[test]
fn inbound_ussd_types_and_latin1_text() {
    let text = Text::wire(Bytes::from_static(b"f\xf6\xf3"));
    let g = Genfields::from_parts(["", "", "3"]).unwrap();
    for (t, want) in [
        (UssdType::Existing, SessionEvent::Resume),
        (UssdType::End, SessionEvent::Close),
        (UssdType::Timeout, SessionEvent::Close),
        (UssdType::Other(10), SessionEvent::Resume),
    ] {
        let m = ussd_message(
            "t",
            b"2700000000",
            "*1#",
            t,
            Some(&g),
            &text,
            Charset::Latin1,
        );
        assert_eq!(m.session_event, Some(want));
        assert_eq!(m.content.as_deref(), Some("f\u{f6}\u{f3}"));
        assert_eq!(m.helper_metadata["truteq"]["genfields"]["OperatorID"], "3");
    }
    let m = ussd_message(
        "t",
        b"27",
        "*1#",
        UssdType::Other(10),
        None,
        &text,
        Charset::Latin1,
    );
    assert_eq!(m.transport_metadata["truteq"]["ussd_type"], 10);
    assert_eq!(m.from_addr.as_deref(), Some("27"), "short codes get no +");
    assert_eq!(m.helper_metadata["truteq"]["genfields"], json!({}));
}

#[test]
fn inbound_sms_text_premium_and_binary() {
    let text = Text::wire(Bytes::from_static(b"foo, bar"));
    let sms = SmsIn {
        msisdn: b"2700000000",
        sequence: b"7",
        destination: None,
        body: SmsBody::Text(&text),
    };
    let m = sms_message("t", &sms, "12345", Charset::Latin1);
    assert_eq!(
        (m.to_addr.as_deref(), m.content.as_deref()),
        (Some("12345"), Some("foo, bar"))
    );
    assert_eq!(m.transport_type.as_deref(), Some("sms"));
    assert_eq!(m.transport_metadata["truteq"]["sequence"], "7");
    let bin = SmsIn {
        msisdn: b"2700000000",
        sequence: b"8",
        destination: Some(b"3333"),
        body: SmsBody::Binary {
            pid: Pid::Enhanced,
            coding: Coding::EightBit,
            hex: b"68656C",
        },
    };
    let m = sms_message("t", &bin, "12345", Charset::Latin1);
    assert_eq!(m.to_addr.as_deref(), Some("3333"));
    assert_eq!(m.content, None);
    assert_eq!(
        m.transport_metadata["truteq"],
        json!({"sequence": "8", "pid": 15, "coding": 246, "hex_msg": "68656c", "premium": true})
    );
}

#[test]
fn dr_codes() {
    assert_eq!(dr_status(DrStatus::Success), DeliveryStatus::Delivered);
    assert_eq!(dr_status(DrStatus::SimFull), DeliveryStatus::Failed);
    assert_eq!(dr_status(DrStatus::Other(77)), DeliveryStatus::Failed);
}

#[test]
fn every_mo_line_gives_its_sms_and_other_lines_none() {
    let mo = decoded(b"SSMI,103,2700000000,1,foo, bar");
    let sms = SmsIn::from_response(&mo).unwrap();
    assert_eq!(
        (sms.msisdn, sms.sequence, sms.destination),
        (&b"2700000000"[..], &b"1"[..], None)
    );
    assert!(matches!(sms.body, SmsBody::Text(t) if t.text(Charset::Latin1) == "foo, bar"));
    let premium = decoded(b"SSMI,107,2700000000,1,foo,bar");
    let sms = SmsIn::from_response(&premium).unwrap();
    assert_eq!(sms.destination, Some(&b"foo"[..]));
    assert!(matches!(sms.body, SmsBody::Text(t) if t.text(Charset::Latin1) == "bar"));
    let binary = decoded(b"SSMI,106,2700000000,1,15,246,68656c6c6f");
    let sms = SmsIn::from_response(&binary).unwrap();
    assert!(sms.destination.is_none());
    assert!(matches!(sms.body, SmsBody::Binary { hex, .. } if hex == b"68656c6c6f"));
    let premium_binary = decoded(b"SSMI,108,2700000000,1,15,246,foo,68656c6c6f");
    let sms = SmsIn::from_response(&premium_binary).unwrap();
    assert_eq!(sms.destination, Some(&b"foo"[..]));
    assert!(matches!(sms.body, SmsBody::Binary { hex, .. } if hex == b"68656c6c6f"));
    assert!(SmsIn::from_response(&decoded(b"SSMI,104,2700000000,1,0")).is_none());
}
