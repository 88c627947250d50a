//! The endpoints. Every one but `openapi.json` is authenticated before its body is read (401,
//! 429: `super::authenticate` puts the caller's [`Account`] in the request), then reads and
//! checks all of its input before it touches the bus: a rejected request sends nothing.
//!
//! - `POST /api/v1/sms/{transport}/send.json`: one message per `to_msisdn`.
//! - `POST /api/v1/sms/{transport}/template_send.json`: `template` with `{{name}}`
//!   placeholders; `template_<name>` given once per recipient, in recipient order.
//! - `GET /api/v1/sms/{transport}/status/{id}.json`: one record (404 when it is not the
//!   caller's, on that transport).
//! - `GET /api/v1/sms/{transport}/status.json?since=<date>` (oldest first, at most
//!   [`MAX_LIST`]) or `?id=<id>&id=…` (the caller's records among them, in request order).
//! - `PUT /api/v1/account/callbacks.json`: `sms_received`, `sms_receipt` (an absent or empty
//!   field clears it).
//!
//! An unknown transport, or one the account may not use, is a 400 naming `transport`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use bytes::Bytes;

use super::auth::Account;
use super::callbacks::{self, Settings};
use super::input::{self, Fields};
use super::record::{self, MAX_LIST, Record};
use super::send;
use super::{ApiError, ApiState};

type Answer = Result<Json<serde_json::Value>, ApiError>;

fn check_transport(account: &Account, transport: &str) -> Result<(), ApiError> {
    if account.transports.iter().any(|t| t == transport) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "transport",
            "no such transport for this account",
        ))
    }
}

pub(crate) async fn send(
    State(state): State<ApiState>,
    Extension(account): Extension<Arc<Account>>,
    Path(transport): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    check_transport(&account, &transport)?;
    let fields = Fields::from_body(&headers, &body)?;
    let to = input::recipients(&fields, state.config.max_recipients)?;
    let from = input::sender(&fields)?;
    let message = fields.required("message")?;
    input::check_message(message, state.config.max_message_chars, "message")?;
    let texts = vec![message.to_owned(); to.len()];
    publish_all(&state, &account, &transport, &from, to, texts).await
}

pub(crate) async fn template_send(
    State(state): State<ApiState>,
    Extension(account): Extension<Arc<Account>>,
    Path(transport): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    check_transport(&account, &transport)?;
    let fields = Fields::from_body(&headers, &body)?;
    let to = input::recipients(&fields, state.config.max_recipients)?;
    let from = input::sender(&fields)?;
    let template = fields.required("template")?;
    if template.is_empty() {
        return Err(ApiError::invalid("template", "the template is empty"));
    }
    let names = input::placeholders(template).map_err(|r| ApiError::invalid("template", r))?;
    // Every template_* field must belong to a placeholder, and each placeholder needs one
    // value per recipient.
    for field in fields.names() {
        if let Some(name) = field.strip_prefix("template_")
            && !names.iter().any(|n| n == name)
        {
            return Err(ApiError::invalid(
                field,
                "the template has no such placeholder",
            ));
        }
    }
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        let field = format!("template_{name}");
        let given = fields.all(&field);
        if given.len() != to.len() {
            return Err(ApiError::invalid(
                field,
                format!(
                    "{} values for {} recipients: give one per recipient, in order",
                    given.len(),
                    to.len()
                ),
            ));
        }
        values.push(given);
    }
    let mut texts = Vec::with_capacity(to.len());
    for i in 0..to.len() {
        let text = input::render(template, |name| {
            names
                .iter()
                .position(|n| n == name)
                .and_then(|p| values.get(p))
                .and_then(|v| v.get(i))
                .copied()
                .unwrap_or_default()
        });
        input::check_message(&text, state.config.max_message_chars, "template").map_err(
            |e| match e {
                ApiError::Invalid { field, reason } => ApiError::Invalid {
                    field,
                    reason: format!("recipient {}: {reason}", i + 1),
                },
                other => other,
            },
        )?;
        texts.push(text);
    }
    publish_all(&state, &account, &transport, &from, to, texts).await
}

/// Records and publishes one message per recipient ([`send`](super::send)); the answer lists
/// the records of what was sent, or, when the bus took only some, which were and which not.
async fn publish_all(
    state: &ApiState,
    account: &Account,
    transport: &str,
    from: &str,
    to: Vec<String>,
    texts: Vec<String>,
) -> Answer {
    let job = send::Job {
        account: account.username.clone(),
        transport: transport.to_owned(),
        from: from.to_owned(),
        to,
        texts,
    };
    let outcome = send::run(state, job).await?;
    if outcome.refused.is_empty() && outcome.unconfirmed.is_empty() {
        return Ok(Json(serde_json::Value::Array(
            outcome.sent.iter().map(Record::to_json).collect(),
        )));
    }
    if outcome.sent.is_empty() && outcome.unconfirmed.is_empty() {
        let reason = outcome.refused[0].1.to_string();
        return Err(ApiError::Bus(format!("{reason}; nothing was sent")));
    }
    Err(ApiError::PartlySent {
        sent: outcome.sent.iter().map(Record::to_json).collect(),
        unconfirmed: outcome.unconfirmed.iter().map(Record::to_json).collect(),
        not_sent: outcome
            .refused
            .iter()
            .map(|(to, e)| serde_json::json!({"to_msisdn": to, "reason": e.to_string()}))
            .collect(),
    })
}

pub(crate) async fn status_one(
    State(state): State<ApiState>,
    Extension(account): Extension<Arc<Account>>,
    Path((transport, file)): Path<(String, String)>,
) -> Answer {
    check_transport(&account, &transport)?;
    let id = file.strip_suffix(".json").ok_or(ApiError::NotFound)?;
    let rec = record::load(&state.store, id)
        .await?
        .filter(|r| r.account == account.username && r.transport == transport)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(rec.to_json()))
}

pub(crate) async fn status_list(
    State(state): State<ApiState>,
    Extension(account): Extension<Arc<Account>>,
    Path(transport): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    check_transport(&account, &transport)?;
    let query = query.unwrap_or_default();
    let fields = Fields::from_form(query.as_bytes()).map_err(|e| match e {
        ApiError::Invalid { reason, .. } if reason.contains("UTF-8") => {
            ApiError::invalid("since", "the query string is not UTF-8")
        }
        other => other,
    })?;
    let ids = fields.all("id");
    let since = fields.optional("since")?;
    let mine = |r: &Record| r.account == account.username && r.transport == transport;
    let mut out = Vec::new();
    match (since, ids.is_empty()) {
        (Some(_), false) => {
            return Err(ApiError::invalid("id", "give either since or id, not both"));
        }
        (None, true) => {
            return Err(ApiError::invalid(
                "since",
                "give since=<date> or one or more id=<message id>",
            ));
        }
        (None, false) => {
            if ids.len() > MAX_LIST {
                return Err(ApiError::invalid("id", "too many ids"));
            }
            for id in ids {
                if let Some(r) = record::load(&state.store, id).await?.filter(mine) {
                    out.push(r.to_json());
                }
            }
        }
        (Some(since), true) => {
            let from = input::parse_date(since).ok_or_else(|| {
                ApiError::invalid(
                    "since",
                    "not a date: use RFC 3339 (2026-01-02T03:04:05Z) or YYYY-MM-DD HH:MM:SS (UTC)",
                )
            })?;
            let index = record::index_key(&account.username, &transport);
            for (id, _) in state
                .store
                .index_range(&index, from, i64::MAX, MAX_LIST)
                .await?
            {
                if let Some(r) = record::load(&state.store, &id).await?.filter(mine) {
                    out.push(r.to_json());
                }
            }
        }
    }
    Ok(Json(serde_json::Value::Array(out)))
}

pub(crate) async fn put_callbacks(
    State(state): State<ApiState>,
    Extension(account): Extension<Arc<Account>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let fields = Fields::from_body(&headers, &body)?;
    let mut settings = Settings::default();
    for (name, slot) in [
        ("sms_received", &mut settings.sms_received),
        ("sms_receipt", &mut settings.sms_receipt),
    ] {
        match fields.optional(name)? {
            None | Some("") => {}
            Some(url) => {
                callbacks::check_url(url, &state.config.callback_policy())
                    .map_err(|r| ApiError::invalid(name, r))?;
                *slot = Some(url.to_owned());
            }
        }
    }
    if let Some(other) = fields
        .names()
        .into_iter()
        .find(|n| !matches!(*n, "sms_received" | "sms_receipt"))
    {
        return Err(ApiError::invalid(
            other,
            "unknown field: give sms_received and/or sms_receipt",
        ));
    }
    callbacks::save_settings(&state.store, &account.username, &settings).await?;
    tracing::info!(message = "Callbacks set.", account = %account.username, sms_received = settings.sms_received.is_some(), sms_receipt = settings.sms_receipt.is_some());
    Ok(Json(serde_json::json!({
        "sms_received": settings.sms_received,
        "sms_receipt": settings.sms_receipt,
    })))
}
