//! Options of an SMPP transport (`[transports.<id>]` with `type = "smpp"`).
//!
//! Reference: reference/vumi.md §3.1 (Vumi's options, whose names are kept where they fit),
//! reference/smpp.md (binds, windows, data_coding, long messages, the 8-octet password).

use std::path::{Path, PathBuf};
use std::time::Duration;

use richmond_codecs::sms::Encoding;
use richmond_drivers::smpp::{BindMode, Config as BindConfig, Tls};
use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::config::secret::{Secret, resolve_secret};

/// How the binds of a transport are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Binds {
    /// `binds` transceiver sessions.
    #[default]
    Transceiver,
    /// `binds` pairs of a transmitter and a receiver.
    TransmitterReceiver,
}

/// USSD over SMPP (reference/vumi.md §3.3 point 6 and §3.6): which convention the SMSC's
/// USSD gateway follows for `ussd_service_op`, `its_session_info` and
/// `user_message_reference`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ussd {
    /// No USSD: every deliver_sm is an SMS.
    #[default]
    None,
    /// Vumi's default processor ("Tata"): ops 01 new, 02/12 continue, else close; the session
    /// in `its_session_info`, its low bit ending it.
    Vumi,
    /// 6D: ops 01 new, 12 continue, 81 close; the session in `its_session_info`.
    Sixdee,
    /// Mica: as 6D, the session in `user_message_reference`.
    Mica,
}

/// Which alphabet outbound text uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coding {
    /// GSM-7 where the text fits, else UCS2.
    #[default]
    Auto,
    Gsm7,
    Latin1,
    Ucs2,
}

/// An alphabet meant by `data_coding` 0 ("SMSC default").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAlphabet {
    #[default]
    Gsm7,
    Latin1,
    Ascii,
}

/// How long messages are split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Multipart {
    /// A concatenation UDH in each part (esm_class 0x40).
    #[default]
    Udh,
    /// SAR TLVs.
    Sar,
    /// The whole text in one `message_payload` TLV.
    MessagePayload,
}

/// `[transports.<id>]` with `type = "smpp"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// SMPP 3.4 allows 8 octets; set this for an SMSC that takes longer passwords.
    #[serde(default)]
    pub allow_long_password: bool,
    #[serde(default)]
    pub system_type: String,
    #[serde(default)]
    pub bind_mode: Binds,
    /// Sessions (or transmitter/receiver pairs) to open.
    #[serde(default = "one")]
    pub binds: usize,
    /// "3.4" or "5.0".
    #[serde(default = "v34")]
    pub interface_version: String,
    /// Outstanding `submit_sm` per bind.
    #[serde(default = "ten")]
    pub window: usize,
    /// Most `deliver_sm` one bind holds unanswered (waiting for the bus); at the cap the bind
    /// stops reading its socket until one is answered, whatever window the SMSC keeps.
    #[serde(default = "default_max_unanswered")]
    pub max_unanswered_delivers: usize,
    #[serde(default = "thirty")]
    pub response_timeout_seconds: u64,
    #[serde(default = "thirty")]
    pub enquire_link_interval_seconds: u64,
    #[serde(default = "ten_u64")]
    pub enquire_link_timeout_seconds: u64,
    #[serde(default = "two")]
    pub reconnect_initial_seconds: f64,
    #[serde(default = "max_backoff")]
    pub reconnect_max_seconds: f64,
    /// Most `submit_sm` per second per bind (0: no limit).
    #[serde(default)]
    pub mt_tps: u32,
    /// Most `submit_sm` (parts, not messages) per second for this transport as a whole: all
    /// its binds, on every instance sharing the Redis store (0: no limit). See
    /// `crate::cluster::rate`.
    #[serde(default)]
    pub shared_mt_tps: u32,
    /// Binds of this transport across every instance sharing the Redis store (0: each
    /// instance opens its own `binds`). With it, `binds` is the most one instance opens.
    /// See `super::shared_binds`.
    #[serde(default)]
    pub shared_binds: u32,
    /// Delay between Richmond and the SMSC's clock that `shared_mt_tps` absorbs: parts go
    /// (1 s + this) / `shared_mt_tps` apart (default 50; up to 1000).
    #[serde(default = "default_guard_ms")]
    pub shared_mt_tps_guard_ms: u64,
    /// First pause after ESME_RTHROTTLED / ESME_RMSGQFUL (doubles while throttled).
    #[serde(default = "throttle")]
    pub throttle_backoff_seconds: f64,
    /// `source_addr` when a message has no `from_addr`.
    #[serde(default)]
    pub default_source_addr: String,
    #[serde(default)]
    pub source_addr_ton: u8,
    #[serde(default)]
    pub source_addr_npi: u8,
    #[serde(default = "one_u8")]
    pub dest_addr_ton: u8,
    #[serde(default = "one_u8")]
    pub dest_addr_npi: u8,
    #[serde(default)]
    pub data_coding: Coding,
    /// What `data_coding` 0 means on this SMSC, both ways.
    #[serde(default)]
    pub default_alphabet: DefaultAlphabet,
    #[serde(default)]
    pub multipart: Multipart,
    /// Ask for delivery receipts (registered_delivery 1).
    #[serde(default = "yes")]
    pub registered_delivery: bool,
    /// Outbound messages handled at once.
    #[serde(default = "in_flight")]
    pub max_in_flight: usize,
    /// How long received parts of a multipart MO wait for the rest.
    #[serde(default = "hour")]
    pub multipart_timeout_seconds: u64,
    /// How long an SMSC message id is kept to match its receipt.
    #[serde(default = "week")]
    pub receipt_ttl_seconds: u64,
    /// How long a mapping stays after its final receipt (delivered or failed), so a
    /// duplicate final receipt is still matched; 0 deletes it at once.
    #[serde(default = "ten_minutes")]
    pub receipt_final_grace_seconds: u64,
    /// USSD over SMPP: `none`, `vumi`, `sixdee` or `mica`.
    #[serde(default)]
    pub ussd: Ussd,
    /// A USSD session with nothing from either side for this long is closed: the application
    /// gets a `close` (as Vumi's `max_session_length`, 180 s).
    #[serde(default = "three_minutes")]
    pub ussd_session_timeout_seconds: u64,
    /// The `ussd_service_op` of a reply that ends the session (sixdee, mica): 0x17 as Vumi
    /// sends it, or 0x11 (SMPP's PSSR response) for a USSD gateway that expects that.
    #[serde(default = "vumi_close_op")]
    pub ussd_close_op: u8,
    /// Longest PDU accepted from the SMSC.
    #[serde(default = "max_pdu")]
    pub max_pdu_bytes: usize,
    /// SMPP over TLS (the SMSC's TLS port).
    #[serde(default)]
    pub tls: bool,
    /// The CA certificates (PEM) trusted for the SMSC's certificate: the system bundle by
    /// default, or the SMSC's own CA.
    #[serde(default = "crate::transport::common::system_cas")]
    pub tls_ca_file: PathBuf,
    /// The name checked against the SMSC's certificate (default: `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

const fn one() -> usize {
    1
}
const fn one_u8() -> u8 {
    1
}
fn v34() -> String {
    "3.4".into()
}
const fn ten() -> usize {
    10
}
const fn ten_u64() -> u64 {
    10
}
const fn thirty() -> u64 {
    30
}
const fn two() -> f64 {
    2.0
}
const fn max_backoff() -> f64 {
    120.0
}
const fn throttle() -> f64 {
    0.1
}
const fn yes() -> bool {
    true
}
const fn in_flight() -> usize {
    100
}
const fn hour() -> u64 {
    3600
}
const fn three_minutes() -> u64 {
    180
}
const fn vumi_close_op() -> u8 {
    0x17
}
const fn ten_minutes() -> u64 {
    600
}
const fn week() -> u64 {
    7 * 24 * 3600
}
const fn max_pdu() -> usize {
    65_536
}

impl SmppConfig {
    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        resolve_secret(
            path,
            &format!("transports.{id}.password"),
            &mut self.password,
            self.password_file.as_deref(),
        )
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.shared_binds > 1000 {
            return Err("shared_binds: 0 to 1000".into());
        }
        if self.shared_mt_tps_guard_ms > 1000 {
            return Err("shared_mt_tps_guard_ms: 0 to 1000".into());
        }
        if !(1..=100_000).contains(&self.max_unanswered_delivers) {
            return Err("max_unanswered_delivers: 1 to 100000".into());
        }
        if self.host.is_empty() || self.port == 0 {
            return Err("host and port: required".into());
        }
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            return Err("system_id: 1 to 15 characters".into());
        }
        match &self.password {
            None => return Err("password: required (or set password_file)".into()),
            Some(p) if p.expose().len() > 8 && !self.allow_long_password => {
                return Err(
                    "password: longer than the 8 octets of SMPP 3.4 (Vumi truncated it \
                     silently); shorten it, or set allow_long_password = true for an SMSC that \
                     accepts it"
                        .into(),
                );
            }
            Some(_) => {}
        }
        if !matches!(self.interface_version.as_str(), "3.4" | "5.0") {
            return Err("interface_version: \"3.4\" or \"5.0\"".into());
        }
        if self.binds == 0 || self.binds > 256 {
            return Err("binds: 1 to 256".into());
        }
        if self.window == 0 || self.max_in_flight == 0 {
            return Err("window and max_in_flight: at least 1".into());
        }
        for (key, v) in [
            ("response_timeout_seconds", self.response_timeout_seconds),
            (
                "enquire_link_interval_seconds",
                self.enquire_link_interval_seconds,
            ),
            (
                "enquire_link_timeout_seconds",
                self.enquire_link_timeout_seconds,
            ),
            ("multipart_timeout_seconds", self.multipart_timeout_seconds),
            ("receipt_ttl_seconds", self.receipt_ttl_seconds),
            (
                "ussd_session_timeout_seconds",
                self.ussd_session_timeout_seconds,
            ),
        ] {
            crate::config::error::check_seconds(key, v)?;
        }
        if !(self.reconnect_initial_seconds > 0.0
            && self.reconnect_max_seconds >= self.reconnect_initial_seconds
            && self.reconnect_max_seconds <= crate::config::error::MAX_BACKOFF_SECONDS
            && self.throttle_backoff_seconds > 0.0
            && self.throttle_backoff_seconds <= crate::config::error::MAX_BACKOFF_SECONDS)
        {
            return Err("reconnect_initial_seconds, throttle_backoff_seconds: > 0; \
                        reconnect_max_seconds at least reconnect_initial_seconds; all at \
                        most 86400"
                .into());
        }
        if self.receipt_final_grace_seconds > self.receipt_ttl_seconds {
            return Err("receipt_final_grace_seconds: at most receipt_ttl_seconds".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_pdu_bytes) {
            return Err("max_pdu_bytes: 1024 to 16777216".into());
        }
        self.tls_settings()?;
        Ok(())
    }

    /// The TLS settings of the binds (`None` without `tls = true`), with the CA file read.
    ///
    /// # Errors
    /// The CA file cannot be read or holds no certificate, or the name is not valid.
    pub fn tls_settings(&self) -> Result<Option<Tls>, String> {
        crate::transport::common::client_tls(
            self.tls,
            &self.tls_ca_file,
            self.tls_server_name.as_deref(),
            &self.host,
        )
    }

    /// The alphabet `data_coding` 0 stands for.
    pub const fn default_encoding(&self) -> Encoding {
        match self.default_alphabet {
            DefaultAlphabet::Gsm7 => Encoding::Gsm7,
            DefaultAlphabet::Latin1 => Encoding::Latin1,
            DefaultAlphabet::Ascii => Encoding::Ascii,
        }
    }

    /// The driver settings of each session to open for transport `id`.
    ///
    /// # Errors
    /// The TLS settings cannot be made (see [`Self::tls_settings`]).
    pub fn bind_configs(&self, id: &str) -> Result<Vec<BindConfig>, String> {
        let tls = self.tls_settings()?;
        let modes: &[BindMode] = match self.bind_mode {
            Binds::Transceiver => &[BindMode::Transceiver],
            Binds::TransmitterReceiver => &[BindMode::Transmitter, BindMode::Receiver],
        };
        let password = self
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        let mut out = Vec::new();
        for _ in 0..self.binds {
            for &mode in modes {
                let mut c = BindConfig::new(
                    self.host.clone(),
                    self.port,
                    id,
                    self.system_id.clone(),
                    password.clone(),
                );
                c.system_type = self.system_type.clone();
                c.bind_mode = mode;
                c.interface_version = if self.interface_version == "5.0" {
                    0x50
                } else {
                    0x34
                };
                c.window = self.window;
                c.response_timeout = Duration::from_secs(self.response_timeout_seconds);
                c.enquire_link_interval = Duration::from_secs(self.enquire_link_interval_seconds);
                c.enquire_link_timeout = Duration::from_secs(self.enquire_link_timeout_seconds);
                c.reconnect_backoff_min = Duration::from_secs_f64(self.reconnect_initial_seconds);
                c.reconnect_backoff_max = Duration::from_secs_f64(self.reconnect_max_seconds);
                c.mt_tps = self.mt_tps;
                c.throttle_backoff = Duration::from_secs_f64(self.throttle_backoff_seconds);
                c.max_pdu_bytes = self.max_pdu_bytes;
                c.tls = tls.clone();
                out.push(c);
            }
        }
        Ok(out)
    }
}

fn default_guard_ms() -> u64 {
    50
}

fn default_max_unanswered() -> usize {
    256
}
