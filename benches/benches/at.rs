//! AT response parsing (`richmond_drivers::modem::codec` over `richmond_codecs::at`), in input
//! bytes/s, beside a plain copy of the same bytes as the floor.
//!
//! `at/parse_lines`: a storage sweep answer (`AT+CMGL=4` with three stored PDUs, a `^RSSI`
//! URC in the middle, CRLF framing) cut into items by the codec, each line classified
//! (final / URC / information) and, for `+CMGL` headers, its fields parsed — what the modem
//! task does with every byte a modem sends.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use richmond_codecs::at::{fields, response};
use richmond_drivers::modem::codec::{Codec, Item};
use tokio_util::codec::Decoder;

const PDU: &str = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";

fn sweep_answer() -> Vec<u8> {
    let mut s = String::from("\r\n");
    for i in 1..=3 {
        s.push_str(&format!("+CMGL: {i},0,,30\r\n{PDU}\r\n"));
        if i == 2 {
            s.push_str("^RSSI: 17\r\n");
        }
    }
    s.push_str("\r\nOK\r\n");
    s.into_bytes()
}

fn parse(input: &[u8]) -> usize {
    let mut codec = Codec::default();
    let mut buf = BytesMut::from(input);
    let mut n = 0;
    while let Ok(Some(item)) = codec.decode(&mut buf) {
        if let Item::Line(line) = item {
            if let response::Kind::Info(l) = response::classify(&line, &[b"+CMGL:"]) {
                n += fields::cmgl(l).map_or(l.len(), |x| x.length);
            } else {
                n += 1;
            }
        }
    }
    n
}

fn parse_lines(c: &mut Criterion) {
    let input = sweep_answer();
    let mut group = c.benchmark_group("at/parse_lines");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("cmgl_sweep", |b| b.iter(|| parse(black_box(&input))));
    group.bench_function("copy", |b| {
        b.iter(|| BytesMut::from(black_box(&input[..])));
    });
    group.finish();
}

criterion_group!(benches, parse_lines);
criterion_main!(benches);
