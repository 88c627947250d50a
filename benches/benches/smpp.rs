//! SMPP PDU decode and encode (`richmond_codecs::smpp::pdu`), with bytes/s and PDUs/s.
//!
//! * `smpp/decode_deliver_sm`: the borrowed (zero-copy) decode Richmond uses on the hot path,
//!   beside rusmpp's owned decode of the same bytes (what `rusmpp::tokio_codec` does), and a
//!   plain copy of the bytes as the floor. Inputs from `fixtures/smpp/pdus.txt`: an MO and a
//!   delivery receipt (with TLVs).
//! * `smpp/inbound_deliver_sm`: what an inbound PDU costs from frame to the transport's
//!   message: `decode_once` is the session's borrowed decode read into
//!   `codecs::smpp::deliver::Inbound` (the payload a slice of the frame), as today;
//!   `decode_twice` the borrowed decode followed by rusmpp's owned decode of the same frame,
//!   as the inbound path did before (issue 19, point 1).
//! * `smpp/encode_submit_sm`: encoding an owned `submit_sm` as the driver does (length field
//!   included), plus patching a sequence number into an encoded copy (a throttled resend).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::pdu;
use richmond_codecs::smpp::rusmpp::{Command, CommandStatus};

const FIXTURES: &str = include_str!("../../fixtures/smpp/pdus.txt");

fn vector(name: &str) -> Vec<u8> {
    let line = FIXTURES
        .lines()
        .find(|line| line.split('\t').next() == Some(name))
        .unwrap_or_else(|| panic!("fixture {name} missing"));
    let hex = line.split('\t').nth(1).unwrap_or_default();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn throughput(len: usize) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: 1,
        bytes: len as u64,
    }
}

fn decode_deliver_sm(c: &mut Criterion) {
    let mut group = c.benchmark_group("smpp/decode_deliver_sm");
    for name in ["deliver_sm_mo", "deliver_sm_receipt"] {
        let bytes = vector(name);
        group.throughput(throughput(bytes.len()));
        group.bench_with_input(BenchmarkId::new("borrowed", name), &bytes, |b, bytes| {
            b.iter(|| pdu::decode(black_box(bytes)).map(|c| c.sequence_number()));
        });
        group.bench_with_input(
            BenchmarkId::new("rusmpp_owned", name),
            &bytes,
            |b, bytes| {
                b.iter(|| pdu::decode_owned(black_box(bytes)).map(|c| c.sequence_number()));
            },
        );
        group.bench_with_input(BenchmarkId::new("copy", name), &bytes, |b, bytes| {
            b.iter(|| black_box(bytes).to_vec());
        });
    }
    group.finish();
}

fn inbound_deliver_sm(c: &mut Criterion) {
    let mut group = c.benchmark_group("smpp/inbound_deliver_sm");
    for name in ["deliver_sm_mo", "deliver_sm_receipt"] {
        let frame = bytes::Bytes::from(vector(name));
        group.throughput(throughput(frame.len()));
        group.bench_with_input(BenchmarkId::new("decode_once", name), &frame, |b, frame| {
            b.iter(|| {
                let command = pdu::decode(black_box(frame)).ok()?;
                Inbound::from_pdu(command.pdu()?, frame)
            });
        });
        group.bench_with_input(
            BenchmarkId::new("decode_twice", name),
            &frame,
            |b, frame| {
                b.iter(|| {
                    let command = pdu::decode(black_box(frame)).ok()?;
                    let _ = black_box(command.pdu()?);
                    pdu::decode_owned(black_box(frame)).ok()
                });
            },
        );
    }
    group.finish();
}

fn encode_submit_sm(c: &mut Criterion) {
    let mut group = c.benchmark_group("smpp/encode_submit_sm");
    let bytes = vector("submit_sm");
    let command = pdu::decode_owned(&bytes).expect("fixture submit_sm decodes");
    let Some(body) = command.pdu().cloned() else {
        return;
    };
    let command = Command::new(CommandStatus::EsmeRok, 2, body);
    group.throughput(throughput(bytes.len()));
    group.bench_function("encode", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            pdu::encode(black_box(&command), &mut out)
        });
    });
    group.bench_function("copy", |b| {
        b.iter(|| BytesMut::from(black_box(&bytes[..])));
    });
    group.bench_function("resend_patch_sequence", |b| {
        b.iter(|| {
            let mut out = BytesMut::from(black_box(&bytes[..]));
            pdu::set_sequence_number(&mut out, 7);
            out
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    decode_deliver_sm,
    inbound_deliver_sm,
    encode_submit_sm
);
criterion_main!(benches);
