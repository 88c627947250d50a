//! `richmond simulate clickatell`: Clickatell's legacy HTTP API and Platform API on loopback.
//!
//! Reference: reference/http-providers.md §1.1 (commands, checks, `ERR:` codes, callbacks,
//! MO and its charsets), §1.3 (Platform). It answers, by GET or POST:
//!
//! * `/http/auth` — `OK: <session id>`, or `ERR: 001, Authentication failed`;
//! * `/http/ping` — `OK:` for a live session, else `ERR: 003, Session ID expired`;
//! * `/http/sendmsg` — `ID: <apimsgid>` after Clickatell's checks: credentials (`ERR: 001`,
//!   `108` for a wrong `api_id`) or a live `session_id` (`003`), `to` digits without `0`/`+`
//!   (`105`), a text (`107`), UCS-2 hex with `unicode=1` (`116`), no more parts than
//!   `concat` allows (`113`), `climsgid` up to 32 letters and digits (`101`);
//! * `POST /messages` — the Platform API: `Authorization` must be `--api-key` (401 with a
//!   JSON `error` otherwise), JSON `content` and `to`; 202 with `apiMessageId`.
//!
//! A sent message's statuses (`--statuses`, `003,004` by default: delivered to the gateway,
//! then received) are posted `--receipt-delay-ms` apart to `--receipt-url` — as form fields,
//! `data=<callback XML>` (`--callback-format xml`) or, for the Platform API, JSON — each
//! posted again (at most 4 tries) until answered 2xx. Commands (stdin, one per line):
//!
//! ```text
//! mo <from> <to> <text…>     an MO to --mo-url (in UDH parts when long; ISO-8859-1 or UTF-16BE)
//! receipt <id> <status>      a status callback for any apiMsgId
//! err <code> [n]             answer the next n sendmsg with ERR: <code>
//! fail <status> [n]          answer the next n sends with HTTP <status>
//! hang [n]                   answer the next n sends never
//! expire                     forget every session
//! quit
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use richmond_codecs::providers::clickatell as wire;
use richmond_codecs::providers::{form_fields, xml_escape};
use richmond_codecs::vumi::new_id;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::provider::{self, Misbehave, Queue, count_arg, post_until};
use super::{Output, SimulateError};
use crate::transport::http_provider::client::ProviderClient;

mod mo;

const HELP: &str = "mo <from> <to> <text…> | receipt <id> <status> | err <code> [n] | \
fail <status> [n] | hang [n] | expire | quit";

/// How status callbacks and MO are posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Form fields (HTTP POST).
    Form,
    /// One form field `data` holding Clickatell's XML.
    Xml,
    /// Platform JSON.
    Json,
}

/// Options of `richmond simulate clickatell`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the `listening` event names it).
    #[arg(long, default_value = "127.0.0.1:50010")]
    pub listen: std::net::SocketAddr,
    /// The `api_id` legacy requests must carry.
    #[arg(long, default_value = "3186")]
    pub api_id: String,
    /// The `user` legacy requests must carry.
    #[arg(long, default_value = "richmond")]
    pub user: String,
    /// The `password` legacy requests must carry.
    #[arg(long, default_value = "richmond")]
    pub password: String,
    /// The Platform API's key (`Authorization` header).
    #[arg(long, default_value = "richmond-key")]
    pub api_key: String,
    /// Where status callbacks are posted (the gateway's receipt URL, with its secret).
    #[arg(long)]
    pub receipt_url: Option<String>,
    /// Where MO are posted (the gateway's receive URL, with its secret).
    #[arg(long)]
    pub mo_url: Option<String>,
    /// How callbacks and MO are posted.
    #[arg(long, value_enum, default_value_t = Format::Form)]
    pub callback_format: Format,
    /// The statuses posted for each sent message, in order (legacy codes; empty: none).
    #[arg(long, default_value = "003,004")]
    pub statuses: String,
    /// Delay before each status callback, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub receipt_delay_ms: u64,
}

struct Sim {
    args: Args,
    out: Output,
    sessions: Mutex<HashSet<String>>,
    /// `ERR:` codes the next `sendmsg` requests get.
    errors: Queue<String>,
    misbehave: Misbehave,
    client: ProviderClient,
    stop: CancellationToken,
}

/// Runs the simulator until `stop`.
///
/// # Errors
/// The listener cannot be bound.
pub async fn run(args: Args, stop: CancellationToken) -> Result<(), SimulateError> {
    let (listener, client) = provider::start(args.listen).await?;
    let sim = Arc::new(Sim {
        args,
        out: Output::default(),
        sessions: Mutex::default(),
        errors: Queue::default(),
        misbehave: Misbehave::default(),
        client,
        stop: stop.clone(),
    });
    let legacy = axum::routing::post(legacy).get(legacy);
    let app = Router::new()
        .route("/http/{command}", legacy)
        .route("/messages", axum::routing::post(platform))
        .with_state(sim.clone());
    let commands = sim.clone();
    let command = move |line: String| {
        let sim = commands.clone();
        async move { sim.command(&line).await }
    };
    provider::serve(listener, &sim.out, app, command, stop).await
}

fn err(code: &str, description: &str) -> String {
    format!("ERR: {code}, {description}")
}

/// Waits for the simulator to stop when told to hang; the status to answer when told to fail.
async fn misbehaving(sim: &Sim, what: &str) -> Option<StatusCode> {
    match sim.misbehave.next()? {
        None => {
            sim.out
                .emit(&json!({"event": "request_hung", "request": what}));
            sim.stop.cancelled().await;
            Some(StatusCode::SERVICE_UNAVAILABLE)
        }
        Some(status) => Some(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)),
    }
}

/// `/http/<command>` (query and form fields both read).
async fn legacy(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path(command): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> (StatusCode, String) {
    let mut form = form_fields(query.unwrap_or_default().as_bytes());
    form.extend(form_fields(&body));
    let field = |k: &str| {
        form.iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // `fail` and `hang` are for sends: a session's pings and auths go on meanwhile.
    if command == "sendmsg"
        && let Some(status) = misbehaving(&sim, &command).await
    {
        return (status, "told to fail".into());
    }
    let credentials = || {
        if field("api_id") != sim.args.api_id {
            Err(err("108", "Invalid or missing api_id"))
        } else if field("user") != sim.args.user || field("password") != sim.args.password {
            Err(err("001", "Authentication failed"))
        } else {
            Ok(())
        }
    };
    let live = |id: &str| {
        sim.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    };
    let body = match command.as_str() {
        "auth" => credentials().map(|()| {
            let id = new_id();
            sim.sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.clone());
            sim.out.emit(&json!({"event": "auth", "session_id": id}));
            format!("OK: {id}")
        }),
        "ping" if live(&field("session_id")) => Ok("OK:".into()),
        "ping" => Err(err("003", "Session ID expired")),
        "sendmsg" => {
            let session = field("session_id");
            let authed = if session.is_empty() {
                credentials()
            } else if live(&session) {
                Ok(())
            } else {
                Err(err("003", "Session ID expired"))
            };
            authed.and_then(|()| sim.sendmsg(&field))
        }
        _ => return (StatusCode::NOT_FOUND, "Not Found".into()),
    };
    let body = body.unwrap_or_else(|e| e);
    sim.out
        .emit(&json!({"event": "answer", "command": command, "answer": body}));
    (StatusCode::OK, body)
}

/// `POST /messages` (Platform).
async fn platform(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if let Some(status) = misbehaving(&sim, "messages").await {
        return (status, json!({"error": "told to fail"}).to_string());
    }
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if key != sim.args.api_key {
        let body = json!({"messages": [], "error": "Invalid or missing Integration API Key"});
        return (StatusCode::UNAUTHORIZED, body.to_string());
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"messages": [], "error": "Malformed payload"}).to_string(),
        );
    };
    let content = request["content"].as_str().unwrap_or_default().to_owned();
    let to = request["to"][0].as_str().unwrap_or_default().to_owned();
    let valid =
        |n: &str| !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
    if content.is_empty() || !valid(&to) {
        let error = json!({"code": 25, "description": "Invalid recipient or content"});
        let body = json!({"messages": [{"apiMessageId": "", "accepted": false, "to": to, "error": error}], "error": null});
        return (StatusCode::BAD_REQUEST, body.to_string());
    }
    let id = new_id();
    let cli = request["clientMessageId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    sim.out.emit(&json!({
        "event": "sendmsg", "api": "platform", "to": to, "text": content, "from": request["from"],
        "climsgid": cli, "apimsgid": id,
    }));
    sim.callbacks(id.clone(), cli, to.clone(), true);
    let body = json!({"messages": [{"apiMessageId": id, "accepted": true, "to": to, "error": null}], "error": null});
    (StatusCode::ACCEPTED, body.to_string())
}

impl Sim {
    /// The checks of `sendmsg` after authentication; the answer line.
    fn sendmsg(self: &Arc<Self>, field: &impl Fn(&str) -> String) -> Result<String, String> {
        if let Some(code) = self.errors.next() {
            return Err(err(&code, "told to refuse"));
        }
        let to = field("to");
        if to.is_empty() || to.starts_with('0') || !to.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("105", "Invalid Destination Address"));
        }
        let raw = field("text");
        if raw.is_empty() {
            return Err(err("107", "Empty message"));
        }
        let unicode = field("unicode") == "1";
        let text = if unicode {
            wire::from_ucs2_hex(&raw).ok_or_else(|| err("116", "Invalid Unicode Data"))?
        } else {
            raw
        };
        let (_, parts) = wire::parts(&text);
        let concat = field("concat").parse::<usize>().unwrap_or(1).max(1);
        if parts > concat {
            return Err(err("113", "Maximum message parts exceeded"));
        }
        let cli = field("climsgid");
        if cli.len() > 32 || !cli.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err("101", "Invalid or missing parameters"));
        }
        let id = new_id();
        self.out.emit(&json!({
            "event": "sendmsg", "api": "http", "to": to, "text": text, "unicode": unicode,
            "concat": concat, "parts": parts, "climsgid": cli, "apimsgid": id,
            "from": field("from"), "callback": field("callback"), "session": !field("session_id").is_empty(),
        }));
        if field("callback").parse::<u8>().is_ok_and(|c| c > 0) {
            self.callbacks(id.clone(), cli, to, false);
        }
        Ok(format!("ID: {id}"))
    }

    /// Posts the configured statuses of a sent message, `--receipt-delay-ms` apart.
    fn callbacks(self: &Arc<Self>, api_msg_id: String, cli: String, to: String, platform: bool) {
        let sim = self.clone();
        tokio::spawn(async move {
            let statuses = sim.args.statuses.split(',').map(str::trim);
            for status in statuses.filter(|s| !s.is_empty()) {
                tokio::time::sleep(Duration::from_millis(sim.args.receipt_delay_ms)).await;
                sim.receipt(&api_msg_id, &cli, &to, status, platform).await;
            }
        });
    }

    /// Posts one status callback.
    async fn receipt(&self, api_msg_id: &str, cli: &str, to: &str, status: &str, platform: bool) {
        let Some(url) = &self.args.receipt_url else {
            return;
        };
        let timestamp = now_seconds().to_string();
        let (content_type, body) = if platform || self.args.callback_format == Format::Json {
            let code = status.parse::<u16>().unwrap_or(0);
            let body = json!({
                "apiKey": self.args.api_key, "messageId": api_msg_id, "clientMessageId": cli,
                "to": to, "statusCode": code, "timestamp": now_seconds() * 1000,
            });
            ("application/json", body.to_string())
        } else {
            let fields = [
                ("api_id", self.args.api_id.as_str()),
                ("apiMsgId", api_msg_id),
                ("cliMsgId", cli),
                ("timestamp", &timestamp),
                ("to", to),
                ("from", "27000000000"),
                ("status", status),
                ("charge", "0.300000"),
            ];
            (FORM, self.legacy_body("callback", &fields))
        };
        let (answer_status, answer, attempts) =
            post_until(&self.client, url, content_type, body.as_bytes(), |s, _| {
                (200..300).contains(&s)
            })
            .await;
        self.out.emit(&json!({
            "event": "receipt_posted", "apimsgid": api_msg_id, "climsgid": cli, "status": status,
            "answer_status": answer_status, "answer": answer, "attempts": attempts,
        }));
    }

    /// Form fields, or their XML in `data` (`--callback-format xml`), as a form body.
    fn legacy_body(&self, root: &str, fields: &[(&str, &str)]) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        if self.args.callback_format == Format::Xml {
            let mut xml = format!("<?xml version=\"1.0\"?><{root}>");
            for (k, v) in fields {
                xml.push_str(&format!("<{k}>{}</{k}>", xml_escape(v)));
            }
            xml.push_str(&format!("</{root}>"));
            form.append_pair("data", &xml);
        } else {
            form.extend_pairs(fields);
        }
        form.finish()
    }

    async fn command(&self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["mo", from, to, text @ ..] if !text.is_empty() => {
                self.mo(from, to, &text.join(" ")).await;
            }
            ["receipt", id, status] => self.receipt(id, "", "27000000000", status, false).await,
            ["err", code, rest @ ..] => {
                let n = count_arg(rest);
                self.errors.push((*code).to_owned(), n);
                self.out
                    .emit(&json!({"event": "misbehave", "err": code, "n": n}));
            }
            ["fail", status, rest @ ..] if status.parse::<u16>().is_ok() => {
                let (n, status) = (count_arg(rest), status.parse().ok());
                self.misbehave.push(status, n);
                self.out
                    .emit(&json!({"event": "misbehave", "fail": status, "n": n}));
            }
            ["hang", rest @ ..] => {
                let n = count_arg(rest);
                self.misbehave.push(None, n);
                self.out.emit(&json!({"event": "misbehave", "hang": n}));
            }
            ["expire"] => {
                self.sessions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                self.out.emit(&json!({"event": "sessions_expired"}));
            }
            ["quit"] => self.stop.cancel(),
            _ => self.out.emit(&json!({"event": "help", "commands": HELP})),
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
