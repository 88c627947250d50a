//! An arbitrary modem byte stream through the AT line codec (drivers::modem::codec over
//! codecs::at::framing) and the command engine, fed in random chunks: never a panic or a
//! stream error; the items do not depend on the chunking; every line is non-empty, bounded
//! and free of line ends; and every information line can be handed to each field parser
//! (reference/modem.md §2.1: NULs, `\r\r\n`, bare `\n`, the `> ` prompt, garbage).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use richmond_codecs::at::{fields, response};
use richmond_drivers::modem::codec::{Codec, DEFAULT_MAX_LINE_BYTES, Item};
use richmond_drivers::modem::engine::{Engine, Output};
use tokio_util::codec::Decoder;

const COMMANDS: [&str; 6] = [
    "AT+CMGL=4\r",
    "AT+CREG?\r",
    "AT+CMGS=23\r",
    "AT\r",
    "AT+CUSD=1,\"*100#\",15\r",
    "AT+CPMS?\r",
];

fn items(data: &[u8], cuts: &[u8]) -> Vec<Item> {
    let mut codec = Codec::default();
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if cuts.is_empty() { rest.len() } else { usize::from(cuts[i % cuts.len()]).max(1) };
        i += 1;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).expect("the modem codec never fails") {
            out.push(item);
        }
    }
    out
}

fn parse_all(line: &[u8]) {
    let _ = response::classify(line, &[b"+CREG:"]);
    let _ = fields::split(line);
    let _ = fields::cmgs(line);
    let _ = fields::cmgl(line);
    let _ = fields::cmgr(line);
    let _ = fields::csq(line);
    let _ = fields::cpms(line);
    let _ = fields::cpin(line);
    let _ = fields::cusd(line);
    let _ = fields::registration_reply(line);
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, rest)) = input.split_first() else { return };
    let (cuts, data) = rest.split_at(rest.len().min(usize::from(sel >> 4)));
    let whole = items(data, &[]);
    assert_eq!(whole, items(data, cuts), "items depend on chunking");
    let mut engine = Engine::new();
    let mut next = usize::from(sel);
    engine.start(COMMANDS[next % COMMANDS.len()]);
    for item in whole {
        if let Item::Line(line) = &item {
            assert!(!line.is_empty() && line.len() <= DEFAULT_MAX_LINE_BYTES);
            assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
            parse_all(line);
        }
        if let Output::Done(reply) = engine.handle(item) {
            for line in &reply.lines {
                parse_all(line);
            }
            next += 1;
            engine.start(COMMANDS[next % COMMANDS.len()]);
        }
    }
});
