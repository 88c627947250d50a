//! One open serial port: reading items (cancel-safe) and writing bytes.
//!
//! Reference: reference/modem.md §2.9 (a vanished device reads as EOF or EIO), §2.10 (ports,
//! flow control).

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialPortBuilderExt;
use tokio_util::codec::Decoder;

use crate::modem::codec::{Codec, Item};
use crate::modem::{Config, FlowControl};

/// Opens the device path with the configured baud and flow control.
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

    /// Writes all of `bytes` and flushes.
    pub(super) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}
