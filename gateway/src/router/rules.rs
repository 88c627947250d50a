//! A router's configuration and its rules, pure: which application an inbound message goes
//! to, and which transport an application's outbound message goes to. No bus, no store.
//!
//! Reference: reference/routing-and-apps.md §5.2 (Vumi's `ContentKeywordRouter`: the first
//! word, lower-cased, compared whole — no prefix match; `to_addr` and `from_addr` prefix
//! conditions; a fallback application), routing-peers.md (Jasmin's MO routes and filters,
//! Kannel's keyword services).
//!
//! Rules are tried in order and the first that matches wins; a rule matches when every
//! condition it sets holds (AND): the transport the message came from, `to_addr` (exact, or a
//! regex that must match all of it), a `from_addr` prefix, a keyword (the first word of the
//! content, split on white space, compared case-insensitively and whole: `join` does not match
//! `joinme`; several keywords are aliases), `transport_type`, `session_event`. Inbound that
//! matches no rule goes to `default`, or is unroutable (the router sends it to its failures).
//! Outbound goes to the transport the application names in `transport_name` when it is one of
//! the router's (a reply keeps the transport it came in on; an application may name another:
//! USSD in, SMS out); otherwise to the application's `mt_transport`, else unroutable. An
//! `mt_transport` may be a list (a pool): `mt_strategy = "failover"` takes the first transport
//! that is up, `"round_robin"` rotates over those that are up; when none is up, the first (or
//! the next in turn) still gets the message and holds it until its link comes back. A whole
//! Vumi message goes to one transport, so all parts of a long message share a link.

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::Regex;
use richmond_codecs::vumi::UserMessage;
use serde::{Deserialize, Serialize};

/// `[routers.<name>]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Transports whose `<t>.inbound` and `<t>.event` this router consumes and whose
    /// `<t>.outbound` it feeds.
    pub transports: Vec<String>,
    /// Applications behind the router: it feeds their `<a>.inbound` and `<a>.event` and
    /// consumes their `<a>.outbound`.
    pub applications: Vec<String>,
    /// Tried in order; the first that matches wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The application for inbound that matches no rule (none: such inbound goes to
    /// `<router>.failures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Per application, the transport (or a pool of them) for outbound that names none of
    /// the router's transports (a message the application starts itself).
    #[serde(default)]
    pub mt_transport: BTreeMap<String, Transports>,
    /// How a pool is used: `failover` (the first that is up) or `round_robin`.
    #[serde(default)]
    pub mt_strategy: Strategy,
    /// How long an outbound message id is remembered, so its ack and delivery report find
    /// the application that sent it (default 7 days, as Vumi's `expire_routing_memory`):
    /// for pool messages and transports in another process; a message handed to a
    /// transport of this process is tagged instead (`router/tag.rs`).
    #[serde(default = "default_event_memory")]
    pub event_memory_seconds: u64,
    /// Transports whose inbound goes on to other transports instead of an application
    /// (`forward = { smpps = "smsc" }`, a pool as for `mt_transport`): an SMPP server's
    /// clients sending through a carrier link. The events of those messages go to
    /// `<source>.receipts`.
    #[serde(default)]
    pub forward: BTreeMap<String, Transports>,
}

/// One transport, or a pool.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Transports {
    One(String),
    Pool(Vec<String>),
}

impl Transports {
    /// The transports, in configured order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Pool(p) => p,
        }
    }
}

impl From<&str> for Transports {
    fn from(t: &str) -> Self {
        Self::One(t.to_owned())
    }
}

/// How an `mt_transport` pool is used.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The first transport of the list that is up.
    #[default]
    Failover,
    /// Each message to the next transport in turn that is up.
    RoundRobin,
}

const fn default_event_memory() -> u64 {
    7 * 24 * 3600
}

/// One rule: the application, and the conditions that must all hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub application: String,
    /// The transport the message came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// `to_addr` exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_addr: Option<String>,
    /// A regex that must match the whole `to_addr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_addr_regex: Option<String>,
    /// `from_addr` starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_addr_prefix: Option<String>,
    /// The first word of the content is one of these (case-insensitive, whole word).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// `sms`, `ussd`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_type: Option<String>,
    /// `new`, `resume` or `close`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_event: Option<String>,
}

impl RouterConfig {
    /// Checks names, references and regexes; the message names the key.
    ///
    /// # Errors
    /// An empty list, an unknown application or transport, a bad regex or session event.
    pub(crate) fn validate(&self, transports: &[&str]) -> Result<(), String> {
        if self.transports.is_empty() || self.applications.is_empty() {
            return Err("transports and applications: at least one of each".into());
        }
        for t in &self.transports {
            if !transports.contains(&t.as_str()) {
                return Err(format!("transports: {t:?} is not a configured transport"));
            }
        }
        for a in &self.applications {
            if !crate::config::error::valid_transport_id(a) {
                return Err(format!(
                    "applications: {a:?} is a routing key prefix: use only lower-case letters, \
                     digits, '_' and '-'"
                ));
            }
            // Any configured transport, not only this router's: the router would take that
            // transport's outbound queue from it.
            if transports.contains(&a.as_str()) {
                return Err(format!("applications: {a:?} is also a transport"));
            }
        }
        let app = |key: &str, a: &str| {
            if self.applications.iter().any(|x| x == a) {
                Ok(())
            } else {
                Err(format!("{key}: {a:?} is not one of applications"))
            }
        };
        if let Some(d) = &self.default {
            app("default", d)?;
        }
        for (a, pool) in &self.mt_transport {
            app("mt_transport", a)?;
            if pool.as_slice().is_empty() {
                return Err(format!("mt_transport.{a}: at least one transport"));
            }
            for (i, t) in pool.as_slice().iter().enumerate() {
                if !self.transports.contains(t) {
                    return Err(format!("mt_transport.{a}: {t:?} is not one of transports"));
                }
                if pool.as_slice()[..i].contains(t) {
                    return Err(format!("mt_transport.{a}: {t:?} is listed twice"));
                }
            }
        }
        for (source, pool) in &self.forward {
            if !self.transports.contains(source) {
                return Err(format!("forward: {source:?} is not one of transports"));
            }
            if pool.as_slice().is_empty() {
                return Err(format!("forward.{source}: at least one transport"));
            }
            for (i, t) in pool.as_slice().iter().enumerate() {
                if !self.transports.contains(t) || t == source {
                    return Err(format!(
                        "forward.{source}: {t:?} is not another of transports"
                    ));
                }
                if pool.as_slice()[..i].contains(t) {
                    return Err(format!("forward.{source}: {t:?} is listed twice"));
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let key = format!("rules[{i}]");
            app(&format!("{key}.application"), &rule.application)?;
            if let Some(t) = &rule.transport
                && !self.transports.contains(t)
            {
                return Err(format!("{key}.transport: {t:?} is not one of transports"));
            }
            if let Some(r) = &rule.to_addr_regex {
                anchored(r).map_err(|e| format!("{key}.to_addr_regex: {e}"))?;
            }
            if let Some(e) = &rule.session_event
                && !["new", "resume", "close"].contains(&e.as_str())
            {
                return Err(format!("{key}.session_event: new, resume or close"));
            }
            if rule
                .keywords
                .iter()
                .any(|k| k.split_whitespace().count() != 1)
            {
                return Err(format!("{key}.keywords: each one word"));
            }
        }
        if !(60..=90 * 24 * 3600).contains(&self.event_memory_seconds) {
            return Err("event_memory_seconds: 60 to 7776000 (90 days)".into());
        }
        Ok(())
    }
}

/// The fields the rules look at: read from an encoded user message without building the
/// rest (for messages a transport of this process just encoded, already valid; a message
/// from a queue is decoded whole, so an invalid one goes to the failures), or borrowed from
/// a decoded one.
#[derive(Debug, Default, Deserialize)]
pub struct Peek<'a> {
    #[serde(borrow, default)]
    to_addr: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    from_addr: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    transport_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_event: Option<Cow<'a, str>>,
}

impl<'a> Peek<'a> {
    /// Reads the fields from `body`.
    ///
    /// # Errors
    /// Not a JSON object, or one of the fields not a string or null.
    pub fn read(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

impl<'a> From<&'a UserMessage> for Peek<'a> {
    fn from(m: &'a UserMessage) -> Self {
        let borrow = |v: &'a Option<String>| v.as_deref().map(Cow::Borrowed);
        Self {
            to_addr: borrow(&m.to_addr),
            from_addr: borrow(&m.from_addr),
            content: borrow(&m.content),
            transport_type: borrow(&m.transport_type),
            session_event: m.session_event.as_ref().map(|e| Cow::Borrowed(e.as_str())),
        }
    }
}

/// `pattern` compiled to match a whole string.
fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// The first word of `content` (split on white space), lower-cased; empty when none.
pub fn keyword(content: Option<&str>) -> String {
    content
        .and_then(|c| c.split_whitespace().next())
        .unwrap_or("")
        .to_lowercase()
}

/// Why a message has nowhere to go.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    #[error("no rule matches and the router has no default application")]
    NoRule,
    #[error(
        "the message names no transport of this router and its application has no mt_transport"
    )]
    NoTransport,
}

/// A router's rules, compiled.
#[derive(Debug)]
pub struct Rules {
    config: RouterConfig,
    compiled: Vec<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    to_addr_regex: Option<Regex>,
    keywords: Vec<String>,
}

impl Rules {
    /// Compiles a validated configuration.
    ///
    /// # Errors
    /// A regex that does not compile (validation has refused it already).
    pub fn new(config: RouterConfig) -> Result<Self, regex::Error> {
        let compiled = config
            .rules
            .iter()
            .map(|r| {
                Ok(Compiled {
                    to_addr_regex: r.to_addr_regex.as_deref().map(anchored).transpose()?,
                    keywords: r.keywords.iter().map(|k| k.to_lowercase()).collect(),
                })
            })
            .collect::<Result<_, regex::Error>>()?;
        Ok(Self { config, compiled })
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The application for `msg`, which came from `transport`, and the index of the rule that
    /// matched (None: the default).
    ///
    /// # Errors
    /// [`Unroutable::NoRule`].
    pub fn inbound<'m>(
        &self,
        transport: &str,
        msg: impl Into<Peek<'m>>,
    ) -> Result<(&str, Option<usize>), Unroutable> {
        let msg = msg.into();
        let word = keyword(msg.content.as_deref());
        for (i, (rule, c)) in self.config.rules.iter().zip(&self.compiled).enumerate() {
            if matches(rule, c, transport, &msg, &word) {
                return Ok((&rule.application, Some(i)));
            }
        }
        self.config
            .default
            .as_deref()
            .map(|d| (d, None))
            .ok_or(Unroutable::NoRule)
    }

    /// Where `msg`, an outbound message of `application`, goes: the transport it names, or
    /// the application's `mt_transport` pool (one or more).
    ///
    /// # Errors
    /// [`Unroutable::NoTransport`].
    pub fn outbound(&self, application: &str, msg: &UserMessage) -> Result<&[String], Unroutable> {
        if let Some(t) = msg.transport_name.as_deref()
            && let Some(t) = self.config.transports.iter().find(|x| *x == t)
        {
            return Ok(std::slice::from_ref(t));
        }
        self.config
            .mt_transport
            .get(application)
            .map(Transports::as_slice)
            .ok_or(Unroutable::NoTransport)
    }

    /// The transport of `pool` for the next message: not one of `tried`, preferring those
    /// `up`; `turn` counts the router's pool messages (for round robin). None: every one
    /// has been tried.
    pub fn pick<'a>(
        &self,
        pool: &'a [String],
        tried: &[String],
        turn: usize,
        up: impl Fn(&str) -> bool,
    ) -> Option<&'a str> {
        let left: Vec<&'a str> = pool
            .iter()
            .map(String::as_str)
            .filter(|t| !tried.iter().any(|x| x == t))
            .collect();
        let first = *left.first()?;
        let up: Vec<&'a str> = left.iter().copied().filter(|t| up(t)).collect();
        match self.config.mt_strategy {
            Strategy::Failover => Some(up.first().copied().unwrap_or(first)),
            // Rotates over the transports that are up (all of them when none is), so a link
            // that is down gives its turns to every other in equal share.
            Strategy::RoundRobin => {
                let ring = if up.is_empty() { &left } else { &up };
                Some(ring[turn % ring.len()])
            }
        }
    }
}

fn matches(rule: &Rule, c: &Compiled, transport: &str, msg: &Peek<'_>, word: &str) -> bool {
    let opt =
        |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == have);
    opt(&rule.transport, Some(transport))
        && opt(&rule.to_addr, msg.to_addr.as_deref())
        && c.to_addr_regex
            .as_ref()
            .is_none_or(|r| msg.to_addr.as_deref().is_some_and(|a| r.is_match(a)))
        && rule
            .from_addr_prefix
            .as_deref()
            .is_none_or(|p| msg.from_addr.as_deref().is_some_and(|a| a.starts_with(p)))
        && (c.keywords.is_empty() || c.keywords.iter().any(|k| k == word))
        && opt(&rule.transport_type, msg.transport_type.as_deref())
        && opt(&rule.session_event, msg.session_event.as_deref())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
