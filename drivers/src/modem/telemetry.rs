//! The modem driver's telemetry events (see [`crate::telemetry`]): what the session notes,
//! the gauges the events passed to the transport carry, and the task's own (a deferred read,
//! a lost link, a fatal stop).

use std::time::Duration;

use metrics::{counter, gauge};
use richmond_codecs::at::fields;
use tracing::{debug, info, warn};

use super::session::Note;
use super::{Event as ModemEvent, Registration, preview};
use crate::telemetry::{Event, Metric};

pub const UP: Metric = Metric::gauge(
    "richmond_modem_up",
    "1 while the modem is open and initialised.",
);
pub const COMMANDS: Metric = Metric::counter("richmond_modem_commands_total", "AT commands sent.");
pub const COMMAND_TIMEOUTS: Metric = Metric::counter(
    "richmond_modem_command_timeouts_total",
    "AT commands with no final result in time.",
);
pub const UNEXPECTED_LINES: Metric = Metric::counter(
    "richmond_modem_unexpected_lines_total",
    "Lines from the modem that answer nothing and announce nothing known (ignored).",
);
pub const RECOVERIES: Metric = Metric::counter(
    "richmond_modem_recoveries_total",
    "Recoveries of a modem that stopped answering, by step (escape, reopen).",
);
pub const DELETE_SKIPPED: Metric = Metric::counter(
    "richmond_modem_delete_skipped_total",
    "Slots not deleted because they no longer held the message that was handled.",
);
pub const SIGNAL_DBM: Metric = Metric::gauge(
    "richmond_modem_signal_dbm",
    "Signal strength from the last AT+CSQ, in dBm.",
);
pub const REGISTRATION: Metric = Metric::gauge(
    "richmond_modem_registration",
    "Network registration status (3GPP TS 27.007 <stat>: 1 home, 5 roaming, 2 searching, 3 denied, 0 not registered), by kind (cs, ps, eps).",
);
pub const STORAGE_USED: Metric = Metric::gauge(
    "richmond_modem_storage_used",
    "Messages held in the modem's SMS storage.",
);
pub const STORAGE_TOTAL: Metric = Metric::gauge(
    "richmond_modem_storage_total",
    "Capacity of the modem's SMS storage, in messages.",
);
pub const DEFERRED_READS: Metric = Metric::counter(
    "richmond_modem_deferred_reads_total",
    "Stored messages left in the modem for the next sweep because the transport was busy.",
);
pub const REOPENS: Metric = Metric::counter(
    "richmond_modem_reopens_total",
    "Times the serial device was opened again after it was lost.",
);

/// Every metric of the modem driver.
pub const METRICS: &[Metric] = &[
    UP,
    COMMANDS,
    COMMAND_TIMEOUTS,
    UNEXPECTED_LINES,
    RECOVERIES,
    DELETE_SKIPPED,
    SIGNAL_DBM,
    REGISTRATION,
    STORAGE_USED,
    STORAGE_TOTAL,
    DEFERRED_READS,
    REOPENS,
];

/// What the session of `transport` noted.
pub struct Noted<'a> {
    pub transport: &'a str,
    pub note: Note,
}

impl Event for Noted<'_> {
    const METRICS: &'static [Metric] = &[
        COMMANDS,
        COMMAND_TIMEOUTS,
        UNEXPECTED_LINES,
        UP,
        RECOVERIES,
        DELETE_SKIPPED,
    ];

    fn emit(self) {
        let name = self.transport;
        let transport = name.to_owned();
        match self.note {
            Note::Command => counter!(COMMANDS.name, "transport" => transport).increment(1),
            Note::CommandTimeout => {
                counter!(COMMAND_TIMEOUTS.name, "transport" => transport).increment(1);
            }
            Note::Unexpected(line) => {
                counter!(UNEXPECTED_LINES.name, "transport" => transport).increment(1);
                debug!(message = "Unexpected line from modem.", transport = %name, line = %preview(&line));
            }
            Note::Overlong => {
                counter!(UNEXPECTED_LINES.name, "transport" => transport).increment(1);
                warn!(message = "Overlong line from modem dropped.", transport = %name);
            }
            Note::Up => gauge!(UP.name, "transport" => transport).set(1.0),
            Note::Ready { imei, imsi } => {
                info!(message = "Modem ready.", transport = %name, imei = ?imei);
                debug!(message = "SIM identity.", transport = %name, imsi = ?imsi);
            }
            Note::Recovering => {
                warn!(message = "Modem stopped answering; recovering.", transport = %name);
                counter!(RECOVERIES.name, "transport" => transport, "step" => "escape")
                    .increment(1);
            }
            Note::RecoveryFailed => {
                counter!(RECOVERIES.name, "transport" => transport, "step" => "reopen")
                    .increment(1);
            }
            Note::SimState(line) => {
                info!(message = "SIM state changed.", transport = %name, state = %preview(&line));
            }
            Note::Cnmi(Some(params)) => {
                info!(message = "New-message indications set.", transport = %name, cnmi = %params);
            }
            Note::Cnmi(None) => {
                warn!(message = "Modem refused every AT+CNMI; storage is swept at each keepalive.", transport = %name);
            }
            Note::MemoryRefused(mem) => {
                warn!(message = "Modem refused to select a message memory.", transport = %name, mem);
            }
            Note::SweepRefused { mem, result } => {
                warn!(message = "Storage sweep refused.", transport = %name, mem, result = ?result);
            }
            Note::SweepFound(messages) => {
                info!(message = "Storage sweep found messages.", transport = %name, messages);
            }
            Note::SlotEmpty { index, result } => {
                debug!(message = "Nothing to read in slot.", transport = %name, index, result = ?result);
            }
            Note::DeleteSkipped { index } => {
                counter!(DELETE_SKIPPED.name, "transport" => transport).increment(1);
                debug!(message = "Slot no longer holds the message; not deleted.", transport = %name, index);
            }
        }
    }
}

/// An event passed to the transport: the gauges it carries.
pub struct Reported<'a> {
    pub transport: &'a str,
    pub event: &'a ModemEvent,
}

impl Event for Reported<'_> {
    const METRICS: &'static [Metric] = &[SIGNAL_DBM, REGISTRATION, STORAGE_USED, STORAGE_TOTAL];

    fn emit(self) {
        let transport = self.transport.to_owned();
        match self.event {
            ModemEvent::Signal { rssi } => {
                if let Some(dbm) = fields::rssi_dbm(*rssi) {
                    gauge!(SIGNAL_DBM.name, "transport" => transport).set(f64::from(dbm));
                }
            }
            ModemEvent::Registration { kind, stat } => {
                let family = match kind {
                    Registration::Cs => "cs",
                    Registration::Gprs => "gprs",
                    Registration::Eps => "eps",
                };
                gauge!(REGISTRATION.name, "transport" => transport, "kind" => family)
                    .set(f64::from(*stat));
            }
            ModemEvent::Storage { used, total } => {
                gauge!(STORAGE_USED.name, "transport" => transport.clone()).set(f64::from(*used));
                gauge!(STORAGE_TOTAL.name, "transport" => transport).set(f64::from(*total));
            }
            ModemEvent::Ready { .. }
            | ModemEvent::Down { .. }
            | ModemEvent::Message { .. }
            | ModemEvent::Ussd(_) => {}
        }
    }
}

/// A stored message left in the modem: the transport's channel was full.
pub struct ReadDeferred<'a> {
    pub transport: &'a str,
}

impl Event for ReadDeferred<'_> {
    const METRICS: &'static [Metric] = &[DEFERRED_READS];

    fn emit(self) {
        counter!(DEFERRED_READS.name, "transport" => self.transport.to_owned()).increment(1);
    }
}

/// A session of `transport` ended (the modem is down until the next one is up).
pub struct SessionEnded<'a> {
    pub transport: &'a str,
}

impl Event for SessionEnded<'_> {
    const METRICS: &'static [Metric] = &[UP];

    fn emit(self) {
        gauge!(UP.name, "transport" => self.transport.to_owned()).set(0.0);
    }
}

/// The link was lost; the device is reopened after `retry_in`.
pub struct LinkLost<'a> {
    pub transport: &'a str,
    pub reason: &'a str,
    pub retry_in: Duration,
}

impl Event for LinkLost<'_> {
    const METRICS: &'static [Metric] = &[REOPENS];

    fn emit(self) {
        let Self {
            transport,
            reason,
            retry_in,
        } = self;
        warn!(message = "Modem link lost.", transport, reason, retry_in = ?retry_in);
        counter!(REOPENS.name, "transport" => transport.to_owned()).increment(1);
    }
}

/// The modem stopped for good (a rejected PIN, a SIM that wants its PUK).
pub struct StoppedForGood<'a> {
    pub transport: &'a str,
    pub reason: &'a str,
}

impl Event for StoppedForGood<'_> {
    const METRICS: &'static [Metric] = &[];

    fn emit(self) {
        let Self { transport, reason } = self;
        warn!(
            message = "Modem stopped; fix the cause and restart.",
            transport, reason
        );
    }
}
