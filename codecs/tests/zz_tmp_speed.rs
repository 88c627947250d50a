use richmond_codecs::vumi;
use std::hint::black_box;
use std::time::Instant;
#[test]
fn speed() {
    for name in ["inbound_sms.json", "ack.json"] {
        let bytes = std::fs::read(format!(
            "{}/../fixtures/vumi/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let n = 200_000;
        let t = Instant::now();
        for _ in 0..n {
            black_box(vumi::decode(black_box(&bytes)).unwrap());
        }
        let d = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).unwrap());
        }
        let v = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&bytes)).unwrap());
        }
        let ig = t.elapsed() / n;
        eprintln!(
            "{name} {}B decode {d:?} value {v:?} ignored {ig:?}",
            bytes.len()
        );
    }
}
