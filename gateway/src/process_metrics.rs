//! The process's own resources and the data files, sampled at every `/metrics` scrape, under
//! the standard Prometheus `process_*` names (as the official client libraries export them on
//! Linux) plus `richmond_data_file_bytes{file}`: resident and virtual memory, open and
//! allowed file descriptors, threads, CPU time, start time; the size of `store.redb` and
//! `spool.redb`. Read from `/proc/self` (Linux); elsewhere the process metrics are absent.
//! Does not handle: what fills the files (see the store and the spool).

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use metrics::{counter, gauge};
use richmond_drivers::telemetry::Metric;

/// Data files whose size is exported, by label.
static FILES: Mutex<Vec<(&'static str, PathBuf)>> = Mutex::new(Vec::new());

/// Exports the size of `path` as `richmond_data_file_bytes{file = name}`.
pub fn watch_file(name: &'static str, path: PathBuf) {
    let mut files = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    files.retain(|(n, _)| *n != name);
    files.push((name, path));
}

/// Resident memory size in bytes.
pub const RESIDENT_MEMORY: Metric = Metric::gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
);
/// Virtual memory size in bytes.
pub const VIRTUAL_MEMORY: Metric = Metric::gauge(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
);
/// Number of open file descriptors.
pub const OPEN_FDS: Metric = Metric::gauge("process_open_fds", "Number of open file descriptors.");
/// Maximum number of open file descriptors.
pub const MAX_FDS: Metric = Metric::gauge(
    "process_max_fds",
    "Maximum number of open file descriptors.",
);
/// Number of OS threads in the process.
pub const THREADS: Metric =
    Metric::gauge("process_threads", "Number of OS threads in the process.");
/// Total user and system CPU time spent, in whole seconds.
pub const CPU_SECONDS: Metric = Metric::counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent, in whole seconds.",
);
/// Start time of the process since the Unix epoch, in seconds.
pub const START_TIME: Metric = Metric::gauge(
    "process_start_time_seconds",
    "Start time of the process since the Unix epoch, in seconds.",
);
/// Size of the data files (store.redb, spool.redb), by file.
pub const DATA_FILE_BYTES: Metric = Metric::gauge(
    "richmond_data_file_bytes",
    "Size of the data files (store.redb, spool.redb), by file.",
);

/// The metrics the sampler sets (the conventional `process_*` names, and the data files').
pub const METRICS: &[Metric] = &[
    RESIDENT_MEMORY,
    VIRTUAL_MEMORY,
    OPEN_FDS,
    MAX_FDS,
    THREADS,
    CPU_SECONDS,
    START_TIME,
    DATA_FILE_BYTES,
];

/// Reads the current values; called before each render.
pub fn sample() {
    for (name, path) in FILES.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        if let Ok(meta) = std::fs::metadata(path) {
            gauge!(DATA_FILE_BYTES.name, "file" => *name).set(meta.len() as f64);
        }
    }
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may hold spaces), 0-based from field 3 (state).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // USER_HZ is 100 on every Linux this runs on (sysconf needs libc; not worth the unsafe).
    let ticks = 100.0;
    if let (Some(utime), Some(stime)) = (field(11), field(12)) {
        counter!(CPU_SECONDS.name).absolute(((utime + stime) / ticks) as u64);
    }
    if let Some(threads) = field(17) {
        gauge!(THREADS.name).set(threads);
    }
    if let Some(vsize) = field(20) {
        gauge!(VIRTUAL_MEMORY.name).set(vsize);
    }
    if let Some(rss_pages) = field(21) {
        gauge!(RESIDENT_MEMORY.name).set(rss_pages * 4096.0);
    }
    if let (Some(start), Some(boot)) = (field(19), boot_time()) {
        gauge!(START_TIME.name).set(boot + start / ticks);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge!(OPEN_FDS.name).set(fds.count() as f64);
    }
    if let Some(max) = max_fds() {
        gauge!(MAX_FDS.name).set(max);
    }
}

/// System boot time (Unix seconds), from /proc/stat.
fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit on open files, from /proc/self/limits.
fn max_fds() -> Option<f64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}
