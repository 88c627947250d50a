//! Tests of the SSMI codec: typed checks of the reference/vumi.md §6.1 vectors (all of them
//! are also read from `fixtures/ssmi/vectors.txt` in `vectors.rs`), the §4.8 example session,
//! rejected and unknown lines, and charset handling. Property tests live in `proptests.rs`.

use bytes::{Bytes, BytesMut};

use super::vectors::check_line;
use super::*;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[test]
fn python_ssmi_extended_ussd() {
    let line = b("SSMI,111,27831112222,1,0,655011234567890:1::,*156#");
    let Decoded::Message(Response::Ussd {
        msisdn,
        ussd_type,
        phase,
        genfields,
        message,
    }) = decode_response(&line)
    else {
        panic!("not ussd");
    };
    assert_eq!(msisdn, "27831112222");
    assert_eq!((ussd_type, phase), (UssdType::New, Phase::Unknown));
    assert_eq!(message, Text::wire(b("*156#")));
    let genfields = genfields.expect("genfields");
    assert_eq!(genfields.imsi(), "655011234567890");
    assert_eq!(genfields.subscriber_type(), "1");
    assert_eq!(
        (genfields.operator_id(), genfields.session_id()),
        (Bytes::new(), Bytes::new())
    );
    assert_eq!(genfields.vali_port(), "");
}

#[test]
fn fields_borrow_the_line() {
    let line = b("SSMI,110,27831112222,1,0,Hello, you.");
    let Decoded::Message(Response::Ussd {
        msisdn, message, ..
    }) = decode_response(&line)
    else {
        panic!("not ussd");
    };
    let range = line.as_ptr_range();
    assert!(range.contains(&msisdn.as_ptr()));
    assert!(range.contains(&message.as_bytes().as_ptr()));
    assert_eq!(message.as_str(), Some("Hello, you."));
}

#[test]
fn txssmi_commands_typed() {
    let login = decode_request(&b("SSMI,1,foo,bar"));
    assert_eq!(
        login,
        Decoded::Message(Request::Login {
            username: b("foo"),
            password: Secret::from("bar")
        })
    );
    assert_eq!(
        decode_request(&b("SSMI,1,foo")),
        Decoded::Rejected {
            reason: LineError::TooFewFields {
                command: "LOGIN",
                expected: 2,
                got: 1
            }
        }
    );
    assert_eq!(
        LineError::TooFewFields {
            command: "LOGIN",
            expected: 2,
            got: 1
        }
        .to_string(),
        "too few parameters for command: LOGIN (expected 2 got 1)"
    );
    let cases: [(Response, &str); 4] = [
        (
            Response::Nack {
                reason: NackReason::InvalidLogin,
            },
            "SSMI,102,1\r",
        ),
        (
            Response::Ack {
                ack_type: AckType::LoginOk,
            },
            "SSMI,101,1\r",
        ),
        (
            Response::Ack {
                ack_type: AckType::LinkCheck,
            },
            "SSMI,101,2\r",
        ),
        (
            Response::RemoteLogout { ip: b("127.0.0.1") },
            "SSMI,199,127.0.0.1\r",
        ),
    ];
    for (response, line) in cases {
        let mut buf = BytesMut::new();
        response.encode(&mut buf, Charset::Latin1).expect("encode");
        assert_eq!(&buf[..], line.as_bytes());
    }
    let requests: [(Request, &str); 6] = [
        (
            Request::SendSms {
                validity: 2,
                msisdn: b("2700000000"),
                message: "foo, bar".into(),
            },
            "SSMI,2,2,2700000000,foo, bar\r",
        ),
        (Request::LinkCheck, "SSMI,3\r"),
        (
            Request::SendBinarySms {
                validity: 0,
                msisdn: b("2700000000"),
                pid: Pid::Enhanced,
                coding: Coding::EightBit,
                hex_msg: b("68656c6c6f20776f726c64"),
            },
            "SSMI,4,0,2700000000,15,246,68656c6c6f20776f726c64\r",
        ),
        (
            Request::SendUssd {
                msisdn: b("2700000000"),
                ussd_type: UssdType::Initiate,
                genfields: None,
                message: "hello world".into(),
            },
            "SSMI,110,2700000000,6,hello world\r",
        ),
        (
            Request::SendUssd {
                msisdn: b("2700000000"),
                ussd_type: UssdType::New,
                genfields: Some(Genfields::from_parts(["foo", "bar", "baz"]).expect("parts")),
                message: "hello world".into(),
            },
            "SSMI,120,2700000000,1,foo:bar:baz,hello world\r",
        ),
        (
            Request::ImsiLookup {
                sequence: b("42"),
                msisdn: b("2700000000"),
                imsi: b("12345"),
            },
            "SSMI,600,42,2700000000,12345\r",
        ),
    ];
    for (request, line) in requests {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, Charset::Latin1).expect("encode");
        assert_eq!(&buf[..], line.as_bytes());
    }
}

#[test]
fn charsets_and_line_breaks() {
    let ussd = |text: &str| Request::SendUssd {
        msisdn: b("1234"),
        ussd_type: UssdType::Existing,
        genfields: None,
        message: Text::new(text),
    };
    let encode = |request: &Request, charset| {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, charset).map(|()| buf.to_vec())
    };
    // Vumi: Latin-1; python-ssmi: UTF-8.
    assert_eq!(
        encode(&ussd("föóbær"), Charset::Latin1),
        Ok(b"SSMI,110,1234,2,f\xf6\xf3b\xe6r\r".to_vec())
    );
    let zoe = Request::SendUssd {
        msisdn: b("27831112222"),
        ussd_type: UssdType::Existing,
        genfields: None,
        message: "Hello Zoë".into(),
    };
    assert_eq!(
        encode(&zoe, Charset::Utf8),
        Ok(b"SSMI,110,27831112222,2,Hello Zo\xc3\xab\r".to_vec())
    );
    // Vumi PR #284: CRLF and CR become LF.
    for charset in [Charset::Latin1, Charset::Utf8] {
        assert_eq!(
            encode(&ussd("hello\r\nwindows\r\nworld"), charset),
            Ok(b"SSMI,110,1234,2,hello\nwindows\nworld\r".to_vec())
        );
        assert_eq!(
            encode(&ussd("hello\rold mac os\rworld"), charset),
            Ok(b"SSMI,110,1234,2,hello\nold mac os\nworld\r".to_vec())
        );
    }
    assert_eq!(
        encode(&ussd(""), Charset::Latin1),
        Ok(b"SSMI,110,1234,2,\r".to_vec())
    );
    // Decoding text.
    let wire = Text::wire(Bytes::from_static(b"f\xf6\xf3b\xe6r"));
    assert_eq!(wire.text(Charset::Latin1), "föóbær");
    assert_eq!(wire.as_str(), None);
    let utf8 = Text::wire(Bytes::from_static(b"Zo\xc3\xab"));
    assert_eq!(utf8.text(Charset::Utf8), "Zoë");
    assert_eq!(utf8.text(Charset::Latin1), "ZoÃ«");
}

#[test]
fn encode_errors_write_nothing() {
    let mut buf = BytesMut::from(&b"SSMI,3\r"[..]);
    let euro = Request::SendUssd {
        msisdn: b("1234"),
        ussd_type: UssdType::Existing,
        genfields: None,
        message: "10 €".into(),
    };
    assert_eq!(
        euro.encode(&mut buf, Charset::Latin1),
        Err(EncodeError::Unrepresentable { field: "message" })
    );
    assert_eq!(
        EncodeError::Unrepresentable { field: "message" }.code(),
        "unrepresentable"
    );
    euro.encode(&mut buf, Charset::Utf8)
        .expect("utf-8 carries €");
    let mut buf = BytesMut::from(&b"x"[..]);
    let bad = [
        (
            Request::Login {
                username: b("a,b"),
                password: "p".into(),
            },
            EncodeError::Comma { field: "username" },
        ),
        (
            Request::SendWapPush {
                msisdn: b("1"),
                subject: "a, b".into(),
                url: b("http://x/a,b"),
            },
            EncodeError::Comma { field: "subject" },
        ),
        (
            Request::SendSms {
                validity: 0,
                msisdn: b("12\r34"),
                message: "x".into(),
            },
            EncodeError::LineBreak { field: "msisdn" },
        ),
    ];
    for (request, error) in bad {
        assert_eq!(request.encode(&mut buf, Charset::Latin1), Err(error));
        assert_eq!(&buf[..], b"x");
    }
    let bad_ip = Response::RemoteLogout { ip: b("1.2.3.4\n") };
    assert_eq!(
        bad_ip
            .encode(&mut buf, Charset::Latin1)
            .map_err(|e| e.code()),
        Err("line_break_in_field")
    );
    assert_eq!(Genfields::from_parts(["a:b"]), Err(EncodeError::Colon));
}

#[test]
fn rejected_and_unknown_lines() {
    let rejected = |line: &'static str| match decode_response(&b(line)) {
        Decoded::Rejected { reason } => reason.code(),
        other => panic!("{line:?} gave {other:?}"),
    };
    assert_eq!(rejected(""), "no_header");
    assert_eq!(rejected("Garbage"), "no_header");
    assert_eq!(rejected("SSMI"), "no_header");
    assert_eq!(rejected("ssmi,101,1"), "no_header");
    assert_eq!(rejected("SSMI,"), "bad_command_id");
    assert_eq!(rejected("SSMI,abc,1"), "bad_command_id");
    assert_eq!(rejected("SSMI,101x,1"), "bad_command_id");
    assert_eq!(rejected("SSMI,99999999999,1"), "bad_command_id");
    assert_eq!(rejected("SSMI,101"), "too_few_fields");
    assert_eq!(rejected("SSMI,101,"), "bad_number");
    assert_eq!(rejected("SSMI,101,x"), "bad_number");
    assert_eq!(rejected("SSMI,110,1234,new,0,hi"), "bad_number");
    assert_eq!(rejected("SSMI,110,1234,1,0"), "too_few_fields");
    assert_eq!(
        decode_response(&b("SSMI,104,1,2,x")),
        Decoded::Rejected {
            reason: LineError::BadNumber {
                command: "DR",
                field: "ret_code"
            }
        }
    );
    // Unknown ids keep the link up; the extended return messages have no public layout.
    for id in [113, 116, 117, 118, 1, 3] {
        let line = Bytes::from(format!("SSMI,{id},a,b,c"));
        assert_eq!(decode_response(&line), Decoded::Unknown { id });
    }
    assert_eq!(
        decode_request(&b("SSMI,101,1")),
        Decoded::Unknown { id: 101 }
    );
    // 111 differs by direction; zero-field commands ignore anything after them.
    assert_eq!(
        decode_request(&b("SSMI,111,1,s,n,00"))
            .message()
            .map(|r| r.kind()),
        Some("send_mms")
    );
    assert_eq!(
        decode_request(&b("SSMI,3,")),
        Decoded::Message(Request::LinkCheck)
    );
    // Values outside the code tables are kept.
    assert_eq!(
        decode_response(&b("SSMI,102,9")),
        Decoded::Message(Response::Nack {
            reason: NackReason::Other(9)
        })
    );
}

/// reference/vumi.md §4.8, both directions, every line re-encoding to itself.
#[test]
fn example_session() {
    let session: [(&str, &[u8], &str); 12] = [
        ("C", b"SSMI,1,username,password", "login"),
        ("S", b"SSMI,101,1", "ack"),
        ("C", b"SSMI,3", "link_check"),
        ("S", b"SSMI,101,2", "ack"),
        ("S", b"SSMI,110,27831112222,1,0,*120*663#", "ussd"),
        (
            "C",
            b"SSMI,110,27831112222,2,Welcome\n1. Balance\n2. Exit",
            "send_ussd",
        ),
        ("S", b"SSMI,110,27831112222,2,0,1", "ussd"),
        (
            "C",
            b"SSMI,110,27831112222,3,Your balance is R10. Bye",
            "send_ussd",
        ),
        (
            "S",
            b"SSMI,111,27831112222,1,2,655011234567890:1::,*156#",
            "extended_ussd",
        ),
        ("S", b"SSMI,110,27831112222,4,0,Timeout", "ussd"),
        ("C", b"SSMI,3", "link_check"),
        ("S", b"SSMI,199,10.0.0.5", "remote_logout"),
    ];
    for (side, line, kind) in session {
        let direction = if side == "C" { "request" } else { "response" };
        assert_eq!(check_line(direction, line, &[], kind), kind);
    }
    let menu = decode_request(&Bytes::from_static(session[5].1)).message();
    let Some(Request::SendUssd { message, .. }) = menu else {
        panic!("menu")
    };
    assert_eq!(message.as_str(), Some("Welcome\n1. Balance\n2. Exit"));
    let Some(Response::Ussd {
        ussd_type, phase, ..
    }) = decode_response(&Bytes::from_static(session[8].1)).message()
    else {
        panic!("extended ussd");
    };
    assert_eq!((ussd_type, phase), (UssdType::New, Phase::Phase2));
}

#[test]
fn code_tables_round_trip() {
    for value in 0..300 {
        assert_eq!(UssdType::from(value).value(), value);
        assert_eq!(Coding::from(value).value(), value);
        assert_eq!(u32::from(DrStatus::from(value)), value);
    }
    assert_eq!(UssdType::from(4), UssdType::Timeout);
    assert_eq!(NackReason::from(4).name(), "account_suspended");
    assert_eq!(Coding::from(246), Coding::EightBit);
    assert_eq!(format!("{:?}", Secret::from("hunter2")), "Secret(***)");
}
