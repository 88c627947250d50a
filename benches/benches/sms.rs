//! SMS text encoding and segmentation (TS 23.038, TS 23.040; reference/modem.md §2.7–§2.8),
//! and SMPP receipt parsing (SMPP 3.4 Appendix B), in input bytes/s.
//!
//! Inputs: a one-SMS GSM-7 text (plain, and with extension characters), a 1,000-character
//! GSM-7 text and a 400-character UCS2 text for segmentation (8-bit reference UDH), and the
//! Appendix B receipt of `fixtures/smpp/receipts.txt`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use richmond_codecs::smpp::receipt;
use richmond_codecs::sms::{self, Encoding, Method, gsm7};

const PLAIN: &str = "Your code is 482913. It expires in 10 minutes. Do not share it with anyone; \
    our staff will never ask for it. Reply STOP to opt out of these messages.";
const EXTENDED: &str = "Balance: €12.50 [prepaid] {bundle: 1GB} ~ valid until 31/01 | top up at \
    *120# ^ or reply HELP. Ça va? Årets bästa erbjudande: 50% på allt!";
const RECEIPT: &str = "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 \
    done date:0610191018 stat:DELIVRD err:000 text:Hello world";

fn gsm7_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sms/gsm7_encode");
    for (name, text) in [("plain", PLAIN), ("extended", EXTENDED)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("unpacked", name), text, |b, text| {
            b.iter(|| gsm7::encode_unpacked(black_box(text)));
        });
        let septets = gsm7::encode_unpacked(text).unwrap_or_default();
        group.bench_with_input(BenchmarkId::new("pack", name), &septets, |b, septets| {
            b.iter(|| gsm7::pack(black_box(septets)));
        });
        group.bench_with_input(BenchmarkId::new("decode", name), &septets, |b, septets| {
            b.iter(|| gsm7::decode_unpacked(black_box(septets)));
        });
    }
    group.finish();
}

fn segment_long(c: &mut Criterion) {
    let gsm = PLAIN.repeat(1000 / PLAIN.len() + 1);
    let ucs2 = "Привет, как дела? 😃 ".repeat(20);
    let mut group = c.benchmark_group("sms/segment_long");
    for (name, text, encoding) in [
        ("gsm7", &gsm, Encoding::Gsm7),
        ("ucs2", &ucs2, Encoding::Ucs2),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("udh8", name), text, |b, text| {
            b.iter(|| sms::segment(black_box(text), encoding, 0x42, Method::Udh8));
        });
    }
    group.finish();
}

fn receipt_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("smpp/receipt_parse");
    group.throughput(Throughput::Bytes(RECEIPT.len() as u64));
    group.bench_function("appendix_b", |b| {
        b.iter(|| receipt::parse(black_box(RECEIPT)))
    });
    let utf16 = sms::ucs2::encode(RECEIPT);
    group.bench_function("appendix_b_ucs2", |b| {
        b.iter(|| receipt::decode(black_box(&utf16), 8));
    });
    group.finish();
}

criterion_group!(benches, gsm7_encode, segment_long, receipt_parse);
criterion_main!(benches);
