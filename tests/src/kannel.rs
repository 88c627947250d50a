//! Kannel 1.4.x (the Debian package `kannel`) as a third-party SMPP client: a generated
//! `kannel.conf` in a temp dir (core, one SMPP transceiver link, smsbox with `sendsms`, one
//! `sendsms-user`), `bearerbox` and `smsbox` as child processes on free loopback ports, a wait
//! until the SMPP link is online and smsbox is connected (the admin `status.txt`), and both
//! stopped when the value is dropped (SIGTERM, then SIGKILL after a grace), also on failure.
//! Used by the interop suite (Kannel binds to Richmond's SMPP server) and by the HTTP load
//! rows of `benches/` (Kannel beside Richmond, bound to the counting simulator).
//!
//! Not handled here: what is sent through it (the callers use `sendsms`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, http_get};

pub const BEARERBOX: &str = "/usr/sbin/bearerbox";
pub const SMSBOX: &str = "/usr/sbin/smsbox";
const ADMIN_PASSWORD: &str = "kanneladmin";

/// Whether the Debian package is installed.
#[must_use]
pub fn available() -> bool {
    Path::new(BEARERBOX).exists() && Path::new(SMSBOX).exists()
}

/// What the Kannel under test connects to and how.
pub struct Setup<'a> {
    /// The SMSC (or Richmond's SMPP server) on 127.0.0.1.
    pub smsc_port: u16,
    /// The bind's `system_id` and password.
    pub system_id: &'a str,
    pub password: &'a str,
    /// More lines for the `smsc` group (e.g. `max-pending-submits = 64`).
    pub smsc_extra: &'a str,
    /// More lines for the `core` group (e.g. the message store).
    pub core_extra: &'a str,
    /// The `sendsms-user`, and more lines for its group (e.g. `max-messages = 3`).
    pub user: &'a str,
    pub user_password: &'a str,
    pub user_extra: &'a str,
}

/// bearerbox and smsbox, running.
pub struct Kannel {
    bearerbox: Option<Child>,
    smsbox: Option<Child>,
    /// smsbox's `sendsms` listener.
    pub sendsms: SocketAddr,
    admin: SocketAddr,
    dir: PathBuf,
}

fn config(dir: &Path, s: &Setup<'_>, admin: u16, smsbox_port: u16, sendsms: u16) -> String {
    let d = dir.display();
    format!(
        "group = core\n\
         admin-port = {admin}\nadmin-interface = 127.0.0.1\nadmin-allow-ip = 127.0.0.1\n\
         admin-password = {ADMIN_PASSWORD}\nstatus-password = {ADMIN_PASSWORD}\n\
         smsbox-port = {smsbox_port}\nsmsbox-interface = 127.0.0.1\nbox-allow-ip = 127.0.0.1\n\
         log-file = \"{d}/bearerbox.log\"\nlog-level = 2\ndlr-storage = internal\n{}\n\
         \n\
         group = smsc\nsmsc = smpp\nsmsc-id = link\nhost = 127.0.0.1\nport = {}\n\
         receive-port = 0\ntransceiver-mode = true\n\
         smsc-username = {}\nsmsc-password = {}\nsystem-type = \"VMA\"\n\
         reconnect-delay = 1\n{}\n\
         \n\
         group = smsbox\nbearerbox-host = 127.0.0.1\n\
         sendsms-port = {sendsms}\nsendsms-interface = 127.0.0.1\n\
         log-file = \"{d}/smsbox.log\"\nlog-level = 2\n\
         \n\
         group = sendsms-user\nusername = {}\npassword = {}\n{}\n",
        s.core_extra,
        s.smsc_port,
        s.system_id,
        s.password,
        s.smsc_extra,
        s.user,
        s.user_password,
        s.user_extra,
    )
}

fn spawn(bin: &str, dir: &Path, name: &str) -> Result<Child, String> {
    let out =
        std::fs::File::create(dir.join(format!("{name}.stderr"))).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    Command::new(bin)
        // Errors only on stderr; the log file gets warnings (log-level 2).
        .args(["-v", "3"])
        .arg(dir.join("kannel.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))
}

impl Kannel {
    /// Writes the config into `dir`, starts both boxes and waits (at most 60 s) until the
    /// SMPP link is online and smsbox is connected.
    ///
    /// # Errors
    /// A box could not start or exited, or the link did not come online in time (the error
    /// names the logs).
    pub async fn start(dir: &Path, setup: &Setup<'_>) -> Result<Self, String> {
        let (admin, smsbox_port, sendsms) = (free_port(), free_port(), free_port());
        std::fs::write(
            dir.join("kannel.conf"),
            config(dir, setup, admin, smsbox_port, sendsms),
        )
        .map_err(|e| e.to_string())?;
        let mut k = Self {
            bearerbox: Some(spawn(BEARERBOX, dir, "bearerbox")?),
            smsbox: None,
            sendsms: SocketAddr::from(([127, 0, 0, 1], sendsms)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin)),
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // smsbox gives up at once if the bearerbox's box port is not open yet.
        let boxes = SocketAddr::from(([127, 0, 0, 1], smsbox_port));
        while tokio::net::TcpStream::connect(boxes).await.is_err() {
            k.check_alive(deadline, "bearerbox's smsbox port")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        k.smsbox = Some(spawn(SMSBOX, dir, "smsbox")?);
        loop {
            if k.status()
                .await
                .is_some_and(|s| s.contains("(online") && s.contains("smsbox:"))
            {
                return Ok(k);
            }
            k.check_alive(deadline, "an online SMPP link and a connected smsbox")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// bearerbox's `status.txt`.
    pub async fn status(&self) -> Option<String> {
        let path = format!("/status.txt?password={ADMIN_PASSWORD}");
        match http_get(self.admin, &path).await {
            Ok((200, status)) => Some(status),
            _ => None,
        }
    }

    /// The directory of the config and the logs.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An error naming the logs when a box has exited or `deadline` passed.
    fn check_alive(&mut self, deadline: Instant, waiting_for: &str) -> Result<(), String> {
        for (name, child) in [
            ("bearerbox", &mut self.bearerbox),
            ("smsbox", &mut self.smsbox),
        ] {
            if let Some(c) = child
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!(
                    "{name} exited ({status}); see {}/{name}.stderr and {name}.log",
                    self.dir.display()
                ));
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(self.dir.join("bearerbox.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            return Err(format!(
                "Kannel: no {waiting_for} within 60 s; the end of bearerbox.log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        Ok(())
    }

    /// The processes whose CPU and memory count as Kannel's.
    #[must_use]
    pub fn pids(&self) -> Vec<u32> {
        [&self.bearerbox, &self.smsbox]
            .into_iter()
            .flatten()
            .map(Child::id)
            .collect()
    }
}

/// SIGTERM, up to `grace` for it to exit, then SIGKILL.
pub fn stop(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in [self.smsbox.as_mut(), self.bearerbox.as_mut()]
            .into_iter()
            .flatten()
        {
            stop(child, Duration::from_secs(3));
        }
    }
}

/// The path of a `sendsms` request (`/cgi-bin/sendsms?…`, every value form-encoded).
#[must_use]
pub fn sendsms_path(fields: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        query.append_pair(k, v);
    }
    format!("/cgi-bin/sendsms?{}", query.finish())
}
