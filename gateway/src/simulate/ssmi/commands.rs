//! The simulated TruTeq server's commands on one connection (the list is in the parent
//! module's documentation): scripted USSD users, MO, raw lines and bytes, misbehaviour.

use bytes::Bytes;
use richmond_codecs::ssmi::{Coding, Pid, Response, Text, UssdType};
use serde_json::json;

use super::{Closed, Conn, Dial, Open};

impl Conn {
    pub(super) async fn command(&mut self, cmd: &str) -> Open {
        if let Some(raw) = cmd.strip_prefix("\u{0}dr ") {
            return self.raw(raw.as_bytes()).await;
        }
        let mut words = cmd.splitn(2, ' ');
        let verb = words.next().unwrap_or_default();
        let rest = words.next().unwrap_or_default();
        let mut args = rest.splitn(3, ' ');
        let (a, b, c) = (
            args.next().unwrap_or(""),
            args.next().unwrap_or(""),
            args.next().unwrap_or(""),
        );
        match verb {
            "dial" => {
                let inputs = rest.split_whitespace().skip(2).map(str::to_owned).collect();
                self.dials.retain(|d| d.msisdn != a);
                self.dials.push(Dial {
                    msisdn: a.to_owned(),
                    inputs,
                    transcript: Vec::new(),
                });
                self.ussd(a, UssdType::New, b);
            }
            "ussd" => {
                let t = UssdType::from(b.parse::<u32>().unwrap_or(2));
                self.ussd(a, t, c);
            }
            "mo" => {
                let seq = {
                    let mut f = self.sim.flags();
                    f.next_sequence += 1;
                    f.next_sequence
                };
                let text = rest.split_once(' ').map_or("", |(_, t)| t);
                self.session.send(Response::Mo {
                    msisdn: Bytes::from(a.to_owned()),
                    sequence: Bytes::from(seq.to_string()),
                    message: Text::new(text),
                });
            }
            "binary-mo" => {
                let seq = {
                    let mut f = self.sim.flags();
                    f.next_sequence += 1;
                    f.next_sequence
                };
                self.session.send(Response::BinaryMo {
                    msisdn: Bytes::from(a.to_owned()),
                    sequence: Bytes::from(seq.to_string()),
                    pid: Pid::Standard,
                    coding: Coding::EightBit,
                    hex_msg: Bytes::from(b.to_owned()),
                });
            }
            "line" => {
                // Any raw line (e.g. a NACK that comes too late), then command_done.
                self.raw(format!("{rest}\r").as_bytes()).await?;
            }
            "bytes" => {
                // <n> copies of one byte (hex), no line end: 10 MB without CR, CR floods.
                let mut w = rest.split_whitespace();
                let n = w.next().and_then(|n| n.parse::<usize>().ok());
                let byte = w.next().and_then(|b| u8::from_str_radix(b, 16).ok());
                let (Some(n), Some(byte)) = (n.filter(|n| *n <= 100 << 20), byte) else {
                    self.sim.out.emit(&json!({"event": "command_error", "command": cmd, "error": "usage: bytes <n ≤ 100 MiB> <hex byte>"}));
                    return Ok(());
                };
                let chunk = vec![byte; n.min(64 << 10)];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    self.raw(&chunk[..k]).await?;
                    left -= k;
                }
            }
            "garbage" => return self.raw(b"this is not an ssmi line\r").await,
            "unknown" => return self.raw(b"SSMI,999,foo,bar\r").await,
            "short" => return self.raw(b"SSMI,104,2700000000\r").await,
            "silence" => self.silent = true,
            "logout" => self.session.remote_logout(Bytes::from_static(b"127.0.0.2")),
            "disconnect" => return Err(Closed),
            _ => {
                self.sim.out.emit(&json!({"event": "command_error", "command": cmd, "error": "unknown command (try help)"}));
                return Ok(());
            }
        }
        self.sim
            .out
            .emit(&json!({"event": "command_done", "command": verb}));
        self.flush().await?;
        while let Some(event) = self.session.poll_event() {
            self.on_event(event)?;
        }
        self.flush().await
    }
}
