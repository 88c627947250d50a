//! USSD over SMPP (`ussd = "vumi" | "sixdee" | "mica"`): a `deliver_sm` with a
//! `ussd_service_op` becomes a Vumi `ussd` message with its session event, a `ussd` reply
//! becomes a `submit_sm` with the TLVs the USSD gateway expects, sessions live in the store
//! (shared through Redis), and a session with nothing from either side for
//! `ussd_session_timeout_seconds` is closed.
//!
//! Reference: reference/vumi.md §3.3 point 6 (outbound TLVs per processor) and §3.6 (inbound
//! ops and session ids; the code dialled is kept because the network sends it only first);
//! reference/smpp.md (TLVs 0x0501 `ussd_service_op`, 0x1383 `its_session_info`, 0x0204
//! `user_message_reference`).
//!
//! * Inbound ops: `vumi` 01 new, 02/12 continue, 11 close, anything else close; `sixdee` and
//!   `mica` 01 new, 12 continue, 81 close, anything else continue (counted and logged). The
//!   low bit of `its_session_info` ends the session in every flavour.
//! * The session: `its_session_info` without its end bit (`vumi`, `sixdee`) or
//!   `user_message_reference` (`mica`), as four hex digits in `transport_metadata.session_info`
//!   (`vumi`: the string, as Vumi; `sixdee`, `mica`: `{"ussd_service_op",
//!   "session_identifier"}`). A reply copies it back; one that lost it finds the session open
//!   for its `to_addr`.
//! * `to_addr` is the code dialled: `vumi`: `destination_addr`; `sixdee`, `mica`: the text of
//!   the session's first PDU (its `destination_addr` when empty), kept with the session. The
//!   content: the text (`sixdee`, `mica`: null on new and close, as Vumi).
//! * Replies: `vumi` op 02 and `its_session_info` = session + end bit; `sixdee` op 02, or
//!   `ussd_close_op` (0x17, Vumi's value) to end, and the same `its_session_info`; `mica` the
//!   same op and `user_message_reference` = session.
//!
//! Store: `smpp:<t>:ussd:<from>` → the code, the session and its deadline; the index
//! `smpp:<t>:ussd-open:all` of open sessions by deadline, swept every few seconds.

use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::rusmpp::tlvs::MessageSubmissionRequestTlvValue as Tlv;
use richmond_codecs::smpp::rusmpp::values::{ItsSessionInfo, UserMessageReference, UssdServiceOp};
use richmond_codecs::smpp::status::{ROK, RX_T_APPN};
use richmond_codecs::sms::Encoding;
use richmond_codecs::vumi::{Metadata, SessionEvent, UserMessage};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::config::Ussd;
use super::map;
use crate::transport::common::{Carrier as _, now_millis};

/// What an inbound USSD PDU says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialog {
    pub(crate) event: SessionEvent,
    pub(crate) session: u16,
    pub(crate) op: u8,
    /// An op the flavour does not name (taken as its default).
    pub(crate) unknown_op: bool,
}

/// Reads the session event and session of a USSD PDU with `op`, `its_session_info` and
/// `user_message_reference`.
pub(crate) fn dialog(flavor: Ussd, op: u8, its: Option<u16>, umr: Option<u16>) -> Dialog {
    let (event, unknown_op) = match (flavor, op) {
        (_, 0x01) => (SessionEvent::New, false),
        (Ussd::Vumi, 0x02 | 0x12) | (Ussd::Sixdee | Ussd::Mica, 0x12) => {
            (SessionEvent::Resume, false)
        }
        (Ussd::Vumi, 0x11) | (Ussd::Sixdee | Ussd::Mica, 0x81) => (SessionEvent::Close, false),
        (Ussd::Vumi | Ussd::None, _) => (SessionEvent::Close, true),
        (Ussd::Sixdee | Ussd::Mica, _) => (SessionEvent::Resume, true),
    };
    let ends = its.is_some_and(|i| i & 1 == 1);
    let session = match flavor {
        Ussd::Mica => umr.unwrap_or(0),
        _ => its.unwrap_or(0) & 0xfffe,
    };
    Dialog {
        event: if ends { SessionEvent::Close } else { event },
        session,
        op,
        unknown_op,
    }
}

/// `transport_metadata.session_info` for session `session` (with the op that came, if any).
pub(crate) fn session_info(flavor: Ussd, session: u16, op: Option<u8>) -> serde_json::Value {
    let id = format!("{session:04x}");
    match (flavor, op) {
        (Ussd::Vumi | Ussd::None, _) => json!(id),
        (_, Some(op)) => json!({"ussd_service_op": format!("{op:02x}"), "session_identifier": id}),
        (_, None) => json!({"session_identifier": id}),
    }
}

/// The session a reply names (`transport_metadata.session_info`, as [`session_info`] wrote it).
pub(crate) fn session_of(metadata: &Metadata) -> Option<u16> {
    let v = metadata.get("session_info")?;
    let id = v
        .as_str()
        .or_else(|| v.get("session_identifier")?.as_str())?;
    u16::from_str_radix(id, 16).ok()
}

/// The TLVs of a reply in session `session`; `close` ends it.
pub(crate) fn reply_tlvs(flavor: Ussd, session: u16, close: bool, close_op: u8) -> Vec<Tlv> {
    let op = if close && flavor != Ussd::Vumi {
        close_op
    } else {
        0x02
    };
    let mut tlvs = vec![Tlv::UssdServiceOp(UssdServiceOp::from(op))];
    if flavor == Ussd::Mica {
        tlvs.push(Tlv::UserMessageReference(UserMessageReference::new(
            session,
        )));
    } else {
        let its = (session & 0xfffe) | u16::from(close);
        let [number, sequence] = its.to_be_bytes();
        tlvs.push(Tlv::ItsSessionInfo(ItsSessionInfo::new(number, sequence)));
    }
    tlvs
}

/// What is kept of an open session.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Open {
    code: String,
    session: u16,
    /// Milliseconds since the epoch after which the session is closed.
    deadline: i64,
}

fn key(shared: &Shared, from: &str) -> String {
    format!("smpp:{}:ussd:{from}", shared.id)
}

fn open_index(shared: &Shared) -> String {
    format!("smpp:{}:ussd-open:all", shared.id)
}

fn timeout(shared: &Shared) -> Duration {
    Duration::from_secs(shared.config.ussd_session_timeout_seconds)
}

async fn load(shared: &Shared, from: &str) -> Result<Option<Open>, crate::store::StoreError> {
    let raw = shared.ctx.store.get(&key(shared, from)).await?;
    Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Keeps the session open for another timeout.
async fn keep(
    shared: &Shared,
    from: &str,
    code: &str,
    session: u16,
) -> Result<(), crate::store::StoreError> {
    let t = timeout(shared);
    let deadline = now_millis().saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    let open = Open {
        code: code.to_owned(),
        session,
        deadline,
    };
    let value = serde_json::to_vec(&open).unwrap_or_default();
    // Kept past the deadline so the sweep still finds the code to close with.
    let ttl = t + Duration::from_secs(3600);
    let store = &shared.ctx.store;
    store.put(&key(shared, from), &value, ttl).await?;
    store
        .index_add(&open_index(shared), from, deadline, ttl)
        .await
}

async fn forget(shared: &Shared, from: &str) {
    let store = &shared.ctx.store;
    if let Err(e) = store.delete(&key(shared, from)).await {
        tracing::warn!(message = "Store error; a closed USSD session stays until it expires.", transport = %shared.id, error = %e);
    }
    let _ = store.index_remove(&open_index(shared), from).await;
}

/// A `deliver_sm` carrying `ussd_service_op`: published as a `ussd` message; the answer to
/// the SMSC (`ESME_RX_T_APPN` when the store or the bus failed, so it comes again).
pub(super) async fn inbound(shared: &Shared, m: &Inbound) -> u32 {
    let flavor = shared.config.ussd;
    let d = dialog(
        flavor,
        m.ussd_service_op.unwrap_or(0),
        m.its_session_info,
        m.user_message_reference,
    );
    if d.unknown_op {
        tracing::warn!(message = "USSD op this flavour does not name; taken as its default.", transport = %shared.id, op = d.op, event = d.event.as_str());
    }
    let encoding = Encoding::from_data_coding(m.data_coding, shared.config.default_encoding());
    let (mut msg, _) = map::user_message(&shared.id, m, encoding, &m.payload, None);
    let from = msg.from_addr.clone().unwrap_or_default();
    let text = msg.content.take().unwrap_or_default();
    let code = if d.event == SessionEvent::New {
        if flavor == Ussd::Vumi || text.is_empty() {
            m.destination.clone()
        } else {
            text.clone()
        }
    } else {
        match load(shared, &from).await {
            Ok(Some(open)) if open.session == d.session => open.code,
            Ok(_) => m.destination.clone(),
            Err(e) => {
                tracing::warn!(message = "Store error; asking the SMSC to send the USSD message again.", transport = %shared.id, error = %e);
                return RX_T_APPN;
            }
        }
    };
    // Kept before the application can answer, so its reply finds the session.
    if d.event != SessionEvent::Close
        && let Err(e) = keep(shared, &from, &code, d.session).await
    {
        tracing::warn!(message = "Store error; asking the SMSC to send the USSD message again.", transport = %shared.id, error = %e);
        return RX_T_APPN;
    }
    msg.content = match (flavor, d.event) {
        (Ussd::Vumi, _) | (_, SessionEvent::Resume) => Some(text),
        _ => None,
    };
    msg.to_addr = Some(code);
    msg.transport_type = Some("ussd".into());
    msg.session_event = Some(d.event);
    msg.transport_metadata.insert(
        "session_info".into(),
        session_info(flavor, d.session, Some(d.op)),
    );
    if shared.publish("inbound", msg.encode()).await.is_err() {
        return RX_T_APPN;
    }
    super::inbound::count(shared, "ussd");
    if d.event == SessionEvent::Close {
        forget(shared, &from).await;
    }
    ROK
}

/// The TLVs of `msg`, a `ussd` message, and whether it ends its session; an error names why
/// it cannot be sent (no session).
pub(super) async fn outbound(
    shared: &Shared,
    msg: &UserMessage,
) -> Result<(Vec<Tlv>, bool), String> {
    let close = msg.session_event == Some(SessionEvent::Close);
    let to = msg.to_addr.as_deref().unwrap_or_default();
    let session = match session_of(&msg.transport_metadata) {
        Some(s) => s,
        None => match load(shared, to).await {
            Ok(Some(open)) => open.session,
            Ok(None) => {
                return Err(format!(
                    "a USSD message needs an open session: none for {to:?} (network-initiated \
                     USSD is not supported over SMPP)"
                ));
            }
            Err(e) => return Err(format!("the store cannot say which USSD session: {e}")),
        },
    };
    let tlvs = reply_tlvs(
        shared.config.ussd,
        session,
        close,
        shared.config.ussd_close_op,
    );
    Ok((tlvs, close))
}

/// After a reply went out: the session stays open for another timeout, or is forgotten.
pub(super) async fn replied(shared: &Shared, msg: &UserMessage, close: bool) {
    let to = msg.to_addr.as_deref().unwrap_or_default();
    if close {
        return forget(shared, to).await;
    }
    if let Ok(Some(open)) = load(shared, to).await
        && let Err(e) = keep(shared, to, &open.code, open.session).await
    {
        tracing::warn!(message = "Store error; the USSD session keeps its old deadline.", transport = %shared.id, error = %e);
    }
}

/// Closes sessions past their deadline every few seconds until `intake`: the application
/// gets a `close` (content null) for each.
pub(super) async fn timer(shared: Arc<Shared>, intake: CancellationToken) {
    if shared.config.ussd == Ussd::None {
        return;
    }
    let period = (timeout(&shared) / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        tokio::select! {
            () = intake.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        // Batch after batch while they come back full (at most ten a period), so a burst of
        // timeouts is not spread over many periods.
        for _ in 0..10 {
            let Ok(due) = shared
                .ctx
                .store
                .index_range(&open_index(&shared), 0, now_millis(), 100)
                .await
            else {
                break;
            };
            let full = due.len() == 100;
            for (from, _) in due {
                expire(&shared, &from).await;
            }
            if !full || intake.is_cancelled() {
                break;
            }
        }
    }
}

async fn expire(shared: &Shared, from: &str) {
    let store = &shared.ctx.store;
    let open = match load(shared, from).await {
        Ok(Some(open)) if open.deadline > now_millis() => return, // kept open meanwhile
        Ok(Some(open)) => open,
        Ok(None) => {
            let _ = store.index_remove(&open_index(shared), from).await;
            return;
        }
        Err(_) => return,
    };
    // Taken, so that of two instances sweeping one store only one closes it; a session
    // kept open between the look and the take (a message just came) is put back.
    let taken = match store.take(&key(shared, from)).await {
        Ok(Some(v)) => serde_json::from_slice::<Open>(&v).ok(),
        _ => return,
    };
    if let Some(fresh) = taken.filter(|t| t.deadline > now_millis()) {
        let value = serde_json::to_vec(&fresh).unwrap_or_default();
        let ttl = timeout(shared) + Duration::from_secs(3600);
        let _ = store.put(&key(shared, from), &value, ttl).await;
        return;
    }
    let mut msg = UserMessage::new(&shared.id, "ussd", from, &open.code, None);
    msg.session_event = Some(SessionEvent::Close);
    msg.transport_metadata.insert(
        "session_info".into(),
        session_info(shared.config.ussd, open.session, None),
    );
    msg.transport_metadata
        .insert("ussd_timeout".into(), json!(true));
    if shared.publish("inbound", msg.encode()).await.is_err() {
        // Put back for the next sweep.
        let value = serde_json::to_vec(&open).unwrap_or_default();
        let _ = store
            .put(
                &key(shared, from),
                &value,
                timeout(shared) + Duration::from_secs(3600),
            )
            .await;
        return;
    }
    tracing::info!(message = "USSD session timed out; the application got a close.", transport = %shared.id);
    super::inbound::count(shared, "ussd_timeout");
    let _ = store.index_remove(&open_index(shared), from).await;
}

#[cfg(test)]
#[path = "ussd_tests.rs"]
mod tests;
