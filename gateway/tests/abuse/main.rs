//! The abuse suite (issue #18): per protocol, a table of bad inputs run against the real
//! `richmond` binary and its simulators. Each row expects a clear error or a counted
//! rejection; after every row the link still carries messages (nothing accepted is lost), and
//! at the end the log holds no panic.

#[path = "../support/app.rs"]
mod app;
#[path = "../common/mod.rs"]
mod common;
#[path = "../support/procs.rs"]
mod procs;
#[path = "../support/vumi2.rs"]
mod vumi2;

mod smpp;

/// Asserts that the gateway never panicked.
fn no_panic(logs: &str) {
    assert!(!logs.contains("panicked"), "the gateway panicked:\n{logs}");
}
