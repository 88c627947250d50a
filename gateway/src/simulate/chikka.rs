//! `richmond simulate chikka`: Chikka's SMS API on loopback.
//!
//! Reference: reference/http-providers.md §3 (fields, answers), §3.6 (what it checks). It
//! answers `POST /smsapi/request` as Chikka does — 401 for a wrong `client_id`/`secret_key`,
//! 400 for a bad number, a missing field, a `message_id` over 32 characters or a `REPLY` whose
//! `request_id` it never posted or saw used already (`Invalid/Used Request ID`), else
//! `{"status":200,"message":"ACCEPTED"}` — and, `--notify-delay-ms` later, posts the
//! notification (`message_type=outgoing`, `status` SENT unless told otherwise) to `--post-to`.
//! MO posts (`mo`) go to the same URL with a fresh `request_id`, posted again (at most 3 more
//! times) until answered `Accepted`. Commands (stdin, one per line):
//!
//! ```text
//! mo <mobile_number> <text…>     an MO from 63XXXXXXXXXX
//! notify <message_id> <SENT|FAILED>   a notification for any id
//! notify-status SENT|FAILED      the status of later notifications (default SENT)
//! fail <status> [n]              answer the next n requests (default 1) with HTTP <status>
//! hang [n]                       answer the next n requests never (the client times out)
//! quit
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::provider::{self, Misbehave, count_arg, post_until};
use super::{Output, SimulateError};
use crate::transport::http_provider::client::ProviderClient;

const HELP: &str = "mo <mobile_number> <text…> | notify <message_id> <SENT|FAILED> | \
notify-status SENT|FAILED | fail <status> [n] | hang [n] | quit";

/// Options of `richmond simulate chikka`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the `listening` event names it).
    #[arg(long, default_value = "127.0.0.1:50009")]
    pub listen: std::net::SocketAddr,
    /// The `client_id` requests must carry.
    #[arg(long, default_value = "richmond")]
    pub client_id: String,
    /// The `secret_key` requests must carry.
    #[arg(long, default_value = "richmond")]
    pub secret_key: String,
    /// The access code MO are sent to (and notifications name).
    #[arg(long, default_value = "29290700")]
    pub shortcode: String,
    /// Where MO and notifications are posted (the gateway's receive URL, with its secret).
    #[arg(long)]
    pub post_to: Option<String>,
    /// Delay before a sent message's notification, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub notify_delay_ms: u64,
}

/// What the simulator remembers between requests.
#[derive(Default)]
struct State_ {
    /// Request ids of MO posted and not yet used by a REPLY.
    open_requests: HashSet<String>,
    notify_status: String,
}

struct Sim {
    args: Args,
    out: Output,
    state: Mutex<State_>,
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
        state: Mutex::new(State_ {
            notify_status: "SENT".into(),
            ..State_::default()
        }),
        misbehave: Misbehave::default(),
        client,
        stop: stop.clone(),
    });
    let app = Router::new()
        .route("/smsapi/request", axum::routing::post(request))
        .with_state(sim.clone());
    let commands = sim.clone();
    let command = move |line: String| {
        let sim = commands.clone();
        async move { sim.command(&line).await }
    };
    provider::serve(listener, &sim.out, app, command, stop).await
}

fn chikka_error(status: u16, message: &str, description: &str) -> (StatusCode, String) {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"status": status, "message": message, "description": description});
    (code, body.to_string())
}

/// `POST /smsapi/request`.
async fn request(State(sim): State<Arc<Sim>>, body: Bytes) -> (StatusCode, String) {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (status, body) = match sim.misbehave.next() {
        Some(None) => {
            sim.out
                .emit(&json!({"event": "request_hung", "message_id": field("message_id")}));
            sim.stop.cancelled().await;
            return (StatusCode::SERVICE_UNAVAILABLE, String::new());
        }
        Some(Some(status)) => chikka_error(status, "ERROR", "told to fail"),
        None => sim.check(&field),
    };
    let kind = field("message_type");
    sim.out.emit(&json!({
        "event": "request", "message_type": kind, "mobile_number": field("mobile_number"),
        "shortcode": field("shortcode"), "message_id": field("message_id"),
        "message": field("message"), "request_id": field("request_id"),
        "request_cost": field("request_cost"), "status": status.as_u16(),
    }));
    if status == StatusCode::OK {
        let (sim, id) = (sim.clone(), field("message_id"));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(sim.args.notify_delay_ms)).await;
            let status = sim
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .notify_status
                .clone();
            sim.notify(&id, &status).await;
        });
    }
    (status, body)
}

impl Sim {
    /// Chikka's checks of a request; the answer.
    fn check(&self, field: &impl Fn(&str) -> String) -> (StatusCode, String) {
        if field("client_id") != self.args.client_id || field("secret_key") != self.args.secret_key
        {
            return chikka_error(401, "UNAUTHORIZED", "Invalid client_id or secret_key");
        }
        let number = field("mobile_number");
        if number.len() != 12
            || !number.starts_with("63")
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            return chikka_error(400, "BAD REQUEST", "Invalid mobile_number");
        }
        let id = field("message_id");
        if id.is_empty()
            || id.len() > 32
            || field("shortcode").is_empty()
            || field("message").is_empty()
        {
            return chikka_error(400, "BAD REQUEST", "Missing or invalid field");
        }
        match field("message_type").as_str() {
            "SEND" => {}
            "REPLY" => {
                let cost = field("request_cost");
                if cost != "FREE" && !crate::transport::http_provider::is_peso_amount(&cost) {
                    return chikka_error(400, "BAD REQUEST", "Invalid request_cost");
                }
                let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if !st.open_requests.remove(&field("request_id")) {
                    // Chikka writes the slash escaped.
                    return chikka_error(400, "BAD REQUEST", "Invalid/Used Request ID");
                }
            }
            _ => return chikka_error(400, "BAD REQUEST", "Invalid message_type"),
        }
        (
            StatusCode::OK,
            json!({"status": 200, "message": "ACCEPTED"}).to_string(),
        )
    }

    /// Posts `form` to `--post-to` until answered `Accepted` (4 tries); the last answer and
    /// the tries.
    async fn post(&self, form: String) -> (Option<u16>, String, u32) {
        let Some(url) = &self.args.post_to else {
            return (None, "no --post-to".into(), 0);
        };
        let accepted = |status, body: &str| status == 200 && body == "Accepted";
        let form = form.into_bytes();
        post_until(
            &self.client,
            url,
            "application/x-www-form-urlencoded",
            &form,
            accepted,
        )
        .await
    }

    async fn notify(&self, message_id: &str, status: &str) {
        // Built apart: the serializer is not Send, and must not live across the post.
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("message_type", "outgoing")
            .append_pair("shortcode", &self.args.shortcode)
            .append_pair("message_id", message_id)
            .append_pair("status", status)
            .append_pair("credits_cost", "1")
            .append_pair("timestamp", &now())
            .finish();
        let (answer_status, answer, attempts) = self.post(form).await;
        self.out.emit(&json!({
            "event": "notification_posted", "message_id": message_id, "status": status,
            "answer_status": answer_status, "answer": answer, "attempts": attempts,
        }));
    }

    async fn command(&self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["mo", number, text @ ..] if !text.is_empty() => {
                let request_id = richmond_codecs::vumi::new_id().repeat(2).to_uppercase();
                self.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .open_requests
                    .insert(request_id.clone());
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("message_type", "incoming")
                    .append_pair("mobile_number", number)
                    .append_pair("shortcode", &self.args.shortcode)
                    .append_pair("request_id", &request_id)
                    .append_pair("message", &text.join(" "))
                    .append_pair("timestamp", &now())
                    .finish();
                let (answer_status, answer, attempts) = self.post(form).await;
                self.out.emit(&json!({
                    "event": "mo_posted", "request_id": request_id, "answer_status": answer_status,
                    "answer": answer, "attempts": attempts,
                }));
            }
            ["notify", id, status] => self.notify(id, status).await,
            ["notify-status", status @ ("SENT" | "FAILED")] => {
                self.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .notify_status = (*status).to_owned();
                self.out
                    .emit(&json!({"event": "notify_status", "status": status}));
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
            ["quit"] => self.stop.cancel(),
            _ => self.out.emit(&json!({"event": "help", "commands": HELP})),
        }
    }
}

/// Seconds since the epoch with a fraction, as Chikka writes its timestamps.
fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:02}", d.as_secs(), d.subsec_millis() / 10)
}
