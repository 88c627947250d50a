//! SSMI line decoding (reference/vumi.md §4.1–4.3): one server→client line through
//! `decode_response`, and a stream of lines through the client's line codec, in bytes/s.
//!
//! Inputs: the §4.8 example lines (USSD new, extended USSD with genfields, MO with commas,
//! a delivery report).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use richmond_codecs::ssmi;
use richmond_drivers::ssmi::ClientCodec;
use tokio_util::codec::Decoder;

const LINES: &[(&str, &[u8])] = &[
    ("ussd_new", b"SSMI,110,27831112222,1,0,*120*663#"),
    (
        "ussd_extended",
        b"SSMI,111,27831112222,1,2,655011234567890:1::,*156#",
    ),
    (
        "mo_sms",
        b"SSMI,103,27831112222,42,Hello there, this is an SMS with, commas in it",
    ),
    ("delivery_report", b"SSMI,104,27831112222,42,0"),
];

fn decode_line(c: &mut Criterion) {
    let mut group = c.benchmark_group("ssmi/decode_line");
    for &(name, line) in LINES {
        let line = Bytes::from_static(line);
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), &line, |b, line| {
            b.iter(|| ssmi::decode_response(black_box(line)));
        });
        group.bench_with_input(BenchmarkId::new("copy", name), &line, |b, line| {
            b.iter(|| black_box(line).to_vec());
        });
    }
    group.finish();
}

fn decode_stream(c: &mut Criterion) {
    let mut stream = Vec::new();
    for _ in 0..256 {
        for &(_, line) in LINES {
            stream.extend_from_slice(line);
            stream.push(b'\r');
        }
    }
    let mut group = c.benchmark_group("ssmi/decode_stream");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("client_codec_1024_lines", |b| {
        b.iter(|| {
            let mut codec = ClientCodec::new();
            let mut buf = BytesMut::from(black_box(&stream[..]));
            let mut n = 0usize;
            while let Ok(Some(item)) = codec.decode(&mut buf) {
                black_box(item);
                n += 1;
            }
            n
        });
    });
    group.finish();
}

criterion_group!(benches, decode_line, decode_stream);
criterion_main!(benches);
