//! One open serial port: reading items (cancel-safe), writing, and running one command to its
//! final result within a deadline with the URCs that arrive meanwhile queued.
//!
//! Reference: reference/modem.md §2.1 (one command at a time, URCs between any two lines),
//! §2.9 (a vanished device reads as EOF or EIO).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use metrics::counter;
use richmond_codecs::at::command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use tokio_serial::SerialPortBuilderExt;
use tokio_util::codec::Decoder;
use tracing::{debug, warn};

use crate::modem::codec::{Codec, Item};
use crate::modem::engine::{self, Engine, Output, Reply};
use crate::modem::{Config, Error, FlowControl, preview};

/// A command failed to complete.
#[derive(Debug)]
pub(super) enum Fail {
    Timeout,
    Gone(String),
}

pub(super) fn open(config: &Config) -> Result<Port, tokio_serial::Error> {
    let path = config.device.to_string_lossy().into_owned();
    let flow = match config.flow_control {
        FlowControl::None => tokio_serial::FlowControl::None,
        FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        FlowControl::Software => tokio_serial::FlowControl::Software,
    };
    let stream = tokio_serial::new(path, config.baud)
        .flow_control(flow)
        .open_native_async()?;
    Ok(Port {
        stream,
        buf: BytesMut::with_capacity(4096),
        codec: Codec::default(),
    })
}

/// One open port.
pub(super) struct Link {
    pub(super) port: Port,
    pub(super) engine: Engine,
    pub(super) urcs: VecDeque<engine::Event>,
    name: String,
    pub(super) ready_once: bool,
}

impl Link {
    pub(super) fn new(port: Port, name: &str) -> Self {
        Self {
            port,
            engine: Engine::new(),
            urcs: VecDeque::new(),
            name: name.to_owned(),
            ready_once: false,
        }
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        self.port
            .send(bytes)
            .await
            .map_err(|e| Fail::Gone(format!("write: {e}")))
    }

    /// Runs `line` (ending in CR) to its final result. With `pdu`, writes it with Ctrl-Z at the
    /// prompt (the prompt must come within `prompt_timeout`, the rest within `timeout`).
    pub(super) async fn exec(
        &mut self,
        line: &str,
        pdu: Option<(&str, Duration)>,
        timeout: Duration,
    ) -> Result<Reply, Fail> {
        counter!("richmond_modem_commands_total", "transport" => self.name.clone()).increment(1);
        self.engine.start(line);
        self.write(line.as_bytes()).await?;
        let mut pdu = pdu;
        let mut deadline = Instant::now() + pdu.map_or(timeout, |(_, p)| p);
        loop {
            let item = match timeout_at(deadline, self.port.next()).await {
                Err(_) => {
                    if pdu.is_some() {
                        // The prompt never came: make sure the modem is not waiting for text.
                        let _ = self.write(&[command::ESC]).await;
                    }
                    self.engine.abandon();
                    counter!("richmond_modem_command_timeouts_total", "transport" => self.name.clone())
                        .increment(1);
                    return Err(Fail::Timeout);
                }
                Ok(None) => return Err(Fail::Gone("end of file".into())),
                Ok(Some(Err(e))) => return Err(Fail::Gone(format!("read: {e}"))),
                Ok(Some(Ok(item))) => item,
            };
            match self.engine.handle(item) {
                Output::Done(reply) => return Ok(reply),
                Output::Prompt => {
                    if let Some((hex, _)) = pdu.take() {
                        self.write(&command::pdu_body(hex)).await?;
                        deadline = Instant::now() + timeout;
                    }
                }
                other => self.side(other),
            }
        }
    }

    /// Handles an output that is not the answer of a command.
    pub(super) fn side(&mut self, output: Output) {
        match output {
            Output::Urc(event) => self.urcs.push_back(event),
            Output::Unexpected(line) => {
                counter!("richmond_modem_unexpected_lines_total", "transport" => self.name.clone())
                    .increment(1);
                debug!(message = "Unexpected line from modem.", transport = %self.name, line = %preview(&line));
            }
            Output::Overlong => {
                counter!("richmond_modem_unexpected_lines_total", "transport" => self.name.clone())
                    .increment(1);
                warn!(message = "Overlong line from modem dropped.", transport = %self.name);
            }
            Output::None | Output::Done(_) | Output::Prompt => {}
        }
    }

    /// Reads and discards input for `period` (after ESC, before a sync); URCs are kept.
    pub(super) async fn drain(&mut self, period: Duration) -> Result<(), Fail> {
        let deadline = Instant::now() + period;
        loop {
            match timeout_at(deadline, self.port.next()).await {
                Err(_) => return Ok(()),
                Ok(None) => return Err(Fail::Gone("end of file".into())),
                Ok(Some(Err(e))) => return Err(Fail::Gone(format!("read: {e}"))),
                Ok(Some(Ok(item))) => {
                    if let Output::Urc(event) = self.engine.handle(item) {
                        self.urcs.push_back(event);
                    }
                }
            }
        }
    }
}

/// Maps a finished reply to Ok or the request error.
pub(super) fn check(reply: &Reply) -> Result<(), Error> {
    use crate::modem::Final;
    match reply.result {
        Final::Ok => Ok(()),
        Final::CmsError(code) => Err(Error::Cms(code)),
        other => Err(Error::Rejected(other)),
    }
}

/// The serial stream with its read buffer and codec. Reading is cancel-safe (`read_buf`
/// keeps what it read in the buffer), so `next` can sit in a `select!`.
pub(super) struct Port {
    stream: tokio_serial::SerialStream,
    buf: BytesMut,
    codec: Codec,
}

impl Port {
    /// The next item; None at end of file.
    pub(super) async fn next(&mut self) -> Option<std::io::Result<Item>> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}
