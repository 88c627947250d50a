//! `[transports.<id>]` with `type = "chikka"`: the provider's URL and credentials, the
//! transport's limits, and the listener where the provider posts MO and notifications.
//!
//! Reference: reference/http-providers.md §3 (Chikka's fields).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::config::secret::{Secret, resolve_secret};

/// A Chikka SMS API account.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChikkaConfig {
    /// Where requests go: `<base_url>/smsapi/request` (a simulator or sandbox may stand in).
    #[serde(default = "chikka_url")]
    pub base_url: String,
    pub client_id: String,
    /// The account's secret key (never logged); or `secret_key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<PathBuf>,
    /// The access code messages are sent from and received on.
    pub shortcode: String,
    /// What a REPLY charges the subscriber unless the message says (`FREE`, `P1.00`, …).
    #[serde(default = "free")]
    pub request_cost: String,
    /// Where Chikka posts MO and notifications: `http://<listen>/api/v1/sms/<id>/receive`.
    pub listen: SocketAddr,
    /// The posts must carry this as `?secret=` (configure it in the receiver URLs); or
    /// `inbound_secret_file`. Without one, only `allowed_networks` guard the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_secret_file: Option<PathBuf>,
    /// Networks posts may come from (CIDR); empty: anywhere.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    /// Requests per second to the provider (a token bucket); 0: no limit.
    #[serde(default)]
    pub mt_tps: u32,
    /// How long one request may take.
    #[serde(default = "ten")]
    pub request_timeout_seconds: u64,
    /// Tries of a message whose request failed for a passing reason (no answer, 5xx), with
    /// backoff from `retry_initial_seconds` doubling; then it is nacked.
    #[serde(default = "three")]
    pub send_attempts: u32,
    #[serde(default = "one")]
    pub retry_initial_seconds: f64,
    /// Messages sent at once.
    #[serde(default = "sixteen")]
    pub max_in_flight: usize,
    /// How long a sent message's id is kept to match its notification.
    #[serde(default = "week")]
    pub receipt_ttl_seconds: u64,
    /// Trusted roots for an `https://` base URL (PEM); the system's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
}

fn chikka_url() -> String {
    "https://post.chikka.com".into()
}
fn free() -> String {
    "FREE".into()
}
const fn ten() -> u64 {
    10
}
const fn three() -> u32 {
    3
}
const fn one() -> f64 {
    1.0
}
const fn sixteen() -> usize {
    16
}
const fn week() -> u64 {
    7 * 24 * 3600
}

impl ChikkaConfig {
    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        resolve_secret(
            path,
            &format!("transports.{id}.secret_key"),
            &mut self.secret_key,
            self.secret_key_file.as_deref(),
        )?;
        if self.inbound_secret.is_some() || self.inbound_secret_file.is_some() {
            resolve_secret(
                path,
                &format!("transports.{id}.inbound_secret"),
                &mut self.inbound_secret,
                self.inbound_secret_file.as_deref(),
            )?;
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err("base_url: an http:// or https:// URL".into());
        }
        if self.client_id.is_empty() || self.shortcode.is_empty() {
            return Err("client_id and shortcode: must not be empty".into());
        }
        if self.secret_key.is_none() {
            return Err("secret_key (or secret_key_file): required".into());
        }
        if self.request_cost != "FREE" && !is_peso_amount(&self.request_cost) {
            return Err("request_cost: FREE or P<amount>, e.g. P2.50".into());
        }
        crate::api::callback_policy::Networks::parse(&self.allowed_networks)
            .map_err(|e| format!("allowed_networks: {e}"))?;
        for (key, v) in [
            ("request_timeout_seconds", self.request_timeout_seconds),
            ("receipt_ttl_seconds", self.receipt_ttl_seconds),
        ] {
            crate::config::error::check_seconds(key, v)?;
        }
        if self.send_attempts == 0 || self.send_attempts > 20 {
            return Err("send_attempts: 1 to 20".into());
        }
        if !(self.retry_initial_seconds > 0.0 && self.retry_initial_seconds <= 60.0) {
            return Err("retry_initial_seconds: above 0, at most 60".into());
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1000 {
            return Err("max_in_flight: 1 to 1000".into());
        }
        Ok(())
    }
}

/// `P` and an amount with two decimals (`P2.50`).
pub(crate) fn is_peso_amount(s: &str) -> bool {
    s.strip_prefix('P')
        .and_then(|a| a.split_once('.'))
        .is_some_and(|(whole, cents)| {
            !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && cents.len() == 2
                && cents.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn costs_are_free_or_pesos_with_centavos() {
        for good in ["P1.00", "P2.50", "P15.00"] {
            assert!(super::is_peso_amount(good), "{good}");
        }
        for bad in ["P1", "1.00", "P.50", "P1.5", "Px.00", ""] {
            assert!(!super::is_peso_amount(bad), "{bad}");
        }
    }
}
