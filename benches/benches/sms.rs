//! SMS text encoding and segmentation (TS 23.038, TS 23.040; reference/modem.md §2.7–§2.8),
//! and SMPP receipt parsing (SMPP 3.4 Appendix B), in input bytes/s.
//!
//! Inputs: a one-SMS GSM-7 text (plain, and with extension characters), a 1,000-character
//! GSM-7 text and a 400-character UCS2 text for segmentation (8-bit reference UDH), and the
//! Appendix B receipt of `fixtures/smpp/receipts.txt`.
//!
//! `sms/decode_deliver`: `sms::pdu::decode` of SMSC field + SMS-DELIVER (TS 23.040, what a
//! modem's `+CMT`/`+CMGR` carries after hex decoding), beside a plain copy of the same octets
//! as the floor. Inputs built with our encoder: a 160-character GSM-7 DELIVER, a 70-character
//! UCS2 DELIVER, and the first part of a multipart GSM-7 message (8-bit reference UDH).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use richmond_codecs::smpp::receipt;
use richmond_codecs::sms::pdu::{self, Address, Direction, Timestamp};
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

fn deliver_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let smsc = Address::new(1, 1, "31624000000");
    let from = Address::new(1, 1, "27821234567");
    let scts = Timestamp::from_unix(1_362_747_736, 8);
    let make = |text: &str, encoding| {
        pdu::deliver_parts(Some(&smsc), &from, text, scts, encoding, 0x42, Method::Udh8)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.octets)
            .next()
            .unwrap_or_default()
    };
    let gsm: String = PLAIN.chars().cycle().take(160).collect();
    // 68 BMP characters and an emoji: 70 UTF-16 units, one SMS.
    let ucs2: String = "Привет, как дела? "
        .chars()
        .cycle()
        .take(68)
        .chain(['😃'])
        .collect();
    let long = PLAIN.repeat(3);
    vec![
        ("gsm7_160", make(&gsm, Encoding::Gsm7)),
        ("ucs2_70", make(&ucs2, Encoding::Ucs2)),
        ("gsm7_part_udh", make(&long, Encoding::Gsm7)),
    ]
}

fn decode_deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("sms/decode_deliver");
    for (name, octets) in deliver_inputs() {
        assert!(
            pdu::decode(&octets, Direction::ToMs).is_ok(),
            "{name} does not decode"
        );
        group.throughput(Throughput::Bytes(octets.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), &octets, |b, octets| {
            b.iter(|| pdu::decode(black_box(octets), Direction::ToMs));
        });
        group.bench_with_input(BenchmarkId::new("copy", name), &octets, |b, octets| {
            b.iter(|| black_box(octets).to_vec());
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    gsm7_encode,
    segment_long,
    receipt_parse,
    decode_deliver
);
criterion_main!(benches);
