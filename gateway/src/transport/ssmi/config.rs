//! Options of an SSMI transport (`[transports.<id>]` with `type = "ssmi"`).
//!
//! Reference: reference/vumi.md §4.6 (link check, reconnect) and §4.7 (Vumi's TruTeq options:
//! `link_check_period` 60 s, `ussd_session_lifetime` 300 s). Names carry their units.

use std::path::{Path, PathBuf};
use std::time::Duration;

use richmond_codecs::ssmi::Charset;
use richmond_drivers::ssmi::{ClientConfig, TaskConfig};
use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::config::secret::{Secret, resolve_secret};

/// How message text is written on the link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CharsetOption {
    /// ISO-8859-1 (Vumi's TruTeq transport); characters it cannot carry are nacked.
    #[default]
    Latin1,
    /// UTF-8 (python-ssmi).
    Utf8,
}

/// `[transports.<id>]` with `type = "ssmi"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SsmiConfig {
    /// TruTeq host name or address.
    pub host: String,
    /// TruTeq port (TruTeq's own default is 50008).
    pub port: u16,
    /// Account name.
    pub username: String,
    /// Password; or `password_file`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password (trailing newline removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Text encoding on the link.
    #[serde(default)]
    pub charset: CharsetOption,
    /// Seconds between link checks (`SSMI,3`).
    #[serde(default = "default_link_check")]
    pub link_check_interval_seconds: u64,
    /// Reconnect after this many unanswered link checks.
    #[serde(default = "default_unanswered")]
    pub max_unanswered_link_checks: u32,
    /// Give up a login that gets no answer after this long.
    #[serde(default = "default_login_timeout")]
    pub login_timeout_seconds: u64,
    /// First reconnect delay (doubles up to the maximum, with jitter).
    #[serde(default = "default_reconnect_initial")]
    pub reconnect_initial_seconds: f64,
    /// Longest reconnect delay.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_seconds: f64,
    /// How long a USSD session's dialled code is remembered (refreshed by every message).
    #[serde(default = "default_session_lifetime")]
    pub ussd_session_lifetime_seconds: u64,
    /// `to_addr` of inbound SMS (103/106), which name no destination: the account's number.
    #[serde(default)]
    pub sms_address: String,
    /// Validity of outbound SMS in minutes (0: TruTeq's default, a week).
    #[serde(default)]
    pub sms_validity_minutes: u32,
    /// How long to wait for the SEQ (100) or NACK (102) answering an outbound SMS.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_seconds: u64,
    /// How long an SMS's TruTeq sequence is kept to match its delivery report (104).
    #[serde(default = "default_dr_ttl")]
    pub delivery_report_ttl_seconds: u64,
    /// Outbound messages handled at once (also the bus prefetch share of this transport).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Longest accepted SSMI line in bytes.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
    /// SSMI over TLS (a TLS port in front of the TruTeq server).
    #[serde(default)]
    pub tls: bool,
    /// The CA certificates (PEM) trusted for the server's certificate: the system bundle by
    /// default, or the server's own CA.
    #[serde(default = "crate::transport::common::system_cas")]
    pub tls_ca_file: PathBuf,
    /// The name checked against the server's certificate (default: `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

fn default_link_check() -> u64 {
    60
}
fn default_unanswered() -> u32 {
    2
}
fn default_login_timeout() -> u64 {
    30
}
fn default_reconnect_initial() -> f64 {
    1.0
}
fn default_reconnect_max() -> f64 {
    60.0
}
fn default_session_lifetime() -> u64 {
    300
}
fn default_response_timeout() -> u64 {
    30
}
fn default_dr_ttl() -> u64 {
    7 * 24 * 3600
}
fn default_in_flight() -> usize {
    64
}
fn default_max_line() -> usize {
    richmond_drivers::ssmi::DEFAULT_MAX_LINE_BYTES
}

impl SsmiConfig {
    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        resolve_secret(
            path,
            &format!("transports.{id}.password"),
            &mut self.password,
            self.password_file.as_deref(),
        )
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.host.is_empty() {
            return Err("host: must not be empty".into());
        }
        if self.port == 0 {
            return Err("port: must not be 0".into());
        }
        if self.username.is_empty() || self.username.contains([',', '\r', '\n']) {
            return Err("username: must be non-empty, without commas or line breaks".into());
        }
        match &self.password {
            None => return Err("password: required (or set password_file)".into()),
            Some(p) if p.expose().contains([',', '\r', '\n']) => {
                return Err("password: SSMI cannot carry commas or line breaks in it".into());
            }
            Some(_) => {}
        }
        let positive = [
            (
                "link_check_interval_seconds",
                self.link_check_interval_seconds,
            ),
            ("login_timeout_seconds", self.login_timeout_seconds),
            (
                "ussd_session_lifetime_seconds",
                self.ussd_session_lifetime_seconds,
            ),
            ("response_timeout_seconds", self.response_timeout_seconds),
            (
                "delivery_report_ttl_seconds",
                self.delivery_report_ttl_seconds,
            ),
        ];
        for (key, value) in positive {
            crate::config::error::check_seconds(key, value)?;
        }
        if self.max_unanswered_link_checks == 0 {
            return Err("max_unanswered_link_checks: must be at least 1".into());
        }
        if !(self.reconnect_initial_seconds > 0.0
            && self.reconnect_max_seconds >= self.reconnect_initial_seconds
            && self.reconnect_max_seconds <= crate::config::error::MAX_BACKOFF_SECONDS)
        {
            return Err(
                "reconnect_initial_seconds must be > 0 and reconnect_max_seconds at least as \
                 large, at most 86400"
                    .into(),
            );
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight: must be at least 1".into());
        }
        if !(64..=1024 * 1024).contains(&self.max_line_bytes) {
            return Err("max_line_bytes: 64 to 1048576".into());
        }
        if self.sms_address.contains([',', '\r', '\n']) {
            return Err("sms_address: no commas or line breaks".into());
        }
        self.tls_settings()?;
        Ok(())
    }

    /// The codec charset.
    pub fn charset(&self) -> Charset {
        match self.charset {
            CharsetOption::Latin1 => Charset::Latin1,
            CharsetOption::Utf8 => Charset::Utf8,
        }
    }

    /// The TLS settings of the link (`None` without `tls = true`), with the CA file read.
    ///
    /// # Errors
    /// The CA file cannot be read or holds no certificate, or the name is not valid.
    pub fn tls_settings(&self) -> Result<Option<richmond_drivers::tls::Tls>, String> {
        crate::transport::common::client_tls(
            self.tls,
            &self.tls_ca_file,
            self.tls_server_name.as_deref(),
            &self.host,
        )
    }

    /// The driver's task settings for transport `id`.
    ///
    /// # Errors
    /// The TLS settings cannot be made (see [`Self::tls_settings`]).
    pub fn task_config(&self, id: &str) -> Result<TaskConfig, String> {
        let password = self
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        let mut session = ClientConfig::new(self.username.clone(), password);
        session.link_check_interval = Duration::from_secs(self.link_check_interval_seconds);
        session.max_unanswered_link_checks = self.max_unanswered_link_checks;
        session.login_timeout = Duration::from_secs(self.login_timeout_seconds);
        session.reconnect_initial = Duration::from_secs_f64(self.reconnect_initial_seconds);
        session.reconnect_max = Duration::from_secs_f64(self.reconnect_max_seconds);
        let mut task = TaskConfig::new(format!("{}:{}", self.host, self.port), id, session);
        task.charset = self.charset();
        task.max_line_bytes = self.max_line_bytes;
        task.tls = self.tls_settings()?;
        Ok(task)
    }
}
