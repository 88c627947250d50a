//! Opera (South Africa): outbound as the XML-RPC call `EAPIGateway.SendSMS` posted to
//! `<base_url>/Gateway`; MO (`bspostevent`) and receipts (`receipts`) posted by Opera to the
//! transport's listener as raw XML or `XmlMsg=`.
//!
//! Reference: reference/http-providers.md §2.1 (the call, the answer, faults), §2.2 (MO, the
//! required fields, answered by echoing the XML), §2.3 (receipts), §2.4.
//!
//! * Outbound: `Service`, `Password`, `Channel`, `Numbers` (the `to_addr`), `SMSText` (base64
//!   of the UTF-8 when any character is above ASCII, as Vumi sent it), `Delivery` now,
//!   `Expiry` `validity_seconds` later, `Priority`, `Receipt` (`Y` with `receipts`),
//!   `MaxSegments` (Opera splits a long text itself). An `Identifier` → `ack` with it as
//!   `sent_message_id`, kept in the store (`opera:<t>:id:<Identifier>` → Vumi id) for the
//!   receipts; a fault with a code of 500 or more → tried again like a 5xx (Vumi treated every
//!   fault as temporary), then `nack`; any other fault → `nack` "fault <code>: <text>"; a
//!   non-200 status → `nack` with it.
//! * MO on `receive`, `receive.xml`: a `user_message` from `Remote` to `Local` (both
//!   normalised as Vumi did: `*32323` → `32323`, `0…` → `+<country_code>…`), content `Text`;
//!   `transport_metadata`: `provider` (the `MobileNetwork`, as Vumi set it) and
//!   `opera.message_id`. Answered 200 `text/xml` with the posted XML echoed (Opera passes the
//!   answer on), once the bus owns the message; a missing field → 400 `Missing field: <name>`.
//! * Receipts on `receipt`, `receipt.xml`, `receipt.json`: one `delivery_report` per
//!   `<receipt>` whose `reference` the store knows (`D`/`d`/`R` delivered, `Q`/`P`/`B`/`a`/`u`
//!   pending, others failed); one whose `reference` is unknown is counted and held an hour
//!   (the Identifier is stored after Opera's answer, and a receipt may overtake that), then
//!   published after the message's ack (`receipt_late`); 200 with an empty body once all
//!   are handled, 500 when the bus or store failed (Opera posts again).

use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::providers::opera::{self as wire, Answer as Call, SendSms};
use richmond_codecs::vumi::{Timestamp, UserMessage};
use serde_json::json;

use super::client::Answer;
use super::config::OperaConfig;
use super::{Outcome, Post, Provider, Reply, Reported, Shared};

/// What an Opera transport needs.
pub(crate) struct Opera {
    id: String,
    url: String,
    service: String,
    channel: String,
    password: String,
    max_segments: u8,
    priority: String,
    receipts: bool,
    validity: Duration,
    country_code: String,
}

/// The store key of a sent message's `Identifier`.
pub(crate) fn id_key(transport: &str, identifier: &str) -> String {
    format!("opera:{transport}:id:{identifier}")
}

/// Starts Opera transport `id` (see [`super::spawn`]).
///
/// # Errors
/// The listener cannot be bound or the client made.
pub(crate) fn spawn(
    id: &str,
    config: &OperaConfig,
    ctx: &super::Context,
    tracker: &tokio_util::task::TaskTracker,
    intake: &tokio_util::sync::CancellationToken,
) -> Result<(), crate::transport::StartError> {
    let provider = Opera {
        id: id.to_owned(),
        url: format!("{}/Gateway", config.base_url.trim_end_matches('/')),
        service: config.service.clone(),
        channel: config.channel.clone(),
        password: crate::config::secret::exposed(&config.password),
        max_segments: config.max_segments,
        priority: config.priority.clone(),
        receipts: config.receipts,
        validity: Duration::from_secs(config.validity_seconds),
        country_code: config.country_code.clone(),
    };
    super::spawn(id, &config.http, provider, ctx, tracker, intake).map(|_| ())
}

/// `t` as XML-RPC's `dateTime.iso8601` (`YYYYMMDDTHH:MM:SS`, UTC).
fn iso8601(t: Timestamp) -> String {
    // The Vumi form is `YYYY-MM-DD HH:MM:SS.ffffff`.
    let s = t.to_string();
    let date: String = s.get(..10).unwrap_or_default().replace('-', "");
    format!("{date}T{}", s.get(11..19).unwrap_or_default())
}

/// A number as Vumi's `normalize_msisdn` makes it: five characters or fewer untouched; else
/// only digits and `+`, `00…` → `+…`, `0…` → `+<cc>…`, `<cc>…` → `+<cc>…`.
pub(crate) fn normalize(raw: &str, cc: &str) -> String {
    if raw.chars().count() <= 5 {
        return raw.to_owned();
    }
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    if let Some(rest) = kept.strip_prefix("00") {
        format!("+{rest}")
    } else if let Some(rest) = kept.strip_prefix('0') {
        format!("+{cc}{rest}")
    } else if kept.starts_with('+') || !kept.starts_with(cc) {
        kept
    } else {
        format!("+{kept}")
    }
}

impl Opera {
    /// The SendSMS call of `msg`, sent now.
    fn call(&self, msg: &UserMessage) -> Vec<u8> {
        let now = Timestamp::now();
        let later = Timestamp::from_unix_micros(
            now.unix_micros()
                .saturating_add(i64::try_from(self.validity.as_micros()).unwrap_or(i64::MAX)),
        );
        let (delivery, expiry) = (iso8601(now), iso8601(later));
        SendSms {
            service: &self.service,
            password: &self.password,
            channel: &self.channel,
            numbers: msg.to_addr.as_deref().unwrap_or_default(),
            text: msg.content.as_deref().unwrap_or_default(),
            delivery: &delivery,
            expiry: &expiry,
            priority: &self.priority,
            receipt: self.receipts,
            max_segments: self.max_segments,
        }
        .encode()
        .into_bytes()
    }
}

/// A fault Opera means as "try later" (code 500 or above).
fn passing_fault(answer: &Answer) -> bool {
    matches!(answer, Answer::Status { status: 200, body }
        if matches!(wire::answer(body), Call::Fault { code, .. } if code >= 500))
}

impl Provider for Opera {
    const PATHS: &'static [&'static str] = &[
        "receive",
        "receive.xml",
        "receipt",
        "receipt.xml",
        "receipt.json",
    ];

    async fn send(&self, shared: &Shared<Self>, msg: &UserMessage) -> Outcome {
        let call = self.call(msg);
        let answer = super::send_with_retries_when(
            shared,
            || shared.client.post(&self.url, "text/xml", call.clone()),
            passing_fault,
        )
        .await;
        let body = match answer {
            Answer::Status { status: 200, body } => body,
            other => return Outcome::Refused(super::refusal("Opera", &other)),
        };
        match wire::answer(&body) {
            Call::Identifier(identifier) => {
                self.remember(shared, &identifier, &msg.message_id).await;
                Outcome::Accepted(identifier)
            }
            Call::Fault { code, text } => Outcome::Refused(format!("fault {code}: {text}")),
            Call::Unexpected(body) => {
                Outcome::Refused(format!("unexpected answer from Opera: {body}"))
            }
        }
    }

    async fn after_ack(&self, shared: &Shared<Self>, msg: &UserMessage, identifier: &str) {
        self.release_early(shared, identifier, &msg.message_id)
            .await;
    }

    async fn inbound(&self, shared: &Arc<Shared<Self>>, post: Post) -> Reply {
        let receipt = post.name.starts_with("receipt");
        let kind = if receipt { "receipt" } else { "mo" };
        let xml = match wire::document(&post.body) {
            Ok(xml) => xml,
            Err(bad) => {
                tracing::warn!(message = "Opera post unreadable; refused.", transport = %self.id, error = %bad);
                shared.post(kind, "bad_request");
                return (400, "text/plain; charset=utf-8", bad.to_string());
            }
        };
        if receipt {
            self.receipts(shared, &xml).await
        } else {
            self.mo(shared, xml).await
        }
    }
}

impl Opera {
    /// Keeps `identifier` → `message_id` for the receipts: the message is Opera's already, so
    /// a store that fails is tried three times, then the loss of its receipts logged.
    async fn remember(&self, shared: &Shared<Self>, identifier: &str, message_id: &str) {
        let ttl = Duration::from_secs(shared.receipt_ttl_seconds);
        let key = id_key(&self.id, identifier);
        for attempt in 1..=3 {
            match shared.ctx.store.put(&key, message_id.as_bytes(), ttl).await {
                Ok(()) => return,
                Err(e) if attempt == 3 => {
                    tracing::error!(message = "Store error keeping Opera's Identifier; its receipts will not match.", transport = %self.id, identifier, error = %e);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// An MO: published, answered with its XML.
    async fn mo(&self, shared: &Shared<Self>, xml: String) -> Reply {
        let mo = match wire::mo(&xml) {
            Ok(mo) => mo,
            Err(bad) => {
                tracing::warn!(message = "Opera MO refused.", transport = %self.id, error = %bad);
                shared.post("mo", "bad_request");
                return (400, "text/plain; charset=utf-8", bad.to_string());
            }
        };
        let from = normalize(&mo.from, &self.country_code);
        let to = normalize(&mo.to, &self.country_code);
        let mut msg = UserMessage::new(&self.id, "sms", &from, &to, Some(mo.text));
        msg.transport_metadata
            .insert("provider".into(), json!(mo.network));
        msg.transport_metadata
            .insert("opera".into(), json!({"message_id": mo.message_id}));
        if shared.publish("inbound", msg.encode()).await {
            shared.post("mo", "accepted");
            (200, "text/xml; charset=utf-8", xml)
        } else {
            shared.post("mo", "bus_error");
            (500, "text/plain; charset=utf-8", "Error".into())
        }
    }

    /// Receipts: a report for each one the store knows; one whose `reference` it does not
    /// know (yet) is held (see [`Self::hold_early`]). Those before a failure are published
    /// again when Opera posts the document again (at least once).
    async fn receipts(&self, shared: &Shared<Self>, xml: &str) -> Reply {
        const ERROR: Reply = (500, "text/plain; charset=utf-8", String::new());
        let receipts = match wire::receipts(xml) {
            Ok(r) => r,
            Err(bad) => {
                tracing::warn!(message = "Opera receipts refused.", transport = %self.id, error = %bad);
                shared.post("receipt", "bad_request");
                return (400, "text/plain; charset=utf-8", bad.to_string());
            }
        };
        for r in receipts {
            let meta = json!({"status": r.raw_status, "msgid": r.msgid, "msisdn": r.msisdn});
            let keys = [id_key(&self.id, &r.reference)];
            match shared
                .report("receipt", &keys, r.status, ("opera", meta.clone()))
                .await
            {
                Reported::Published => {}
                Reported::Failed => return ERROR,
                Reported::Unknown => {
                    if !self.hold_early(shared, &r.reference, &meta).await {
                        return ERROR;
                    }
                }
            }
        }
        (200, "text/plain; charset=utf-8", String::new())
    }

    /// Holds a receipt whose `reference` is not known: the Identifier is stored after Opera's
    /// answer, and a receipt can overtake that. Each held receipt is a value of its own
    /// (`opera:<t>:early:<reference>:<n>`) listed in an index
    /// (`opera:<t>:early:<reference>`), kept an hour, for [`Self::release_early`]; then it
    /// looks for the Identifier once more, so that one of the two sides sees the other. Each
    /// value is taken in one step, so a receipt both see is published once. False when the
    /// store failed (Opera posts again).
    async fn hold_early(
        &self,
        shared: &Shared<Self>,
        reference: &str,
        meta: &serde_json::Value,
    ) -> bool {
        let store = &shared.ctx.store;
        let index = early_key(&self.id, reference);
        let member = richmond_codecs::vumi::new_id();
        let value = meta.to_string();
        let held = store
            .put(&format!("{index}:{member}"), value.as_bytes(), EARLY_TTL)
            .await
            .is_ok()
            && store
                .index_add(&index, &member, common_now(), EARLY_TTL)
                .await
                .is_ok();
        if !held {
            return false;
        }
        match store.get(&id_key(&self.id, reference)).await {
            Ok(Some(v)) => {
                let vumi_id = String::from_utf8_lossy(&v).into_owned();
                self.release_early(shared, reference, &vumi_id).await
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Publishes the receipts held for `identifier` (now known as `vumi_id`), each taken from
    /// the store in one step; one the bus refused is put back. False when something is left.
    async fn release_early(&self, shared: &Shared<Self>, identifier: &str, vumi_id: &str) -> bool {
        let store = &shared.ctx.store;
        let index = early_key(&self.id, identifier);
        let members = match store.index_range(&index, i64::MIN, i64::MAX, 1000).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(message = "Store error reading held Opera receipts.", transport = %self.id, identifier, error = %e);
                return false;
            }
        };
        for (member, _) in members {
            let key = format!("{index}:{member}");
            let value = match store.take(&key).await {
                Ok(Some(v)) => v,
                // The other side took it.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(message = "Store error taking a held Opera receipt.", transport = %self.id, identifier, error = %e);
                    return false;
                }
            };
            let meta: serde_json::Value = serde_json::from_slice(&value).unwrap_or_default();
            let status = wire::status(meta["status"].as_str().unwrap_or_default());
            let reported = shared
                .publish_report("receipt_late", vumi_id, status, ("opera", meta))
                .await;
            if reported != Reported::Published {
                let _ = store.put(&key, &value, EARLY_TTL).await;
                tracing::error!(message = "A held Opera receipt could not be published; kept.", transport = %self.id, identifier);
                return false;
            }
            let _ = store.index_remove(&index, &member).await;
        }
        true
    }
}

/// Now in milliseconds since the epoch (the held receipts' order).
fn common_now() -> i64 {
    crate::transport::common::now_millis()
}

/// How long a receipt that overtook its Identifier is held.
const EARLY_TTL: Duration = Duration::from_secs(3600);

/// The store key of receipts held for `reference`.
fn early_key(transport: &str, reference: &str) -> String {
    format!("opera:{transport}:early:{reference}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_as_vumi_did() {
        for (raw, want) in [
            ("*32323", "32323"),
            ("+27831234567", "+27831234567"),
            ("0831234567", "+27831234567"),
            ("0027831234567", "+27831234567"),
            ("27831234567", "+27831234567"),
            ("12345", "12345"),
            ("4412345678", "4412345678"),
        ] {
            assert_eq!(normalize(raw, "27"), want, "{raw}");
        }
    }

    #[test]
    fn times_are_xmlrpc_datetimes() {
        let t = Timestamp::parse("2026-12-05 07:08:09.123456").unwrap();
        assert_eq!(iso8601(t), "20261205T07:08:09");
    }
}
