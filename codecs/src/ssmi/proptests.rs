//! Property tests of the SSMI codec: encode → decode round trips for every request and response
//! with arbitrary text (commas, CR/LF, Latin-1 and other characters), and decoding arbitrary
//! bytes never panics.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// A field that is not last: no comma, CR or LF.
fn token() -> impl Strategy<Value = Bytes> {
    "[^,\r\n]{0,16}".prop_map(Bytes::from)
}

/// A last field that is not text: commas allowed, no CR or LF.
fn last_token() -> impl Strategy<Value = Bytes> {
    "[^\r\n]{0,24}".prop_map(Bytes::from)
}

/// Text the charset can carry, with commas and line breaks.
fn text(charset: Charset) -> BoxedStrategy<String> {
    match charset {
        Charset::Latin1 => "[\u{0}-\u{ff},\r\n]{0,40}".boxed(),
        _ => any::<String>().boxed(),
    }
}

fn charset() -> impl Strategy<Value = Charset> {
    prop_oneof![Just(Charset::Latin1), Just(Charset::Utf8)]
}

fn genfields() -> impl Strategy<Value = Option<Genfields>> {
    proptest::option::of(token().prop_map(Genfields::from_raw))
}

fn request(charset: Charset) -> impl Strategy<Value = (Request, String)> {
    let t = text(charset);
    // Not the last field: no comma.
    let subject = match charset {
        Charset::Latin1 => "[\u{0}-\u{2b}\u{2d}-\u{ff}]{0,12}",
        _ => "[^,]{0,12}",
    };
    prop_oneof![
        (token(), last_token()).prop_map(|(u, p)| (
            Request::Login {
                username: u,
                password: Secret::new(p)
            },
            String::new()
        )),
        (any::<u32>(), token(), t.clone()).prop_map(|(validity, msisdn, m)| {
            (
                Request::SendSms {
                    validity,
                    msisdn,
                    message: Text::new(m.clone()),
                },
                m,
            )
        }),
        Just((Request::LinkCheck, String::new())),
        Just((Request::Logout, String::new())),
        (
            any::<u32>(),
            token(),
            any::<u32>(),
            any::<u32>(),
            last_token()
        )
            .prop_map(|(v, m, p, c, h)| {
                let request = Request::SendBinarySms {
                    validity: v,
                    msisdn: m,
                    pid: p.into(),
                    coding: c.into(),
                    hex_msg: h,
                };
                (request, String::new())
            }),
        (token(), any::<u32>(), genfields(), t).prop_map(|(msisdn, ty, genfields, m)| {
            let message = Text::new(m.clone());
            (
                Request::SendUssd {
                    msisdn,
                    ussd_type: ty.into(),
                    genfields,
                    message,
                },
                m,
            )
        }),
        (token(), subject, token(), last_token()).prop_map(|(msisdn, s, name, content)| {
            (
                Request::SendMms {
                    msisdn,
                    subject: Text::new(s.clone()),
                    name,
                    content,
                },
                s,
            )
        }),
        (token(), subject, last_token()).prop_map(|(msisdn, s, url)| {
            (
                Request::SendWapPush {
                    msisdn,
                    subject: Text::new(s.clone()),
                    url,
                },
                s,
            )
        }),
        (token(), token(), last_token()).prop_map(|(sequence, msisdn, imsi)| {
            (
                Request::ImsiLookup {
                    sequence,
                    msisdn,
                    imsi,
                },
                String::new(),
            )
        }),
    ]
}

fn response(charset: Charset) -> impl Strategy<Value = (Response, String)> {
    let t = text(charset);
    let none = String::new;
    prop_oneof![
        (token(), last_token())
            .prop_map(move |(msisdn, sequence)| (Response::Seq { msisdn, sequence }, none())),
        any::<u32>().prop_map(move |a| (Response::Ack { ack_type: a.into() }, none())),
        any::<u32>().prop_map(move |n| (Response::Nack { reason: n.into() }, none())),
        (token(), token(), t.clone()).prop_map(|(msisdn, sequence, m)| {
            (
                Response::Mo {
                    msisdn,
                    sequence,
                    message: Text::new(m.clone()),
                },
                m,
            )
        }),
        (token(), token(), any::<u32>()).prop_map(move |(msisdn, sequence, s)| {
            (
                Response::DeliveryReport {
                    msisdn,
                    sequence,
                    status: s.into(),
                },
                none(),
            )
        }),
        t.clone().prop_map(|m| (
            Response::FreeForm {
                text: Text::new(m.clone())
            },
            m
        )),
        (token(), token(), any::<u32>(), any::<u32>(), last_token()).prop_map(
            move |(m, s, p, c, h)| {
                let r = Response::BinaryMo {
                    msisdn: m,
                    sequence: s,
                    pid: p.into(),
                    coding: c.into(),
                    hex_msg: h,
                };
                (r, none())
            }
        ),
        (token(), token(), token(), t.clone()).prop_map(|(msisdn, sequence, destination, m)| {
            let message = Text::new(m.clone());
            (
                Response::PremiumMo {
                    msisdn,
                    sequence,
                    destination,
                    message,
                },
                m,
            )
        }),
        (
            token(),
            token(),
            any::<u32>(),
            any::<u32>(),
            token(),
            last_token()
        )
            .prop_map(move |(m, s, p, c, d, h)| {
                let r = Response::PremiumBinaryMo {
                    msisdn: m,
                    sequence: s,
                    pid: p.into(),
                    coding: c.into(),
                    destination: d,
                    hex_msg: h,
                };
                (r, none())
            }),
        (token(), any::<u32>(), any::<u32>(), genfields(), t).prop_map(
            |(msisdn, ty, ph, genfields, m)| {
                let message = Text::new(m.clone());
                (
                    Response::Ussd {
                        msisdn,
                        ussd_type: ty.into(),
                        phase: ph.into(),
                        genfields,
                        message,
                    },
                    m,
                )
            }
        ),
        last_token().prop_map(move |ip| (Response::RemoteLogout { ip }, none())),
        (token(), token(), token(), last_token()).prop_map(
            move |(sequence, msisdn, imsi, spid)| {
                (
                    Response::ImsiLookupReply {
                        sequence,
                        msisdn,
                        imsi,
                        spid,
                    },
                    none(),
                )
            }
        ),
    ]
}

fn normalized(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The text field a message carries, if any.
fn request_text(request: &Request) -> Option<&Text> {
    match request {
        Request::SendSms { message, .. } | Request::SendUssd { message, .. } => Some(message),
        Request::SendMms { subject, .. } | Request::SendWapPush { subject, .. } => Some(subject),
        _ => None,
    }
}

/// Encodes, checks the framing, and returns the line without its CR.
fn encoded(encode: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>) -> Bytes {
    let mut buf = BytesMut::new();
    encode(&mut buf).expect("encodable");
    assert_eq!(buf.last(), Some(&b'\r'));
    buf.truncate(buf.len() - 1);
    assert!(!buf.contains(&b'\r'), "CR inside the line");
    buf.freeze()
}

proptest! {
    #[test]
    fn requests_round_trip((charset, (request, text)) in charset().prop_flat_map(|c| (Just(c), request(c)))) {
        let line = encoded(|buf| request.encode(buf, charset));
        let decoded = decode_request(&line).message().expect("decodes");
        prop_assert_eq!(decoded.kind(), request.kind());
        if let Some(got) = request_text(&decoded) {
            prop_assert_eq!(got.text(charset), normalized(&text));
        }
        let again = encoded(|buf| decoded.encode(buf, charset));
        prop_assert_eq!(again, line);
    }

    #[test]
    fn responses_round_trip((charset, (response, text)) in charset().prop_flat_map(|c| (Just(c), response(c)))) {
        let line = encoded(|buf| response.encode(buf, charset));
        let decoded = decode_response(&line).message().expect("decodes");
        prop_assert_eq!(decoded.kind(), response.kind());
        prop_assert_eq!(decoded.msisdn(), response.msisdn());
        if let Some(got) = decoded.text() {
            prop_assert_eq!(got.text(charset), normalized(&text));
        }
        let again = encoded(|buf| decoded.encode(buf, charset));
        prop_assert_eq!(again, line);
    }

    #[test]
    fn latin1_refuses_wider_characters(prefix in "[a-z]{0,5}", wide in "[\u{100}-\u{10ffff}]", suffix in ".{0,5}") {
        let request = Request::SendSms { validity: 0, msisdn: Bytes::from_static(b"1"), message: Text::new(format!("{prefix}{wide}{suffix}")) };
        let mut buf = BytesMut::from(&b"kept"[..]);
        prop_assert_eq!(request.encode(&mut buf, Charset::Latin1), Err(EncodeError::Unrepresentable { field: "message" }));
        prop_assert_eq!(&buf[..], b"kept");
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let line = Bytes::from(bytes);
        let _ = decode_request(&line);
        let _ = decode_response(&line);
    }

    #[test]
    fn decode_never_panics_after_a_header(id in 0u32..700, rest in proptest::collection::vec(prop_oneof![Just(b','), Just(b'1'), any::<u8>()], 0..48)) {
        let mut line = format!("SSMI,{id},").into_bytes();
        line.extend_from_slice(&rest);
        let line = Bytes::from(line);
        let _ = decode_request(&line);
        let _ = decode_response(&line);
    }
}
