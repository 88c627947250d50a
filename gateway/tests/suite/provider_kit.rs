//! What the HTTP-provider suites (`chikka`, `clickatell`, `opera`) share: arming a simulator's
//! misbehaviour, one message's outcome, a raw post to a transport's listener, and a gateway
//! killed while the provider holds a request.

use richmond_codecs::vumi::UserMessage;
use richmond_tests::app::App;
use richmond_tests::procs::{Gateway, Sim};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Gives the simulator `line` (a `fail`, `hang` or provider error) and waits until it took it.
pub(crate) async fn arm(sim: &mut Sim, line: &str) {
    sim.cmd(line).await;
    sim.expect("armed", |e| e["event"] == "misbehave").await;
}

/// Sends `text` to `to` and waits for its ack or nack: `("ack", id)` or `("nack", reason)`.
pub(crate) async fn outcome(app: &mut App, to: &str, text: &str) -> (&'static str, String) {
    let msg = app.sms(to, text);
    app.send(&msg).await;
    let (mut done, _) = app.outcomes(1).await;
    done.remove(&msg.message_id).expect("its outcome")
}

/// POSTs `body` to `path` on `listen` with `headers` (lines ending `\r\n`); the whole answer.
pub(crate) async fn post(
    listen: std::net::SocketAddr,
    path: &str,
    headers: &str,
    content_type: &str,
    body: &str,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(listen)
        .await
        .expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

/// Sends `Not lost` to `to` while the simulator holds every request (`hang`), kills the
/// gateway (SIGKILL) once the provider has the request, and starts it again: the message was
/// never acked on the bus, so it goes to the provider again. The message and the held
/// request's event.
pub(crate) async fn kill_while_held(
    sim: &mut Sim,
    gw: &mut Gateway,
    app: &mut App,
    to: &str,
) -> (UserMessage, serde_json::Value) {
    arm(sim, "hang").await;
    let held = app.sms(to, "Not lost");
    app.send(&held).await;
    let hung = sim
        .expect("the request held", |e| e["event"] == "request_hung")
        .await;
    let child = gw.child.as_mut().expect("running");
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    gw.restart();
    gw.wait_ready(200).await;
    (held, hung)
}
