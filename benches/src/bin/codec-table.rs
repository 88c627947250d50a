//! `codec-table`: the codec results table of BENCHMARKS.md from criterion's saved estimates.
//!
//! Reads `<dir>/**/new/{benchmark,estimates}.json` (default `target/criterion`, as written by
//! `cargo bench -p richmond-benches`) and prints, per benchmark, the median time, the
//! throughput, and the multiple of the `copy` benchmark of the same group and input (the
//! floor each codec group carries). Usage: `codec-table [DIR]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One measured benchmark.
struct Entry {
    group: String,
    function: String,
    input: String,
    median_ns: f64,
    bytes: Option<f64>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                out.push(p);
            } else {
                walk(&p, out);
            }
        }
    }
}

fn read(dir: &Path) -> Option<Entry> {
    let json = |name: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    let (b, e) = (json("benchmark.json")?, json("estimates.json")?);
    Some(Entry {
        group: b["group_id"].as_str()?.to_owned(),
        function: b["function_id"].as_str().unwrap_or("").to_owned(),
        input: b["value_str"].as_str().unwrap_or("").to_owned(),
        median_ns: e["median"]["point_estimate"].as_f64()?,
        bytes: b["throughput"]["Bytes"]
            .as_f64()
            .or_else(|| b["throughput"]["ElementsAndBytes"]["bytes"].as_f64()),
    })
}

fn human_time(ns: f64) -> String {
    match ns {
        t if t >= 1e6 => format!("{:.2} ms", t / 1e6),
        t if t >= 1e3 => format!("{:.2} µs", t / 1e3),
        t => format!("{t:.0} ns"),
    }
}

fn human_rate(bytes: f64, ns: f64) -> String {
    let per_s = bytes / (ns * 1e-9);
    if per_s >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB/s", per_s / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.0} MiB/s", per_s / (1024.0 * 1024.0))
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let mut dirs = Vec::new();
    walk(&root, &mut dirs);
    let entries: Vec<Entry> = dirs.iter().filter_map(|d| read(d)).collect();
    if entries.is_empty() {
        eprintln!(
            "codec-table: no criterion results under {} (run `cargo bench -p richmond-benches` first)",
            root.display()
        );
        std::process::exit(1);
    }
    let floors: BTreeMap<(&str, &str), f64> = entries
        .iter()
        .filter(|e| e.function == "copy")
        .map(|e| ((e.group.as_str(), e.input.as_str()), e.median_ns))
        .collect();
    let mut rows: Vec<&Entry> = entries.iter().collect();
    rows.sort_by(|a, b| {
        (&a.group, &a.input, a.function != "copy", &a.function).cmp(&(
            &b.group,
            &b.input,
            b.function != "copy",
            &b.function,
        ))
    });
    println!("| group | benchmark | input | median | throughput | × copy floor |");
    println!("|---|---|---|---:|---:|---:|");
    for e in rows {
        let floor = floors
            .get(&(e.group.as_str(), e.input.as_str()))
            .map_or("–".to_owned(), |f| format!("{:.1}", e.median_ns / f));
        let rate = e
            .bytes
            .map_or("–".to_owned(), |b| human_rate(b, e.median_ns));
        println!(
            "| `{}` | {} | {} | {} | {rate} | {floor} |",
            e.group,
            e.function,
            if e.input.is_empty() { "–" } else { &e.input },
            human_time(e.median_ns),
        );
    }
}
