//! The GSM modem transport (`type = "modem"`): SMS and USSD through one modem on a serial
//! port, as Vumi messages on `<id>.inbound`, `<id>.outbound` and `<id>.event`.
//!
//! Reference: reference/modem.md §0 (reliability rules), §2.5 (USSD), §2.6 (status reports,
//! TP-ST → delivery status), §2.8 (segmentation), §2.9 (dedup keys, delete after the
//! downstream owns the message). The pieces:
//!
//! * [`config`] — the options;
//! * `inbound` — received PDUs: SMS-DELIVER → `user_message` (parts of a multipart message
//!   wait in the store; after `multipart_timeout_seconds` what came is delivered, flagged),
//!   SMS-STATUS-REPORT → `delivery_report` (`reports`), `+CUSD` → USSD `user_message`
//!   (`ussd`). A stored message is deleted from the modem only after the bus (or, for a part,
//!   the store) owns it; the raw PDU is remembered for `dedup_ttl_seconds`, so one read again
//!   after a crash between publish and delete is dropped, not published twice.
//! * `outbound` — the `<id>.outbound` consumer: SMS split and sent part by part (`ack` with
//!   the message references, `nack` with the `+CMS ERROR` cause; transient errors retried with
//!   backoff; while the modem is down the message waits), USSD strings sent with `AT+CUSD`.
//!
//! USSD through a modem runs the other way round from a USSD gateway: the modem is the
//! handset. An application starts a session by sending a `ussd` message whose `to_addr` is
//! the service code (`*120#`; the content, if any, is sent instead of it), answers menus with
//! further `ussd` messages, and ends with `session_event = "close"` (`AT+CUSD=2`). The
//! network's answers arrive as `user_message`s from the service code, `session_event`
//! `resume` while the network waits for an answer and `close` when it is done.
//!
//! Status reports are matched on (modem, TP-MR, recipient, time window): the MR of each part
//! is kept in the store for `delivery_report_window_seconds` under the recipient's last nine
//! digits (reports give the number in national or international form), and a report whose
//! service-centre time stamp lies outside the window of its send is not matched (MRs wrap at
//! 256). The parts of a multipart message give one `delivery_report`, when all parts have a
//! final status: `failed` if any part failed, else `delivered`.

pub mod config;
mod inbound;
mod outbound;
mod reports;
mod retry;
mod ussd;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU16};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use richmond_drivers::modem::{self, Handle, Slot};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::ModemConfig;

use super::Context;

/// The identity the modem reported.
#[derive(Clone, Debug, Default)]
struct Identity {
    imei: Option<String>,
    imsi: Option<String>,
}

/// State shared by the halves of one transport.
struct Shared {
    id: String,
    config: ModemConfig,
    ctx: Context,
    handle: Handle,
    identity: Mutex<Identity>,
    /// Storage slots being handled, with the PDU they held (a sweep lists them again until
    /// they are deleted).
    in_flight: Mutex<HashSet<(Slot, Bytes)>>,
    /// Multipart messages waiting for their parts (`modem:<id>:mp-open:all`).
    reassembly: super::multipart::Reassembly,
    ussd: Mutex<Option<ussd::Session>>,
    next_reference: AtomicU16,
    /// The modem is ready and is the configured one.
    usable: AtomicBool,
}

impl Shared {
    fn key(&self, kind: &str, rest: &str) -> String {
        format!("modem:{}:{kind}:{rest}", self.id)
    }

    fn identity(&self) -> Identity {
        lock(&self.identity).clone()
    }

    /// The `to_addr` of inbound messages: the configured number, else the transport id.
    fn own_address(&self) -> String {
        if self.config.msisdn.is_empty() {
            self.id.clone()
        } else {
            self.config.msisdn.clone()
        }
    }
}

impl super::common::Carrier for Shared {
    // Routed messages (+CMT/+CDS) and USSD answers cannot be read from the modem again.
    const ON_REFUSAL: super::common::OnRefusal = super::common::OnRefusal::Hold;

    fn bus(&self) -> &crate::bus::Bus {
        &self.ctx.bus
    }

    fn id(&self) -> &str {
        &self.id
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts modem transport `id`: the modem task, the inbound and outbound halves, the
/// multipart timer and the readiness latch `transport:<id>` (true while the modem is ready).
pub(crate) fn spawn(
    id: &str,
    config: &ModemConfig,
    ctx: &Context,
    tracker: &TaskTracker,
    intake: &CancellationToken,
) {
    let (events_tx, events) = mpsc::channel(64);
    let stop_driver = CancellationToken::new();
    let (handle, task) = modem::spawn(config.driver_config(id), events_tx, stop_driver.clone());
    tracker.spawn(async move {
        let _ = task.await;
    });
    let start = u16::try_from(std::process::id() % 251).unwrap_or(0);
    let shared = Arc::new(Shared {
        id: id.to_owned(),
        config: config.clone(),
        ctx: ctx.clone(),
        handle,
        identity: Mutex::new(Identity::default()),
        in_flight: Mutex::new(HashSet::new()),
        reassembly: super::multipart::Reassembly::new(
            id,
            format!("modem:{id}:mp-open:all"),
            std::time::Duration::from_secs(config.multipart_timeout_seconds),
        ),
        ussd: Mutex::new(None),
        next_reference: AtomicU16::new(start),
        usable: AtomicBool::new(false),
    });
    tracker.spawn(inbound::run(shared.clone(), events, tracker.clone()));
    tracker.spawn(inbound::multipart_timer(shared.clone(), intake.clone()));
    tracker.spawn(outbound::run(shared, intake.clone(), stop_driver));
}
