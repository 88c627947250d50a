//! The simulator's MO: as Clickatell posts them (reference/http-providers.md §1.1 two-way
//! callback, §1.3 Platform reply callback).
//!
//! * Form (the default): `api_id`, `moMsgId`, `from`, `to`, `timestamp` (`YYYY-MM-DD
//!   HH:MM:SS`), `charset` and `text` in it — `ISO-8859-1` when every character fits, else
//!   `UTF-16BE` — and, for a text over one SMS (160 / 70), one post per part of 153 / 67
//!   characters with its `udh` (`050003<ref><total><seq>`).
//! * XML: the same fields as `<clickmo>` in `data`, text as text (no charset).
//! * JSON (Platform): `messageId`, `fromNumber`, `toNumber`, `timestamp` (ms), `text`, whole.

use serde_json::json;

use super::{FORM, Format, Sim, now_seconds, post_until};

/// `text` cut into parts of at most `size` code units of `unit` each.
fn chunks(text: &str, size: usize, unit: fn(char) -> usize) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut used = 0;
    for ch in text.chars() {
        if used + unit(ch) > size {
            parts.push(String::new());
            used = 0;
        }
        used += unit(ch);
        if let Some(last) = parts.last_mut() {
            last.push(ch);
        }
    }
    parts
}

impl Sim {
    /// Posts an MO from `from` to `to` (several posts when it is long).
    pub(super) async fn mo(&self, from: &str, to: &str, text: &str) {
        let Some(url) = self.args.mo_url.clone() else {
            self.out
                .emit(&json!({"event": "mo_posted", "answer": "no --mo-url"}));
            return;
        };
        let ok = |s: u16, _: &str| (200..300).contains(&s);
        if self.args.callback_format == Format::Json {
            let id = richmond_codecs::vumi::new_id();
            let body = json!({
                "integrationId": "sim", "messageId": id, "fromNumber": from, "toNumber": to,
                "timestamp": now_seconds() * 1000, "text": text,
            });
            let (status, answer, attempts) = post_until(
                &self.client,
                &url,
                "application/json",
                body.to_string().as_bytes(),
                ok,
            )
            .await;
            self.out.emit(&json!({
                "event": "mo_posted", "mo_msg_ids": [id], "parts": 1, "answer_status": status,
                "answer": answer, "attempts": attempts,
            }));
            return;
        }
        let latin1 = text.chars().all(|c| c <= '\u{FF}');
        let (single, part) = if latin1 { (160, 153) } else { (70, 67) };
        let unit: fn(char) -> usize = if latin1 { |_| 1 } else { char::len_utf16 };
        let size: usize = text.chars().map(unit).sum();
        let parts = if size <= single {
            vec![text.to_owned()]
        } else {
            chunks(text, part, unit)
        };
        let total = parts.len();
        let reference = fastrand::u8(..);
        let mut last = (None, String::new(), 0);
        let mut ids = Vec::new();
        for (seq, part) in parts.iter().enumerate() {
            let id = richmond_codecs::vumi::new_id();
            let udh = if total > 1 {
                format!("050003{reference:02X}{total:02X}{:02X}", seq + 1)
            } else {
                String::new()
            };
            let stamp = timestamp();
            let body = if self.args.callback_format == Format::Xml {
                let fields = [
                    ("api_id", self.args.api_id.as_str()),
                    ("moMsgId", &id),
                    ("from", from),
                    ("to", to),
                    ("timestamp", &stamp),
                    ("text", part),
                    ("udh", &udh),
                ];
                self.legacy_body("clickmo", &fields)
            } else {
                let (charset, octets) = if latin1 {
                    (
                        "ISO-8859-1",
                        part.chars().map(|c| c as u8).collect::<Vec<u8>>(),
                    )
                } else {
                    ("UTF-16BE", richmond_codecs::sms::ucs2::encode(part))
                };
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("api_id", &self.args.api_id)
                    .append_pair("moMsgId", &id)
                    .append_pair("from", from)
                    .append_pair("to", to)
                    .append_pair("timestamp", &stamp)
                    .append_pair("charset", charset)
                    .append_pair("udh", &udh);
                let text: String = form_urlencoded::byte_serialize(&octets).collect();
                format!("{}&text={text}", form.finish())
            };
            last = post_until(&self.client, &url, FORM, body.as_bytes(), ok).await;
            ids.push(id);
        }
        self.out.emit(&json!({
            "event": "mo_posted", "mo_msg_ids": ids, "parts": total, "answer_status": last.0,
            "answer": last.1, "attempts": last.2,
        }));
    }
}

/// Now as `YYYY-MM-DD HH:MM:SS` (UTC; Clickatell writes its own local time): a Vumi
/// timestamp without its microseconds.
fn timestamp() -> String {
    let mut now = richmond_codecs::vumi::Timestamp::now().to_string();
    now.truncate(19);
    now
}
