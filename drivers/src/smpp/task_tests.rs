//! Tests of the ESME task over real loopback TCP, against a test SMSC built from
//! [`ServerSession`] and [`Codec`]: bind, submit, deliver answered only by the transport,
//! unbind on stop; link loss with a full window; mt_tps in paused tokio time; bind refused
//! then retried after the backoff.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use richmond_codecs::smpp::pdu::id;
use richmond_codecs::smpp::rusmpp::pdus::DeliverSm;
use richmond_codecs::smpp::rusmpp::types::{COctetString, OctetString};
use richmond_codecs::smpp::status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::codec::Codec;
use super::config::Config;
use super::event::{Event, RetryReason, SubmitOutcome, UnboundReason};
use super::server::{ServerConfig, ServerEvent, ServerSession};
use super::session_tests::submit_sm;
use super::task::{Handle, client};

/// A safety net against hangs; no test asserts timing.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("test timed out")
}

/// One accepted connection of the test SMSC.
struct Peer {
    stream: TcpStream,
    codec: Codec,
    buf: BytesMut,
    session: ServerSession,
}

impl Peer {
    async fn accept(listener: &TcpListener, password: &str) -> Self {
        let (stream, _) = within(listener.accept()).await.expect("accept");
        Self {
            stream,
            codec: Codec::default(),
            buf: BytesMut::new(),
            session: ServerSession::new(ServerConfig::new("user", password)),
        }
    }

    /// The next server event (PDUs answered by the server session), `None` at EOF.
    async fn next_event(&mut self) -> Option<ServerEvent> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Some(event);
            }
            while let Some(frame) = self.codec.decode(&mut self.buf).expect("framing") {
                self.session.handle_frame(frame);
            }
            self.flush().await;
            if let Some(event) = self.session.poll_event() {
                return Some(event);
            }
            match within(self.stream.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            let _ = self.stream.write_all(&bytes).await;
        }
    }

    async fn bound(&mut self) {
        assert!(matches!(
            self.next_event().await,
            Some(ServerEvent::Bound { .. })
        ));
    }

    async fn next_submit(&mut self) -> u32 {
        match self.next_event().await {
            Some(ServerEvent::SubmitSm {
                sequence_number, ..
            }) => sequence_number,
            other => panic!("expected a submit_sm, got {other:?}"),
        }
    }
}

struct Setup {
    listener: TcpListener,
    handle: Handle,
    events: mpsc::Receiver<Event>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn setup(tune: impl FnOnce(&mut Config)) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = Config::new("127.0.0.1", port, "smpp_test", "user", "pass");
    config.enquire_link_interval = Duration::from_secs(3600);
    config.reconnect_backoff_min = Duration::from_millis(10);
    config.reconnect_backoff_max = Duration::from_millis(40);
    config.unbind_timeout = Duration::from_millis(200);
    config.seed = Some(1);
    tune(&mut config);
    let (handle, events, task) = client(config).expect("config");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(task.run(cancel.clone()));
    Setup {
        listener,
        handle,
        events,
        cancel,
        task,
    }
}

async fn wait_bound(handle: &Handle, state: bool) {
    let mut watch = handle.bound();
    within(watch.wait_for(|bound| *bound == state))
        .await
        .expect("watch");
}

async fn next_event(events: &mut mpsc::Receiver<Event>) -> Event {
    within(events.recv()).await.expect("event")
}

#[tokio::test]
async fn bind_submit_deliver_then_unbind_on_stop() {
    let mut s = setup(|_| {}).await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.bound().await;
    assert!(matches!(
        next_event(&mut s.events).await,
        Event::Bound { .. }
    ));
    wait_bound(&s.handle, true).await;

    let handle = s.handle.clone();
    let submit = tokio::spawn(async move { handle.submit(submit_sm("hello")).await });
    let seq = peer.next_submit().await;
    peer.session.respond_submit(seq, Ok("smsc-1"));
    peer.flush().await;
    let outcome = within(submit).await.expect("join").expect("outcome");
    assert_eq!(
        outcome,
        SubmitOutcome::Accepted {
            message_id: bytes::Bytes::from_static(b"smsc-1")
        }
    );

    // An MO: the driver does not answer it by itself.
    let deliver = DeliverSm::builder()
        .source_addr(COctetString::from_static_slice(b"27831234567\0").unwrap())
        .destination_addr(COctetString::from_static_slice(b"1234\0").unwrap())
        .short_message(OctetString::from_static_slice(b"hi").unwrap())
        .build();
    let deliver_seq = peer.session.send(deliver);
    peer.flush().await;
    let Event::Deliver(deliver) = next_event(&mut s.events).await else {
        panic!("expected a deliver");
    };
    assert_eq!(deliver.id.sequence_number(), deliver_seq);
    s.handle
        .respond_deliver(deliver.id, status::RX_T_APPN)
        .expect("running");
    match peer.next_event().await {
        Some(ServerEvent::Response { header }) => {
            assert_eq!(header.command_id, id::DELIVER_SM_RESP);
            assert_eq!(header.command_status, status::RX_T_APPN);
            assert_eq!(header.sequence_number, deliver_seq);
        }
        other => panic!("expected the deliver_sm_resp, got {other:?}"),
    }

    // Stop: the ESME unbinds before closing (Vumi #624).
    s.cancel.cancel();
    assert_eq!(peer.next_event().await, Some(ServerEvent::Unbound));
    peer.flush().await;
    within(s.task).await.expect("task ends");
    assert!(!s.handle.is_bound());
    assert!(matches!(
        s.handle.submit(submit_sm("late")).await,
        Err(super::Error::Stopped)
    ));
}

#[tokio::test]
async fn smsc_drops_the_link_with_a_full_window() {
    let mut s = setup(|config| config.window = 3).await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.bound().await;
    wait_bound(&s.handle, true).await;
    let mut submits = Vec::new();
    for n in 0..4 {
        let handle = s.handle.clone();
        submits.push(tokio::spawn(async move {
            handle.submit(submit_sm(&format!("m{n}"))).await
        }));
    }
    // The window holds three; the fourth waits.
    for _ in 0..3 {
        peer.next_submit().await;
    }
    drop(peer);
    loop {
        if let Event::Unbound { reason } = next_event(&mut s.events).await {
            assert_eq!(reason, UnboundReason::ConnectionLost);
            break;
        }
    }
    let mut codes = Vec::new();
    for submit in submits {
        codes.push(
            match within(submit).await.expect("join").expect("outcome") {
                SubmitOutcome::Retry {
                    reason: RetryReason::LinkLost,
                } => "link_lost",
                SubmitOutcome::Retry {
                    reason: RetryReason::NotBound,
                } => "not_bound",
                other => panic!("unexpected {other:?}"),
            },
        );
    }
    codes.sort_unstable();
    // Each submit got exactly one answer: three lost with the link (the SMSC may hold them),
    // the waiting one answered "not bound" (never written: the caller may resend it).
    assert_eq!(codes, ["link_lost", "link_lost", "link_lost", "not_bound"]);
    // After the reconnect, submits go out again.
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.bound().await;
    wait_bound(&s.handle, true).await;
    let handle = s.handle.clone();
    let again = tokio::spawn(async move { handle.submit(submit_sm("again")).await });
    let seq = peer.next_submit().await;
    peer.session.respond_submit(seq, Ok("again"));
    peer.flush().await;
    let outcome = within(again).await.expect("join").expect("outcome");
    assert!(
        matches!(outcome, SubmitOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    s.cancel.cancel();
    within(s.task).await.expect("task ends");
}

#[tokio::test(start_paused = true)]
async fn mt_tps_holds_in_paused_time() {
    let mut s = setup(|config| {
        config.window = 20;
        config.mt_tps = 5;
        config.response_timeout = Duration::from_secs(3600);
    })
    .await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.bound().await;
    wait_bound(&s.handle, true).await;
    let mut submits = Vec::new();
    for n in 0..10 {
        let handle = s.handle.clone();
        submits.push(tokio::spawn(async move {
            handle.submit(submit_sm(&format!("m{n}"))).await
        }));
    }
    let start = tokio::time::Instant::now();
    for n in 0..10 {
        let seq = peer.next_submit().await;
        peer.session.respond_submit(seq, Ok(&format!("id{n}")));
        peer.flush().await;
    }
    let elapsed = start.elapsed();
    for submit in submits {
        let outcome = within(submit).await.expect("join").expect("outcome");
        assert!(matches!(outcome, SubmitOutcome::Accepted { .. }));
    }
    // 10 submits at 5 per second: at least 9 intervals of 200 ms of (virtual) time.
    assert!(elapsed >= Duration::from_millis(1800), "{elapsed:?}");
    drop(s.events.try_recv());
    s.cancel.cancel();
    within(s.task).await.expect("task ends");
}

#[tokio::test]
async fn bind_refused_then_retried_after_the_backoff() {
    let mut s = setup(|_| {}).await;
    let mut peer = Peer::accept(&s.listener, "other password").await;
    assert_eq!(
        peer.next_event().await,
        Some(ServerEvent::BindRefused {
            status: status::RINVPASWD
        })
    );
    // The ESME hangs up after the refusal.
    assert_eq!(peer.next_event().await, None);
    assert_eq!(
        next_event(&mut s.events).await,
        Event::BindRejected {
            status: status::RINVPASWD
        }
    );
    assert_eq!(
        next_event(&mut s.events).await,
        Event::Unbound {
            reason: UnboundReason::BindRejected
        }
    );
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.bound().await;
    wait_bound(&s.handle, true).await;
    // The SMSC unbinds: answered, and the ESME reconnects.
    peer.session.send_unbind();
    peer.flush().await;
    assert_eq!(peer.next_event().await, Some(ServerEvent::Unbound));
    wait_bound(&s.handle, false).await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.bound().await;
    s.cancel.cancel();
    within(s.task).await.expect("task ends");
}
