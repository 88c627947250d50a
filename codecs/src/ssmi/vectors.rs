//! The golden vectors of `fixtures/ssmi/vectors.txt` (reference/vumi.md §6.1): every `line`
//! and `stream` row is decoded in its direction, checked against the outcome and the listed
//! fields, and every decoded line re-encodes byte for byte. The file format is described at its
//! top.

use bytes::{Bytes, BytesMut};

use super::*;

const VECTORS: &str = include_str!("../../../fixtures/ssmi/vectors.txt");

fn s(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Undoes the fixture escapes: `\r`, `\n`, `\t`, `\\`, `\xNN`.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(c) = bytes.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).expect("hex escape");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            }
            other => panic!("bad escape {other:?} in {text:?}"),
        }
    }
    out
}

fn genfield(genfields: Option<&Genfields>, index: usize) -> Option<String> {
    genfields.map(|g| s(&g.get(index)))
}

fn request_field(request: &Request, key: &str) -> Option<String> {
    use Request as R;
    Some(match (request, key) {
        (R::Login { username, .. }, "username") => s(username),
        (R::Login { password, .. }, "password") => s(password.expose()),
        (R::SendSms { validity, .. } | R::SendBinarySms { validity, .. }, "validity") => {
            validity.to_string()
        }
        (
            R::SendSms { msisdn, .. }
            | R::SendBinarySms { msisdn, .. }
            | R::SendUssd { msisdn, .. }
            | R::SendMms { msisdn, .. }
            | R::SendWapPush { msisdn, .. }
            | R::ImsiLookup { msisdn, .. },
            "msisdn",
        ) => s(msisdn),
        (R::SendSms { message, .. } | R::SendUssd { message, .. }, "message") => {
            message.text(Charset::Latin1)
        }
        (R::SendSms { message, .. } | R::SendUssd { message, .. }, "message_utf8") => {
            message.text(Charset::Utf8)
        }
        (R::SendBinarySms { pid, .. }, "pid") => pid.value().to_string(),
        (R::SendBinarySms { coding, .. }, "coding") => coding.value().to_string(),
        (R::SendBinarySms { hex_msg, .. }, "hex_msg") => s(hex_msg),
        (R::SendUssd { ussd_type, .. }, "type") => ussd_type.value().to_string(),
        (R::SendUssd { genfields, .. }, "genfields") => genfields
            .as_ref()
            .map_or_else(|| "none".into(), |g| s(g.raw())),
        (R::SendMms { subject, .. } | R::SendWapPush { subject, .. }, "subject") => {
            subject.text(Charset::Latin1)
        }
        (R::SendMms { name, .. }, "name") => s(name),
        (R::SendMms { content, .. }, "content") => s(content),
        (R::SendWapPush { url, .. }, "url") => s(url),
        (R::ImsiLookup { sequence, .. }, "sequence") => s(sequence),
        (R::ImsiLookup { imsi, .. }, "imsi") => s(imsi),
        _ => return None,
    })
}

fn response_field(response: &Response, key: &str) -> Option<String> {
    use Response as R;
    let genfields = match response {
        R::Ussd { genfields, .. } => genfields.as_ref(),
        _ => None,
    };
    Some(match (response, key) {
        (_, "msisdn") => s(response.msisdn()?),
        (
            R::Seq { sequence, .. }
            | R::Mo { sequence, .. }
            | R::DeliveryReport { sequence, .. }
            | R::BinaryMo { sequence, .. }
            | R::PremiumMo { sequence, .. }
            | R::PremiumBinaryMo { sequence, .. }
            | R::ImsiLookupReply { sequence, .. },
            "sequence",
        ) => s(sequence),
        (R::Ack { ack_type }, "ack_type") => ack_type.value().to_string(),
        (R::Nack { reason }, "nack_type") => reason.value().to_string(),
        (
            R::Mo { message, .. } | R::PremiumMo { message, .. } | R::Ussd { message, .. },
            "message",
        ) => message.text(Charset::Latin1),
        (R::DeliveryReport { status, .. }, "status") => status.value().to_string(),
        (R::FreeForm { text }, "text") => text.text(Charset::Latin1),
        (R::BinaryMo { pid, .. } | R::PremiumBinaryMo { pid, .. }, "pid") => {
            pid.value().to_string()
        }
        (R::BinaryMo { coding, .. } | R::PremiumBinaryMo { coding, .. }, "coding") => {
            coding.value().to_string()
        }
        (R::BinaryMo { hex_msg, .. } | R::PremiumBinaryMo { hex_msg, .. }, "hex_msg") => s(hex_msg),
        (
            R::PremiumMo { destination, .. } | R::PremiumBinaryMo { destination, .. },
            "destination",
        ) => s(destination),
        (R::Ussd { ussd_type, .. }, "type") => ussd_type.value().to_string(),
        (R::Ussd { phase, .. }, "phase") => phase.value().to_string(),
        (R::Ussd { genfields, .. }, "genfields") => genfields
            .as_ref()
            .map_or_else(|| "none".into(), |g| s(g.raw())),
        (R::Ussd { .. }, "imsi") => genfield(genfields, Genfields::IMSI)?,
        (R::Ussd { .. }, "subscriber_type") => genfield(genfields, Genfields::SUBSCRIBER_TYPE)?,
        (R::Ussd { .. }, "operator_id") => genfield(genfields, Genfields::OPERATOR_ID)?,
        (R::Ussd { .. }, "session_id") => genfield(genfields, Genfields::SESSION_ID)?,
        (R::Ussd { .. }, "vali_port") => genfield(genfields, Genfields::VALI_PORT)?,
        (R::RemoteLogout { ip }, "ip") => s(ip),
        (R::ImsiLookupReply { imsi, .. }, "imsi") => s(imsi),
        (R::ImsiLookupReply { spid, .. }, "spid") => s(spid),
        _ => return None,
    })
}

/// The outcome column of a decoded line.
fn outcome<M>(decoded: &Decoded<M>, kind: impl Fn(&M) -> &'static str) -> String {
    match decoded {
        Decoded::Message(m) => kind(m).to_string(),
        Decoded::Rejected { reason } => format!("rejected:{}", reason.code()),
        Decoded::Unknown { id } => format!("unknown:{id}"),
    }
}

/// Reads a decoded field by its fixture key.
type FieldReader = Box<dyn Fn(&str) -> Option<String>>;

/// Decodes one line of the given direction, checks its re-encoding and the `key=value`
/// checks, and returns the outcome column.
pub(super) fn check_line(direction: &str, line: &[u8], checks: &[&str], row: &str) -> String {
    let line = Bytes::copy_from_slice(line);
    let mut buf = BytesMut::new();
    let (outcome, field): (String, FieldReader) = match direction {
        "request" => {
            let decoded = decode_request(&line);
            if let Decoded::Message(m) = &decoded {
                m.encode(&mut buf, Charset::Latin1).expect("re-encode");
            }
            let out = outcome(&decoded, Request::kind);
            (
                out,
                Box::new(move |k| match &decoded {
                    Decoded::Message(m) => request_field(m, k),
                    Decoded::Rejected { reason } if k == "error" => Some(reason.to_string()),
                    _ => None,
                }),
            )
        }
        "response" => {
            let decoded = decode_response(&line);
            if let Decoded::Message(m) = &decoded {
                m.encode(&mut buf, Charset::Latin1).expect("re-encode");
            }
            let out = outcome(&decoded, Response::kind);
            (
                out,
                Box::new(move |k| match &decoded {
                    Decoded::Message(m) => response_field(m, k),
                    Decoded::Rejected { reason } if k == "error" => Some(reason.to_string()),
                    _ => None,
                }),
            )
        }
        other => panic!("bad direction {other} in {row}"),
    };
    if !buf.is_empty() {
        let mut expected = line.to_vec();
        expected.push(b'\r');
        assert_eq!(&buf[..], &expected[..], "re-encoding of {row}");
    }
    for check in checks {
        let (key, value) = check.split_once('=').expect("key=value");
        let value = String::from_utf8(unescape(value)).expect("utf-8 expectation");
        assert_eq!(
            field(key).as_deref(),
            Some(value.as_str()),
            "field {key} of {row}"
        );
    }
    outcome
}

#[test]
fn fixture_vectors() {
    let mut rows = 0;
    for row in VECTORS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let cols: Vec<&str> = row.split('\t').collect();
        let [kind, direction, data, expected, checks @ ..] = &cols[..] else {
            panic!("short row {row}");
        };
        match *kind {
            "line" => {
                let got = check_line(direction, &unescape(data), checks, row);
                assert_eq!(&got, expected, "{row}");
            }
            "stream" => {
                let bytes = unescape(&data.replace('|', ""));
                let lines: Vec<&[u8]> = bytes
                    .split(|&b| b == b'\r')
                    .filter(|l| !l.is_empty())
                    .collect();
                let got: Vec<String> = lines
                    .iter()
                    .map(|l| check_line(direction, l, &[], row))
                    .collect();
                assert_eq!(got.join(","), *expected, "{row}");
            }
            other => panic!("bad kind {other}"),
        }
        rows += 1;
    }
    assert!(rows >= 58, "only {rows} vectors read");
}
