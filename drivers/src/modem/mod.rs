//! GSM modems over serial ports: SMS and USSD through AT commands (TS 27.005, TS 27.007).
//!
//! One tokio task per modem ([`spawn`]) owns the serial port (tokio-serial: device path, baud,
//! flow control) and pumps bytes and time into the sans-IO [`session`] (init, PIN, sweep,
//! keepalive, requests, the recovery ladder), which runs one command at a time through the
//! sans-IO [`engine`]. The task talks to the transport through a [`Handle`] (send an SMS,
//! delete a stored one, USSD) and a channel of [`Event`]s (ready/down, received PDUs, USSD
//! answers, signal, registration, storage use).
//! It knows nothing about PDUs: the transport encodes and decodes them
//! (`richmond_codecs::sms::pdu`), so this driver only moves hex.
//!
//! Reference: reference/modem.md §0 (takeaways), §2.1–§2.5 (AT protocol, commands, errors,
//! init, USSD), §2.9 (timeouts and the recovery ladder), §2.10 (ports, flow control).
//!
//! * Init ([`session`]): ESC to leave a stuck prompt, `AT` until OK, `ATE0`, `AT+CMEE=1`, IMEI,
//!   PIN (entered once; a rejected PIN is never retried: the modem stops and says so), IMSI,
//!   PDU mode, `AT+CSMS=0` (no +CNMA needed), storage (`AT+CPMS`), store-and-notify
//!   `AT+CNMI` with fallbacks, the operator's extra commands, then a storage sweep
//!   (`AT+CMGL=4`): messages that arrived while we were away are read first.
//! * Inbound: `+CMTI`/`+CDSI` → `AT+CMGR` (in the memory the URC names) → [`Event::Message`]
//!   with its storage slot; the transport deletes the slot ([`Handle::delete`], only if it
//!   still holds that PDU) after the bus owns the message. Routed `+CMT`/`+CDS` arrive with no
//!   slot. The sweep lists the main memory and "SR" (status reports) when the modem has it.
//! * Outbound: [`Handle::send`] → `AT+CMGS=<n>`, the prompt, hex + Ctrl-Z (ESC when the prompt
//!   never came) → the message reference from `+CMGS: <mr>`, or the `+CMS ERROR` cause.
//! * Keepalive every `keepalive` (`AT+CSQ`, `AT+CREG?`, `AT+CPMS?`); a command that times out
//!   starts the recovery ladder: ESC + CR, `AT` until OK, re-init; when that fails the port is
//!   closed and the device path reopened with backoff (a reset modem re-enumerates; the old fd
//!   is dead).
//!
//! Not handled: text mode, `+CSMS=1` with `+CNMA`, voice calls (RING is ignored), and vendor-specific port
//! selection (`AT^PORTSEL`, `AT+QURCCFG`): give the AT port that carries URCs.

pub mod codec;
pub mod engine;
pub mod session;
mod task;
pub mod telemetry;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use richmond_codecs::at::response::{Final, Registration};

/// Serial flow control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowControl {
    /// None (USB modems ignore it).
    #[default]
    None,
    /// RTS/CTS (UART modules; set the modem side with the init commands, e.g. `AT+IFC=2,2`).
    Hardware,
    /// XON/XOFF.
    Software,
}

/// How one modem is driven.
#[derive(Clone, Debug)]
pub struct Config {
    /// The transport id, for metric labels and logs.
    pub name: String,
    /// The device path (prefer `/dev/serial/by-id/…`: `ttyUSBn` numbers change).
    pub device: PathBuf,
    /// Baud rate (ignored by USB modems and ptys).
    pub baud: u32,
    /// Flow control.
    pub flow_control: FlowControl,
    /// SIM PIN, entered once when the SIM asks for it.
    pub pin: Option<String>,
    /// Message storage for `AT+CPMS` (`SM`, `ME`, `MT`); None keeps the modem's default.
    pub storage: Option<String>,
    /// `AT+CNMI` parameter sets to try in order.
    pub cnmi: Vec<String>,
    /// Extra commands after the standard init (each must answer OK).
    pub init_commands: Vec<String>,
    /// Time for a local command.
    pub command_timeout: Duration,
    /// Time from the PDU to `+CMGS` (the network is in the loop).
    pub send_timeout: Duration,
    /// Time from `AT+CMGS` to the prompt.
    pub prompt_timeout: Duration,
    /// Keepalive period.
    pub keepalive: Duration,
    /// First wait before reopening the device; doubles up to `reopen_backoff_max`.
    pub reopen_backoff: Duration,
    /// Longest wait between reopen attempts.
    pub reopen_backoff_max: Duration,
}

impl Config {
    /// Defaults for `device` (modem.md §2.9: 5 s local, 60 s network, keepalive 30 s).
    pub fn new(name: impl Into<String>, device: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            device: device.into(),
            baud: 115_200,
            flow_control: FlowControl::None,
            pin: None,
            storage: None,
            cnmi: default_cnmi(),
            init_commands: Vec::new(),
            command_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(60),
            prompt_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            reopen_backoff: Duration::from_secs(1),
            reopen_backoff_max: Duration::from_secs(60),
        }
    }
}

/// Store-and-notify for SMS and status reports, then reports routed, then no reports
/// (modem.md §2.2: Qualcomm devices refuse `<ds>` 2).
pub fn default_cnmi() -> Vec<String> {
    ["2,1,0,2,0", "2,1,0,1,0", "2,1,0,0,0"]
        .map(String::from)
        .to_vec()
}

/// Where a received message sits in the modem's storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The memory (`SM`, `ME`, `SR`…).
    pub mem: String,
    /// The index in it.
    pub index: u32,
}

/// What the modem task reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Init finished; the identity read from the modem (None where it refused).
    Ready {
        imei: Option<String>,
        imsi: Option<String>,
    },
    /// The modem is unusable; `fatal` when the task will not try again (a rejected PIN).
    Down { reason: String, fatal: bool },
    /// A received PDU (SMS-DELIVER or SMS-STATUS-REPORT with its SMSC field), as hex; `slot`
    /// is where it is stored (None: routed, nothing to delete).
    Message { slot: Option<Slot>, hex: Bytes },
    /// A USSD result line `+CUSD: <m>[,<str>[,<dcs>]]`.
    Ussd(Bytes),
    /// `+CSQ` rssi (0–31, 99 unknown).
    Signal { rssi: u8 },
    /// Registration state (27.007 `<stat>`).
    Registration { kind: Registration, stat: u8 },
    /// Storage use of the first memory.
    Storage { used: u32, total: u32 },
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `+CMS ERROR: <n>` (None: text form or unreadable).
    #[error("+CMS ERROR: {}", .0.map_or_else(|| "?".to_owned(), |c| c.to_string()))]
    Cms(Option<u16>),
    /// Another final result (ERROR, +CME ERROR, vendor).
    #[error("modem answered {0:?}")]
    Rejected(Final),
    /// No answer in time (the recovery ladder runs).
    #[error("modem did not answer in time")]
    Timeout,
    /// The modem is not usable now (being reopened or stopped).
    #[error("modem is down")]
    Down,
    /// The request itself is unusable (a USSD string with a quote).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

impl Error {
    /// A stable snake_case code for metric labels.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Cms(_) => "cms_error",
            Self::Rejected(_) => "rejected",
            Self::Timeout => "timeout",
            Self::Down => "down",
            Self::Invalid(_) => "invalid",
        }
    }

    /// Whether trying again later can succeed (modem.md §2.3: 41, 42, 47, 0xC0, 314, 331,
    /// 332 are transient; a time-out or a down modem too). Everything else is final for this
    /// message.
    pub const fn is_transient(&self) -> bool {
        match self {
            Self::Cms(Some(code)) => matches!(code, 41 | 42 | 47 | 0xC0 | 314 | 331 | 332),
            Self::Cms(None) | Self::Rejected(_) | Self::Invalid(_) => false,
            Self::Timeout | Self::Down => true,
        }
    }
}

#[derive(Debug)]
enum Request {
    Send {
        hex: String,
        tpdu_len: usize,
        reply: oneshot::Sender<Result<u8, Error>>,
    },
    Delete {
        slot: Slot,
        expect: Option<Bytes>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Ussd {
        argument: Option<String>,
        dcs: u8,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    UssdCancel {
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// The transport's side of a modem task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Request>,
}

impl Handle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Request,
    ) -> Result<T, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| Error::Down)?;
        rx.await.map_err(|_| Error::Down)?
    }

    /// Sends one SMS: `hex` is the SMSC field + SMS-SUBMIT, `tpdu_len` the TPDU's octets.
    /// Returns the message reference (TP-MR) the modem gave it.
    ///
    /// # Errors
    /// The `+CMS ERROR` cause, a time-out, or the modem being down.
    pub async fn send(&self, hex: String, tpdu_len: usize) -> Result<u8, Error> {
        self.ask(|reply| Request::Send {
            hex,
            tpdu_len,
            reply,
        })
        .await
    }

    /// Deletes a stored message (`AT+CMGD`) if the slot still holds `expect` (the PDU hex the
    /// transport handled; the slot is read again first): a modem reuses a freed index at once,
    /// so a late delete must not remove a newer message. Without `expect` the slot is deleted
    /// whatever it holds. Ok also when there was nothing of ours to delete.
    ///
    /// # Errors
    /// When the modem refuses or is down (the message is read again by the next sweep).
    pub async fn delete(&self, slot: Slot, expect: Option<Bytes>) -> Result<(), Error> {
        self.ask(|reply| Request::Delete {
            slot,
            expect,
            reply,
        })
        .await
    }

    /// `AT+CUSD=1[,"<argument>",<dcs>]`: starts or continues a USSD session. The network's
    /// answer arrives later as [`Event::Ussd`].
    ///
    /// # Errors
    /// When the modem refuses, the argument holds a quote, or the modem is down.
    pub async fn ussd(&self, argument: Option<String>, dcs: u8) -> Result<(), Error> {
        self.ask(|reply| Request::Ussd {
            argument,
            dcs,
            reply,
        })
        .await
    }

    /// `AT+CUSD=2`: ends the USSD session.
    ///
    /// # Errors
    /// When the modem refuses or is down.
    pub async fn ussd_cancel(&self) -> Result<(), Error> {
        self.ask(|reply| Request::UssdCancel { reply }).await
    }
}

/// Starts the task of one modem. It runs until `cancel`. Events go to `events`: a stored
/// message is offered without waiting (when the channel is full it stays in storage and the
/// next sweep offers it again); every other event is awaited, so a transport that stops
/// reading events also stops the modem task (serial reads and requests wait).
pub fn spawn(
    config: Config,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> (Handle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let join = tokio::spawn(task::run(config, events, rx, cancel));
    (Handle { tx }, join)
}

/// Hex of `bytes` for logs of unexpected lines (bounded).
fn preview(line: &Bytes) -> String {
    let shown = &line[..line.len().min(80)];
    String::from_utf8_lossy(shown).into_owned()
}
