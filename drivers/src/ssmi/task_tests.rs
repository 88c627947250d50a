//! Tests of the client task over a real loopback TCP connection, against a test server built
//! from [`ServerSession`] and [`ServerCodec`]: login handshake and inbound USSD, reconnect
//! after the server drops the connection, outbound held while down, login NACK, logout on stop.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use richmond_codecs::ssmi::{Charset, Decoded, Phase, Request, Response, Secret, Text, UssdType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

use super::codec::ServerCodec;
use super::server::{ServerConfig, ServerSession};
use super::session::{ClientConfig, DisconnectReason, Event};
use super::task::{ClientHandle, TaskConfig, client};

/// A safety net against hangs; no test asserts timing.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("test timed out")
}

/// One accepted connection of the test server.
struct Peer {
    stream: TcpStream,
    codec: ServerCodec,
    buf: BytesMut,
    session: ServerSession,
}

impl Peer {
    async fn accept(listener: &TcpListener, password: &str) -> Self {
        let (stream, _) = within(listener.accept()).await.expect("accept");
        let session = ServerSession::new(ServerConfig::new("user", password));
        Self {
            stream,
            codec: ServerCodec::new(),
            buf: BytesMut::new(),
            session,
        }
    }

    /// The next request from the client (answered by the server session), `None` at EOF.
    async fn next_request(&mut self) -> Option<Request> {
        loop {
            while let Some(item) = self.codec.decode(&mut self.buf).expect("no stream error") {
                let request = match &item {
                    Decoded::Message(request) => Some(request.clone()),
                    _ => None,
                };
                self.session.handle_decoded(item);
                self.flush().await;
                if request.is_some() {
                    return request;
                }
            }
            match within(self.stream.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn flush(&mut self) {
        let mut out = BytesMut::new();
        while let Some(response) = self.session.poll_transmit() {
            self.codec.encode(response, &mut out).expect("encode");
        }
        let _ = self.stream.write_all(&out).await;
    }

    async fn send(&mut self, response: Response) {
        self.session.send(response);
        self.flush().await;
    }

    /// Accepts the login and the first link check.
    async fn login(&mut self) {
        assert_eq!(
            self.next_request().await,
            Some(Request::Login {
                username: Bytes::from_static(b"user"),
                password: Secret::from("pass")
            })
        );
        assert!(self.session.is_logged_in());
        assert_eq!(self.next_request().await, Some(Request::LinkCheck));
    }
}

struct Setup {
    listener: TcpListener,
    handle: ClientHandle,
    events: mpsc::Receiver<Event>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn setup() -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut session = ClientConfig::new("user", "pass");
    session.link_check_interval = Duration::from_secs(3600);
    session.reconnect_initial = Duration::from_millis(10);
    session.reconnect_max = Duration::from_millis(40);
    let mut config = TaskConfig::new(addr, "truteq_test", session);
    config.seed = Some(1);
    let (handle, events, task) = client(config, 16);
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

async fn next_event(events: &mut mpsc::Receiver<Event>) -> Event {
    within(events.recv()).await.expect("event")
}

async fn wait_logged_in(handle: &ClientHandle, state: bool) {
    let mut watch = handle.logged_in();
    within(watch.wait_for(|logged_in| *logged_in == state))
        .await
        .expect("watch");
}

fn ussd_reply(text: &str) -> Request {
    Request::SendUssd {
        msisdn: Bytes::from_static(b"27831112222"),
        ussd_type: UssdType::Existing,
        genfields: None,
        message: Text::new(text),
    }
}

#[tokio::test]
async fn login_then_inbound_ussd_then_logout() {
    let mut s = setup().await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.login().await;
    assert_eq!(next_event(&mut s.events).await, Event::LoggedIn);
    wait_logged_in(&s.handle, true).await;

    // Garbage and unknown ids are skipped; the link stays up.
    peer.stream
        .write_all(b"Garbage\rSSMI,113,a,b\r")
        .await
        .expect("write");
    let new_session = Response::Ussd {
        msisdn: Bytes::from_static(b"27831112222"),
        ussd_type: UssdType::New,
        phase: Phase::Unknown,
        genfields: None,
        message: Text::wire(Bytes::from_static(b"*120*663#")),
    };
    peer.send(new_session.clone()).await;
    assert_eq!(next_event(&mut s.events).await, Event::Inbound(new_session));

    within(s.handle.send(ussd_reply("Welcome\r\n1. Balance")))
        .await
        .expect("written");
    let Some(Request::SendUssd { message, .. }) = peer.next_request().await else {
        panic!("expected the reply");
    };
    assert_eq!(message.text(Charset::Latin1), "Welcome\n1. Balance");

    s.cancel.cancel();
    assert_eq!(peer.next_request().await, Some(Request::Logout));
    assert_eq!(peer.next_request().await, None);
    within(s.task).await.expect("task ends");
    assert!(!s.handle.is_logged_in());
    assert!(matches!(
        s.handle.send(Request::LinkCheck).await,
        Err(super::Error::Stopped)
    ));
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    let mut s = setup().await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.login().await;
    assert_eq!(next_event(&mut s.events).await, Event::LoggedIn);
    drop(peer);
    assert_eq!(
        next_event(&mut s.events).await,
        Event::Disconnect {
            reason: DisconnectReason::ConnectionLost
        }
    );
    wait_logged_in(&s.handle, false).await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.login().await;
    assert_eq!(next_event(&mut s.events).await, Event::LoggedIn);
    s.cancel.cancel();
    assert_eq!(peer.next_request().await, Some(Request::Logout));
    within(s.task).await.expect("task ends");
}

#[tokio::test]
async fn outbound_sent_while_down_is_written_after_relogin() {
    let mut s = setup().await;
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.login().await;
    wait_logged_in(&s.handle, true).await;
    drop(peer);
    wait_logged_in(&s.handle, false).await;

    let handle = s.handle.clone();
    let sending = tokio::spawn(async move { handle.send(ussd_reply("after the outage")).await });
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.login().await;
    let Some(Request::SendUssd {
        msisdn, message, ..
    }) = peer.next_request().await
    else {
        panic!("expected the held reply");
    };
    assert_eq!(
        (&msisdn[..], message.as_str()),
        (&b"27831112222"[..], Some("after the outage"))
    );
    within(sending).await.expect("join").expect("written");
    let events: Vec<Event> = std::iter::from_fn(|| s.events.try_recv().ok()).collect();
    assert!(events.contains(&Event::Disconnect {
        reason: DisconnectReason::ConnectionLost
    }));
    s.cancel.cancel();
    within(s.task).await.expect("task ends");
}

#[tokio::test]
async fn login_nack_disconnects_then_retries() {
    let mut s = setup().await;
    let mut peer = Peer::accept(&s.listener, "other password").await;
    assert!(matches!(
        peer.next_request().await,
        Some(Request::Login { .. })
    ));
    assert!(!peer.session.is_logged_in());
    // The client hangs up after the NACK.
    assert_eq!(peer.next_request().await, None);
    let reason = richmond_codecs::ssmi::NackReason::InvalidLogin;
    assert_eq!(
        next_event(&mut s.events).await,
        Event::LoginRejected { reason }
    );
    assert_eq!(
        next_event(&mut s.events).await,
        Event::Disconnect {
            reason: DisconnectReason::LoginRejected
        }
    );
    // ...and comes back after its backoff.
    let mut peer = Peer::accept(&s.listener, "pass").await;
    peer.login().await;
    assert_eq!(next_event(&mut s.events).await, Event::LoggedIn);
    s.cancel.cancel();
    within(s.task).await.expect("task ends");
}

#[tokio::test]
async fn stops_while_disconnected() {
    let s = setup().await;
    drop(s.listener); // nothing listens: every connect fails, with backoff
    tokio::time::sleep(Duration::from_millis(30)).await;
    s.cancel.cancel();
    within(s.task).await.expect("task ends");
    assert!(!s.handle.is_logged_in());
}
