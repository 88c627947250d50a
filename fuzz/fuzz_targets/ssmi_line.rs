//! Arbitrary bytes as one SSMI line (reference/vumi.md §4.1–4.3), decoded in both directions:
//! decoding never panics, and a decoded message encodes to a line that decodes to the same
//! message.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use richmond_codecs::ssmi::{self, Charset, Decoded};

fuzz_target!(|data: &[u8]| {
    // A line never holds its CR terminator.
    if data.contains(&b'\r') {
        return;
    }
    let line = Bytes::copy_from_slice(data);
    if let Decoded::Message(request) = ssmi::decode_request(&line) {
        let mut buf = BytesMut::new();
        if request.encode(&mut buf, Charset::Latin1).is_ok() {
            let again = buf.split_to(buf.len() - 1).freeze();
            assert_eq!(ssmi::decode_request(&again), Decoded::Message(request));
        }
    }
    if let Decoded::Message(response) = ssmi::decode_response(&line) {
        let mut buf = BytesMut::new();
        if response.encode(&mut buf, Charset::Latin1).is_ok() {
            let again = buf.split_to(buf.len() - 1).freeze();
            assert_eq!(ssmi::decode_response(&again), Decoded::Message(response));
        }
    }
});
