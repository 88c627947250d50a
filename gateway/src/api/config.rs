//! The `[api]` section: where the HTTP API listens, which transports it serves as their Vumi
//! application, its accounts (argon2 PHC password hashes, never plain text), the per-account
//! rate limit, input limits, message retention and callback retries.
//!
//! Validation here runs from [`Config::load`](crate::config::Config::load); each message names
//! the key at fault and the loader adds the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::error::{ConfigError, valid_transport_id};
use crate::config::secret::{Secret, resolve_secret};

/// The HTTP API (`[api]`); absent means no API listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address; loopback by default (put a TLS proxy in front to expose it).
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// Transport ids the API serves: it publishes to `<id>.outbound` and consumes
    /// `<id>.event` and `<id>.inbound`. The transport may run in another Richmond instance on
    /// the same RabbitMQ.
    #[serde(default)]
    pub transports: Vec<String>,
    /// Who may use the API.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// Requests one account may make per window (default 60, as in the original Richmond).
    #[serde(default = "default_rate_requests")]
    pub rate_limit_requests: u32,
    #[serde(default = "default_rate_window")]
    pub rate_limit_window_seconds: u64,
    /// Most `to_msisdn` values in one send.
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Most characters (Unicode scalar values) in one message.
    #[serde(default = "default_max_message_chars")]
    pub max_message_chars: usize,
    /// How long message records (and so status queries) are kept.
    #[serde(default = "default_message_ttl")]
    pub message_ttl_seconds: u64,
    /// How long a send waits for room on the bus; a message not taken by then is not sent
    /// (503 when none was, 207 `partly_sent` when some were). A taken message is never
    /// cancelled.
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout_seconds: u64,
    /// POST attempts per callback before it is given up (logged and counted).
    #[serde(default = "default_callback_attempts")]
    pub callback_max_attempts: u32,
    /// Delay before the second attempt; it doubles per attempt up to the maximum.
    #[serde(default = "default_backoff_initial")]
    pub callback_backoff_initial_seconds: f64,
    #[serde(default = "default_backoff_max")]
    pub callback_backoff_max_seconds: f64,
    /// How long one callback POST may take.
    #[serde(default = "default_callback_timeout")]
    pub callback_timeout_seconds: f64,
    /// A request's header must arrive within this time, and a kept-alive connection idle
    /// this long is closed.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// Reading a request's body (after authentication), and waiting for a place among the
    /// concurrent requests, may take this long; then 408.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Most open connections; more wait in the kernel's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most requests handled at once; more wait (within the request timeout).
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_requests: usize,
    /// Largest request body; default sized to `max_recipients` and `max_message_chars`.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// Wrong passwords one source address may send within `failed_login_window_seconds`;
    /// then its uncached Basic logins get 429 until the window ends.
    #[serde(default = "default_failed_login_limit")]
    pub failed_login_limit: u32,
    #[serde(default = "default_failed_login_window")]
    pub failed_login_window_seconds: u64,
    /// The account that gets inbound messages no account owns (no reply, number, keyword or
    /// recent conversation matches); absent: such messages are dropped and counted.
    #[serde(default)]
    pub default_inbound_account: Option<String>,
    /// How long a send makes its account the owner of the conversation with each recipient
    /// (their answers go to that account), in seconds.
    #[serde(default = "default_conversation_ttl")]
    pub conversation_ttl_seconds: u64,
    /// Networks (CIDR) callbacks may reach besides public addresses: loopback, private,
    /// link-local and other internal addresses are refused unless listed here.
    #[serde(default)]
    pub callback_allowed_networks: Vec<String>,
    /// Callbacks waiting per account at most; beyond it new ones wait for room while the
    /// receiver is alive (took one in the last 30 s), else they are dropped (counted as
    /// `richmond_api_callbacks_total{outcome="dropped"}` and logged).
    #[serde(default = "default_callback_queue_max")]
    pub callback_queue_max: usize,
    /// PEM bundle of the CAs trusted for `https://` callbacks instead of the system's roots.
    #[serde(default)]
    pub callback_tls_ca_file: Option<PathBuf>,
    /// Serve HTTPS: the certificate chain (PEM; re-read on SIGHUP) ...
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// ... and its private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

/// One `[[api.accounts]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub username: String,
    /// An argon2 PHC string, as printed by `richmond hash-password`.
    #[serde(default)]
    pub password_hash: Option<Secret>,
    /// File holding the PHC string; exclusive with `password_hash`.
    #[serde(default, skip_serializing)]
    pub password_hash_file: Option<PathBuf>,
    /// API tokens (`Authorization: Bearer <token>`) of this account, as SHA-256 digests
    /// (`sha256:<hex>`, printed by `richmond create-token`); several, so they can be rotated.
    #[serde(default)]
    pub token_digests: Vec<Secret>,
    /// A file of more token digests, one per line (`#` comments and blank lines ignored).
    #[serde(default, skip_serializing)]
    pub tokens_file: Option<PathBuf>,
    /// Transports this account may use and receive messages from; default: all of
    /// `api.transports`.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
    /// Overrides `api.rate_limit_requests` for this account.
    #[serde(default)]
    pub rate_limit_requests: Option<u32>,
    /// Overrides `api.rate_limit_window_seconds` for this account.
    #[serde(default)]
    pub rate_limit_window_seconds: Option<u64>,
    /// Numbers and short codes this account owns: inbound messages sent to them are its own
    /// (`+` ignored).
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Keywords this account owns: an inbound message whose first word is one of them
    /// (case-insensitive, whole word) is its own.
    #[serde(default)]
    pub keywords: Vec<String>,
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_rate_requests() -> u32 {
    60
}
fn default_rate_window() -> u64 {
    60
}
fn default_max_recipients() -> usize {
    100
}
fn default_max_message_chars() -> usize {
    1600
}
fn default_message_ttl() -> u64 {
    30 * 86_400
}
fn default_publish_timeout() -> u64 {
    10
}
fn default_callback_attempts() -> u32 {
    10
}
fn default_backoff_initial() -> f64 {
    1.0
}
fn default_backoff_max() -> f64 {
    300.0
}
fn default_callback_timeout() -> f64 {
    10.0
}
fn default_callback_queue_max() -> usize {
    10_000
}
fn default_failed_login_limit() -> u32 {
    10
}
fn default_failed_login_window() -> u64 {
    300
}
fn default_conversation_ttl() -> u64 {
    7 * 86_400
}
fn default_header_timeout() -> u64 {
    10
}
fn default_request_timeout() -> u64 {
    30
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_concurrent() -> usize {
    256
}

impl AccountConfig {
    /// The transports this account may use.
    pub fn allowed<'a>(&'a self, api: &'a ApiConfig) -> &'a [String] {
        self.transports.as_deref().unwrap_or(&api.transports)
    }
}

impl ApiConfig {
    /// The callback address policy (the networks were checked at load).
    pub(crate) fn callback_policy(&self) -> super::callback_policy::Policy {
        super::callback_policy::Policy::new(&self.callback_allowed_networks).unwrap_or_default()
    }

    /// The body limit: `max_body_bytes`, or room for `max_recipients` recipients each with a
    /// full message (4 bytes a character, URL-encoded overhead included) and 16 KiB more.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or_else(|| {
            16 * 1024
                + self
                    .max_recipients
                    .saturating_mul(64 + self.max_message_chars.saturating_mul(4))
        })
    }

    pub(crate) fn resolve_secrets(&mut self, path: &Path) -> Result<(), ConfigError> {
        for (i, a) in self.accounts.iter_mut().enumerate() {
            if let Some(file) = &a.tokens_file {
                let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!(
                        "api.accounts[{i}].tokens_file: cannot read {}: {e}",
                        file.display()
                    ),
                })?;
                a.token_digests.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(Secret::new),
                );
            }
            resolve_secret(
                path,
                &format!("api.accounts[{i}].password_hash"),
                &mut a.password_hash,
                a.password_hash_file.as_deref(),
            )?;
        }
        Ok(())
    }

    /// Checks the section; the error names the key.
    pub(crate) fn validate(&self, admin: SocketAddr) -> Result<(), String> {
        if self.address == admin {
            return Err(format!(
                "api.address: {} is the admin address; use another port",
                self.address
            ));
        }
        if self.transports.is_empty() {
            return Err("api.transports: list at least one transport id to serve".into());
        }
        for (i, t) in self.transports.iter().enumerate() {
            if !valid_transport_id(t) {
                return Err(format!(
                    "api.transports[{i}]: {t:?} is not a transport id (lower-case letters, \
                     digits, '_' and '-')"
                ));
            }
            if self.transports[..i].contains(t) {
                return Err(format!("api.transports[{i}]: {t:?} is listed twice"));
            }
        }
        if self.accounts.is_empty() {
            return Err("api.accounts: add at least one [[api.accounts]] entry".into());
        }
        for (i, a) in self.accounts.iter().enumerate() {
            let key = format!("api.accounts[{i}]");
            if a.username.is_empty()
                || a.username.len() > 64
                || a.username.contains(':')
                || a.username.chars().any(char::is_control)
            {
                return Err(format!(
                    "{key}.username: 1-64 characters, no ':' and no control characters"
                ));
            }
            if self.accounts[..i].iter().any(|b| b.username == a.username) {
                return Err(format!("{key}.username: {:?} is used twice", a.username));
            }
            let Some(hash) = &a.password_hash else {
                return Err(format!(
                    "{key}.password_hash: required (or password_hash_file); make one with \
                     `richmond hash-password`"
                ));
            };
            super::credentials::check_phc(hash.expose())
                .map_err(|m| format!("{key}.password_hash: {m}"))?;
            for (j, d) in a.token_digests.iter().enumerate() {
                // The reason never quotes the value: a token pasted here by mistake stays secret.
                super::credentials::check_digest(d.expose())
                    .map_err(|m| format!("{key}.token_digests[{j}]: {m}"))?;
                let earlier = self.accounts[..i]
                    .iter()
                    .flat_map(|b| &b.token_digests)
                    .chain(&a.token_digests[..j]);
                if earlier.into_iter().any(|e| e == d) {
                    return Err(format!(
                        "{key}.token_digests[{j}]: this digest is configured twice"
                    ));
                }
            }
            for t in a.transports.iter().flatten() {
                if !self.transports.contains(t) {
                    return Err(format!("{key}.transports: {t:?} is not in api.transports"));
                }
            }
            if a.rate_limit_requests == Some(0) || a.rate_limit_window_seconds == Some(0) {
                return Err(format!(
                    "{key}: rate_limit_requests and rate_limit_window_seconds must be at least 1"
                ));
            }
        }
        for (name, value, max) in [
            ("header_timeout_seconds", self.header_timeout_seconds, 3600),
            (
                "request_timeout_seconds",
                self.request_timeout_seconds,
                3600,
            ),
            ("max_connections", self.max_connections as u64, 1_000_000),
            (
                "max_concurrent_requests",
                self.max_concurrent_requests as u64,
                1_000_000,
            ),
            ("max_recipients", self.max_recipients as u64, 100_000),
            ("max_message_chars", self.max_message_chars as u64, 100_000),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!("api.{name}: must be 1 to {max}"));
            }
        }
        if let Some(d) = &self.default_inbound_account
            && !self.accounts.iter().any(|a| &a.username == d)
        {
            return Err(format!(
                "api.default_inbound_account: {d:?} is not an [[api.accounts]] username"
            ));
        }
        if self.failed_login_limit == 0 || !(1..=86_400).contains(&self.failed_login_window_seconds)
        {
            return Err(
                "api.failed_login_limit: at least 1; api.failed_login_window_seconds: \
                        1 to 86400"
                    .into(),
            );
        }
        if self.conversation_ttl_seconds == 0 {
            return Err("api.conversation_ttl_seconds: must be at least 1".into());
        }
        let mut owned: std::collections::HashMap<(String, bool), &str> =
            std::collections::HashMap::new();
        for a in &self.accounts {
            let keys = a
                .numbers
                .iter()
                .map(|n| (n.trim_start_matches('+').to_owned(), true))
                .chain(a.keywords.iter().map(|k| (k.to_lowercase(), false)));
            for key in keys {
                if key.0.is_empty() || key.0.contains(char::is_whitespace) {
                    return Err(format!(
                        "api.accounts ({}): numbers and keywords are single non-empty words",
                        a.username
                    ));
                }
                if let Some(other) = owned.insert(key.clone(), &a.username)
                    && other != a.username
                {
                    return Err(format!(
                        "api.accounts: {:?} is claimed by both {other:?} and {:?}",
                        key.0, a.username
                    ));
                }
            }
        }
        super::callback_policy::Policy::new(&self.callback_allowed_networks)
            .map_err(|m| format!("api.callback_allowed_networks: {m}"))?;
        crate::listener_tls::check(
            "api",
            self.tls_cert_file.as_deref(),
            self.tls_key_file.as_deref(),
        )?;
        if !(1..=10_000_000).contains(&self.callback_queue_max) {
            return Err("api.callback_queue_max: must be 1 to 10000000".into());
        }
        if let Some(f) = &self.callback_tls_ca_file {
            super::callback_client::roots(Some(f))
                .map_err(|m| format!("api.callback_tls_ca_file: {m}"))?;
        }
        if let Some(b) = self.max_body_bytes
            && !(1024..=64 * 1024 * 1024).contains(&b)
        {
            return Err("api.max_body_bytes: must be 1024 to 67108864".into());
        }
        let positive = [
            ("rate_limit_requests", u64::from(self.rate_limit_requests)),
            ("rate_limit_window_seconds", self.rate_limit_window_seconds),
            ("max_recipients", self.max_recipients as u64),
            ("max_message_chars", self.max_message_chars as u64),
            ("message_ttl_seconds", self.message_ttl_seconds),
            ("publish_timeout_seconds", self.publish_timeout_seconds),
            (
                "callback_max_attempts",
                u64::from(self.callback_max_attempts),
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("api.{name}: must be at least 1"));
        }
        for (key, value) in [
            ("rate_limit_window_seconds", self.rate_limit_window_seconds),
            ("message_ttl_seconds", self.message_ttl_seconds),
            ("publish_timeout_seconds", self.publish_timeout_seconds),
            ("conversation_ttl_seconds", self.conversation_ttl_seconds),
        ] {
            crate::config::error::check_seconds(&format!("api.{key}"), value)?;
        }
        if !(self.callback_backoff_initial_seconds > 0.0
            && self.callback_backoff_max_seconds >= self.callback_backoff_initial_seconds
            && self.callback_backoff_max_seconds <= 86_400.0)
        {
            return Err("api.callback_backoff_initial_seconds must be > 0 and <= \
                 api.callback_backoff_max_seconds (at most 86400)"
                .into());
        }
        if !(self.callback_timeout_seconds > 0.0 && self.callback_timeout_seconds <= 300.0) {
            return Err("api.callback_timeout_seconds: must be > 0 and at most 300".into());
        }
        Ok(())
    }
}
