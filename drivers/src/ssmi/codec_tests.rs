//! Tests of the SSMI line codec: several lines in one read, a line split at every byte
//! position, over-long lines, garbage, CRLF peers, end of stream, and the `stream` rows of
//! `fixtures/ssmi/vectors.txt`.

use bytes::{BufMut, Bytes, BytesMut};
use richmond_codecs::ssmi::{Charset, Decoded, LineError, Request, Response, Text, UssdType};
use tokio_util::codec::{Decoder, Encoder};

use super::codec::{ClientCodec, ServerCodec};

const VECTORS: &str = include_str!("../../../fixtures/ssmi/vectors.txt");

/// Feeds `chunks` one read at a time and collects every item.
fn feed<D: Decoder>(codec: &mut D, chunks: &[&[u8]]) -> Vec<D::Item>
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.put_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).expect("never a stream error") {
            items.push(item);
        }
    }
    items
}

fn ussd_message(item: &Decoded<Response>) -> Option<String> {
    match item {
        Decoded::Message(Response::Ussd { message, .. }) => Some(message.text(Charset::Latin1)),
        _ => None,
    }
}

fn kind(item: &Decoded<Response>) -> String {
    match item {
        Decoded::Message(m) => m.kind().to_string(),
        Decoded::Rejected { reason } => format!("rejected:{}", reason.code()),
        Decoded::Unknown { id } => format!("unknown:{id}"),
    }
}

#[test]
fn several_lines_in_one_read() {
    let items = feed(
        &mut ClientCodec::new(),
        &[b"SSMI,110,27831112222,1,0,*156#\rSSMI,110,27831112222,1,0,*157#\r"],
    );
    let messages: Vec<_> = items.iter().map(ussd_message).collect();
    assert_eq!(
        messages,
        [Some("*156#".to_string()), Some("*157#".to_string())]
    );
}

#[test]
fn line_split_at_every_position() {
    let stream: &[u8] = b"SSMI,101,1\rSSMI,110,27831112222,1,0,Hello, you.\r";
    for cut in 0..=stream.len() {
        let items = feed(&mut ClientCodec::new(), &[&stream[..cut], &stream[cut..]]);
        let kinds: Vec<_> = items.iter().map(kind).collect();
        assert_eq!(kinds, ["ack", "ussd"], "cut at {cut}");
        assert_eq!(ussd_message(&items[1]).as_deref(), Some("Hello, you."));
    }
    // One byte per read.
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(feed(&mut ClientCodec::new(), &bytes).len(), 2);
}

#[test]
fn over_long_lines_are_discarded() {
    let mut codec = ClientCodec::new().with_max_line_bytes(16);
    assert_eq!(codec.max_line_bytes(), 16);
    // Detected before its CR arrives, then discarded up to the CR, across reads.
    let items = feed(
        &mut codec,
        &[
            b"SSMI,105,aaaaaaaaaaaaaaaaaaaaa",
            b"aaaaaaaaaa",
            b"aaa\rSSMI,101,2\r",
        ],
    );
    let kinds: Vec<_> = items.iter().map(kind).collect();
    assert_eq!(kinds, ["rejected:too_long", "ack"]);
    // A complete line that is too long.
    let items = feed(&mut codec, &[b"SSMI,105,0123456789\rSSMI,105,ok\r"]);
    let kinds: Vec<_> = items.iter().map(kind).collect();
    assert_eq!(kinds, ["rejected:too_long", "free_form"]);
    // Exactly the maximum is fine, even when its CR comes later.
    let items = feed(&mut codec, &[b"SSMI,105,0123456", b"\r"]);
    assert_eq!(items.iter().map(kind).collect::<Vec<_>>(), ["free_form"]);
}

#[test]
fn garbage_lines_are_items() {
    let items = feed(
        &mut ClientCodec::new(),
        &[b"Garbage\rSSMI,xyz\rSSMI,101\rSSMI,113,a,b\r\xff\xfe\x00\rSSMI,101,1\r"],
    );
    let kinds: Vec<_> = items.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "rejected:no_header",
            "rejected:bad_command_id",
            "rejected:too_few_fields",
            "unknown:113",
            "rejected:no_header",
            "ack",
        ]
    );
}

#[test]
fn crlf_and_empty_lines_are_skipped() {
    let items = feed(
        &mut ClientCodec::new(),
        &[b"SSMI,101,1\r\n", b"\r\r\nSSMI,110,1,2,0,menu\nline 2\r\n"],
    );
    let kinds: Vec<_> = items.iter().map(kind).collect();
    assert_eq!(kinds, ["ack", "ussd"]);
    assert_eq!(ussd_message(&items[1]).as_deref(), Some("menu\nline 2"));
}

#[test]
fn end_of_stream() {
    let mut codec = ClientCodec::new();
    let mut buf = BytesMut::from(&b"SSMI,101,1\rSSMI,110,1"[..]);
    let first = codec.decode_eof(&mut buf).expect("item");
    assert_eq!(first.map(|i| kind(&i)).as_deref(), Some("ack"));
    let second = codec.decode_eof(&mut buf).expect("item");
    assert_eq!(
        second,
        Some(Decoded::Rejected {
            reason: LineError::Unterminated
        })
    );
    assert_eq!(codec.decode_eof(&mut buf).expect("item"), None);
    let mut buf = BytesMut::from(&b"\r\n"[..]);
    assert_eq!(codec.decode_eof(&mut buf).expect("item"), None);
}

#[test]
fn fixture_streams() {
    let mut rows = 0;
    for row in VECTORS.lines().filter(|l| l.starts_with("stream\t")) {
        let cols: Vec<&str> = row.split('\t').collect();
        let chunks: Vec<Vec<u8>> = cols[2].split('|').map(unescape).collect();
        let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let kinds: Vec<String> = match cols[1] {
            "response" => feed(&mut ClientCodec::new(), &chunks)
                .iter()
                .map(kind)
                .collect(),
            _ => feed(&mut ServerCodec::new(), &chunks)
                .iter()
                .map(|item| match item {
                    Decoded::Message(m) => m.kind().to_string(),
                    Decoded::Rejected { reason } => format!("rejected:{}", reason.code()),
                    Decoded::Unknown { id } => format!("unknown:{id}"),
                })
                .collect(),
        };
        assert_eq!(kinds.join(","), cols[3], "{row}");
        rows += 1;
    }
    assert!(rows >= 5, "only {rows} stream rows");
}

/// The fixture escapes: `\r`, `\n`, `\t`, `\\`, `\xNN`.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let (&e, tail) = rest.split_first().expect("escape");
        rest = tail;
        match e {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = std::str::from_utf8(&rest[..2]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                rest = &rest[2..];
            }
            other => panic!("bad escape {other}"),
        }
    }
    out
}

#[test]
fn encoders_by_direction() {
    let mut client = ClientCodec::new().with_charset(Charset::Utf8);
    assert_eq!(client.charset(), Charset::Utf8);
    let mut buf = BytesMut::new();
    let ussd = Request::SendUssd {
        msisdn: Bytes::from_static(b"27831112222"),
        ussd_type: UssdType::Existing,
        genfields: None,
        message: Text::new("Hello Zoë"),
    };
    client.encode(ussd, &mut buf).expect("encode");
    assert_eq!(&buf[..], b"SSMI,110,27831112222,2,Hello Zo\xc3\xab\r");
    let euro = Request::SendSms {
        validity: 0,
        msisdn: Bytes::from_static(b"1"),
        message: Text::new("€"),
    };
    let mut latin1 = ClientCodec::new();
    let error = latin1
        .encode(euro, &mut buf)
        .expect_err("latin-1 has no euro sign");
    assert_eq!(error.code(), "encode");
    assert_eq!(&buf[..], b"SSMI,110,27831112222,2,Hello Zo\xc3\xab\r");

    let mut server = ServerCodec::new();
    let mut buf = BytesMut::new();
    server
        .encode(
            Response::RemoteLogout {
                ip: Bytes::from_static(b"10.0.0.5"),
            },
            &mut buf,
        )
        .expect("encode");
    assert_eq!(&buf[..], b"SSMI,199,10.0.0.5\r");
    let items = feed(&mut server, &[b"SSMI,1,user,pass\rSSMI,111,1,s,n.gif,00\r"]);
    let kinds: Vec<_> = items
        .into_iter()
        .filter_map(|i| i.message().map(|m| m.kind()))
        .collect();
    assert_eq!(kinds, ["login", "send_mms"]);
}
