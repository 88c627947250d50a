//! Processes of the end-to-end tests: a simulator (`richmond simulate <kind>`) whose JSON
//! events are read from its stdout and whose commands go to its stdin, and the gateway
//! (`richmond run`) with a config written to a temp dir and its logs kept for assertions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long any single wait may take before the test fails (a hang guard, not a timing
/// assertion).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running simulator.
pub struct Sim {
    _child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    /// Every event read so far.
    pub seen: Vec<Value>,
    pub addr: SocketAddr,
    /// The `address` of the `listening` event as printed (a pty path for the modem).
    pub address: String,
}

impl Sim {
    /// Starts `richmond simulate <args…> --listen 127.0.0.1:0` and waits for its address.
    pub async fn start(args: &[&str]) -> Self {
        let mut all = vec!["simulate"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        Self::start_program(crate::richmond_bin(), &all, &[]).await
    }

    /// Starts `program args…` as a simulator that speaks the same way (JSON events on stdout,
    /// the first `listening`; commands on stdin), e.g. `node tests/apps/node_smsc.js`, with
    /// `env` added to its environment.
    pub async fn start_program(program: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut sim = Self::spawn(program, args, env).await;
        sim.addr = sim.address.parse().expect("listening address");
        sim
    }

    /// Starts `richmond simulate modem <args…>`; `address` is the pty path to open.
    pub async fn start_modem(args: &[&str]) -> Self {
        let mut all = vec!["simulate", "modem"];
        all.extend_from_slice(args);
        Self::spawn(crate::richmond_bin(), &all, &[]).await
    }

    /// Starts a simulator and waits for its `listening` event.
    async fn spawn(program: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} {args:?}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(e) => panic!("simulator printed a non-JSON line {line:?}: {e}"),
                }
            }
        });
        let mut sim = Self {
            _child: child,
            stdin,
            events,
            seen: Vec::new(),
            addr: "0.0.0.0:0".parse().expect("addr"),
            address: String::new(),
        };
        let listening = sim.expect("listening", |e| e["event"] == "listening").await;
        listening["address"]
            .as_str()
            .expect("listening address")
            .clone_into(&mut sim.address);
        sim
    }

    /// Starts tests/apps/node_smsc.js (node-smpp as the SMSC, credentials richmond/richmond)
    /// with node-smpp from `RICHMOND_TEST_NODE_MODULES` (or `NODE_PATH`), as
    /// `./scripts/test` installs it; fails with instructions when it is missing.
    pub async fn node_smsc() -> Self {
        let modules = std::env::var("RICHMOND_TEST_NODE_MODULES")
            .or_else(|_| std::env::var("NODE_PATH"))
            .expect(
                "RICHMOND_TEST_NODE_MODULES (or NODE_PATH) must name scripts/node_modules with \
                 node-smpp: run the tests through ./scripts/test",
            );
        assert!(
            std::path::Path::new(&modules).join("smpp").is_dir(),
            "node-smpp is not installed in {modules}: run ./scripts/test (it runs npm ci)"
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/apps/node_smsc.js");
        let args = [script, "--listen", "127.0.0.1:0", "--system-id", "richmond"];
        let args = [
            &args[..],
            &["--password", "richmond", "--receipt-delay-ms", "50"],
        ]
        .concat();
        Self::start_program("node", &args, &[("NODE_PATH", &modules)]).await
    }

    /// Starts tests/apps/node_esme.js (node-smpp as a client ESME) aimed at the SMPP server
    /// on `server`; it binds and submits on command (`bind`, `submit`, `burst`, …).
    pub async fn node_esme(server: SocketAddr) -> Self {
        Self::node_esme_with(server, &[]).await
    }

    /// [`node_esme`](Self::node_esme) with more arguments (`--tls`).
    pub async fn node_esme_with(server: SocketAddr, more: &[&str]) -> Self {
        let modules = std::env::var("RICHMOND_TEST_NODE_MODULES")
            .or_else(|_| std::env::var("NODE_PATH"))
            .expect(
                "RICHMOND_TEST_NODE_MODULES (or NODE_PATH) must name scripts/node_modules with \
                 node-smpp: run the tests through ./scripts/test",
            );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/apps/node_esme.js");
        let target = server.to_string();
        let mut args = vec![script, "--connect", target.as_str()];
        args.extend_from_slice(more);
        Self::start_program("node", &args, &[("NODE_PATH", &modules)]).await
    }

    /// Sends one command line.
    pub async fn cmd(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("simulator stdin");
        self.stdin.flush().await.expect("flush");
    }

    /// Sends one command line and waits until the simulator reports it done (so a switch
    /// such as `no-response 1` is in force before the test goes on).
    pub async fn cmd_done(&mut self, line: &str) {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let done = |e: &Value| e["event"] == "command_done" && e["command"] == verb.as_str();
        let before = self.count(done);
        self.cmd(line).await;
        self.expect_total(line, before + 1, done).await;
    }

    /// Waits for the next event matching `pred` (events before it are kept in `seen`).
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match next {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if pred(&e) {
                        return e;
                    }
                }
                Ok(None) => panic!(
                    "simulator exited while waiting for {what}; seen {:?}",
                    self.seen
                ),
                Err(_) => panic!("no {what} from the simulator; seen {:?}", self.seen),
            }
        }
    }

    /// The first event matching `pred`, among those seen already or, failing that, the next.
    pub async fn find(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        self.expect(what, pred).await
    }

    /// Waits until `n` events matching `pred` have been seen in all (counting earlier ones).
    pub async fn expect_total(&mut self, what: &str, n: usize, pred: impl Fn(&Value) -> bool) {
        while self.count(&pred) < n {
            self.expect(what, &pred).await;
        }
    }

    /// How many events seen so far match `pred`.
    pub fn count(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.seen.iter().filter(|e| pred(e)).count()
    }
}

/// A running gateway.
pub struct Gateway {
    pub child: Option<Child>,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Gateway {
    /// Writes `config` (its `{admin}` and `{data_dir}` placeholders filled in) and runs
    /// `richmond run` with JSON logs at debug level into a file.
    pub async fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let admin: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let text = config
            .replace("{admin}", &admin.to_string())
            .replace("{data_dir}", &dir.path().join("data").display().to_string());
        let path = dir.path().join("richmond.toml");
        std::fs::write(&path, text).expect("write config");
        let log = dir.path().join("richmond.log");
        let child = Self::spawn(&path, &log);
        Self {
            child: Some(child),
            admin,
            dir,
            log,
        }
    }

    fn spawn(config: &std::path::Path, log: &std::path::Path) -> Child {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        Command::new(crate::richmond_bin())
            .args(["--config", config.to_str().expect("utf-8 path")])
            .args(["--log-format", "json", "--log-level", "debug", "run"])
            .stdout(Stdio::from(file.try_clone().expect("log")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("start richmond")
    }

    /// Runs `richmond run` again on the same configuration and data directory (after
    /// [`stop`](Self::stop)); the log goes on in the same file.
    pub fn restart(&mut self) {
        let path = self.dir.path().join("richmond.toml");
        self.child = Some(Self::spawn(&path, &self.log));
    }

    /// The gateway's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /ready`: (status, body); (0, "") when the listener is not up.
    pub async fn ready(&self) -> (u16, String) {
        http_get(self.admin, "/ready")
            .await
            .unwrap_or((0, String::new()))
    }

    /// Waits until `/ready` answers `status`.
    pub async fn wait_ready(&self, status: u16) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (s, body) = self.ready().await;
            if s == status {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/ready never answered {status} (last {s} {body}); logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit code.
    pub async fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = child.id()?.to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        child.wait().await.ok().and_then(|s| s.code())
    }
}

pub use crate::common::http_get;
