//! `http_relay`: relays each inbound message to a web application over HTTP and turns its
//! answer into the reply, as Kannel's `sms-service … get-url`, Jasmin's HTTP MO connector and
//! Vumi's `HTTPRelayApplication` do; forwards the acks, nacks and delivery reports of those
//! replies to an event URL. This module is the pure part: the configuration, what is posted
//! where, and what an answer means. The requests themselves are [`super::relay_client`]'s.
//!
//! Reference: reference/routing-peers.md §1.3 (Kannel: the body is the reply), §1.2 (Jasmin:
//! form fields `id, from, to, origin-connector, content`), §2.1 (Vumi: the Vumi JSON posted,
//! Basic auth, events to `event_url`).
//!
//! * The URL: the one of the message's keyword (`keyword_urls`, the first word, any case),
//!   else `url`.
//! * The body: the Vumi message as it came (`format = "vumi"`, JSON), or form fields
//!   (`format = "form"`): `from`, `to`, `content`, `message_id`, `transport`,
//!   `transport_type`, `session_event`.
//! * The answer: a 2xx with a non-empty body is the reply's text (trailing line breaks
//!   dropped), unless `X-Richmond-Reply: false`; an empty body sends nothing. A USSD session
//!   goes on unless `X-Richmond-Session: end` (or `close`). A closed session (the user hung up)
//!   is posted too but never answered. A 5xx, a timeout or no connection is retried; any other
//!   status is a refusal: the message goes to the application's failures at once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use richmond_codecs::vumi::{Event as VumiEvent, EventKind, SessionEvent, UserMessage};
use serde::{Deserialize, Serialize};

use crate::api::callback_policy::Policy;
use crate::config::Secret;

/// `[applications.<name>]` with `type = "http_relay"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRelayConfig {
    /// The queues it uses (`<transport_name>.inbound` …); default: the application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_name: Option<String>,
    /// Where inbound messages are posted (those whose keyword has no URL of its own).
    pub url: String,
    /// Per keyword (the first word of the content, any case), its own URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keyword_urls: BTreeMap<String, String>,
    /// Where the events of the replies are posted (none: they are only counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_url: Option<String>,
    /// `vumi` (the Vumi JSON) or `form` (form fields).
    #[serde(default)]
    pub format: Format,
    /// How long one request may take.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Requests per message at most (the first and the retries).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The pause after the first failed attempt; it doubles after each.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_seconds: f64,
    /// Requests under way at once per URL (a slow URL holds only these).
    #[serde(default = "default_concurrency")]
    pub max_requests_per_url: usize,
    /// Basic authentication: the user name (with `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Or a bearer token (`Authorization: Bearer …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Networks beyond the public Internet the relay may reach (CIDR), as the API's
    /// `callback_allowed_networks`: loopback, private and link-local addresses are refused
    /// unless listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_networks: Vec<String>,
    /// Trust only these CA certificates (PEM) for `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
}

/// What is posted.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The Vumi message or event, JSON.
    #[default]
    Vumi,
    /// `application/x-www-form-urlencoded` fields.
    Form,
}

const fn default_timeout() -> f64 {
    10.0
}
const fn default_attempts() -> u32 {
    3
}
const fn default_retry_initial() -> f64 {
    1.0
}
const fn default_concurrency() -> usize {
    16
}

/// The most of an answer read (a reply is one message; more is an error).
pub const MAX_ANSWER: usize = 64 * 1024;
/// The longest pause between two attempts.
pub const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest a message may wait for its web application, all attempts and pauses
/// together: half of RabbitMQ's default consumer timeout (30 minutes), beyond which the
/// broker would close the channel and deliver every message on it again.
pub const MAX_TOTAL_SECONDS: f64 = 900.0;

impl HttpRelayConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let policy = self.policy()?;
        let check = |key: &str, url: &str| {
            crate::api::callbacks::check_url(url, &policy).map_err(|e| format!("{key}: {e}"))
        };
        check("url", &self.url)?;
        for (k, url) in &self.keyword_urls {
            if k.split_whitespace().count() != 1 || k.to_lowercase() != *k {
                return Err(format!("keyword_urls: {k:?}: one lower-case word"));
            }
            check(&format!("keyword_urls.{k}"), url)?;
        }
        if let Some(url) = &self.event_url {
            check("event_url", url)?;
        }
        if !(0.1..=300.0).contains(&self.timeout_seconds) {
            return Err("timeout_seconds: 0.1 to 300".into());
        }
        if !(1..=20).contains(&self.attempts) {
            return Err("attempts: 1 to 20".into());
        }
        if !(0.01..=600.0).contains(&self.retry_initial_seconds) {
            return Err("retry_initial_seconds: 0.01 to 600".into());
        }
        if !(1..=1024).contains(&self.max_requests_per_url) {
            return Err("max_requests_per_url: 1 to 1024".into());
        }
        if self.longest_seconds() > MAX_TOTAL_SECONDS {
            return Err(format!(
                "attempts, timeout_seconds and retry_initial_seconds: a message could wait \
                 {:.0} s for its web application; at most {MAX_TOTAL_SECONDS:.0}",
                self.longest_seconds()
            ));
        }
        if let Some(auth) = self.authorization()
            && axum::http::HeaderValue::from_str(&auth).is_err()
        {
            return Err("username, password, token: only visible ASCII characters".into());
        }
        match (&self.username, &self.password, &self.token) {
            (Some(_), Some(_), None) | (None, None, _) => {}
            (_, _, Some(_)) => return Err("token: not with username and password".into()),
            _ => return Err("username and password: both or neither".into()),
        }
        if let Some(f) = &self.tls_ca_file {
            crate::api::callback_client::roots(Some(f)).map_err(|e| format!("tls_ca_file: {e}"))?;
        }
        Ok(())
    }

    /// The longest one message can take: every attempt timing out, with the pauses between.
    fn longest_seconds(&self) -> f64 {
        let mut pause = self.retry_initial_seconds;
        let mut total = self.timeout_seconds;
        for _ in 1..self.attempts {
            total += pause + self.timeout_seconds;
            pause = (pause * 2.0).min(MAX_PAUSE.as_secs_f64());
        }
        total
    }

    /// Where the relay may connect.
    ///
    /// # Errors
    /// An entry of `allowed_networks` that is no network.
    pub(crate) fn policy(&self) -> Result<Policy, String> {
        Policy::new(&self.allowed_networks).map_err(|e| format!("allowed_networks: {e}"))
    }

    /// The URL for `msg`.
    pub fn url_for(&self, msg: &UserMessage) -> &str {
        let word = crate::router::rules::keyword(msg.content.as_deref());
        self.keyword_urls.get(&word).unwrap_or(&self.url)
    }

    /// The `Authorization` header's value, if any.
    pub(crate) fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        if let Some(t) = &self.token {
            return Some(format!("Bearer {}", t.expose()));
        }
        let (u, p) = (self.username.as_ref()?, self.password.as_ref()?);
        let pair = format!("{u}:{}", p.expose());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

/// A request body and its content type.
pub type Body = (Vec<u8>, &'static str);

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// What is posted for `msg`, whose encoded form is `raw`.
pub fn message_body(format: Format, msg: &UserMessage, raw: &[u8]) -> Body {
    match format {
        Format::Vumi => (raw.to_vec(), JSON),
        Format::Form => {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let fields = [
                ("from", opt(&msg.from_addr)),
                ("to", opt(&msg.to_addr)),
                ("content", opt(&msg.content)),
                ("message_id", msg.message_id.clone()),
                ("transport", opt(&msg.transport_name)),
                ("transport_type", opt(&msg.transport_type)),
                (
                    "session_event",
                    msg.session_event
                        .as_ref()
                        .map(|e| e.as_str().to_owned())
                        .unwrap_or_default(),
                ),
            ];
            (form(&fields), FORM)
        }
    }
}

/// What is posted for an event, whose encoded form is `raw`.
pub fn event_body(format: Format, event: &VumiEvent, raw: &[u8]) -> Body {
    match format {
        Format::Vumi => (raw.to_vec(), JSON),
        Format::Form => {
            let mut fields = vec![
                ("event_type", event.kind.event_type().to_owned()),
                ("message_id", event.user_message_id.clone()),
                (
                    "transport",
                    event.transport_name.clone().unwrap_or_default(),
                ),
            ];
            match &event.kind {
                EventKind::Ack { sent_message_id } => {
                    fields.push(("sent_message_id", sent_message_id.clone()));
                }
                EventKind::Nack { nack_reason } => fields.push(("reason", nack_reason.clone())),
                EventKind::DeliveryReport { delivery_status } => {
                    fields.push(("status", delivery_status.as_str().to_owned()));
                }
            }
            (form(&fields), FORM)
        }
    }
}

fn form(fields: &[(&str, String)]) -> Vec<u8> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        out.append_pair(k, v);
    }
    out.finish().into_bytes()
}

/// The reply an answer asks for: its text and whether a USSD session goes on. None: no
/// reply (an empty body, `X-Richmond-Reply: false`, or a closed session).
pub fn reply(
    msg: &UserMessage,
    body: &[u8],
    reply_header: Option<&str>,
    session_header: Option<&str>,
) -> Option<(String, bool)> {
    if msg.session_event == Some(SessionEvent::Close)
        || reply_header.is_some_and(|h| h.trim().eq_ignore_ascii_case("false"))
    {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return None;
    }
    let end = session_header.is_some_and(|h| {
        let h = h.trim();
        h.eq_ignore_ascii_case("end") || h.eq_ignore_ascii_case("close")
    });
    let ussd = msg.transport_type.as_deref() == Some("ussd");
    Some((text.to_owned(), ussd && !end))
}

#[cfg(test)]
#[path = "http_relay_tests.rs"]
mod tests;
