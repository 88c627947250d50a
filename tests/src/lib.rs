//! Support for the end-to-end suites in `gateway/tests/`: the real `richmond` binary and the
//! simulators as child processes (`procs`), a Vumi application on the bus (`app`), vumi2's
//! message checks (`vumi2`), a serial port peer (`serial`), the private servers, free ports and
//! polling helpers (`common`), the HTTP API's harness (`common::api`), servers started
//! through the project's scripts (`servers`: a RabbitMQ cluster, Redis with Sentinel). One crate instead of
//! the `#[path]` includes each suite used to compile again.
//!
//! Not handled here: the suites themselves (they stay with the crate they test, so they see
//! its binary).

pub mod app;
pub mod common;
pub mod kannel;
pub mod procs;
pub mod serial;
pub mod servers;
pub mod vumi2;

/// The `richmond` binary of this build: beside the test binary's `deps/` directory, where
/// cargo puts the binaries of the package under test (`target/<profile>/richmond`).
///
/// # Panics
/// When it is missing (the suites run under `cargo test -p richmond`, which builds it).
pub fn richmond_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps");
        let bin = dir.join(format!("richmond{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.exists(),
            "{} is missing: build it with cargo test -p richmond",
            bin.display()
        );
        bin.display().to_string()
    })
}
