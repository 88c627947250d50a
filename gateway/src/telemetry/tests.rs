//! Every metric has HELP text: each is defined once, with its text, in a catalogue of typed
//! events (`richmond_drivers::telemetry`); [`super::describe`] registers every catalogue; and
//! no metric-shaped name appears in the gateway's or the drivers' sources outside one.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use richmond_drivers::telemetry::Kind;

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

/// Every string literal in the `.rs` files under `dir` that looks like a metric name of ours
/// (`richmond_…`, `process_…`), test files left out.
fn literals(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                literals(&path, out);
            }
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".rs") || name.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for prefix in ["\"richmond_", "\"process_"] {
            for (at, _) in text.match_indices(prefix) {
                let rest = &text[at + 1..];
                let Some(end) = rest.find('"') else { continue };
                let name = &rest[..end];
                if name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    out.insert(name.to_owned());
                }
            }
        }
    }
}

#[test]
fn every_metric_is_in_a_catalogue_and_described_with_help_text() {
    let described = Described::default();
    metrics::with_local_recorder(&described, super::describe);
    let described = described.0.into_inner().unwrap();
    let catalogue: BTreeSet<String> = super::all_metrics()
        .iter()
        .map(|m| m.name.to_owned())
        .collect();
    // Every metric of every catalogue is described, with a HELP text of its own.
    let undescribed: Vec<_> = catalogue.difference(&described).collect();
    assert!(undescribed.is_empty(), "not described: {undescribed:?}");
    for m in super::all_metrics() {
        assert!(
            m.help.len() > 10 && m.help.ends_with('.'),
            "{}: {:?}",
            m.name,
            m.help
        );
    }
    // Every metric name written in the code belongs to a catalogue: a metric cannot be
    // emitted under a name that /metrics would show without HELP.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    literals(&root.join("src"), &mut names);
    literals(&root.join("../drivers/src"), &mut names);
    // The scan found them (a broken scan would pass vacuously).
    assert!(names.len() > 80, "{names:?}");
    for known in [
        "richmond_modem_up",
        "richmond_smpp_submits_total",
        "process_cpu_seconds_total",
    ] {
        assert!(names.contains(known), "{known} not found by the scan");
    }
    let outside: Vec<_> = names
        .iter()
        .filter(|n| !catalogue.contains(*n) && !NOT_METRICS.contains(&n.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "names outside every catalogue: {outside:?}"
    );
}

/// Literals of that shape that are not metric names.
const NOT_METRICS: &[&str] = &[
    // The routing_metadata key of a router's tag (router/tag.rs).
    "richmond_route",
];

#[test]
fn metric_names_follow_the_prometheus_conventions_and_are_unique() {
    let all = super::all_metrics();
    for m in &all {
        let kinds = all.iter().filter(|o| o.name == m.name).count();
        assert_eq!(kinds, 1, "{} listed twice", m.name);
        match m.kind {
            Kind::Counter => assert!(m.name.ends_with("_total"), "counter {}", m.name),
            // The modem's storage capacity ("total" slots) kept its name: dashboards use it.
            Kind::Gauge if m.name == "richmond_modem_storage_total" => {}
            Kind::Gauge | Kind::Histogram => {
                assert!(!m.name.ends_with("_total"), "{} is not a counter", m.name);
            }
        }
    }
}

/// Every log call in the gateway's and the drivers' sources (test files left out) opens with
/// `message = "A sentence."`: one log style, a capitalised sentence with its full stop, the
/// details in fields after it.
#[test]
fn every_log_line_is_a_sentence_in_message_then_fields() {
    fn scan(dir: &Path, bad: &mut Vec<String>, seen: &mut usize) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "tests" {
                    scan(&path, bad, seen);
                }
                continue;
            }
            if !name.ends_with(".rs") || name.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for level in ["trace!(", "debug!(", "info!(", "warn!(", "error!("] {
                for (at, _) in text.match_indices(level) {
                    // `tracing::info!(` or a bare `info!(`, not `debug_assert!(` or similar.
                    let before = text[..at].chars().last().unwrap_or(' ');
                    if before.is_alphanumeric() || before == '_' {
                        continue;
                    }
                    *seen += 1;
                    let rest = text[at + level.len()..].trim_start();
                    let ok = rest.strip_prefix("message = \"").is_some_and(|m| {
                        let end = m.find('"').unwrap_or(0);
                        let sentence = &m[..end];
                        sentence.starts_with(|c: char| c.is_uppercase())
                            && (sentence.ends_with('.') || sentence.ends_with('?'))
                    });
                    if !ok {
                        let line = text[..at].lines().count();
                        bad.push(format!("{}:{line}", path.display()));
                    }
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut bad, mut seen) = (Vec::new(), 0);
    scan(&root.join("src"), &mut bad, &mut seen);
    scan(&root.join("../drivers/src"), &mut bad, &mut seen);
    assert!(seen > 100, "the scan found the log calls ({seen})");
    assert!(bad.is_empty(), "log calls not in the one style: {bad:?}");
}
