//! Kannel 1.4.x (the Debian package `kannel`) beside Richmond in the HTTP rows: a generated
//! `kannel.conf` in the run's temp dir (core, one SMPP transceiver to the counting simulator,
//! smsbox with `sendsms`, one `sendsms-user`), `bearerbox` and `smsbox` as child processes on
//! free loopback ports, a wait until the SMPP link is online and smsbox is connected (the
//! admin `status.txt`), and both stopped when the value is dropped (SIGTERM, then SIGKILL
//! after 3 s), also on failure.
//!
//! Shape, as close to Richmond's quick start as Kannel allows: 64 submits in flight on the
//! link (`max-pending-submits = 64`, Richmond's `window = 64`), no delivery reports (no
//! `dlr-mask` in the requests, so `registered_delivery = 0`), the message store on
//! (`store-type = file`: Kannel's only protection of accepted messages against a crash),
//! warnings-only logs (Richmond runs at `warn`), no access log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{free_port, get};

pub(crate) const BEARERBOX: &str = "/usr/sbin/bearerbox";
pub(crate) const SMSBOX: &str = "/usr/sbin/smsbox";
/// The bind the simulator accepts from Kannel.
pub(crate) const SYSTEM_ID: &str = "kannel";
pub(crate) const PASSWORD: &str = "kannel";
/// The `sendsms-user`.
pub(crate) const USER: &str = "load";
pub(crate) const USER_PASSWORD: &str = "loadpass";
const ADMIN_PASSWORD: &str = "loadadmin";

/// Whether the Debian package is installed.
pub(crate) fn available() -> bool {
    Path::new(BEARERBOX).exists() && Path::new(SMSBOX).exists()
}

/// bearerbox and smsbox, running.
pub(crate) struct Kannel {
    bearerbox: Option<Child>,
    smsbox: Option<Child>,
    /// smsbox's `sendsms` listener.
    pub(crate) sendsms: SocketAddr,
    admin: SocketAddr,
    dir: PathBuf,
}

fn config(dir: &Path, smsc_port: u16, admin: u16, smsbox_port: u16, sendsms: u16) -> String {
    let d = dir.display();
    format!(
        "group = core\n\
         admin-port = {admin}\nadmin-interface = 127.0.0.1\nadmin-allow-ip = 127.0.0.1\n\
         admin-password = {ADMIN_PASSWORD}\nstatus-password = {ADMIN_PASSWORD}\n\
         smsbox-port = {smsbox_port}\nsmsbox-interface = 127.0.0.1\nbox-allow-ip = 127.0.0.1\n\
         log-file = \"{d}/bearerbox.log\"\nlog-level = 2\n\
         store-type = file\nstore-location = \"{d}/kannel.store\"\ndlr-storage = internal\n\
         \n\
         group = smsc\nsmsc = smpp\nsmsc-id = sim\nhost = 127.0.0.1\nport = {smsc_port}\n\
         receive-port = 0\ntransceiver-mode = true\n\
         smsc-username = {SYSTEM_ID}\nsmsc-password = {PASSWORD}\nsystem-type = \"VMA\"\n\
         max-pending-submits = 64\nreconnect-delay = 1\n\
         \n\
         group = smsbox\nbearerbox-host = 127.0.0.1\n\
         sendsms-port = {sendsms}\nsendsms-interface = 127.0.0.1\n\
         log-file = \"{d}/smsbox.log\"\nlog-level = 2\n\
         \n\
         group = sendsms-user\nusername = {USER}\npassword = {USER_PASSWORD}\n"
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
    /// SMPP link to `smsc_port` is online and smsbox is connected.
    pub(crate) async fn start(dir: &Path, smsc_port: u16) -> Result<Self, String> {
        let (admin, smsbox_port, sendsms) = (free_port(), free_port(), free_port());
        std::fs::write(
            dir.join("kannel.conf"),
            config(dir, smsc_port, admin, smsbox_port, sendsms),
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
            let path = format!("/status.txt?password={ADMIN_PASSWORD}");
            if let Ok((200, status)) = get(k.admin, &path).await
                && status.contains("(online")
                && status.contains("smsbox:")
            {
                return Ok(k);
            }
            k.check_alive(deadline, "an online SMPP link and a connected smsbox")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
            return Err(format!(
                "Kannel: no {waiting_for} within 60 s; see the logs in {}",
                self.dir.display()
            ));
        }
        Ok(())
    }

    /// The processes whose CPU and memory count as Kannel's.
    pub(crate) fn pids(&self) -> Vec<u32> {
        [&self.bearerbox, &self.smsbox]
            .into_iter()
            .flatten()
            .map(Child::id)
            .collect()
    }
}

/// SIGTERM, up to `grace` for it to exit, then SIGKILL.
pub(crate) fn stop(child: &mut Child, grace: Duration) {
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
