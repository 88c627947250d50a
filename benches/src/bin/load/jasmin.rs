//! Jasmin 0.11 (PyPI `jasmin`, in the venv `scripts/.venv-jasmin` that `./scripts/bench`
//! makes, with the AMQP spec from its sdist) beside Richmond in the SMPP server rows: `jasmind`
//! on the private RabbitMQ and Redis of `./scripts/test --servers-only`, every listener on a
//! free loopback port, logs at WARNING in a temp dir; configured through jCli (its telnet
//! console): one group and user (the load account, no quotas), one SMPP client connector to
//! the counting simulator with no throughput limit, a default MT route to it. Stopped on drop
//! (SIGTERM, then SIGKILL).
//!
//! Not handled here: the load itself ([`crate::smpps`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::free_port;

/// The venv with `jasmind.py`, and the AMQP spec Jasmin reads (`resource/`).
pub(crate) fn venv() -> PathBuf {
    std::env::var_os("RICHMOND_JASMIN_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/.venv-jasmin"),
        PathBuf::from,
    )
}

/// Whether the venv is there.
pub(crate) fn available() -> bool {
    let v = venv();
    v.join("bin/jasmind.py").exists() && v.join("resource/amqp0-9-1.xml").exists()
}

/// `jasmind`, running and configured.
pub(crate) struct Jasmin {
    child: Child,
    /// Its SMPP server.
    pub(crate) smpp: SocketAddr,
}

impl Jasmin {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `jasmind` in `dir` on the servers from the environment, waits for jCli and sets
    /// up `account`/`password` routed to the simulator on `smsc_port` (binding as
    /// `richmond`/`richmond`).
    pub(crate) async fn start(
        dir: &Path,
        smsc_port: u16,
        account: &str,
        password: &str,
    ) -> Result<Self, String> {
        let port_of = |var: &str| -> Result<u16, String> {
            let url = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
            url.rsplit(':')
                .next()
                .and_then(|tail| tail.split('/').next())
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{var}: no port in {url}"))
        };
        let (amqp, redis) = (
            port_of("RICHMOND_TEST_AMQP_URL")?,
            port_of("RICHMOND_TEST_REDIS_URL")?,
        );
        let smpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let jcli = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut cfg = String::new();
        for (section, port) in [
            ("smpp-server", smpp.port()),
            ("smpp-server-pb", free_port()),
            ("client-management", free_port()),
            ("router", free_port()),
            ("jcli", jcli.port()),
            ("http-api", free_port()),
            ("interceptor", free_port()),
        ] {
            cfg.push_str(&format!(
                "[{section}]\nbind = 127.0.0.1\nport = {port}\nlog_level = WARNING\n"
            ));
            if section == "jcli" {
                cfg.push_str("authentication = False\n");
            }
        }
        cfg.push_str(&format!(
            "[amqp-broker]\nhost = 127.0.0.1\nport = {amqp}\nlog_level = WARNING\n\
             [redis-client]\nhost = 127.0.0.1\nport = {redis}\nlog_level = WARNING\n\
             [service-smppclient]\nlog_level = WARNING\n[sm-listener]\nlog_level = WARNING\n\
             [dlr-thrower]\nlog_level = WARNING\n[deliversm-thrower]\nlog_level = WARNING\n"
        ));
        let path = dir.join("jasmin.cfg");
        std::fs::write(&path, cfg).map_err(|e| e.to_string())?;
        for sub in ["log", "store"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
        }
        let out = std::fs::File::create(dir.join("jasmind.out")).map_err(|e| e.to_string())?;
        let v = venv();
        let child = Command::new(v.join("bin/python"))
            .arg(v.join("bin/jasmind.py"))
            .arg("-c")
            .arg(&path)
            .env("ROOT_PATH", dir)
            .env("LOG_PATH", dir.join("log"))
            .env("STORE_PATH", format!("{}/", dir.join("store").display()))
            .env(
                "RESOURCE_PATH",
                format!("{}/", v.join("resource").display()),
            )
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(out))
            .spawn()
            .map_err(|e| format!("jasmind: {e}"))?;
        let mut j = Self { child, smpp };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut console = loop {
            if let Ok(s) = TcpStream::connect(jcli).await {
                break s;
            }
            if let Ok(Some(status)) = j.child.try_wait() {
                return Err(format!(
                    "jasmind exited ({status}); see {}/jasmind.out",
                    dir.display()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "jasmind: no jCli within 60 s; see {}",
                    dir.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let smsc = smsc_port.to_string();
        let script: &[&[&str]] = &[
            &["group -a", "gid load", "ok"],
            &[
                "user -a",
                &format!("username {account}"),
                &format!("password {password}"),
                "gid load",
                "uid load",
                "ok",
            ],
            &[
                "smppccm -a",
                "cid sim",
                "host 127.0.0.1",
                &format!("port {smsc}"),
                "username richmond",
                "password richmond",
                "submit_throughput 0",
                "ok",
            ],
            &["smppccm -1 sim"],
            &[
                "mtrouter -a",
                "type defaultroute",
                "connector smppc(sim)",
                "rate 0.00",
                "order 0",
                "ok",
            ],
        ];
        let mut seen = Vec::new();
        console
            .write_all(b"\r\n")
            .await
            .map_err(|e| e.to_string())?;
        until_prompt(&mut console, &mut seen).await?;
        for group in script {
            for line in *group {
                console
                    .write_all(format!("{line}\r\n").as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = until_prompt(&mut console, &mut seen).await?;
                if answer.contains("Error") || answer.contains("You must set") {
                    return Err(format!("jCli refused {line:?}: {answer}"));
                }
            }
        }
        Ok(j)
    }
}

/// Reads the console until its prompt (`jcli : `, or `\r\n> ` inside an add), returning what
/// came before it.
async fn until_prompt(console: &mut TcpStream, buf: &mut Vec<u8>) -> Result<String, String> {
    let read = async {
        loop {
            for prompt in [&b"jcli : "[..], b"\r\n> "] {
                if let Some(i) = buf.windows(prompt.len()).position(|w| w == prompt) {
                    let answer = String::from_utf8_lossy(&buf[..i]).into_owned();
                    buf.drain(..i + prompt.len());
                    return Ok(answer);
                }
            }
            let mut chunk = [0u8; 4096];
            match console.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err("jCli closed the console".to_owned()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .map_err(|_| "jCli: no prompt within 30 s".to_owned())?
}

impl Drop for Jasmin {
    fn drop(&mut self) {
        crate::kannel::stop(&mut self.child, Duration::from_secs(10));
    }
}
