//! Chikka (the Philippines): outbound `POST <base_url>/smsapi/request` forms, inbound MO and
//! delivery notifications posted to `/api/v1/sms/<id>/receive` on the transport's listener.
//!
//! Reference: reference/http-providers.md §3 (fields, answers, vectors), §3.6 (what a
//! simulator checks).
//!
//! * A text over 420 characters (what Chikka's clients send at most) goes as several
//!   requests of 420, each under its own `message_id` (each notified); only the first can be
//!   the REPLY. The message is acked with the first part's id once every part is accepted,
//!   nacked ("part n of m: …") when a later one is refused.
//! * Outbound: a reply to an MO (its `transport_metadata.chikka.request_id`, which a Vumi
//!   reply copies) goes as `REPLY` with that `request_id` and a `request_cost`
//!   (`transport_metadata.chikka.request_cost`, else the transport's); any other message as
//!   `SEND`. A `REPLY` refused as "Invalid/Used Request ID" is sent again as `SEND` (a request
//!   id serves once). `message_id` is the Vumi id without dashes when it fits Chikka's 32
//!   characters, else a new one; kept in the store (`chikka:<t>:id:<message_id>` → Vumi id)
//!   before the request, for the notification.
//! * Answers: 2xx → `ack`; 5xx or no answer → tried again (see [`super::send_with_retries`]);
//!   any other status → `nack` with Chikka's status and description.
//! * Inbound `message_type=incoming` → a Vumi `user_message` (from `+<mobile_number>`, to the
//!   shortcode; `transport_metadata.chikka`: `request_id`, `shortcode`), answered `Accepted`
//!   once the bus owns it, `Error` (500) otherwise so Chikka posts it again.
//! * Inbound `message_type=outgoing` (a notification) → `delivery_report`: `SENT` →
//!   `delivered` (the only success Chikka reports: handed to the carrier), `FAILED` →
//!   `failed`; one for an unknown id is counted and answered `Accepted` (so Chikka stops).
//! * Posts without the inbound secret, or from a network not allowed, get 403, counted.

use std::sync::Arc;

use richmond_codecs::providers::chikka::{self as post, Post};
use richmond_codecs::vumi::UserMessage;
use serde_json::json;

use super::client::Answer;
use super::{Outcome, Provider};

/// What a Chikka transport needs to send.
pub(crate) struct Chikka {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) client_id: String,
    pub(crate) secret_key: String,
    pub(crate) shortcode: String,
    pub(crate) request_cost: String,
}

/// Chikka's answer to a REPLY whose request id is spent.
const USED_REQUEST_ID: &str = "Invalid/Used Request ID";

/// The store key of a sent message's Chikka id.
pub(crate) fn id_key(transport: &str, chikka_id: &str) -> String {
    format!("chikka:{transport}:id:{chikka_id}")
}

impl Chikka {
    /// The request form of `text` (all or a part of `msg`'s; `reply`: as a REPLY when it
    /// answers an MO).
    fn form(&self, msg: &UserMessage, text: &str, message_id: &str, reply: bool) -> Vec<u8> {
        let meta = msg.transport_metadata.get("chikka");
        let request_id = meta.and_then(|m| m["request_id"].as_str());
        let mut form = form_urlencoded::Serializer::new(String::new());
        let number = msg
            .to_addr
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('+');
        form.append_pair("message_type", if reply { "REPLY" } else { "SEND" })
            .append_pair("mobile_number", number)
            .append_pair("shortcode", &self.shortcode)
            .append_pair("message_id", message_id)
            .append_pair("message", text)
            .append_pair("client_id", &self.client_id)
            .append_pair("secret_key", &self.secret_key);
        if reply && let Some(request_id) = request_id {
            let cost = meta
                .and_then(|m| m["request_cost"].as_str())
                .filter(|c| *c == "FREE" || super::config::is_peso_amount(c))
                .unwrap_or(&self.request_cost);
            form.append_pair("request_id", request_id)
                .append_pair("request_cost", cost);
        }
        form.finish().into_bytes()
    }

    fn wants_reply(msg: &UserMessage) -> bool {
        msg.transport_metadata
            .get("chikka")
            .and_then(|m| m["request_id"].as_str())
            .is_some_and(|r| !r.is_empty())
    }
}

/// Most characters in one request (what Chikka's clients send at most).
const MAX_CHARS: usize = 420;

/// `text` in parts of at most [`MAX_CHARS`] characters (one part when it fits, and for an
/// empty text).
fn split(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= MAX_CHARS {
        return vec![text.to_owned()];
    }
    chars
        .chunks(MAX_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

impl Chikka {
    /// Sends one request's worth of `msg` (`text`) under `message_id`, kept in the store
    /// first for its notification.
    async fn send_part(
        &self,
        shared: &super::Shared<Self>,
        msg: &UserMessage,
        text: &str,
        message_id: &str,
        mut reply: bool,
    ) -> Outcome {
        let ttl = std::time::Duration::from_secs(shared.receipt_ttl_seconds);
        let key = id_key(&self.id, message_id);
        if let Err(e) = shared
            .ctx
            .store
            .put(&key, msg.message_id.as_bytes(), ttl)
            .await
        {
            return Outcome::Later(format!("store: {e}"));
        }
        loop {
            let form = self.form(msg, text, message_id, reply);
            let answer = super::send_with_retries(shared, || {
                shared
                    .client
                    .post(&self.url, "application/x-www-form-urlencoded", form.clone())
            })
            .await;
            return match answer {
                Answer::Status { status, .. } if (200..300).contains(&status) => {
                    Outcome::Accepted(message_id.to_owned())
                }
                Answer::Status { status: 400, body }
                    if reply && unescape(&body).contains(USED_REQUEST_ID) =>
                {
                    tracing::info!(message = "Chikka refused a spent request id; sending as SEND.", transport = %self.id);
                    reply = false;
                    continue;
                }
                Answer::Status { status, body } => Outcome::Refused(super::refusal(
                    "Chikka",
                    &Answer::Status {
                        status,
                        body: describe(&body),
                    },
                )),
                none @ Answer::None { .. } => Outcome::Refused(super::refusal("Chikka", &none)),
            };
        }
    }
}

impl Provider for Chikka {
    const PATHS: &'static [&'static str] = &["receive"];

    async fn send(&self, shared: &super::Shared<Self>, msg: &UserMessage) -> Outcome {
        let parts = split(msg.content.as_deref().unwrap_or_default());
        let total = parts.len();
        let mut first_id = None;
        for (i, part) in parts.into_iter().enumerate() {
            // The first part under the Vumi id's form; the others under new ids.
            let message_id = if i == 0 {
                super::provider_id(&msg.message_id)
            } else {
                richmond_codecs::vumi::new_id()
            };
            // A request id serves once: only the first part can be the REPLY.
            let reply = i == 0 && Self::wants_reply(msg);
            match self.send_part(shared, msg, &part, &message_id, reply).await {
                Outcome::Accepted(id) => {
                    first_id.get_or_insert(id);
                }
                Outcome::Refused(why) if i > 0 => {
                    return Outcome::Refused(format!("part {} of {total}: {why}", i + 1));
                }
                other => return other,
            }
        }
        first_id.map_or_else(
            || Outcome::Refused("nothing to send".into()),
            Outcome::Accepted,
        )
    }

    async fn inbound(&self, shared: &Arc<super::Shared<Self>>, post: super::Post) -> super::Reply {
        let form = richmond_codecs::providers::form_fields(&post.body);
        const ACCEPTED: (u16, &str) = (200, "Accepted");
        const ERROR: (u16, &str) = (500, "Error");
        let (kind, outcome, (status, body)) = match post::parse(&form) {
            Err(bad) => (bad.code(), "bad_request", (400, "Error")),
            Ok(Post::Incoming {
                number,
                request_id,
                text,
                shortcode,
            }) => {
                let shortcode = shortcode.unwrap_or(&self.shortcode);
                let from = format!("+{}", number.trim_start_matches('+'));
                let mut msg =
                    UserMessage::new(&self.id, "sms", &from, shortcode, Some(text.into()));
                msg.transport_metadata.insert(
                    "chikka".into(),
                    json!({"request_id": request_id, "shortcode": shortcode}),
                );
                if shared.publish("inbound", msg.encode()).await {
                    ("mo", "accepted", ACCEPTED)
                } else {
                    ("mo", "bus_error", ERROR)
                }
            }
            Ok(Post::Notification {
                message_id,
                status,
                raw_status,
                credits_cost,
            }) => {
                let meta = json!({"status": raw_status, "credits_cost": credits_cost});
                let keys = [id_key(&self.id, message_id)];
                let reported = shared
                    .report("notification", &keys, status, ("chikka", meta))
                    .await;
                return match reported {
                    super::Reported::Failed => (ERROR.0, "text/plain", ERROR.1.to_owned()),
                    _ => (ACCEPTED.0, "text/plain", ACCEPTED.1.to_owned()),
                };
            }
        };
        shared.post(kind, outcome);
        (status, "text/plain", body.to_owned())
    }
}

/// Chikka escapes `/` in its JSON strings (`Invalid\/Used`).
fn unescape(body: &str) -> String {
    body.replace("\\/", "/")
}

/// The description (or message) of a Chikka error body, or the body itself.
fn describe(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v["description"].as_str().or(v["message"].as_str()))
        .unwrap_or(body);
    super::clip(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chikka() -> Chikka {
        Chikka {
            id: "ck".into(),
            url: "http://127.0.0.1:1/smsapi/request".into(),
            client_id: "c".repeat(64),
            secret_key: "s".repeat(64),
            shortcode: "29290700".into(),
            request_cost: "FREE".into(),
        }
    }

    fn parse(form: &[u8]) -> Vec<(String, String)> {
        form_urlencoded::parse(form).into_owned().collect()
    }

    #[test]
    fn a_reply_to_an_mo_is_a_reply_with_its_request_id_and_cost() {
        let mut msg =
            UserMessage::new("ck", "sms", "29290700", "+639177982781", Some("Hi!".into()));
        msg.transport_metadata.insert(
            "chikka".into(),
            json!({"request_id": "5048", "request_cost": "P2.50"}),
        );
        assert!(Chikka::wants_reply(&msg));
        let form = parse(&chikka().form(&msg, "Hi!", "abc", true));
        let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        assert_eq!(get("message_type"), Some("REPLY"));
        assert_eq!(get("mobile_number"), Some("639177982781"));
        assert_eq!(get("request_id"), Some("5048"));
        assert_eq!(get("request_cost"), Some("P2.50"));
        assert_eq!(get("message"), Some("Hi!"));
        // Sent again as SEND: no request id, no cost.
        let form = parse(&chikka().form(&msg, "Hi!", "abc", false));
        assert!(
            form.iter()
                .all(|(k, _)| k != "request_id" && k != "request_cost")
        );
        assert!(form.contains(&("message_type".into(), "SEND".into())));
    }

    #[test]
    fn long_texts_go_in_parts_of_420_characters() {
        assert_eq!(split("short"), ["short"]);
        assert_eq!(split(""), [""]);
        let long = "é".repeat(900);
        let parts = split(&long);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [420, 420, 60]
        );
        assert_eq!(parts.concat(), long);
    }

    #[test]
    fn message_ids_fit_chikkas_32_characters() {
        let uuid = "0f8e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(
            super::super::provider_id(uuid),
            "0f8e2a1c3b4d4e5f8a9b0c1d2e3f4a5b"
        );
        let long = "x".repeat(40);
        let made = super::super::provider_id(&long);
        assert_eq!(made.len(), 32);
        assert_ne!(made, long[..32]);
        assert_eq!(
            super::super::provider_id("a b").len(),
            32,
            "not alphanumeric: a new id"
        );
    }

    #[test]
    fn error_bodies_are_described() {
        let body =
            r#"{"status":400,"message":"BAD REQUEST","description":"Invalid\/Used Request ID"}"#;
        assert!(unescape(body).contains(USED_REQUEST_ID));
        assert_eq!(describe(body), "Invalid/Used Request ID");
        assert_eq!(describe("ERROR"), "ERROR");
    }
}
