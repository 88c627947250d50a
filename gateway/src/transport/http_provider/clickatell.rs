//! Clickatell: the legacy HTTP API (`api = "http"`, what the original Richmond used) or the
//! Platform REST API (`api = "platform"`); status callbacks and MO posted to the transport's
//! listener (see [`inbound`]).
//!
//! Reference: reference/http-providers.md §1.1 (`sendmsg`, `auth`, `ping`, answers, error
//! codes), §1.2 (how Richmond sent: `climsgid`, `callback=3`, `deliv_ack`), §1.3 (Platform).
//!
//! * Legacy: `POST <base_url>/http/sendmsg` with `api_id`/`user`/`password` — or, with
//!   `session = true`, the `session_id` that `auth` gave, kept alive with `ping` every
//!   `ping_seconds` and renewed once when a send is answered `ERR: 003` or `005` — and `to`
//!   (no `+`), `text` (UCS-2 hex with `unicode=1` when it is not all GSM-7), `climsgid` (the
//!   Vumi id without dashes), `callback=3`, `deliv_ack=1`, `concat` (the parts the text takes;
//!   over `max_parts`: nacked without a request), `from`, `mo=1` with `two_way`.
//!   `ID: x` → `ack` with `sent_message_id` x; `ERR: nnn, text` → `nack` "ERR: nnn, text"; a
//!   200 with neither → `ack` under the `climsgid` (Clickatell took it; its callbacks echo it).
//! * Platform: `POST <base_url>/messages`, `Authorization: <api_key>`, JSON `content`, `to`,
//!   `from`, `clientMessageId`; `apiMessageId` → `ack`, an `error` → `nack`.
//! * Both: 5xx, 429 and no answer are tried again ([`super::send_with_retries`]); any other
//!   status is a refusal. The `climsgid` is kept in the store (`clickatell:<t>:id:<climsgid>`
//!   → Vumi id) before the request, Clickatell's id (`clickatell:<t>:api:<id>`) after it, for
//!   the callbacks.

pub(crate) mod inbound;

use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::providers::clickatell::{self as wire, Answer as Line, PlatformAnswer};
use richmond_codecs::vumi::UserMessage;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::client::Answer;
use super::config::{ClickatellApi, ClickatellConfig};
use super::{Outcome, Provider, Shared, clip};
use crate::transport::multipart::Reassembly;

/// What a Clickatell transport needs.
pub(crate) struct Clickatell {
    pub(crate) id: String,
    api: ClickatellApi,
    base: String,
    api_id: String,
    user: String,
    password: String,
    api_key: String,
    /// The session (session mode only).
    session: Option<tokio::sync::Mutex<Session>>,
    from: Option<String>,
    max_parts: u8,
    two_way: bool,
    pub(crate) reassembly: Reassembly,
}

/// The store key of a message's `climsgid`.
pub(crate) fn cli_key(transport: &str, cli_msg_id: &str) -> String {
    format!("clickatell:{transport}:id:{cli_msg_id}")
}

/// The store key of Clickatell's id of a message.
pub(crate) fn api_key(transport: &str, api_msg_id: &str) -> String {
    format!("clickatell:{transport}:api:{api_msg_id}")
}

/// The legacy API's session: the id in use, or why the last `auth` failed and when (tried
/// again only `AUTH_PAUSE` later, so messages waiting for a session are refused at once
/// instead of each running its own failing `auth`).
#[derive(Default)]
pub(crate) struct Session {
    id: Option<String>,
    failed: Option<(std::time::Instant, Refusal)>,
}

/// Why there is no session: the reason, and whether it may pass (no answer, 5xx: the
/// message goes back to its queue) or not (Clickatell refused the credentials: nacked).
#[derive(Clone)]
struct Refusal {
    why: String,
    passing: bool,
}

/// How long a failed `auth` is remembered.
const AUTH_PAUSE: Duration = Duration::from_secs(10);

/// Legacy codes that mean the session is gone (expired, missing).
const SESSION_GONE: [&str; 2] = ["003", "005"];

/// Starts Clickatell transport `id` (see [`super::spawn`]), with its session keeper and the
/// timer of long MO.
///
/// # Errors
/// The listener cannot be bound or the client made.
pub(crate) fn spawn(
    id: &str,
    config: &ClickatellConfig,
    ctx: &super::Context,
    tracker: &tokio_util::task::TaskTracker,
    intake: &CancellationToken,
) -> Result<(), crate::transport::StartError> {
    let secret = |s: &Option<crate::config::secret::Secret>| {
        s.as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default()
    };
    let provider = Clickatell {
        id: id.to_owned(),
        api: config.api,
        base: config.base_url().trim_end_matches('/').to_owned(),
        api_id: config.api_id.clone().unwrap_or_default(),
        user: config.user.clone().unwrap_or_default(),
        password: secret(&config.password),
        api_key: secret(&config.api_key),
        session: config
            .session
            .then(|| tokio::sync::Mutex::new(Session::default())),
        from: config.from.clone(),
        max_parts: config.max_parts,
        two_way: config.two_way,
        reassembly: Reassembly::new(
            id,
            format!("clickatell:{id}:mp-open:all"),
            Duration::from_secs(config.http.multipart_timeout_seconds),
        ),
    };
    let shared = super::spawn(id, &config.http, provider, ctx, tracker, intake)?;
    if config.session {
        let (s, stop) = (shared.clone(), intake.clone());
        let every = Duration::from_secs(config.ping_seconds);
        tracker.spawn(async move { keep_alive(&s, every, &stop).await });
    }
    let (s, stop) = (shared, intake.clone());
    tracker.spawn(async move { inbound::multipart_timer(s, stop).await });
    Ok(())
}

/// Pings the session every `every` until `stop`; a session Clickatell no longer knows is
/// dropped (the next send authenticates again).
async fn keep_alive(shared: &Arc<Shared<Clickatell>>, every: Duration, stop: &CancellationToken) {
    let Some(session) = &shared.provider.session else {
        return;
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let Some(id) = session.lock().await.id.clone() else {
            continue;
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("session_id", &id)
            .finish()
            .into_bytes();
        let url = format!("{}/http/ping", shared.provider.base);
        let answer = shared
            .client
            .post(&url, "application/x-www-form-urlencoded", form)
            .await;
        if let Answer::Status { status: 200, body } = &answer
            && let Line::Err { code, description } = wire::answer(body)
        {
            tracing::info!(message = "Clickatell dropped the session; the next send authenticates again.", transport = %shared.id, code, description);
            let mut held = session.lock().await;
            if held.id.as_deref() == Some(id.as_str()) {
                held.id = None;
            }
        }
    }
}

impl Clickatell {
    /// The session id (authenticating first when there is none).
    async fn session_id(&self, shared: &Shared<Self>) -> Result<String, Refusal> {
        let Some(session) = &self.session else {
            return Err(Refusal {
                why: "no session mode".into(),
                passing: false,
            });
        };
        let mut held = session.lock().await;
        if let Some(id) = held.id.as_ref() {
            return Ok(id.clone());
        }
        if let Some((at, why)) = &held.failed
            && at.elapsed() < AUTH_PAUSE
        {
            return Err(why.clone());
        }
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("api_id", &self.api_id)
            .append_pair("user", &self.user)
            .append_pair("password", &self.password)
            .finish()
            .into_bytes();
        let url = format!("{}/http/auth", self.base);
        let answer = super::send_with_retries(shared, || {
            shared
                .client
                .post(&url, "application/x-www-form-urlencoded", form.clone())
        })
        .await;
        let refused = |why: String, passing| Err(Refusal { why, passing });
        let opened = match &answer {
            Answer::Status { status: 200, body } => match wire::answer(body) {
                Line::Ok(id) if !id.is_empty() => Ok(id.to_owned()),
                Line::Err { code, description } => {
                    refused(format!("auth: ERR: {code}, {description}"), false)
                }
                _ => refused(format!("auth: unexpected answer {:?}", clip(body)), false),
            },
            other => {
                let passing = !matches!(other, Answer::Status { status, .. } if *status < 500 && *status != 429);
                refused(
                    format!("auth: {}", super::refusal("Clickatell", other)),
                    passing,
                )
            }
        };
        match &opened {
            Ok(id) => {
                tracing::info!(message = "Clickatell session opened.", transport = %self.id);
                held.id = Some(id.clone());
                held.failed = None;
            }
            Err(refusal) => {
                tracing::error!(message = "Clickatell auth failed; no new try for a while.", transport = %self.id, reason = %refusal.why, passing = refusal.passing);
                held.failed = Some((std::time::Instant::now(), refusal.clone()));
            }
        }
        opened
    }

    /// Forgets session `id` (Clickatell said it is gone).
    async fn drop_session(&self, id: &str) {
        if let Some(session) = &self.session {
            let mut held = session.lock().await;
            if held.id.as_deref() == Some(id) {
                held.id = None;
            }
        }
    }

    /// The sender id for `msg`, if any.
    fn sender<'m>(&'m self, msg: &'m UserMessage) -> Option<&'m str> {
        match self.from.as_deref() {
            Some("message") => msg.from_addr.as_deref().map(|f| f.trim_start_matches('+')),
            other => other,
        }
        .filter(|f| !f.is_empty())
    }

    /// The `sendmsg` form of `msg` (authenticated with `session`, else the credentials).
    fn sendmsg_form(&self, msg: &UserMessage, cli_msg_id: &str, session: Option<&str>) -> Vec<u8> {
        let text = msg.content.as_deref().unwrap_or_default();
        let (unicode, parts) = wire::parts(text);
        let mut form = form_urlencoded::Serializer::new(String::new());
        match session {
            Some(id) => form.append_pair("session_id", id),
            None => form
                .append_pair("api_id", &self.api_id)
                .append_pair("user", &self.user)
                .append_pair("password", &self.password),
        };
        let to = msg.to_addr.as_deref().unwrap_or_default();
        form.append_pair("to", to.trim_start_matches('+'));
        if unicode {
            form.append_pair("text", &wire::ucs2_hex(text))
                .append_pair("unicode", "1");
        } else {
            form.append_pair("text", text);
        }
        form.append_pair("climsgid", cli_msg_id)
            .append_pair("callback", "3")
            .append_pair("deliv_ack", "1");
        if parts > 1 {
            form.append_pair("concat", &parts.to_string());
        }
        if let Some(from) = self.sender(msg) {
            form.append_pair("from", from);
        }
        if self.two_way {
            form.append_pair("mo", "1");
        }
        form.finish().into_bytes()
    }

    /// Sends `msg` through the legacy API.
    async fn send_legacy(&self, shared: &Shared<Self>, msg: &UserMessage, cli: &str) -> Outcome {
        let (_, parts) = wire::parts(msg.content.as_deref().unwrap_or_default());
        if parts > usize::from(self.max_parts) {
            return Outcome::Refused(format!(
                "the text takes {parts} parts; max_parts is {}",
                self.max_parts
            ));
        }
        let url = format!("{}/http/sendmsg", self.base);
        let mut renewed = false;
        loop {
            let session = if self.session.is_some() {
                match self.session_id(shared).await {
                    Ok(id) => Some(id),
                    Err(Refusal { why, passing: true }) => return Outcome::Later(why),
                    Err(Refusal { why, .. }) => return Outcome::Refused(why),
                }
            } else {
                None
            };
            let form = self.sendmsg_form(msg, cli, session.as_deref());
            let answer = super::send_with_retries(shared, || {
                shared
                    .client
                    .post(&url, "application/x-www-form-urlencoded", form.clone())
            })
            .await;
            let body = match answer {
                Answer::Status { status: 200, body } => body,
                other => return Outcome::Refused(super::refusal("Clickatell", &other)),
            };
            return match wire::answer(&body) {
                Line::Id(id) if !id.is_empty() => Outcome::Accepted(id.to_owned()),
                Line::Err { code, .. }
                    if !renewed && SESSION_GONE.contains(&code) && session.is_some() =>
                {
                    self.drop_session(session.as_deref().unwrap_or_default())
                        .await;
                    renewed = true;
                    tracing::info!(message = "Clickatell session gone; authenticating again.", transport = %self.id, code);
                    continue;
                }
                Line::Err { code, description } => {
                    if wire::is_account_error(code) {
                        tracing::error!(message = "Clickatell refused the account; check its settings.", transport = %self.id, code, description);
                    }
                    Outcome::Refused(format!("ERR: {code}, {description}"))
                }
                Line::Other(text) if text.is_empty() || text.starts_with('<') => {
                    // Empty, or a page (a proxy's?): nothing says Clickatell took it.
                    Outcome::Refused(format!(
                        "unexpected answer from Clickatell: {}",
                        clip(&body)
                    ))
                }
                _ => {
                    tracing::warn!(message = "Clickatell answered 200 without an ID; acked under the climsgid.", transport = %self.id, answer = %clip(&body));
                    Outcome::Accepted(cli.to_owned())
                }
            };
        }
    }

    /// Sends `msg` through the Platform API.
    async fn send_platform(&self, shared: &Shared<Self>, msg: &UserMessage, cli: &str) -> Outcome {
        let to = msg.to_addr.as_deref().unwrap_or_default();
        let mut body = json!({
            "content": msg.content.as_deref().unwrap_or_default(),
            "to": [to.trim_start_matches('+')],
            "clientMessageId": cli,
        });
        if let Some(from) = self.sender(msg) {
            body["from"] = json!(from);
        }
        let body = body.to_string().into_bytes();
        let url = format!("{}/messages", self.base);
        let headers = [
            ("authorization", self.api_key.as_str()),
            ("accept", "application/json"),
        ];
        let answer = super::send_with_retries(shared, || {
            shared
                .client
                .post_with(&url, "application/json", &headers, body.clone())
        })
        .await;
        match answer {
            Answer::Status { status, body } if (200..300).contains(&status) => {
                match wire::platform_answer(&body) {
                    PlatformAnswer::Accepted(id) => Outcome::Accepted(id),
                    PlatformAnswer::Refused(why) => Outcome::Refused(format!("Clickatell: {why}")),
                }
            }
            Answer::Status { status, body } => {
                let body = match wire::platform_answer(&body) {
                    PlatformAnswer::Refused(why) => why,
                    PlatformAnswer::Accepted(_) => body,
                };
                Outcome::Refused(super::refusal(
                    "Clickatell",
                    &Answer::Status { status, body },
                ))
            }
            none @ Answer::None { .. } => Outcome::Refused(super::refusal("Clickatell", &none)),
        }
    }
}

impl Provider for Clickatell {
    const PATHS: &'static [&'static str] = &[
        "receive",
        "receive.json",
        "receive.xml",
        "receipt",
        "receipt.json",
        "receipt.xml",
    ];

    async fn send(&self, shared: &Shared<Self>, msg: &UserMessage) -> Outcome {
        let cli = super::provider_id(&msg.message_id);
        let ttl = Duration::from_secs(shared.receipt_ttl_seconds);
        let store = &shared.ctx.store;
        if let Err(e) = store
            .put(&cli_key(&self.id, &cli), msg.message_id.as_bytes(), ttl)
            .await
        {
            return Outcome::Later(format!("store: {e}"));
        }
        let outcome = match self.api {
            ClickatellApi::Http => self.send_legacy(shared, msg, &cli).await,
            ClickatellApi::Platform => self.send_platform(shared, msg, &cli).await,
        };
        if let Outcome::Accepted(id) = &outcome
            && id != &cli
            && let Err(e) = store
                .put(&api_key(&self.id, id), msg.message_id.as_bytes(), ttl)
                .await
        {
            // The climsgid (kept above) still matches the callbacks that echo it.
            tracing::warn!(message = "Store error keeping Clickatell's id; callbacks match by climsgid only.", transport = %self.id, error = %e);
        }
        outcome
    }

    async fn inbound(&self, shared: &Arc<Shared<Self>>, post: super::Post) -> super::Reply {
        inbound::handle(shared, post).await
    }
}

#[cfg(test)]
#[path = "clickatell_tests.rs"]
mod tests;
