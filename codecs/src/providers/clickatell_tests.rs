//! Clickatell vectors from reference/http-providers.md §1.1–§1.3.

use super::*;
use crate::providers::{form_fields_raw, json_fields, xml_leaves};

#[test]
fn legacy_answers_are_read() {
    assert_eq!(
        answer("ID: 996f364775e24b8432f45d77da8eca47"),
        Answer::Id("996f364775e24b8432f45d77da8eca47")
    );
    assert_eq!(
        answer("ID: abc To: 2799\nID: def To: 2798"),
        Answer::Id("abc")
    );
    assert_eq!(
        answer("OK: 5c3b5a5b1e3c4d5e6f708192a3b4c5d6\n"),
        Answer::Ok("5c3b5a5b1e3c4d5e6f708192a3b4c5d6")
    );
    assert_eq!(answer("OK:"), Answer::Ok(""));
    assert_eq!(
        answer("ERR: 105, Invalid Destination Address"),
        Answer::Err {
            code: "105",
            description: "Invalid Destination Address"
        }
    );
    assert_eq!(
        answer("ERR: Bad thing"),
        Answer::Err {
            code: "Bad thing",
            description: ""
        }
    );
    assert_eq!(answer("Done"), Answer::Other("Done"));
    assert_eq!(
        answer("\r\n\nERR: 001, Authentication failed"),
        Answer::Err {
            code: "001",
            description: "Authentication failed"
        }
    );
    assert_eq!(answer(""), Answer::Other(""));
    assert!(is_account_error("001") && is_account_error("301") && !is_account_error("105"));
}

#[test]
fn platform_answers_are_read() {
    let ok = r#"{"messages":[{"apiMessageId":"id1002","accepted":true,"to":"12067799299","error":null}],"error":null}"#;
    assert_eq!(
        platform_answer(ok),
        PlatformAnswer::Accepted("id1002".into())
    );
    let old = r#"{"messages":[{"apiMsgId":"x9","accepted":true}]}"#;
    assert_eq!(platform_answer(old), PlatformAnswer::Accepted("x9".into()));
    let refused = r#"{"messages":[],"error":"Two-Way integration error - From number is not related to integration"}"#;
    assert_eq!(
        platform_answer(refused),
        PlatformAnswer::Refused(
            "Two-Way integration error - From number is not related to integration".into()
        )
    );
    let one = r#"{"messages":[{"apiMessageId":"","accepted":false,"error":{"code":25,"description":"Invalid recipient"}}],"error":null}"#;
    assert_eq!(
        platform_answer(one),
        PlatformAnswer::Refused("Invalid recipient".into())
    );
    assert!(matches!(
        platform_answer("<html>"),
        PlatformAnswer::Refused(_)
    ));
}

#[test]
fn parts_and_unicode_follow_the_length_rules() {
    assert_eq!(parts("hello"), (false, 1));
    assert_eq!(parts(&"a".repeat(160)), (false, 1));
    assert_eq!(parts(&"a".repeat(161)), (false, 2));
    assert_eq!(parts(&"a".repeat(306)), (false, 2));
    assert_eq!(parts(&"a".repeat(307)), (false, 3));
    // `{` takes two septets.
    assert_eq!(parts(&"{".repeat(81)), (false, 2));
    assert_eq!(parts("héllo 😀"), (true, 1));
    assert_eq!(parts(&"ж".repeat(70)), (true, 1));
    assert_eq!(parts(&"ж".repeat(71)), (true, 2));
    // Clickatell counts 63 UCS-2 units a part: 130 take three.
    assert_eq!(parts(&"ж".repeat(126)), (true, 2));
    assert_eq!(parts(&"ж".repeat(130)), (true, 3));
    assert_eq!(parts(&"a".repeat(153 * 300)), (false, 256));
    assert_eq!(parts(""), (false, 1));
    assert_eq!(ucs2_hex("Hi😀"), "00480069D83DDE00");
    assert_eq!(from_ucs2_hex("00480069d83dde00").as_deref(), Some("Hi😀"));
    assert_eq!(from_ucs2_hex("004"), None);
    assert_eq!(from_ucs2_hex("zz"), None);
}

#[test]
fn legacy_callbacks_are_read_from_fields_and_xml() {
    let query = b"api_id=12345&apiMsgId=996f364775e24b8432f45d77da8eca47&cliMsgId=abc123&\
                  timestamp=1218007814&to=279995631564&from=27833001171&status=003&charge=0.300000";
    let r = receipt(&form_fields_raw(query)).unwrap();
    assert_eq!(
        r.api_msg_id.as_deref(),
        Some("996f364775e24b8432f45d77da8eca47")
    );
    assert_eq!(r.cli_msg_id.as_deref(), Some("abc123"));
    assert_eq!(
        (r.status, r.raw_status.as_str()),
        (DeliveryStatus::Pending, "003")
    );
    assert_eq!(r.charge.as_deref(), Some("0.300000"));

    let xml = "<?xml version=\"1.0\"?><callback><apiMsgId>996f364775e24b8432f45d77da8eca47\
               </apiMsgId><cliMsgId></cliMsgId><timestamp>1218008129</timestamp><to>279995631564\
               </to><from>27833001171</from><charge>0.300000</charge><status>004</status></callback>";
    let r = receipt(&xml_leaves(xml).unwrap()).unwrap();
    assert_eq!(r.status, DeliveryStatus::Delivered);
    assert_eq!(r.cli_msg_id, None);
    // SOAP leaves are lower case.
    let soap = [("apimsgid", "a".repeat(32)), ("status", "007".into())];
    let soap: Vec<(String, String)> = soap.into_iter().map(|(k, v)| (k.into(), v)).collect();
    assert_eq!(receipt(&soap).unwrap().status, DeliveryStatus::Failed);
    // Richmond 2010's test vector: status 8 → pending.
    let richmond = form_fields_raw(b"apiMsgId=aaaa&cliMsgId=1&status=8&to=27123456789&charge=0.3");
    assert_eq!(receipt(&richmond).unwrap().status, DeliveryStatus::Pending);
}

#[test]
fn platform_callbacks_are_read_from_json() {
    let fields = json_fields(br#"{"messageId": "msg1", "statusCode": 5}"#).unwrap();
    let r = receipt(&fields).unwrap();
    assert_eq!(
        (r.api_msg_id.as_deref(), r.status),
        (Some("msg1"), DeliveryStatus::Failed)
    );
    let fields = json_fields(br#"{"messageId": "msg1", "statusCode": 4}"#).unwrap();
    assert_eq!(receipt(&fields).unwrap().status, DeliveryStatus::Delivered);
    let fields = json_fields(
        br#"{"messageId":"m","clientMessageId":"c","status":"DEVICE_ACK","timestamp":1}"#,
    )
    .unwrap();
    let r = receipt(&fields).unwrap();
    assert_eq!(
        (r.cli_msg_id.as_deref(), r.status),
        (Some("c"), DeliveryStatus::Delivered)
    );
    for bad in [
        &br#"{"messageId":"m","statusCode":13}"#[..],
        br#"{"messageId":"m"}"#,
        br#"{"statusCode":4}"#,
        br#"{"messageId":"m","status":"who knows"}"#,
    ] {
        assert_eq!(receipt(&json_fields(bad).unwrap()), Err(BadPost("receipt")));
    }
}

#[test]
fn mo_is_decoded_per_charset() {
    let fields = form_fields_raw(
        b"api_id=12345&from=279991235642&to=27123456789&timestamp=2008-08-06+09:43:50&\
          text=Here+is+the+message+text&charset=ISO-8859-1&udh=&moMsgId=b2aee337abd962489b123fda9c3480fa",
    );
    let m = mo(&fields, false).unwrap();
    assert_eq!(m.id, "b2aee337abd962489b123fda9c3480fa");
    assert_eq!(
        (m.from.as_str(), m.to.as_str()),
        ("279991235642", "27123456789")
    );
    assert_eq!(m.text, "Here is the message text");
    assert_eq!(m.concat, None);
    assert_eq!(m.timestamp.as_deref(), Some("2008-08-06 09:43:50"));

    let latin = form_fields_raw(b"moMsgId=1&from=1&to=2&text=Artwell+S%ECbbnda&charset=ISO-8859-1");
    assert_eq!(mo(&latin, false).unwrap().text, "Artwell Sìbbnda");
    let utf16 = form_fields_raw(
        b"moMsgId=1&from=1&to=2&charset=UTF-16BE&text=%00m%00e%00x%00i%00c%00o%00+%00k%00+%00m\
          %00i%00s%00+%00p%00a%00p%00a%00s%00+%00n%00o%00+%00t%00e%00n%00%FD%00a",
    );
    assert_eq!(
        mo(&utf16, false).unwrap().text,
        "mexico k mis papas no tenýa"
    );
    // Not UTF-8 and no charset: read as Latin-1.
    let guess = form_fields_raw(b"moMsgId=1&from=1&to=2&text=caf%E9");
    assert_eq!(mo(&guess, false).unwrap().text, "café");
    let emoji = form_fields_raw("moMsgId=1&from=1&to=2&text=%F0%9F%98%80".as_bytes());
    assert_eq!(mo(&emoji, false).unwrap().text, "😀");
    // Platform JSON: percent-encoded inside the JSON when a charset is named.
    let json = json_fields(
        br#"{"messageId":"m","fromNumber":"2799","toNumber":"2712","timestamp":1516217711000,"text":"hello%21","charset":"ISO-8859-1"}"#,
    )
    .unwrap();
    assert_eq!(mo(&json, true).unwrap().text, "hello!");
    let plain =
        json_fields(br#"{"messageId":"m","fromNumber":"1","toNumber":"2","text":"50%"}"#).unwrap();
    assert_eq!(mo(&plain, true).unwrap().text, "50%");
}

#[test]
fn mo_parts_carry_their_concatenation() {
    let part = |udh: &str| {
        let body = format!("moMsgId=x&from=1&to=2&text=abc&udh={udh}");
        mo(&form_fields_raw(body.as_bytes()), false)
    };
    let one = part("050003330201").unwrap().concat.unwrap();
    let two = part("050003330202").unwrap().concat.unwrap();
    assert_eq!((one.reference, one.total, one.seq), (0x33, 2, 1));
    assert_eq!((two.reference, two.total, two.seq), (0x33, 2, 2));
    assert_eq!(part("0500033302").unwrap_err(), BadPost("mo"));
    assert_eq!(part("zz").unwrap_err(), BadPost("mo"));
    let odd = form_fields_raw(b"moMsgId=1&from=1&to=2&charset=UTF-16BE&text=%00a%00");
    assert_eq!(mo(&odd, false), Err(BadPost("mo")));
    let missing = form_fields_raw(b"from=1&to=2&text=hi");
    assert_eq!(mo(&missing, false), Err(BadPost("mo")));
    // Found by fuzzing: a blank sender is no sender.
    let blank = form_fields_raw(b"moMsgId=1&from=%0D%0D&to=27");
    assert_eq!(mo(&blank, false), Err(BadPost("mo")));
}
