//! Vumi JSON decode and encode, against a plain copy of the same bytes as the floor.
//!
//! Inputs are the golden files in `fixtures/vumi/` (reference/vumi.md §1.7): an inbound SMS
//! `user_message` and an `ack` event. Throughput is the body size in bytes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use richmond_codecs::vumi;

const INPUTS: &[(&str, &[u8])] = &[
    (
        "inbound_sms",
        include_bytes!("../../fixtures/vumi/inbound_sms.json"),
    ),
    ("ack", include_bytes!("../../fixtures/vumi/ack.json")),
];

fn decode_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("vumi/decode_json");
    for &(name, bytes) in INPUTS {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), bytes, |b, bytes| {
            b.iter(|| vumi::decode(black_box(bytes)));
        });
        group.bench_with_input(BenchmarkId::new("copy", name), bytes, |b, bytes| {
            b.iter(|| black_box(bytes).to_vec());
        });
    }
    group.finish();
}

fn encode_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("vumi/encode_json");
    for &(name, bytes) in INPUTS {
        let Ok(message) = vumi::decode(bytes) else {
            eprintln!("fixture {name} does not decode; skipping its encode bench");
            continue;
        };
        let encoded = message.encode();
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", name), &message, |b, message| {
            b.iter(|| black_box(message).encode());
        });
        group.bench_with_input(BenchmarkId::new("copy", name), bytes, |b, bytes| {
            b.iter(|| black_box(bytes).to_vec());
        });
    }
    group.finish();
}

criterion_group!(benches, decode_json, encode_json);
criterion_main!(benches);
