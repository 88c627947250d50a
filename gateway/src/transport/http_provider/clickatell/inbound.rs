//! What Clickatell posts to a Clickatell transport: status callbacks on `receipt`,
//! `receipt.json`, `receipt.xml` and MO on `receive`, `receive.json`, `receive.xml` (the
//! original Richmond's paths, under `/api/v1/sms/<id>/`), by GET or POST.
//!
//! Reference: reference/http-providers.md §1.1 (callback variables and formats, MO and its
//! charsets, long MO in parts), §1.3 (Platform JSON callbacks).
//!
//! * The fields are read from the query, a form body, the XML in a `data` field (or an XML
//!   body), or a JSON body (Platform).
//! * A callback becomes a `delivery_report` for the message it names (by `cliMsgId`, else
//!   Clickatell's id, through the store): answered 200 once the bus owns it, 500 when the bus
//!   or the store failed (Clickatell posts again), 200 for an id nobody knows (counted, so
//!   Clickatell stops).
//! * An MO becomes a `user_message` (from `+<from>`, to `to`; `transport_metadata.clickatell`:
//!   `mo_msg_id`, `timestamp`), answered 200 `Accepted` once the bus owns it. An MO part
//!   (a UDH with a concatenation element) is kept in the store until the others come
//!   (`clickatell:<t>:mp:<from>:<to>:<ref>:<total>`), answered once stored; the joined text
//!   goes on as one message, or flagged incomplete after `multipart_timeout_seconds`.
//! * A post that reads as neither gets 400, counted.

use std::sync::Arc;

use richmond_codecs::providers::clickatell::{self as wire, Mo};
use richmond_codecs::providers::{form_fields_raw, json_fields, xml_leaves};
use richmond_codecs::vumi::UserMessage;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Clickatell, api_key, cli_key};
use crate::transport::http_provider::{Post, Reply, Reported, Shared};
use crate::transport::multipart::{self, Added, Incomplete, Part};

fn reply(status: u16, body: &str) -> Reply {
    (status, "text/plain", body.to_owned())
}

/// Field names and their values as octets.
type Fields = Vec<(String, Vec<u8>)>;

/// The fields of a post, and whether its `text` is still percent-encoded (Platform JSON).
fn fields_of(post: &Post) -> Result<(Fields, bool), &'static str> {
    let as_octets = |fields: Vec<(String, String)>| {
        fields
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect::<Vec<_>>()
    };
    let from_xml = |xml: &[u8]| {
        let xml = std::str::from_utf8(xml).map_err(|_| "xml")?;
        let leaves = xml_leaves(xml).map_err(|_| "xml")?;
        // XML text is decoded already: a charset named inside no longer applies.
        let leaves = leaves.into_iter().filter(|(k, _)| k != "charset").collect();
        Ok::<_, &'static str>(as_octets(leaves))
    };
    let body = post.body.trim_ascii();
    if post.is_json() || body.starts_with(b"{") {
        let fields = json_fields(body).map_err(|_| "json")?;
        return Ok((as_octets(fields), true));
    }
    if body.starts_with(b"<") {
        return Ok((from_xml(body)?, false));
    }
    let mut fields = post.query.clone();
    fields.extend(form_fields_raw(body));
    if let Some((_, xml)) = fields.iter().find(|(k, _)| k == "data") {
        return Ok((from_xml(xml)?, false));
    }
    Ok((fields, false))
}

/// Handles one post.
pub(crate) async fn handle(shared: &Arc<Shared<Clickatell>>, post: Post) -> Reply {
    let receipt = post.name.starts_with("receipt");
    let kind = if receipt { "receipt" } else { "mo" };
    let (kind, outcome, answer) = match fields_of(&post) {
        Err(format) => {
            tracing::warn!(message = "Clickatell post unreadable; refused.", transport = %shared.id, format);
            (kind, Some("bad_request"), reply(400, "Bad Request"))
        }
        Ok((fields, _)) if receipt => receipt_post(shared, &fields).await,
        Ok((fields, percent_text)) => match wire::mo(&fields, percent_text) {
            Err(bad) => {
                tracing::warn!(message = "Clickatell MO refused.", transport = %shared.id, error = %bad);
                ("mo", Some("bad_request"), reply(400, "Bad Request"))
            }
            Ok(mo) => {
                let (kind, outcome, answer) = mo_post(shared, mo).await;
                (kind, Some(outcome), answer)
            }
        },
    };
    if let Some(outcome) = outcome {
        shared.post(kind, outcome);
    }
    answer
}

/// A status callback → a delivery report (counted by [`Shared::report`]).
async fn receipt_post(
    shared: &Shared<Clickatell>,
    fields: &[(String, Vec<u8>)],
) -> (&'static str, Option<&'static str>, Reply) {
    let r = match wire::receipt(fields) {
        Ok(r) => r,
        Err(bad) => {
            tracing::warn!(message = "Clickatell callback refused.", transport = %shared.id, error = %bad);
            return ("receipt", Some("bad_request"), reply(400, "Bad Request"));
        }
    };
    let id = &shared.id;
    let keys: Vec<String> = [
        r.cli_msg_id.as_deref().map(|c| cli_key(id, c)),
        r.api_msg_id.as_deref().map(|a| api_key(id, a)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let meta = json!({"status": r.raw_status, "api_msg_id": r.api_msg_id, "charge": r.charge});
    let answer = match shared
        .report("receipt", &keys, r.status, ("clickatell", meta))
        .await
    {
        Reported::Published => reply(200, "Accepted"),
        Reported::Unknown => reply(200, "Unknown message"),
        Reported::Failed => reply(500, "Error"),
    };
    ("receipt", None, answer)
}

/// What a stored MO part keeps besides its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    id: String,
    from: String,
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
}

/// An MO → inbound, or a part kept for its message.
async fn mo_post(shared: &Shared<Clickatell>, mo: Mo) -> (&'static str, &'static str, Reply) {
    let part = Part {
        octets: Vec::new(),
        text: Some(mo.text),
        meta: Meta {
            id: mo.id,
            from: mo.from,
            to: mo.to,
            timestamp: mo.timestamp,
        },
    };
    let Some(c) = mo.concat.filter(|c| c.total > 1) else {
        return if publish_mo(shared, &[part], None).await {
            ("mo", "accepted", reply(200, "Accepted"))
        } else {
            ("mo", "bus_error", reply(500, "Error"))
        };
    };
    let key = format!(
        "clickatell:{}:mp:{}:{}:{}:{}",
        shared.id, part.meta.from, part.meta.to, c.reference, c.total
    );
    let p = &shared.provider;
    match p
        .reassembly
        .add(&shared.ctx.store, &key, c.seq, c.total, &part)
        .await
    {
        Err(e) => {
            tracing::warn!(message = "Store error; Clickatell will post the MO part again.", transport = %shared.id, error = %e);
            ("mo_part", "store_error", reply(500, "Error"))
        }
        Ok(added) => {
            if added == Added::Complete {
                join_and_publish(shared, &key, c.total).await;
            }
            ("mo_part", "accepted", reply(200, "Accepted"))
        }
    }
}

/// Publishes the parts under `key` as one message, then forgets them; leaves them for the
/// timer when the bus does not take it.
async fn join_and_publish(shared: &Shared<Clickatell>, key: &str, total: u8) {
    shared
        .provider
        .reassembly
        .join(
            &shared.ctx.store,
            key,
            total,
            multipart::read_json,
            |joined| async move {
                let parts: Vec<Part<Meta>> = joined.parts.iter().map(|(_, p)| p.clone()).collect();
                publish_mo(shared, &parts, joined.incomplete()).await
            },
        )
        .await;
}

/// Publishes the message made of `parts` (in order); whether the bus took it.
async fn publish_mo(
    shared: &Shared<Clickatell>,
    parts: &[Part<Meta>],
    incomplete: Option<Incomplete>,
) -> bool {
    let Some(first) = parts.first() else {
        return true;
    };
    let text: String = parts.iter().filter_map(|p| p.text.as_deref()).collect();
    let from = format!("+{}", first.meta.from.trim_start_matches('+'));
    let mut msg = UserMessage::new(&shared.id, "sms", &from, &first.meta.to, Some(text));
    let ids: Vec<&str> = parts.iter().map(|p| p.meta.id.as_str()).collect();
    msg.transport_metadata.insert(
        "clickatell".into(),
        json!({"mo_msg_id": ids.join(","), "timestamp": first.meta.timestamp}),
    );
    if let Some(incomplete) = &incomplete {
        multipart::flag_incomplete(&mut msg.transport_metadata, "clickatell", incomplete);
    }
    shared.publish("inbound", msg.encode()).await
}

/// Publishes long MO whose parts stopped coming (`multipart_timeout_seconds`).
pub(crate) async fn multipart_timer(shared: Arc<Shared<Clickatell>>, intake: CancellationToken) {
    shared
        .provider
        .reassembly
        .timer(&shared.ctx.store, &intake, |key, total| {
            let shared = shared.clone();
            async move { join_and_publish(&shared, &key, total).await }
        })
        .await;
}
