//! One client connection of the SMPP server transport: frames bytes with the driver's
//! [`Codec`], pumps the SMSC-side [`ServerSession`], decides binds against the accounts,
//! hands each `submit_sm` to the bus, answering it only once the bus owns the message, and
//! sends the `deliver_sm` the outbound half gives a receiving bind (at most `window`
//! unanswered).
//!
//! Reference: SMPP 3.4 §4.1, §4.4, §5.2.12 (`esm_class`: UDHI 0x40), §5.3.2.22–24 (SAR);
//! reference/routing-peers.md §3 (Jasmin's bind answers).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::deliver::{Inbound, esm};
use richmond_codecs::smpp::pdu;
use richmond_codecs::smpp::status;
use richmond_codecs::sms::udh::{self, Udh};
use richmond_codecs::vumi::{UserMessage, new_id};
use richmond_drivers::smpp::{
    BindMode, BindPassword, Codec, ServerConfig, ServerEvent, ServerSession,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::deliver::Deliver;
use super::parts::Meta;
use super::{Client, Server};
use crate::transport::smpp::map::{self, Concat};

/// A connection must bind within this long.
const BIND_WITHIN: Duration = Duration::from_secs(30);

/// A decision or a publish finished off the connection's task.
enum Done {
    Bind {
        sequence_number: u32,
        mode: BindMode,
        /// The account whose credentials verified, or the status and reason of a refusal.
        outcome: Result<Arc<Client>, (u32, &'static str, String)>,
    },
    Submit {
        sequence_number: u32,
        result: Result<String, u32>,
    },
}

/// Serves one accepted client until it unbinds, goes quiet, breaks the protocol or the
/// gateway stops (then it finishes the submits it holds first).
pub(super) async fn serve<S>(
    server: Arc<Server>,
    stream: S,
    peer: SocketAddr,
    intake: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut config = ServerConfig::new("", "");
    config.system_id.clone_from(&server.config.system_id);
    config.expected_system_id = None;
    config.expected_password = None;
    config.owner_decides_binds = true;
    let mut session = ServerSession::new(config);
    let mut codec = Codec::new(server.config.max_pdu_bytes);
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut bound: Option<(Arc<Client>, BindMode)> = None;
    let mut in_flight = 0usize;
    let conn_id = server.next_conn.fetch_add(1, Ordering::Relaxed);
    // deliver_sm for this connection (once bound to receive), and those awaiting an answer.
    let (deliver_tx, mut deliver_rx) = mpsc::unbounded_channel::<Deliver>();
    let mut deliver_tx = Some(deliver_tx);
    let mut awaiting: HashMap<u32, oneshot::Sender<u32>> = HashMap::new();
    let inactivity = Duration::from_secs(server.config.inactivity_timeout_seconds);
    let mut last_read = Instant::now();
    // An idle bind is asked whether it is there (enquire_link); one that answers nothing
    // within the response timeout is dropped, so no deliver_sm waits on a dead peer.
    let probe_every = Duration::from_secs(server.config.enquire_link_seconds);
    let answer_within = Duration::from_secs(server.config.response_timeout_seconds);
    let mut probed: Option<Instant> = None;
    let mut buf = BytesMut::with_capacity(8192);
    let mut stopping = false;
    // A refused bind ends the connection once answered: a guesser reconnects for each try.
    let mut refused = false;
    let accepted = Instant::now();
    // What the outstanding gauge holds for this connection.
    let mut reported = 0usize;
    let reason = loop {
        // Answers nobody waits for any more (the sender timed out and tried another bind).
        awaiting.retain(|_, answer| !answer.is_closed());
        if let Some((client, _)) = &bound
            && awaiting.len() != reported
        {
            #[allow(clippy::cast_precision_loss)] // a window's worth at most
            let delta = awaiting.len() as f64 - reported as f64;
            server.outstanding(&client.config.system_id, delta);
            reported = awaiting.len();
        }
        if bound.is_none() && accepted.elapsed() >= BIND_WITHIN {
            break "no bind in time";
        }
        let reading = !stopping && in_flight < server.config.window;
        let quiet_until = tokio::time::Instant::from_std(last_read + inactivity);
        let probe_at = tokio::time::Instant::from_std(match probed {
            None => last_read + probe_every,
            Some(at) => at + answer_within,
        });
        // In this order: answers first, then deliver_sm (at most a window of them), then reads,
        // so a client that keeps its socket busy starves neither; and a submit's answer goes
        // out before a receipt for it that is ready in the same turn (a client that files the
        // id on the answer, as Kannel does, would not know the receipt).
        tokio::select! {
            biased;
            () = intake.cancelled(), if !stopping => {
                stopping = true;
            }
            Some(done) = done_rx.recv() => {
                refused |= on_done(&server, &mut session, done, peer, &mut bound, &mut in_flight);
                if let Some((client, mode)) = &bound
                    && mode.can_receive()
                    && let Some(tx) = deliver_tx.take()
                {
                    server.add_receiver(&client.config.system_id, conn_id, tx);
                }
            }
            Some(d) = deliver_rx.recv(), if !stopping && awaiting.len() < server.config.window => {
                // One its sender gave up on meanwhile would reach the client twice.
                if !d.answer.is_closed() {
                    let seq = session.send(d.pdu);
                    awaiting.insert(seq, d.answer);
                }
            }
            read = rd.read_buf(&mut buf), if reading => match read {
                Ok(0) | Err(_) => break "closed by the client",
                Ok(_) => {
                    last_read = Instant::now();
                    probed = None;
                    let mut ended = None;
                    loop {
                        match codec.decode(&mut buf) {
                            Ok(Some(frame)) => {
                                // Answers to deliver_sm are read from the header alone: a
                                // client's deliver_sm_resp with a message_id (some fill it in)
                                // is not worth dropping it for.
                                let header = pdu::Header::peek(&frame);
                                match header {
                                    Some(h) if h.command_id == pdu::id::DELIVER_SM_RESP
                                        || (h.command_id == pdu::id::GENERIC_NACK
                                            && awaiting.contains_key(&h.sequence_number)) =>
                                    {
                                        if let Some(answer) = awaiting.remove(&h.sequence_number) {
                                            let _ = answer.send(h.command_status);
                                        }
                                    }
                                    _ => session.handle_frame(frame),
                                }
                            }
                            Ok(None) => break,
                            Err(_) => {
                                ended = Some("framing error");
                                break;
                            }
                        }
                        while let Some(event) = session.poll_event() {
                            if let Some(end) = on_event(&server, &mut session, event, peer, &bound, &done_tx, &mut in_flight) {
                                ended = Some(end);
                            }
                        }
                    }
                    if let Some(end) = ended {
                        let _ = flush(&mut session, &mut wr).await;
                        break end;
                    }
                }
            },
            () = tokio::time::sleep(Duration::from_secs(1)), if bound.is_none() || !awaiting.is_empty() => {}
            () = tokio::time::sleep_until(quiet_until) => break "inactive",
            // Only while reading: the answer of a client whose submits fill the window waits
            // unread, and it is not the client that is silent.
            () = tokio::time::sleep_until(probe_at), if bound.is_some() && reading => {
                if probed.is_some() {
                    break "no answer to enquire_link";
                }
                session.send_enquire_link();
                probed = Some(Instant::now());
            }
        }
        // A client that does not read is not waited for.
        let write = Duration::from_secs(server.config.response_timeout_seconds);
        match tokio::time::timeout(write, flush(&mut session, &mut wr)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break "write failed",
            Err(_) => break "the client does not read",
        }
        if refused {
            break "bind refused";
        }
        if stopping && in_flight == 0 {
            session.send_unbind();
            let _ = flush(&mut session, &mut wr).await;
            break "the gateway stopped";
        }
    };
    let _ = wr.shutdown().await;
    // Unanswered deliver_sm go to another bind (their answers are dropped with `awaiting`).
    drop(awaiting);
    if let Some((client, mode)) = bound {
        #[allow(clippy::cast_precision_loss)]
        server.outstanding(&client.config.system_id, -(reported as f64));
        server.remove_receiver(&client.config.system_id, conn_id);
        let mut n = client.binds.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        server.binds_changed(&client.config.system_id, mode.code(), -1.0);
    }
    tracing::info!(message = "SMPP client disconnected.", transport = %server.id, peer = %peer, reason);
}

async fn flush(
    session: &mut ServerSession,
    wr: &mut (impl AsyncWrite + Unpin),
) -> std::io::Result<()> {
    while let Some(bytes) = session.poll_transmit() {
        wr.write_all(&bytes).await?;
    }
    Ok(())
}

/// One session event; `Some(reason)` ends the connection.
fn on_event(
    server: &Arc<Server>,
    session: &mut ServerSession,
    event: ServerEvent,
    peer: SocketAddr,
    bound: &Option<(Arc<Client>, BindMode)>,
    done: &mpsc::UnboundedSender<Done>,
    in_flight: &mut usize,
) -> Option<&'static str> {
    match event {
        ServerEvent::BindRequest {
            sequence_number,
            mode,
            system_id,
            password,
        } => {
            let (server, done) = (server.clone(), done.clone());
            tokio::spawn(async move {
                let outcome = check(&server, &system_id, password, peer).await;
                let _ = done.send(Done::Bind {
                    sequence_number,
                    mode,
                    outcome,
                });
            });
        }
        ServerEvent::SubmitSm {
            sequence_number,
            frame,
        } => {
            let Some((client, _)) = bound else {
                session.respond_submit(sequence_number, Err(status::RINVBNDSTS));
                return None;
            };
            let account = &client.config.system_id;
            if !client.take_token(Instant::now()) {
                server.submitted(account, "throttled");
                session.respond_submit(sequence_number, Err(status::RTHROTTLED));
                return None;
            }
            let submit = match read_submit(&server.id, account, &frame) {
                Ok(m) => m,
                Err(code) => {
                    server.submitted(account, "refused");
                    session.respond_submit(sequence_number, Err(code));
                    return None;
                }
            };
            *in_flight += 1;
            let (server, done) = (server.clone(), done.clone());
            let account = account.clone();
            tokio::spawn(async move {
                let result = match submit {
                    Submit::Whole(msg, registered_delivery) => {
                        let (id, rd) = (msg.message_id.clone(), registered_delivery);
                        // The client is answered with the message's id once the bus owns it;
                        // otherwise ESME_RSYSERR, so it sends the message again.
                        if super::parts::hand_over(&server, &account, &msg, rd, Vec::new()).await {
                            Ok(id)
                        } else {
                            Err(status::RSYSERR)
                        }
                    }
                    Submit::Part {
                        meta,
                        octets,
                        reference,
                        total,
                        seq,
                    } => super::parts::store(&server, meta, &octets, reference, total, seq).await,
                };
                let _ = done.send(Done::Submit {
                    sequence_number,
                    result,
                });
            });
        }
        ServerEvent::Request { frame } => {
            // A valid request this server does not serve (query_sm, cancel_sm, data_sm, …).
            if let Some(header) = pdu::Header::peek(&frame) {
                let mut out = BytesMut::new();
                pdu::encode_empty(
                    header.command_id | pdu::RESPONSE_BIT,
                    status::RINVCMDID,
                    header.sequence_number,
                    &mut out,
                );
                session.send_raw(out.freeze());
            }
        }
        ServerEvent::Malformed { command_id, error } => {
            tracing::warn!(message = "Malformed PDU from an SMPP client; answered generic_nack.", transport = %server.id, peer = %peer, command_id, error = ?error);
        }
        ServerEvent::Disconnect => return Some("unbound"),
        _ => {}
    }
    None
}

/// Checks a bind's credentials against the accounts: the network first (no argon2 for an
/// address that may not bind), then the password (argon2 on the pool, once per password).
async fn check(
    server: &Server,
    system_id: &str,
    password: BindPassword,
    peer: SocketAddr,
) -> Result<Arc<Client>, (u32, &'static str, String)> {
    let refuse = |code, reason| Err((code, reason, system_id.to_owned()));
    // An unknown account is answered as a wrong password (a known one from a network it
    // may not bind from gets ESME_RBINDFAIL, as Jasmin answers, before any argon2 run).
    let Some(client) = server.client(system_id) else {
        return refuse(status::RINVPASWD, "password");
    };
    if !client.networks.permits(peer.ip()) {
        return refuse(status::RBINDFAIL, "network");
    }
    let phc = client.config.password_hash.as_str();
    if client.verified.admits(phc, &password.0) {
        return Ok(client.clone());
    }
    match server.pool.verify(Arc::from(phc), password.0.clone()).await {
        Ok(true) => {
            client.verified.remember(phc, &password.0);
            Ok(client.clone())
        }
        Ok(false) => refuse(status::RINVPASWD, "password"),
        Err(_) => refuse(status::RBINDFAIL, "busy"),
    }
}

/// Applies a finished decision or publish; true when a bind was refused.
fn on_done(
    server: &Server,
    session: &mut ServerSession,
    done: Done,
    peer: SocketAddr,
    bound: &mut Option<(Arc<Client>, BindMode)>,
    in_flight: &mut usize,
) -> bool {
    match done {
        Done::Bind {
            sequence_number,
            mode,
            outcome,
        } => {
            let outcome = outcome.and_then(|client| {
                let mut n = client.binds.lock().unwrap_or_else(PoisonError::into_inner);
                if *n >= client.config.max_binds {
                    let id = client.config.system_id.clone();
                    drop(n);
                    return Err((status::RBINDFAIL, "max_binds", id));
                }
                *n += 1;
                drop(n);
                Ok(client)
            });
            match outcome {
                Ok(client) => {
                    session.respond_bind(sequence_number, status::ROK);
                    server.binds_changed(&client.config.system_id, mode.code(), 1.0);
                    tracing::info!(message = "SMPP client bound.", transport = %server.id, system_id = %client.config.system_id, mode = mode.code());
                    *bound = Some((client, mode));
                }
                Err((code, reason, system_id)) => {
                    session.respond_bind(sequence_number, code);
                    server.auth_failed(&system_id, peer, reason);
                    return true;
                }
            }
        }
        Done::Submit {
            sequence_number,
            result,
        } => {
            *in_flight = in_flight.saturating_sub(1);
            if let Some((client, _)) = bound.as_ref() {
                let outcome = if result.is_ok() { "accepted" } else { "failed" };
                server.submitted(&client.config.system_id, outcome);
            }
            session.respond_submit(sequence_number, result.as_deref().map_err(|e| *e));
        }
    }
    false
}

/// A client's `submit_sm`: a whole message, or a part of a long one.
enum Submit {
    Whole(Box<UserMessage>, u8),
    Part {
        meta: Meta,
        octets: Bytes,
        reference: u16,
        total: u8,
        seq: u8,
    },
}

/// Reads a client's `submit_sm`, or the status it is refused with: parts numbered so they
/// can never be joined or partly numbered, a UDH with more than concatenation (not passed
/// on), no destination.
fn read_submit(transport: &str, account: &str, frame: &Bytes) -> Result<Submit, u32> {
    let command = pdu::decode(frame).map_err(|_| status::RSYSERR)?;
    let m = command
        .pdu()
        .and_then(|p| Inbound::from_pdu(p, frame))
        .ok_or(status::RSYSERR)?;
    if m.destination.is_empty() {
        return Err(status::RINVDSTADR);
    }
    // Partly numbered by SAR: neither a part nor a whole message.
    let sar = &m.sar;
    let sar_fields = [
        sar.reference.is_some(),
        sar.total.is_some(),
        sar.seq.is_some(),
    ];
    if sar_fields.contains(&true) && sar.complete().is_none() {
        return Err(status::RINVOPTPARAMVAL);
    }
    // A UDH is read for concatenation only: any other element (ports, national language
    // shift tables) would not be passed on.
    if esm::has_udh(m.esm_class) {
        let (header, _) = Udh::parse(&m.payload).map_err(|_| status::RINVESMCLASS)?;
        if header
            .elements()
            .any(|e| e.id != udh::IEI_CONCAT_8 && e.id != udh::IEI_CONCAT_16)
        {
            return Err(status::RINVESMCLASS);
        }
    }
    let split = map::split(&m);
    let meta = Meta {
        account: account.to_owned(),
        source: m.source.clone(),
        source_ton: m.source_ton,
        destination: m.destination.clone(),
        destination_ton: m.destination_ton,
        data_coding: m.data_coding,
        registered_delivery: m.registered_delivery,
        id: new_id(),
    };
    match split.concat {
        Concat::Refused(_) if m.sar.reference.is_some() => Err(status::RINVOPTPARAMVAL),
        Concat::Refused(_) => Err(status::RINVESMCLASS),
        Concat::Part {
            reference,
            total,
            seq,
        } => Ok(Submit::Part {
            meta,
            octets: split.octets,
            reference,
            total,
            seq,
        }),
        Concat::Whole => {
            let msg = super::parts::message(transport, &meta, &split.octets, None);
            Ok(Submit::Whole(Box::new(msg), m.registered_delivery))
        }
    }
}
