//! `richmond simulate <kind>`: carrier simulators on loopback for tests, benches, demos and
//! the quick start.
//!
//! A simulator prints what happens as JSON lines on stdout (the first is
//! `{"event":"listening","address":"…"}`, so a test can bind port 0 and learn the port) and
//! takes commands as lines on stdin (`help` lists them). It stops on SIGTERM/SIGINT or the
//! `quit` command; the end of stdin only stops the reading of commands.
//!
//! * [`ssmi`] — a TruTeq SSMI server (reference/vumi.md §4).
//! * [`smsc`] — an SMPP 3.4 SMSC (reference/smpp.md); also usable in-process
//!   ([`smsc::serve`]).
//! * [`modem`] — a GSM modem on a pty, answering AT commands (reference/modem.md §2, §5).
//! * [`chikka`] — Chikka's SMS API over HTTP (reference/http-providers.md §3).
//! * [`clickatell`] — Clickatell's legacy HTTP API and Platform API (reference/http-providers.md §1).
//! * [`opera`] — Opera's XML-RPC gateway (reference/http-providers.md §2).
//! * [`inprocess`] — the `[simulator.*]` config tables: simulators started by `richmond run`.

pub mod chikka;
pub mod clickatell;
pub mod inprocess;
pub mod modem;
pub mod opera;
mod provider;
pub mod smsc;
pub mod ssmi;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use clap::Subcommand;
use serde_json::Value;

/// Writes one JSON event per line to stdout (flushed, so a reading test sees it at once).
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<()>>);

impl Output {
    /// Prints `event`.
    pub fn emit(&self, event: &Value) {
        let _guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{event}");
        let _ = out.flush();
    }
}
/// The certificate a simulator serves with `--tls-cert`/`--tls-key`, or `None` (plain TCP)
/// when they are not given.
///
/// # Errors
/// A file cannot be read, or the certificate and key do not make a TLS server.
pub(crate) fn tls_server(
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> Result<Option<richmond_drivers::tls::TlsServer>, SimulateError> {
    match (cert, key) {
        (Some(cert), Some(key)) => richmond_drivers::tls::TlsServer::from_files(cert, key)
            .map(Some)
            .map_err(SimulateError::Tls),
        _ => Ok(None),
    }
}

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// `what` (a listen address, the `--link` path, the runtime) failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--tls-cert/--tls-key: {0}")]
    Tls(#[source] richmond_drivers::tls::TlsError),
    /// The pseudo-terminal pair of the modem simulator.
    #[error("the pty pair: {0}")]
    Pty(#[source] tokio_serial::Error),
    #[error("the pty slave has no name")]
    PtyName,
}

/// Maps an I/O error of `what` to [`SimulateError::Io`].
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SimulateError {
    let what = what.into();
    move |source| SimulateError::Io { what, source }
}

/// The simulators.
#[derive(Debug, Clone, Subcommand)]
pub enum SimulateKind {
    /// A TruTeq SSMI server: logins, link checks, SEQ and delivery reports for SMS, scripted
    /// USSD users, MO SMS, misbehaviour on demand.
    Ssmi(ssmi::Args),
    /// An SMPP 3.4 SMSC: binds, submit_sm answered with message ids, delivery receipts, MO
    /// deliver_sm (single and multipart, GSM-7 and UCS2), USSD dialogs (--ussd), redelivery,
    /// misbehaviour on demand.
    Smsc(Box<smsc::Args>),
    /// A GSM modem on a pty (the `listening` event names /dev/pts/N): AT commands in PDU
    /// mode, SIM storage, +CMGS with status reports, MO SMS (multipart), a USSD menu,
    /// hangs and URC noise on demand.
    Modem(modem::Args),
    /// Chikka's SMS API: /smsapi/request answered as Chikka does (auth, number and
    /// request-id checks), notifications and MO posted to --post-to, failures on demand.
    Chikka(chikka::Args),
    /// Clickatell: the legacy HTTP API (/http/auth, ping, sendmsg: ID:/ERR: answers) and the
    /// Platform API (/messages), status callbacks and MO posted back, failures on demand.
    Clickatell(clickatell::Args),
    /// Opera: XML-RPC EAPIGateway.SendSMS answered with an Identifier or a fault, receipts
    /// and bspostevent MO posted back (the MO's answer must echo it), failures on demand.
    Opera(opera::Args),
}

/// Runs a simulator until a signal or `quit`.
///
/// # Errors
/// When the listener cannot be bound or the runtime cannot start.
pub fn run(kind: &SimulateKind) -> Result<(), SimulateError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("the runtime"))?;
    let result = runtime.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        let signal_stop = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            if let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            signal_stop.cancel();
        });
        match kind {
            SimulateKind::Ssmi(args) => ssmi::run(args.clone(), stop).await,
            SimulateKind::Smsc(args) => smsc::run((**args).clone(), stop).await,
            SimulateKind::Modem(args) => modem::run(args.clone(), stop).await,
            SimulateKind::Chikka(args) => chikka::run(args.clone(), stop).await,
            SimulateKind::Clickatell(args) => clickatell::run(args.clone(), stop).await,
            SimulateKind::Opera(args) => opera::run(args.clone(), stop).await,
        }
    });
    // The stdin reader sits in a blocking read: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}
