//! `richmond simulate modem`: a scripted GSM modem on a pty, for the modem driver's tests and
//! demos without hardware.
//!
//! Reference: ITU-T V.250, TS 27.007 and TS 27.005 (the modem side, PDU mode only);
//! reference/modem.md §2.1–§2.5 (AT line protocol, commands, errors, USSD), §2.9 (hangs and
//! recovery) and §5 (a modem on a pty: `SerialStream::pair()`, EIO on the master while no one
//! has the slave open).
//!
//! The simulator keeps the master side of a pty pair and closes its own handle on the slave;
//! the first event, `{"event":"listening","address":"/dev/pts/N"}`, names the slave for the
//! driver to open (`--link PATH` also makes a symlink to it, removed at exit). While no one
//! has the slave open, reads on the master fail with EIO and are retried every 20 ms; when
//! they work again the device was (re)opened: the modem starts afresh as after a reset (echo
//! on, `+CNMI` off, `<mem1>` "SM", no hang, no pending prompt, the SIM locked again when
//! `--pin` is given) but the stored messages are kept, and `{"event":"opened"}` is printed.
//! `{"event":"closed"}` when the slave is closed.
//!
//! Options (see [`Args`]): `--link PATH`, `--imei`, `--imsi`, `--pin PIN` (SIM locked until
//! `AT+CPIN`), `--slots N` (storage size, default 30), `--smsc`, `--cnmi-ds-routed` (`AT+CNMI`
//! with ds=2 refused: status reports come routed as `+CDS` with ds=1), `--report-memory SM|SR`
//! (where stored status reports go, default SM: with the messages; SR: a separate memory of
//! `--slots` slots, announced `+CDSI: "SR",<index>`).
//!
//! Message storage (TS 27.005 §3.2.2): `AT+CMGR`/`AT+CMGL`/`AT+CMGD` act on `<mem1>`, "SM"
//! after a reset or (re)open; `AT+CPMS="SR"` (with `--report-memory SR`) selects the status
//! reports, `AT+CPMS="SM"` the messages again; `<mem2>` and `<mem3>` are always "SM". Any
//! other memory ("ME", or "SR" without the option) answers `+CMS ERROR: 302`.
//!
//! Commands (stdin, one per line):
//!
//! ```text
//! mo <from> <text…>             SMS-DELIVER parts (GSM-7 unless the text needs UCS2, 8-bit
//!                               concat reference), stored + `+CMTI` each, or `+CMT` with
//!                               CNMI mt=2
//! mo16 <from> <text…>           the same with 16-bit concat references
//! mo-partial <from> <k> <text…> only the first k parts ever arrive
//! mo-reversed <from> <text…>    the parts are stored last first
//! report-status <hex>           TP-ST of the status reports of later submits (46 = expired)
//! cms-error <code> <n>          the next n CMGS get `+CMS ERROR: <code>` after the PDU
//! refuse-delete <n>             the next n CMGD get `+CMS ERROR: 320` (a message stays stored)
//! hang <n>                      after n more command lines, answer nothing until reopened
//! hang-esc <n>                  the same, but an ESC byte also ends the hang (unanswered)
//! noise on|off                  `^RSSI`/`+CREG` URCs inside multi-line answers, a `+CMTI`
//!                               (or `^RSSI`) between `AT+CMGS=` and the prompt
//! storage-full                  read messages fill every free slot; later MOs wait in the
//!                               network until `AT+CMGD` frees slots
//! ussd-encoding text|packed|ucs2  USSD answers as text (DCS 15), packed GSM-7 hex (DCS 15,
//!                               Huawei) or UCS2 hex (DCS 72)
//! raw <text>                    <text> on the line as it is (`\r`, `\n` as escapes), even
//!                               while hung (abuse tests)
//! urc-flood <n> <line…>         <n> copies of `\r\n<line>\r\n` at once
//! help | quit
//! ```
//!
//! Events (JSON lines on stdout): `listening`, `opened`, `closed`, `command` (`{"line"}` per
//! AT command line), `sent` (`{"mr","to","text","dcs","srr","concat":{"ref","total","seq"} or
//! null}`), `rejected` (`{"code","reason"}`), `deleted` (`{"index","mem"}`), `delete_refused`
//! (`{"index","mem"}`), `report` (`{"mr","index","mem","status"}`, index and mem null when
//! routed), `mo` (`{"from","parts","indexes","routed"}`), `network_queue`
//! (`{"waiting"[,"stored"]}`), `ussd` (`{"request","m"}`), `pin`, `hung`, `unhung`,
//! `prompt_aborted`, `command_done` (`{"command":<verb>,…}`), `error` (`{"message"}`), `help`.
//!
//! Not handled here: text mode, calls, several ports, `+CMGW`/`+CMSS`, vendor commands
//! (`AT^CURC=0` answers ERROR: not a Huawei).

mod args;
mod at;
mod at_sms;
mod commands;
mod sms;
mod state;
mod storage;
mod ussd;

pub use args::{Args, Memory};

use super::{SimulateError, io};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_serial::{SerialPort, SerialStream};
use tokio_util::sync::CancellationToken;

use self::state::{Modem, Timer};
use super::Output;

/// Pause between reads of the master while no one has the slave open.
const CLOSED_RETRY: Duration = Duration::from_millis(20);
/// How long a write to the line may block before its bytes are dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Removes the `--link` symlink when dropped.
struct Link(Option<PathBuf>);

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What one read of the master found.
enum Read {
    Data(Vec<u8>),
    /// EIO or end of file: no one has the slave open.
    Closed,
    /// Nothing to read, but no EIO either: the slave is open.
    Idle,
}

async fn read(master: &mut SerialStream, open: bool) -> Read {
    let mut buf = vec![0u8; 1024];
    let result = if open {
        master.read(&mut buf).await
    } else {
        match tokio::time::timeout(CLOSED_RETRY, master.read(&mut buf)).await {
            Ok(r) => r,
            Err(_) => return Read::Idle,
        }
    };
    match result {
        Ok(n) if n > 0 => {
            buf.truncate(n);
            Read::Data(buf)
        }
        Ok(_) | Err(_) => {
            tokio::time::sleep(CLOSED_RETRY).await;
            Read::Closed
        }
    }
}

/// The CLI: makes the pty, prints `listening`, reads commands from stdin, runs the modem
/// until `stop` fires or `quit` is read.
///
/// # Errors
/// When the pty or the `--link` symlink cannot be made.
pub async fn run(args: Args, stop: CancellationToken) -> Result<(), SimulateError> {
    let (mut master, slave) = SerialStream::pair().map_err(SimulateError::Pty)?;
    let path = slave.name().ok_or(SimulateError::PtyName)?;
    drop(slave);
    let _link = match &args.link {
        Some(link) => {
            if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
                std::fs::remove_file(link).map_err(io(format!("--link {}", link.display())))?;
            }
            std::os::unix::fs::symlink(&path, link)
                .map_err(io(format!("--link {}", link.display())))?;
            Link(Some(link.clone()))
        }
        None => Link(None),
    };
    let out = Output::default();
    out.emit(&json!({"event": "listening", "address": path}));
    let (cmd_tx, mut commands) = mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if cmd_tx.send(line).await.is_err() {
                return;
            }
        }
    });
    let (timer_tx, mut timers) = mpsc::unbounded_channel::<Timer>();
    let mut modem = Modem::new(args);
    let mut open = false;
    let mut stdin_open = true;
    loop {
        let fx = modem.take_effects();
        for event in &fx.events {
            out.emit(event);
        }
        if open && !fx.bytes.is_empty() {
            let write = async {
                master.write_all(&fx.bytes).await?;
                master.flush().await
            };
            match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.kind() != ErrorKind::WouldBlock => {
                    out.emit(&json!({"event": "write_error", "error": e.to_string()}));
                }
                Ok(Err(_)) | Err(_) => {
                    out.emit(&json!({"event": "write_error", "error": "timed out"}));
                }
            }
        }
        for (delay, timer) in fx.timers {
            let tx = timer_tx.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(delay) => { let _ = tx.send(timer); }
                }
            });
        }
        if fx.quit {
            return Ok(());
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            line = commands.recv(), if stdin_open => match line {
                Some(line) => modem.command(&line),
                None => stdin_open = false,
            },
            Some(timer) = timers.recv() => modem.timer(timer),
            r = read(&mut master, open) => match r {
                Read::Data(bytes) => {
                    if !open {
                        open = true;
                        modem.reopened();
                    }
                    modem.input(&bytes);
                }
                Read::Idle => {
                    open = true;
                    modem.reopened();
                }
                Read::Closed => {
                    if open {
                        open = false;
                        out.emit(&json!({"event": "closed"}));
                    }
                }
            },
        }
    }
}
