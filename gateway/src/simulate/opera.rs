//! `richmond simulate opera`: Opera's XML-RPC gateway on loopback.
//!
//! Reference: reference/http-providers.md §2 (SendSMS, the Identifier answer, faults, the
//! `bspostevent` MO echoed back, receipts). It answers `POST /Gateway` with an XML-RPC
//! `methodResponse`: an `Identifier` (8 hex digits), or a fault — its own codes, as no Opera
//! document lists them: 1 for another method, 401 for a wrong `Service`/`Password`/`Channel`,
//! 400 for a missing `SMSText` or `Numbers` that are not `+` and digits. With `Receipt` `Y`,
//! a `receipts` document for the Identifier (status `--receipt-status`) is posted
//! `--receipt-delay-ms` later to `--receipt-url`, as `text/xml`. MO go to `--mo-url` as a
//! `bspostevent` (`text/plain; charset=utf-8` as Opera sent it in 2010, or `XmlMsg=` with
//! `--xmlmsg`), and the answer must echo the XML. Each post is tried at most 4 times until
//! answered 200 (and, for MO, echoed). Commands (stdin, one per line):
//!
//! ```text
//! mo <from> <to> <text…>      an MO from <from> to short code <to>
//! receipt <reference> <status>   a receipt for any Identifier
//! release                     post the receipts held (--hold-receipts)
//! early [n]                   post the next n calls' receipts before answering them
//! fault <code> [n]            answer the next n calls with an XML-RPC fault
//! fail <status> [n]           answer the next n calls with HTTP <status>
//! hang [n]                    answer the next n calls never
//! quit
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use richmond_codecs::providers::opera as wire;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::provider::{self, Misbehave, Queue, count_arg, post_until};
use super::{Output, SimulateError};
use crate::transport::http_provider::client::ProviderClient;

const HELP: &str = "mo <from> <to> <text…> | receipt <reference> <status> | release | early [n] | \
fault <code> [n] | fail <status> [n] | hang [n] | quit";

/// Options of `richmond simulate opera`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the `listening` event names it).
    #[arg(long, default_value = "127.0.0.1:50011")]
    pub listen: std::net::SocketAddr,
    /// The `Service` calls must name.
    #[arg(long, default_value = "20222")]
    pub service: String,
    /// The `Channel` calls must name.
    #[arg(long, default_value = "111")]
    pub channel: String,
    /// The `Password` calls must carry.
    #[arg(long, default_value = "richmond")]
    pub password: String,
    /// Where receipts are posted (the gateway's receipt URL, with its secret).
    #[arg(long)]
    pub receipt_url: Option<String>,
    /// Where MO are posted (the gateway's receive URL, with its secret).
    #[arg(long)]
    pub mo_url: Option<String>,
    /// The status letter of the receipts posted (D delivered, Q queued, F failed…).
    #[arg(long, default_value = "D")]
    pub receipt_status: String,
    /// Delay before a sent message's receipt, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub receipt_delay_ms: u64,
    /// Post MO as the form field `XmlMsg` instead of raw XML.
    #[arg(long)]
    pub xmlmsg: bool,
    /// Hold receipts until the `release` command (instead of posting them after the delay).
    #[arg(long)]
    pub hold_receipts: bool,
}

struct Sim {
    args: Args,
    out: Output,
    /// Fault codes the next calls get.
    faults: Queue<i64>,
    /// Receipts held until `release` (`--hold-receipts`): reference, number.
    held: Mutex<Vec<(String, String)>>,
    /// Calls whose receipt is posted before the answer (`early`).
    early: Queue<()>,
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
        faults: Queue::default(),
        held: Mutex::default(),
        early: Queue::default(),
        misbehave: Misbehave::default(),
        client,
        stop: stop.clone(),
    });
    let app = Router::new()
        .route("/Gateway", axum::routing::post(gateway))
        .with_state(sim.clone());
    let commands = sim.clone();
    let command = move |line: String| {
        let sim = commands.clone();
        async move { sim.command(&line).await }
    };
    provider::serve(listener, &sim.out, app, command, stop).await
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fault(code: i64, text: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode\
         </name><value><int>{code}</int></value></member><member><name>faultString</name><value>\
         <string>{}</string></value></member></struct></value></fault></methodResponse>",
        escape(text)
    )
}

/// `POST /Gateway`.
async fn gateway(State(sim): State<Arc<Sim>>, body: Bytes) -> (StatusCode, String) {
    match sim.misbehave.next() {
        Some(None) => {
            sim.out.emit(&json!({"event": "request_hung"}));
            sim.stop.cancelled().await;
            return (StatusCode::SERVICE_UNAVAILABLE, String::new());
        }
        Some(Some(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, "told to fail".into());
        }
        None => {}
    }
    let (answer, sent) = sim.send_sms(&String::from_utf8_lossy(&body));
    if let Some((identifier, numbers)) = sent {
        if sim.early.next().is_some() {
            // The receipt overtakes the answer: posted (and answered) before it.
            let status = sim.args.receipt_status.clone();
            sim.receipt(&identifier, &numbers, &status).await;
        } else if sim.args.hold_receipts {
            sim.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((identifier, numbers));
        } else {
            let sim = sim.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(sim.args.receipt_delay_ms)).await;
                let status = sim.args.receipt_status.clone();
                sim.receipt(&identifier, &numbers, &status).await;
            });
        }
    }
    sim.out.emit(&json!({"event": "answer", "answer": answer}));
    (StatusCode::OK, answer)
}

impl Sim {
    /// The checks of a call; the `methodResponse`, and the Identifier and numbers of a
    /// message sent with `Receipt` `Y`.
    fn send_sms(&self, xml: &str) -> (String, Option<(String, String)>) {
        let fault = |code, text| (fault(code, text), None);
        if let Some(code) = self.faults.next() {
            return fault(code, "told to fail");
        }
        if !xml.contains("<methodName>EAPIGateway.SendSMS</methodName>") {
            return fault(1, "Unknown method");
        }
        let Ok(members) = wire::struct_members(xml) else {
            return fault(400, "Malformed call");
        };
        let get = |n: &str| members.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let text_of = |n: &str| get(n).map(|v| v.text).unwrap_or_default();
        if text_of("Service") != self.args.service
            || text_of("Channel") != self.args.channel
            || text_of("Password") != self.args.password
        {
            return fault(401, "Authentication failed");
        }
        let numbers = text_of("Numbers");
        let number_ok = |n: &str| {
            let digits = n.strip_prefix('+').unwrap_or(n);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        if numbers.is_empty() || !numbers.split(',').all(number_ok) {
            return fault(400, "Invalid number");
        }
        let Some(text) = get("SMSText").filter(|t| !t.text.is_empty()) else {
            return fault(400, "Missing SMSText");
        };
        let identifier = format!("{:08x}", fastrand::u32(..));
        let receipt = text_of("Receipt") == "Y";
        self.out.emit(&json!({
            "event": "send", "numbers": numbers, "text": text.text, "text_type": text.kind,
            "max_segments": text_of("MaxSegments"), "priority": text_of("Priority"),
            "receipt": receipt, "delivery": text_of("Delivery"), "expiry": text_of("Expiry"),
            "identifier": identifier,
        }));
        let answer = format!(
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member>\
             <name>Identifier</name><value><string>{identifier}</string></value></member>\
             </struct></value></param></params></methodResponse>"
        );
        (answer, receipt.then_some((identifier, numbers)))
    }

    /// Posts a `receipts` document for `reference`.
    async fn receipt(&self, reference: &str, msisdn: &str, status: &str) {
        let Some(url) = &self.args.receipt_url else {
            return;
        };
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE receipts>\n<receipts>\n  <receipt>\n    \
             <msgid>{}</msgid>\n    <reference>{}</reference>\n    <msisdn>{}</msisdn>\n    \
             <status>{}</status>\n    <timestamp>20080831T15:59:24</timestamp>\n    \
             <billed>NO</billed>\n  </receipt>\n</receipts>",
            fastrand::u32(10_000_000..99_999_999),
            escape(reference),
            escape(msisdn),
            escape(status)
        );
        let ok = |s: u16, _: &str| s == 200;
        let (status_code, answer, attempts) =
            post_until(&self.client, url, "text/xml", xml.as_bytes(), ok).await;
        self.out.emit(&json!({
            "event": "receipt_posted", "reference": reference, "status": status,
            "answer_status": status_code, "answer": answer, "attempts": attempts,
        }));
    }

    /// Posts a `bspostevent` MO; checks the answer echoes it.
    async fn mo(&self, from: &str, to: &str, text: &str) {
        let Some(url) = &self.args.mo_url else {
            self.out
                .emit(&json!({"event": "mo_posted", "answer": "no --mo-url"}));
            return;
        };
        let message_id = fastrand::u32(100_000_000..999_999_999).to_string();
        let field = |name: &str, value: &str| {
            format!(
                "  <field name=\"{name}\" type = \"string\">{}</field>\n",
                escape(value)
            )
        };
        let xml = [
            "<?xml version=\"1.0\"?>\n<!DOCTYPE bspostevent>\n<bspostevent>\n".to_owned(),
            field("MOReference", &message_id),
            field("RemoteNetwork", "mtn-za"),
            field("Local", &format!("*{to}")),
            field("ClientID", "4"),
            field("ChannelID", &self.args.channel),
            field("MessageID", &message_id),
            "  <field name=\"ServiceName\" type = \"string\">Robertson&#8217;s Herb &amp; Spices</field>\n".to_owned(),
            field("Text", text),
            field("MobileNetwork", "mtn-za"),
            field("Remote", from),
            "</bspostevent>".to_owned(),
        ]
        .concat();
        let (content_type, body) = if self.args.xmlmsg {
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("XmlMsg", &xml)
                .finish();
            ("application/x-www-form-urlencoded", form)
        } else {
            ("text/plain; charset=utf-8", xml.clone())
        };
        let echoed = |s: u16, answer: &str| s == 200 && answer == xml;
        let (status, answer, attempts) =
            post_until(&self.client, url, content_type, body.as_bytes(), echoed).await;
        self.out.emit(&json!({
            "event": "mo_posted", "message_id": message_id, "answer_status": status,
            "echoed": status == Some(200) && answer == xml, "attempts": attempts,
        }));
    }

    async fn command(&self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["mo", from, to, text @ ..] if !text.is_empty() => {
                self.mo(from, to, &text.join(" ")).await;
            }
            ["receipt", reference, status] => self.receipt(reference, "+27000000000", status).await,
            ["early", rest @ ..] => {
                let n = count_arg(rest);
                self.early.push((), n);
                self.out.emit(&json!({"event": "misbehave", "early": n}));
            }
            ["release"] => {
                let held =
                    std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
                let status = self.args.receipt_status.clone();
                for (reference, number) in held {
                    self.receipt(&reference, &number, &status).await;
                }
            }
            ["fault", code, rest @ ..] if code.parse::<i64>().is_ok() => {
                let (n, code) = (count_arg(rest), code.parse().unwrap_or(0));
                self.faults.push(code, n);
                self.out
                    .emit(&json!({"event": "misbehave", "fault": code, "n": n}));
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
