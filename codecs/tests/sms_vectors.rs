//! The Gammu-made GSM-7 vectors of `fixtures/sms/gsm7.txt` (see fixtures/sms/README.md) through
//! the public API: encode → pack with the fill bits = the packed octets, unpack → decode = the
//! text, septet counts; and `sms::segment` cuts each concatenated text exactly where Gammu did,
//! with the same headers.

use std::path::PathBuf;

use richmond_codecs::sms::{self, Encoding, Method, Udh, gsm7};

struct Row {
    kind: String,
    text: String,
    udh: Option<Vec<u8>>,
    fill: u8,
    septets: usize,
    packed: Vec<u8>,
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('\\') => '\\',
            other => panic!("bad escape {other:?}"),
        });
    }
    out
}

fn rows() -> Vec<Row> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sms/gsm7.txt");
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 6, "{line}");
            Row {
                kind: cols[0].to_owned(),
                text: unescape(cols[1]),
                udh: (cols[2] != "-").then(|| hex(cols[2])),
                fill: cols[3].parse().expect("fill"),
                septets: cols[4].parse().expect("septets"),
                packed: hex(cols[5]),
            }
        })
        .collect()
}

#[test]
fn packing_matches_gammu() {
    let rows = rows();
    assert!(rows.len() >= 20, "only {} rows", rows.len());
    for row in &rows {
        let t = &row.text;
        let septets = gsm7::encode_unpacked(t).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        assert_eq!(septets.len(), row.septets, "{t:?}");
        assert_eq!(gsm7::septet_count(t), Some(row.septets), "{t:?}");
        if let Some(udh) = &row.udh {
            assert_eq!(gsm7::fill_bits(udh.len()), row.fill, "{t:?}");
        }
        assert_eq!(
            gsm7::pack_with_fill(&septets, row.fill),
            row.packed,
            "{t:?}"
        );
        let unpacked = gsm7::unpack_with_fill(&row.packed, row.septets, row.fill);
        assert_eq!(gsm7::decode_unpacked(&unpacked), *t);
    }
}

#[test]
fn segmentation_matches_gammu() {
    let rows = rows();
    // Runs of `part` rows that share a reference form one message.
    let mut messages: Vec<Vec<&Row>> = Vec::new();
    for row in rows.iter().filter(|r| r.kind == "part") {
        let udh = row.udh.as_deref().expect("part without udh");
        let (parsed, _) = Udh::parse(udh).expect("udh");
        let concat = parsed.concat().expect("concat");
        if concat.seq == 1 {
            messages.push(Vec::new());
        }
        messages.last_mut().expect("part 1 first").push(row);
    }
    assert_eq!(messages.len(), 2);
    for parts in messages {
        let text: String = parts.iter().map(|r| r.text.as_str()).collect();
        let first = parts[0].udh.as_deref().expect("udh");
        let (udh, _) = Udh::parse(first).expect("udh");
        let concat = udh.concat().expect("concat");
        let method = if first[1] == 0x08 {
            Method::Udh16
        } else {
            Method::Udh8
        };
        let ours = sms::segment(&text, Encoding::Gsm7, concat.reference, method).expect("segment");
        assert_eq!(ours.len(), parts.len());
        for (mine, row) in ours.iter().zip(&parts) {
            let udh = row.udh.as_deref().expect("udh");
            assert_eq!(&mine[..udh.len()], udh);
            let septets = &mine[udh.len()..];
            assert_eq!(septets.len(), row.septets);
            assert_eq!(gsm7::pack_with_fill(septets, row.fill), row.packed);
        }
    }
}
