//! One TCP connection of the simulated SMSC: frames bytes with the driver's [`Codec`], pumps
//! its [`ServerSession`], answers submits as the flags say, sends and tracks deliver_sm, and
//! carries out the commands aimed at it.
//!
//! Reference: SMPP 3.4 §2.3 (sessions), §4 (PDUs); reference/smpp.md (windowing, statuses).
//!
//! Not handled here: choosing which connection gets a delivery, redelivery timing and the
//! command language (the parent module), message content (`sms`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{Header, id};
use richmond_codecs::smpp::status;
use richmond_drivers::smpp::{BindMode, Codec, ServerConfig, ServerEvent, ServerSession};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

use super::{Answer, Outgoing, Sim, lock, sms};

/// What the rest of the simulator asks of a connection.
#[derive(Clone, Debug)]
pub(super) enum Cmd {
    /// Send (and track) a deliver_sm.
    Deliver(Outgoing),
    /// A delayed submit_sm_resp (`slow`).
    Respond(u32, Result<String, u32>),
    Disconnect,
    Unbind,
    EnquireLink,
    Malformed,
    UnknownPdu,
    Truncated,
    /// These bytes as they are (`raw <hex>`), in one write.
    Raw(Bytes),
}

/// Why the connection ended.
type End = &'static str;

/// A connection's byte stream: plain TCP, or TLS over it (`--tls-cert`).
pub(super) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    sim: Sim,
    id: u64,
    session: ServerSession,
    codec: Codec,
    stream: Box<dyn Io>,
    own: mpsc::UnboundedSender<Cmd>,
    /// deliver_sm sent and not yet answered, by sequence number.
    inflight: HashMap<u32, (Outgoing, Instant)>,
    /// Sequence numbers for raw PDUs, apart from the session's.
    raw_sequence: u32,
}

/// Serves one accepted connection until it ends, then hands its unanswered deliveries back.
pub(super) async fn serve(
    sim: Sim,
    id: u64,
    stream: Box<dyn Io>,
    own: mpsc::UnboundedSender<Cmd>,
    mut commands: mpsc::UnboundedReceiver<Cmd>,
) {
    let config = ServerConfig::new(sim.args.system_id.clone(), sim.args.password.clone());
    let mut conn = Conn {
        sim: sim.clone(),
        id,
        session: ServerSession::new(config),
        codec: Codec::default(),
        stream,
        own,
        inflight: HashMap::new(),
        raw_sequence: 0x7000_0000,
    };
    let mut buf = BytesMut::with_capacity(8192);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let reason = loop {
        let step = tokio::select! {
            () = sim.stop.cancelled() => Err("stopped"),
            read = conn.stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => Err("closed by peer"),
                Ok(_) => conn.on_bytes(&mut buf).await,
            },
            Some(cmd) = commands.recv() => conn.command(cmd).await,
            _ = tick.tick() => {
                conn.check_timeouts();
                Ok(())
            }
        };
        if let Err(reason) = step {
            break reason;
        }
    };
    let _ = conn.stream.shutdown().await;
    lock(&sim.registry).conns.retain(|e| e.id != id);
    sim.emit(&json!({"event": "disconnected", "connection": id, "reason": reason}));
    // Whatever was queued for this connection and not yet sent goes elsewhere.
    commands.close();
    while let Ok(cmd) = commands.try_recv() {
        if let Cmd::Deliver(o) = cmd {
            sim.deliver(o);
        }
    }
    if reason != "stopped" {
        for (_, (o, _)) in conn.inflight.drain() {
            sim.redeliver(o, "link_lost");
        }
    }
}

impl Conn {
    async fn on_bytes(&mut self, buf: &mut BytesMut) -> Result<(), End> {
        loop {
            match self.codec.decode(buf) {
                Ok(Some(frame)) => {
                    if let Err(end) = self.on_frame(frame) {
                        self.flush().await?;
                        return Err(end);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.sim
                        .emit(&json!({"event": "framing_error", "connection": self.id,
                        "error": e.to_string()}));
                    return Err("framing error");
                }
            }
        }
        self.flush().await
    }

    fn on_frame(&mut self, frame: Bytes) -> Result<(), End> {
        let Some(header) = Header::peek(&frame) else {
            return Ok(());
        };
        let bind = BindMode::from_command_id(header.command_id);
        if bind.is_some() {
            let reject = self.sim.flags().reject_binds;
            self.session
                .set_bind_status(reject.then_some(status::RBINDFAIL));
        }
        if header.command_id == id::ENQUIRE_LINK {
            self.sim
                .emit(&json!({"event": "enquire_link", "connection": self.id,
                "sequence": header.sequence_number}));
        }
        self.session.handle_frame(frame);
        while let Some(event) = self.session.poll_event() {
            self.on_event(event, bind)?;
        }
        Ok(())
    }

    fn on_event(&mut self, event: ServerEvent, bind: Option<BindMode>) -> Result<(), End> {
        let id = self.id;
        match event {
            ServerEvent::Bound { mode, system_id } => {
                self.sim
                    .emit(&json!({"event": "bind", "ok": true, "connection": id,
                    "mode": mode.code(), "system_id": system_id}));
                self.sim.bound(id, mode);
            }
            ServerEvent::BindRefused { status } => {
                self.sim
                    .emit(&json!({"event": "bind", "ok": false, "connection": id,
                    "mode": bind.map(BindMode::code), "status": status}));
            }
            ServerEvent::SubmitSm {
                sequence_number,
                frame,
            } => self.on_submit(sequence_number, &frame),
            ServerEvent::Response { header } => self.on_response(header),
            ServerEvent::Request { frame } => {
                let name = Header::peek(&frame).map_or("other", |h| h.name());
                self.sim.emit(&json!({"event": "request", "connection": id,
                    "command": name}));
            }
            ServerEvent::Malformed { command_id, error } => {
                self.sim
                    .emit(&json!({"event": "malformed", "connection": id,
                    "command_id": command_id, "error": error.code()}));
            }
            ServerEvent::Unbound => {
                self.sim.emit(&json!({"event": "unbind", "connection": id}));
            }
            ServerEvent::Disconnect => return Err("unbound"),
            _ => {}
        }
        Ok(())
    }

    fn on_submit(&mut self, sequence_number: u32, frame: &[u8]) {
        let submit = match sms::decode_submit(frame) {
            Ok(submit) => submit,
            Err(e) => {
                self.session
                    .respond_submit(sequence_number, Err(status::RSYSERR));
                self.sim
                    .emit(&json!({"event": "malformed", "connection": self.id,
                    "command_id": id::SUBMIT_SM, "error": e.code()}));
                return;
            }
        };
        let (answer, id_number, slow_ms) = {
            let mut flags = self.sim.flags();
            let (answer, n) = flags.answer(self.sim.args.message_id_format);
            (answer, n, flags.slow_ms)
        };
        let mut event = submit.event(self.id);
        event["sequence"] = json!(sequence_number);
        let result = match answer {
            Answer::Accept(message_id) => {
                event["message_id"] = json!(message_id);
                event["status"] = json!(status::ROK);
                self.sim.emit_chatty(&event);
                let complete = submit.collect(&mut lock(&self.sim.registry).parts, &message_id);
                if let Some(message) = complete {
                    self.sim.emit_chatty(&message);
                    self.sim.reply_to(&message);
                }
                if submit.ussd.is_some() {
                    self.sim.ussd_reply(&submit);
                }
                self.sim.schedule_receipt(submit.submitted(id_number));
                Ok(message_id)
            }
            Answer::Status(code) => {
                event["status"] = json!(code);
                self.sim.emit(&event);
                Err(code)
            }
            Answer::Nothing => {
                event["status"] = json!(null);
                event["response"] = json!("none");
                self.sim.emit(&event);
                return;
            }
        };
        if slow_ms == 0 {
            self.respond(sequence_number, result);
        } else {
            let own = self.own.clone();
            let stop = self.sim.stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(slow_ms)) => {
                        let _ = own.send(Cmd::Respond(sequence_number, result));
                    }
                }
            });
        }
    }

    fn respond(&mut self, sequence_number: u32, result: Result<String, u32>) {
        self.session
            .respond_submit(sequence_number, result.as_deref().map_err(|e| *e));
    }

    fn on_response(&mut self, header: Header) {
        let (seq, code, id) = (header.sequence_number, header.command_status, self.id);
        match header.command_id {
            id::DELIVER_SM_RESP | id::GENERIC_NACK => {
                let tracked = self.inflight.remove(&seq);
                let kind = tracked.as_ref().map(|(o, _)| o.kind);
                let event = if header.command_id == id::GENERIC_NACK {
                    "generic_nack"
                } else {
                    "deliver_sm_resp"
                };
                let event = json!({"event": event, "connection": id, "sequence": seq,
                    "status": code, "kind": kind});
                if code == status::ROK && tracked.is_some() {
                    self.sim.emit_chatty(&event);
                } else {
                    self.sim.emit(&event);
                }
                if let Some((o, _)) = tracked
                    && code != status::ROK
                {
                    self.sim.redeliver(o, "error_status");
                }
            }
            id::ENQUIRE_LINK_RESP => self.sim.emit(&json!({"event": "enquire_link_resp",
                "connection": id, "sequence": seq, "status": code})),
            other => self.sim.emit(&json!({"event": "response", "connection": id,
                "command_id": other, "sequence": seq, "status": code})),
        }
    }

    fn check_timeouts(&mut self) {
        let limit = Duration::from_millis(self.sim.args.deliver_timeout_ms);
        let late: Vec<u32> = self
            .inflight
            .iter()
            .filter(|(_, (_, sent))| sent.elapsed() >= limit)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in late {
            if let Some((o, _)) = self.inflight.remove(&seq) {
                self.sim.redeliver(o, "no_response");
            }
        }
    }

    fn raw_sequence(&mut self) -> u32 {
        self.raw_sequence = self.raw_sequence.wrapping_add(1).max(0x7000_0001) & 0x7FFF_FFFF;
        self.raw_sequence
    }

    async fn command(&mut self, cmd: Cmd) -> Result<(), End> {
        match cmd {
            Cmd::Deliver(mut o) => {
                let seq = self.session.send((*o.pdu).clone());
                o.attempts += 1;
                self.sim
                    .emit_chatty(&json!({"event": "deliver_sm", "connection": self.id,
                    "sequence": seq, "kind": o.kind, "attempt": o.attempts,
                    "source": o.pdu.source_addr.to_string(),
                    "destination": o.pdu.destination_addr.to_string()}));
                self.inflight.insert(seq, (o, Instant::now()));
            }
            Cmd::Respond(seq, result) => self.respond(seq, result),
            Cmd::Disconnect => return Err("disconnect command"),
            Cmd::Unbind => {
                self.session.send_unbind();
            }
            Cmd::EnquireLink => {
                self.session.send_enquire_link();
            }
            Cmd::Malformed => self.session.send_raw(sms::malformed()),
            Cmd::UnknownPdu => {
                let seq = self.raw_sequence();
                self.session.send_raw(sms::unknown(seq));
            }
            Cmd::Truncated => {
                let seq = self.raw_sequence();
                self.session.send_raw(sms::truncated(seq));
            }
            Cmd::Raw(bytes) => self.session.send_raw(bytes),
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), End> {
        let mut out = BytesMut::new();
        while let Some(bytes) = self.session.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        if !out.is_empty() {
            self.stream
                .write_all(&out)
                .await
                .map_err(|_| "write failed")?;
        }
        Ok(())
    }
}
