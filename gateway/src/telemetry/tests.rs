//! Every metric the code emits under a literal name has HELP text: the names are read from
//! the gateway's and the drivers' sources (`counter!("…"`, `gauge!("…"`, `histogram!("…"`),
//! the descriptions from what [`super::init_metrics`] registers. Names built at run time
//! (the listeners' `richmond_{api,admin}_*`) are described by hand and not scanned.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// A recorder that keeps the names described to it and records nothing.
#[derive(Default)]
struct Described(Mutex<BTreeSet<String>>);

impl Described {
    fn add(&self, key: &KeyName) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.as_str().to_owned());
    }
}

impl Recorder for Described {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.add(&key);
    }
    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.add(&key);
    }
    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.add(&key);
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// The literal metric names in the `.rs` files under `dir`.
fn emitted(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            emitted(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for macro_name in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(macro_name) {
                if text[..at].ends_with("describe_") {
                    continue;
                }
                let rest = text[at + macro_name.len()..].trim_start();
                if let Some(literal) = rest.strip_prefix('"')
                    && let Some(end) = literal.find('"')
                {
                    let name = &literal[..end];
                    // Metric names only (this file's own text names the macros too).
                    if !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    {
                        out.insert(name.to_owned());
                    }
                }
            }
        }
    }
}

#[test]
fn every_metric_the_code_emits_has_help_text() {
    let described = Described::default();
    metrics::with_local_recorder(&described, || {
        super::describe();
        super::describe_transports();
        super::describe_modems();
        crate::process_metrics::describe();
    });
    let described = described.0.into_inner().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    emitted(&root.join("src"), &mut names);
    emitted(&root.join("../drivers/src"), &mut names);
    // The scan found the metrics (a broken scan would pass vacuously).
    assert!(names.len() > 80, "{names:?}");
    for known in [
        "richmond_modem_up",
        "richmond_smpp_submits_total",
        "process_cpu_seconds_total",
    ] {
        assert!(names.contains(known), "{known} not found by the scan");
    }
    let missing: Vec<_> = names.difference(&described).collect();
    assert!(missing.is_empty(), "metrics without HELP text: {missing:?}");
}
