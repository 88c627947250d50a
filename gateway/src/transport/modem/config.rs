//! Options of a GSM modem transport (`[transports.<id>]` with `type = "modem"`).
//!
//! Reference: reference/modem.md §2.2 (CNMI, CPMS), §2.6 (validity period), §2.9 (timeouts:
//! 5 s local, ≥ 60 s for +CMGS and +CUSD, keepalive 30–60 s; Gammu's MultipartTimeout 600 s
//! and DeliveryReportDelay), §2.10 (device paths, flow control). Names carry their units.

use std::path::{Path, PathBuf};
use std::time::Duration;

use richmond_codecs::sms::{Encoding, Method};
use richmond_drivers::modem::{self, FlowControl};
use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::config::secret::{Secret, resolve_secret};

/// Serial flow control, as written in the config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControlOption {
    /// USB modems (they ignore it).
    #[default]
    None,
    /// RTS/CTS, for UART modules.
    Hardware,
    /// XON/XOFF.
    Software,
}

/// The alphabet tried first for outgoing SMS (UCS2 is used when the text needs it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlphabetOption {
    #[default]
    Gsm7,
    Ucs2,
}

/// The concatenation header of long outgoing SMS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcatOption {
    /// 8-bit reference (6-octet UDH, 153 GSM-7 characters per part).
    #[default]
    Udh8,
    /// 16-bit reference (7-octet UDH, 152 per part).
    Udh16,
}

/// How a USSD string is written in `AT+CUSD=1,"…",<dcs>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UssdEncodingOption {
    /// As text in the modem's `+CSCS` character set (27.007).
    #[default]
    Text,
    /// Hex of packed GSM-7 (Huawei sticks; Gammu's `F_ENCODED_USSD`).
    PackedHex,
}

/// One modem.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModemConfig {
    /// Device path; prefer `/dev/serial/by-id/…`.
    pub device: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default)]
    pub flow_control: FlowControlOption,
    /// SIM PIN (or `pin_file`); entered once when asked, never retried after a rejection.
    #[serde(default)]
    pub pin: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// `AT+CPMS` storage (`SM`, `ME`, `MT`); unset keeps the modem's.
    #[serde(default)]
    pub storage: Option<String>,
    /// `AT+CNMI` parameter sets, tried in order.
    #[serde(default = "modem::default_cnmi")]
    pub cnmi: Vec<String>,
    /// Extra init commands (each must answer OK), e.g. `["AT+IFC=2,2"]`.
    #[serde(default)]
    pub init_commands: Vec<String>,
    /// The IMEI this transport must find on the device; another modem there is refused.
    #[serde(default)]
    pub imei: Option<String>,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_seconds: u64,
    #[serde(default = "default_send_timeout")]
    pub send_timeout_seconds: u64,
    #[serde(default = "default_prompt_timeout")]
    pub prompt_timeout_seconds: u64,
    #[serde(default = "default_keepalive")]
    pub keepalive_seconds: u64,
    #[serde(default = "default_reopen_initial")]
    pub reopen_initial_seconds: u64,
    #[serde(default = "default_reopen_max")]
    pub reopen_max_seconds: u64,
    #[serde(default)]
    pub alphabet: AlphabetOption,
    #[serde(default)]
    pub concat: ConcatOption,
    /// Ask for status reports (TP-SRR) and turn them into `delivery_report` events.
    #[serde(default = "default_true")]
    pub delivery_reports: bool,
    /// Relative validity period (TP-VP) in minutes; 0 sends none. Rounded to what TP-VP holds.
    #[serde(default = "default_validity")]
    pub validity_minutes: u32,
    /// Tries per SMS part on transient errors (+CMS 41/42/47/0xC0/314/331/332, time-outs).
    #[serde(default = "default_send_attempts")]
    pub send_attempts: u32,
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff_seconds: f64,
    /// How long the parts of a multipart MO wait for each other; then what came is delivered,
    /// flagged `modem_multipart_incomplete` in `transport_metadata`.
    #[serde(default = "default_multipart_timeout")]
    pub multipart_timeout_seconds: u64,
    /// How long a sent message's reference is kept to match its status report.
    #[serde(default = "default_report_window")]
    pub delivery_report_window_seconds: u64,
    /// How long a received PDU is remembered to drop its duplicate (a crash between publish
    /// and delete).
    #[serde(default = "default_dedup")]
    pub dedup_ttl_seconds: u64,
    #[serde(default)]
    pub ussd_encoding: UssdEncodingOption,
    /// The cell broadcast DCS sent with USSD strings.
    #[serde(default = "default_ussd_dcs")]
    pub ussd_dcs: u8,
    /// The number of this SIM, used as `to_addr` of inbound messages.
    #[serde(default)]
    pub msisdn: String,
}

fn default_baud() -> u32 {
    115_200
}
fn default_command_timeout() -> u64 {
    5
}
fn default_send_timeout() -> u64 {
    60
}
fn default_prompt_timeout() -> u64 {
    10
}
fn default_keepalive() -> u64 {
    30
}
fn default_reopen_initial() -> u64 {
    1
}
fn default_reopen_max() -> u64 {
    60
}
fn default_true() -> bool {
    true
}
fn default_validity() -> u32 {
    24 * 60
}
fn default_send_attempts() -> u32 {
    3
}
fn default_retry_backoff() -> f64 {
    5.0
}
fn default_multipart_timeout() -> u64 {
    600
}
fn default_report_window() -> u64 {
    2 * 24 * 3600
}
fn default_dedup() -> u64 {
    7 * 24 * 3600
}
fn default_ussd_dcs() -> u8 {
    15
}

impl ModemConfig {
    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        if self.pin.is_none() && self.pin_file.is_none() {
            return Ok(());
        }
        resolve_secret(
            path,
            &format!("transports.{id}.pin"),
            &mut self.pin,
            self.pin_file.as_deref(),
        )
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.device.as_os_str().is_empty() {
            return Err("device: must not be empty".into());
        }
        if self.baud == 0 {
            return Err("baud: must not be 0".into());
        }
        if let Some(pin) = &self.pin {
            let p = pin.expose();
            if !(4..=8).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err("pin: must be 4 to 8 digits".into());
            }
        }
        if self.cnmi.is_empty() || self.cnmi.iter().any(|c| c.contains(['\r', '\n', '"'])) {
            return Err("cnmi: one or more parameter sets like \"2,1,0,2,0\"".into());
        }
        if self
            .init_commands
            .iter()
            .any(|c| !c.to_ascii_uppercase().starts_with("AT") || c.contains(['\r', '\n']))
        {
            return Err("init_commands: every command starts with AT, on one line".into());
        }
        let positive = [
            ("command_timeout_seconds", self.command_timeout_seconds),
            ("send_timeout_seconds", self.send_timeout_seconds),
            ("prompt_timeout_seconds", self.prompt_timeout_seconds),
            ("keepalive_seconds", self.keepalive_seconds),
            ("reopen_initial_seconds", self.reopen_initial_seconds),
            ("multipart_timeout_seconds", self.multipart_timeout_seconds),
            (
                "delivery_report_window_seconds",
                self.delivery_report_window_seconds,
            ),
            ("dedup_ttl_seconds", self.dedup_ttl_seconds),
        ];
        for (key, value) in positive {
            crate::config::error::check_seconds(key, value)?;
        }
        crate::config::error::check_seconds("reopen_max_seconds", self.reopen_max_seconds)?;
        if self.reopen_max_seconds < self.reopen_initial_seconds {
            return Err("reopen_max_seconds: must be at least reopen_initial_seconds".into());
        }
        if self.send_attempts == 0 {
            return Err("send_attempts: must be at least 1".into());
        }
        if !(self.retry_backoff_seconds > 0.0
            && self.retry_backoff_seconds <= crate::config::error::MAX_BACKOFF_SECONDS)
        {
            return Err("retry_backoff_seconds: must be > 0 and at most 86400".into());
        }
        Ok(())
    }

    /// The driver's configuration.
    pub(crate) fn driver_config(&self, id: &str) -> modem::Config {
        let mut c = modem::Config::new(id, self.device.clone());
        c.baud = self.baud;
        c.flow_control = match self.flow_control {
            FlowControlOption::None => FlowControl::None,
            FlowControlOption::Hardware => FlowControl::Hardware,
            FlowControlOption::Software => FlowControl::Software,
        };
        c.pin = self.pin.as_ref().map(|p| p.expose().to_owned());
        c.storage.clone_from(&self.storage);
        c.cnmi.clone_from(&self.cnmi);
        c.init_commands.clone_from(&self.init_commands);
        c.command_timeout = Duration::from_secs(self.command_timeout_seconds);
        c.send_timeout = Duration::from_secs(self.send_timeout_seconds);
        c.prompt_timeout = Duration::from_secs(self.prompt_timeout_seconds);
        c.keepalive = Duration::from_secs(self.keepalive_seconds);
        c.reopen_backoff = Duration::from_secs(self.reopen_initial_seconds);
        c.reopen_backoff_max = Duration::from_secs(self.reopen_max_seconds);
        c
    }

    pub(crate) const fn preferred(&self) -> Encoding {
        match self.alphabet {
            AlphabetOption::Gsm7 => Encoding::Gsm7,
            AlphabetOption::Ucs2 => Encoding::Ucs2,
        }
    }

    pub(crate) const fn method(&self) -> Method {
        match self.concat {
            ConcatOption::Udh8 => Method::Udh8,
            ConcatOption::Udh16 => Method::Udh16,
        }
    }

    /// TP-VP relative (23.040 §9.2.3.12.1) for `validity_minutes`, rounded up to the next
    /// value the octet holds; None for 0.
    pub(crate) fn validity_octet(&self) -> Option<u8> {
        let m = self.validity_minutes;
        let v = match m {
            0 => return None,
            1..=720 => m.div_ceil(5) - 1,
            721..=1440 => 143 + (m - 720).div_ceil(30),
            1441..=43_200 => 166 + m.div_ceil(1440),
            _ => (192 + m.div_ceil(10_080)).min(255),
        };
        u8::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(minutes: u32) -> ModemConfig {
        let mut c: ModemConfig = toml::from_str("device = \"/dev/ttyUSB2\"").unwrap();
        c.validity_minutes = minutes;
        c
    }

    #[test]
    fn defaults_and_validity_octets() {
        let c = config(24 * 60);
        assert!(c.validate().is_ok());
        assert_eq!(c.cnmi[0], "2,1,0,2,0");
        // modem.md §2.6: 167 = 24 h, 169 = 3 days, 173 = 7 days, 0 = 5 min, 11 = 1 h.
        assert_eq!(c.validity_octet(), Some(167));
        assert_eq!(config(3 * 1440).validity_octet(), Some(169));
        assert_eq!(config(7 * 1440).validity_octet(), Some(173));
        assert_eq!(config(5).validity_octet(), Some(0));
        assert_eq!(config(60).validity_octet(), Some(11));
        assert_eq!(config(0).validity_octet(), None);
        assert_eq!(config(u32::MAX).validity_octet(), Some(255));
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = config(60);
        c.send_attempts = 0;
        assert!(c.validate().unwrap_err().contains("send_attempts"));
        let mut c = config(60);
        c.init_commands = vec!["ATZ".into(), "reboot".into()];
        assert!(c.validate().unwrap_err().contains("init_commands"));
        assert!(toml::from_str::<ModemConfig>("device = \"/x\"\nspeed = 9600").is_err());
    }
}
