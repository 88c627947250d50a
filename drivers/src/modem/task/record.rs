//! Metrics and logs of one modem: what the session notes and the events it passes on, in one
//! place (the names and their HELP text are in the gateway's `telemetry.rs`).

use metrics::{counter, gauge};
use richmond_codecs::at::fields;
use tracing::{debug, info, warn};

use crate::modem::session::Note;
use crate::modem::{Event, Registration, preview};

/// Records a note of the session.
pub(super) fn note(name: &str, note: Note) {
    let transport = name.to_owned();
    match note {
        Note::Command => {
            counter!("richmond_modem_commands_total", "transport" => transport).increment(1);
        }
        Note::CommandTimeout => {
            counter!("richmond_modem_command_timeouts_total", "transport" => transport)
                .increment(1);
        }
        Note::Unexpected(line) => {
            counter!("richmond_modem_unexpected_lines_total", "transport" => transport)
                .increment(1);
            debug!(message = "Unexpected line from modem.", transport = %name, line = %preview(&line));
        }
        Note::Overlong => {
            counter!("richmond_modem_unexpected_lines_total", "transport" => transport)
                .increment(1);
            warn!(message = "Overlong line from modem dropped.", transport = %name);
        }
        Note::Up => gauge!("richmond_modem_up", "transport" => transport).set(1.0),
        Note::Ready { imei, imsi } => {
            info!(message = "Modem ready.", transport = %name, imei = ?imei);
            debug!(message = "SIM identity.", transport = %name, imsi = ?imsi);
        }
        Note::Recovering => {
            warn!(message = "Modem stopped answering; recovering.", transport = %name);
            counter!("richmond_modem_recoveries_total", "transport" => transport, "step" => "escape")
                .increment(1);
        }
        Note::RecoveryFailed => {
            counter!("richmond_modem_recoveries_total", "transport" => transport, "step" => "reopen")
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
            counter!("richmond_modem_delete_skipped_total", "transport" => transport).increment(1);
            debug!(message = "Slot no longer holds the message; not deleted.", transport = %name, index);
        }
    }
}

/// The gauges an event passed to the transport carries.
pub(super) fn event(name: &str, event: &Event) {
    let transport = name.to_owned();
    match event {
        Event::Signal { rssi } => {
            if let Some(dbm) = fields::rssi_dbm(*rssi) {
                gauge!("richmond_modem_signal_dbm", "transport" => transport).set(f64::from(dbm));
            }
        }
        Event::Registration { kind, stat } => {
            let family = match kind {
                Registration::Cs => "cs",
                Registration::Gprs => "gprs",
                Registration::Eps => "eps",
            };
            gauge!("richmond_modem_registration", "transport" => transport, "kind" => family)
                .set(f64::from(*stat));
        }
        Event::Storage { used, total } => {
            gauge!("richmond_modem_storage_used", "transport" => transport.clone())
                .set(f64::from(*used));
            gauge!("richmond_modem_storage_total", "transport" => transport).set(f64::from(*total));
        }
        Event::Ready { .. } | Event::Down { .. } | Event::Message { .. } | Event::Ussd(_) => {}
    }
}
