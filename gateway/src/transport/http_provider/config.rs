//! `[transports.<id>]` of the HTTP-provider types (`chikka`, `clickatell`, `opera`): each provider's
//! URL and credentials, and the options every provider shares ([`HttpOptions`]: limits,
//! retries, the listener where the provider posts MO and receipts, its guards).
//!
//! The shared options sit in the same table as the provider's own (`#[serde(flatten)]`).
//! serde's `deny_unknown_fields` does not work beside `flatten`, so every provider table
//! collects what no field took into `unknown`, and `validate` refuses it by name.
//!
//! Reference: reference/http-providers.md §1 (Clickatell's fields), §2 (Opera's), §3 (Chikka's).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::config::secret::{Secret, resolve_secret};

/// What every HTTP-provider transport has.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpOptions {
    /// Where the provider posts MO and receipts (`http://<listen>/api/v1/sms/<id>/…`).
    pub listen: SocketAddr,
    /// The posts must carry this as `?secret=` or as the password of HTTP Basic auth
    /// (configure it in the callback URLs); or `inbound_secret_file`. Without one, only
    /// `allowed_networks` guard the endpoints.
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
    /// Tries of a message whose request failed for a passing reason (no answer, 5xx, 429),
    /// with backoff from `retry_initial_seconds` doubling; then it is nacked.
    #[serde(default = "three")]
    pub send_attempts: u32,
    #[serde(default = "one")]
    pub retry_initial_seconds: f64,
    /// Messages sent at once.
    #[serde(default = "sixteen")]
    pub max_in_flight: usize,
    /// How long a sent message's id is kept to match its receipts.
    #[serde(default = "week")]
    pub receipt_ttl_seconds: u64,
    /// How long the parts of a long MO wait for the rest before going on flagged incomplete.
    #[serde(default = "five_minutes")]
    pub multipart_timeout_seconds: u64,
    /// Trusted roots for an `https://` base URL (PEM); the system's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
}

impl HttpOptions {
    fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
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

    fn validate(
        &self,
        base_url: &str,
        unknown: &BTreeMap<String, toml::Value>,
    ) -> Result<(), String> {
        if let Some(key) = unknown.keys().next() {
            return Err(format!("{key}: not an option of this transport type"));
        }
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err("base_url: an http:// or https:// URL".into());
        }
        crate::api::callback_policy::Networks::parse(&self.allowed_networks)
            .map_err(|e| format!("allowed_networks: {e}"))?;
        for (key, v) in [
            ("request_timeout_seconds", self.request_timeout_seconds),
            ("receipt_ttl_seconds", self.receipt_ttl_seconds),
            ("multipart_timeout_seconds", self.multipart_timeout_seconds),
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

/// A Chikka SMS API account.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    #[serde(flatten)]
    pub http: HttpOptions,
    /// Keys no option took (refused by `validate`).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, toml::Value>,
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
const fn five_minutes() -> u64 {
    300
}

impl ChikkaConfig {
    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        resolve_secret(
            path,
            &format!("transports.{id}.secret_key"),
            &mut self.secret_key,
            self.secret_key_file.as_deref(),
        )?;
        self.http.resolve_secrets(path, id)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.validate(&self.base_url, &self.unknown)?;
        if self.client_id.is_empty() || self.shortcode.is_empty() {
            return Err("client_id and shortcode: must not be empty".into());
        }
        if self.secret_key.is_none() {
            return Err("secret_key (or secret_key_file): required".into());
        }
        if self.request_cost != "FREE" && !is_peso_amount(&self.request_cost) {
            return Err("request_cost: FREE or P<amount>, e.g. P2.50".into());
        }
        Ok(())
    }
}

/// Which of Clickatell's APIs a transport speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClickatellApi {
    /// The legacy HTTP API (`/http/sendmsg`, `api_id` + `user` + `password`, `ID:`/`ERR:`).
    #[default]
    Http,
    /// The Platform REST API (`POST /messages`, an API key, JSON).
    Platform,
}

/// A Clickatell account.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ClickatellConfig {
    #[serde(default)]
    pub api: ClickatellApi,
    /// `https://api.clickatell.com` (http) or `https://platform.clickatell.com` (platform)
    /// unless set (a simulator or sandbox may stand in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Legacy API: the HTTP API product's id, the account's user and password (or
    /// `password_file`; never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Legacy API: authenticate once (`auth`) and send with the session id, kept alive with
    /// `ping` every `ping_seconds` and renewed when Clickatell says it expired.
    #[serde(default)]
    pub session: bool,
    #[serde(default = "ten_minutes")]
    pub ping_seconds: u64,
    /// Platform API: the integration's API key (or `api_key_file`; never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// The sender id (`from`) unless a message's `from_addr` is used: `"message"` sends each
    /// message's own `from_addr`; unset: Clickatell's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Legacy API: most parts a long text may take (`concat`); a text that needs more is
    /// nacked without a request.
    #[serde(default = "three_parts")]
    pub max_parts: u8,
    /// Legacy API: `mo=1`, sent through a carrier the handset can reply through.
    #[serde(default)]
    pub two_way: bool,
    #[serde(flatten)]
    pub http: HttpOptions,
    /// Keys no option took (refused by `validate`).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, toml::Value>,
}

const fn ten_minutes() -> u64 {
    600
}
const fn three_parts() -> u8 {
    3
}

impl ClickatellConfig {
    /// The base URL, defaulted per API.
    pub(crate) fn base_url(&self) -> String {
        self.base_url.clone().unwrap_or_else(|| {
            match self.api {
                ClickatellApi::Http => "https://api.clickatell.com",
                ClickatellApi::Platform => "https://platform.clickatell.com",
            }
            .to_owned()
        })
    }

    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        match self.api {
            ClickatellApi::Http => resolve_secret(
                path,
                &format!("transports.{id}.password"),
                &mut self.password,
                self.password_file.as_deref(),
            )?,
            ClickatellApi::Platform => resolve_secret(
                path,
                &format!("transports.{id}.api_key"),
                &mut self.api_key,
                self.api_key_file.as_deref(),
            )?,
        }
        self.http.resolve_secrets(path, id)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.validate(&self.base_url(), &self.unknown)?;
        let filled = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        match self.api {
            ClickatellApi::Http => {
                if !(filled(&self.api_id) && filled(&self.user) && self.password.is_some()) {
                    return Err(
                        "api_id, user and password (or password_file): required by api = \"http\""
                            .into(),
                    );
                }
                if self.api_key.is_some() || self.api_key_file.is_some() {
                    return Err("api_key (and api_key_file): only for api = \"platform\"".into());
                }
            }
            ClickatellApi::Platform => {
                if self.api_key.is_none() {
                    return Err("api_key (or api_key_file): required by api = \"platform\"".into());
                }
                if self.api_id.is_some()
                    || self.user.is_some()
                    || self.password.is_some()
                    || self.session
                {
                    return Err(
                        "api_id, user, password and session: only for api = \"http\"".into(),
                    );
                }
            }
        }
        if self.from.as_deref() == Some("") {
            return Err("from: a sender id, \"message\", or unset".into());
        }
        if self.max_parts == 0 || self.max_parts > 35 {
            return Err("max_parts: 1 to 35".into());
        }
        crate::config::error::check_seconds("ping_seconds", self.ping_seconds)?;
        if self.ping_seconds >= 900 {
            return Err("ping_seconds: under 900 (a session expires after 15 idle minutes)".into());
        }
        Ok(())
    }
}

/// An Opera service.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OperaConfig {
    /// Where calls go: `<base_url>/Gateway` (a simulator may stand in).
    #[serde(default = "opera_url")]
    pub base_url: String,
    /// Opera's service and channel numbers.
    pub service: String,
    pub channel: String,
    /// The service's password (or `password_file`; never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// `MaxSegments`: most parts Opera may split a long text into (1–9).
    #[serde(default = "nine")]
    pub max_segments: u8,
    /// `Priority`: `standard` or `high`.
    #[serde(default = "standard")]
    pub priority: String,
    /// `Receipt`: ask Opera for delivery receipts.
    #[serde(default = "yes")]
    pub receipts: bool,
    /// `Expiry` is this long after `Delivery` (now).
    #[serde(default = "day")]
    pub validity_seconds: u64,
    /// The country code MO numbers are normalised with (`0…` → `+<code>…`).
    #[serde(default = "za")]
    pub country_code: String,
    #[serde(flatten)]
    pub http: HttpOptions,
    /// Keys no option took (refused by `validate`).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, toml::Value>,
}

fn opera_url() -> String {
    "https://dragon.sa.operatelecom.com:1089".into()
}
const fn nine() -> u8 {
    9
}
fn standard() -> String {
    "standard".into()
}
const fn yes() -> bool {
    true
}
const fn day() -> u64 {
    86_400
}
fn za() -> String {
    "27".into()
}

impl OperaConfig {
    pub(crate) fn resolve_secrets(&mut self, path: &Path, id: &str) -> Result<(), ConfigError> {
        resolve_secret(
            path,
            &format!("transports.{id}.password"),
            &mut self.password,
            self.password_file.as_deref(),
        )?;
        self.http.resolve_secrets(path, id)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.validate(&self.base_url, &self.unknown)?;
        if self.service.is_empty() || self.channel.is_empty() {
            return Err("service and channel: must not be empty".into());
        }
        if self.password.is_none() {
            return Err("password (or password_file): required".into());
        }
        if !(1..=9).contains(&self.max_segments) {
            return Err("max_segments: 1 to 9".into());
        }
        if !matches!(self.priority.as_str(), "standard" | "high") {
            return Err("priority: standard or high".into());
        }
        crate::config::error::check_seconds("validity_seconds", self.validity_seconds)?;
        if self.country_code.is_empty() || !self.country_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err("country_code: digits, e.g. 27".into());
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
    use crate::transport::TransportConfig;

    fn parse(text: &str) -> TransportConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn shared_options_sit_beside_the_providers_own_and_unknown_keys_are_named() {
        let ok = "type = \"clickatell\"\napi_id = \"1\"\nuser = \"u\"\npassword = \"p\"\n\
                  listen = \"127.0.0.1:9\"\nmt_tps = 5\nretry_initial_seconds = 0.5\nmax_parts = 4\n";
        let TransportConfig::Clickatell(c) = parse(ok) else {
            panic!("not clickatell");
        };
        assert_eq!((c.http.mt_tps, c.max_parts), (5, 4));
        assert!((c.http.retry_initial_seconds - 0.5).abs() < f64::EPSILON);
        assert_eq!(c.base_url(), "https://api.clickatell.com");
        c.validate().expect("valid");
        let TransportConfig::Clickatell(c) = parse(&format!("{ok}mt_tsp = 3\n")) else {
            panic!("not clickatell");
        };
        assert_eq!(
            c.validate().unwrap_err(),
            "mt_tsp: not an option of this transport type"
        );
        let chikka = "type = \"chikka\"\nclient_id = \"c\"\nsecret_key = \"s\"\nshortcode = \"1\"\n\
                      listen = \"127.0.0.1:9\"\nsend_attempts = 2\nsend_atempts = 3\n";
        let TransportConfig::Chikka(c) = parse(chikka) else {
            panic!("not chikka");
        };
        assert_eq!(c.http.send_attempts, 2);
        assert!(c.validate().unwrap_err().starts_with("send_atempts"));
    }

    #[test]
    fn each_clickatell_api_wants_its_own_credentials() {
        let platform = "type = \"clickatell\"\napi = \"platform\"\napi_key = \"k\"\nlisten = \"127.0.0.1:9\"\n";
        let TransportConfig::Clickatell(c) = parse(platform) else {
            panic!("not clickatell");
        };
        assert_eq!(c.base_url(), "https://platform.clickatell.com");
        c.validate().expect("valid");
        let TransportConfig::Clickatell(c) = parse(&format!("{platform}user = \"u\"\n")) else {
            panic!("not clickatell");
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("only for api = \"http\"")
        );
        let http = "type = \"clickatell\"\napi_id = \"1\"\nlisten = \"127.0.0.1:9\"\n";
        let TransportConfig::Clickatell(c) = parse(http) else {
            panic!("not clickatell");
        };
        assert!(c.validate().unwrap_err().contains("required"));
    }

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
