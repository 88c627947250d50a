//! An arbitrary byte stream through the SSMI line codecs (drivers::ssmi::codec), fed in
//! random chunks: never a panic or a stream error, and the items do not depend on how the
//! bytes were chunked (reference/vumi.md §4.1: CR-terminated lines, a maximum length with
//! discard-to-next-CR).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use richmond_drivers::ssmi::{ClientCodec, ServerCodec};
use tokio_util::codec::Decoder;

fn items<D>(mut codec: D, data: &[u8], cuts: &[u8]) -> Vec<D::Item>
where
    D: Decoder,
    D::Error: std::fmt::Debug,
{
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
        while let Some(item) = codec.decode(&mut buf).expect("line codecs never fail") {
            out.push(item);
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).expect("line codecs never fail") {
        out.push(item);
    }
    out
}

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (data, cuts) = input;
    let small = 64;
    assert_eq!(
        items(ClientCodec::new().with_max_line_bytes(small), &data, &cuts),
        items(ClientCodec::new().with_max_line_bytes(small), &data, &[]),
    );
    assert_eq!(
        items(ServerCodec::new().with_max_line_bytes(small), &data, &cuts),
        items(ServerCodec::new().with_max_line_bytes(small), &data, &[]),
    );
});
