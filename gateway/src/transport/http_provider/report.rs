//! What the provider transports share when a provider posts back: a receipt turned into a
//! `delivery_report` for the message the store knows it by, and the texts of a refusal.
//!
//! Reference: reference/http-providers.md §1.1, §2.3, §3.4 (each provider's receipt). The
//! answer each provider expects differs; what happened ([`Reported`]) is the same, counted as
//! `richmond_http_provider_posts_total{kind, outcome}`.

use richmond_codecs::vumi::{DeliveryStatus, Event as VumiEvent};

use super::client::Answer;
use super::{Provider, Shared};

/// What became of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reported {
    /// Its report is on the bus.
    Published,
    /// No key named a message the store knows: counted, to be answered so the provider stops.
    Unknown,
    /// The store or the bus failed: to be answered so the provider posts again.
    Failed,
}

impl<P: Provider> Shared<P> {
    /// Publishes a `delivery_report` with `status` (and `meta` as
    /// `transport_metadata.<provider>`) for the message under the first of `keys` the store
    /// holds.
    pub(crate) async fn report(
        &self,
        kind: &'static str,
        keys: &[String],
        status: DeliveryStatus,
        (provider, meta): (&str, serde_json::Value),
    ) -> Reported {
        let mut found = None;
        for key in keys {
            match self.ctx.store.get(key).await {
                Ok(Some(v)) => {
                    found = Some(String::from_utf8_lossy(&v).into_owned());
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(message = "Store error; the provider will post the receipt again.", transport = %self.id, error = %e);
                    self.post(kind, "store_error");
                    return Reported::Failed;
                }
            }
        }
        let Some(vumi_id) = found else {
            tracing::warn!(message = "Receipt for an unknown message; counted.", transport = %self.id, keys = ?keys);
            self.post(kind, "unmatched");
            return Reported::Unknown;
        };
        self.publish_report(kind, &vumi_id, status, (provider, meta))
            .await
    }

    /// Publishes a `delivery_report` for `vumi_id`, counted as a post of `kind`.
    pub(crate) async fn publish_report(
        &self,
        kind: &'static str,
        vumi_id: &str,
        status: DeliveryStatus,
        (provider, meta): (&str, serde_json::Value),
    ) -> Reported {
        let mut report = VumiEvent::delivery_report(&self.id, vumi_id, status);
        report.transport_metadata.insert(provider.to_owned(), meta);
        if self.publish("event", report.encode()).await {
            self.post(kind, "accepted");
            Reported::Published
        } else {
            self.post(kind, "bus_error");
            Reported::Failed
        }
    }
}

/// At most 200 characters of `s`, trimmed.
pub(crate) fn clip(s: &str) -> String {
    s.trim().chars().take(200).collect()
}

/// The nack reason for an answer `provider` gave that is not a success.
pub(crate) fn refusal(provider: &str, answer: &Answer) -> String {
    match answer {
        Answer::Status { status, body } => {
            format!("{provider} answered HTTP {status}: {}", clip(body))
        }
        Answer::None { why } => format!("no answer from {provider} ({why})"),
    }
}
