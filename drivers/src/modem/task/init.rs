//! Init, storage sweep and keepalive of one modem session.
//!
//! Reference: reference/modem.md §2.4 ("a reasonable sequence for us"), §2.2 (+CPIN, +CPMS,
//! +CNMI with fallbacks, +CMGL), §2.9 (keepalive with +CSQ / +CREG?).
//!
//! Optional steps tolerate `ERROR` (not every modem knows `AT+CSMS` or gives its IMSI);
//! required ones (`ATE0`, `AT+CMGF=0`, the configured storage, the operator's commands) end
//! the attempt. A SIM that wants its PIN gets the configured PIN once: a rejection is fatal,
//! because three wrong tries lock the SIM behind its PUK.

use std::time::Duration;

use metrics::gauge;
use richmond_codecs::at::{command, fields};
use tracing::{info, warn};

use super::link::{Fail, check};
use super::{Session, Stop, lost};
use crate::modem::Event;

/// How often `AT+CPIN?` is asked while the SIM gets ready after its PIN.
const SIM_READY_POLLS: u32 = 10;

impl Session<'_> {
    pub(super) async fn run_ok(&mut self, line: &str) -> Result<Option<super::Reply>, Fail> {
        let reply = self
            .link
            .exec(&format!("{line}\r"), None, self.config.command_timeout)
            .await?;
        Ok(check(&reply).is_ok().then_some(reply))
    }

    async fn required(&mut self, line: &str) -> Result<super::Reply, Stop> {
        match self.run_ok(line).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(Stop::Lost(format!("modem refused {line}"))),
            Err(f) => Err(lost(f)),
        }
    }

    /// Runs the init sequence; returns (IMEI, IMSI).
    pub(super) async fn init(&mut self) -> Result<(Option<String>, Option<String>), Stop> {
        // Leave a prompt a previous run left open, then sync: the first answers may be
        // garbage from before.
        self.link
            .write(&[command::ESC, b'\r'])
            .await
            .map_err(lost)?;
        self.link
            .drain(Duration::from_millis(200))
            .await
            .map_err(lost)?;
        let mut synced = false;
        for _ in 0..3 {
            match self.link.exec("AT\r", None, Duration::from_secs(2)).await {
                Ok(reply) if check(&reply).is_ok() => {
                    synced = true;
                    break;
                }
                Ok(_) | Err(Fail::Timeout) => {}
                Err(f) => return Err(lost(f)),
            }
        }
        if !synced {
            return Err(Stop::Lost("no OK to AT".into()));
        }
        self.required("ATE0").await?;
        for optional in ["ATV1", "AT+CMEE=1"] {
            self.run_ok(optional).await.map_err(lost)?;
        }
        let imei = self.identity("AT+CGSN").await?;
        self.sim().await?;
        let imsi = self.identity("AT+CIMI").await?;
        self.required("AT+CMGF=0").await?;
        self.run_ok("AT+CSMS=0").await.map_err(lost)?;
        if let Some(mem) = self.config.storage.clone() {
            let line = format!("AT+CPMS=\"{mem}\",\"{mem}\",\"{mem}\"");
            let reply = self.required(&line).await?;
            self.storage_gauges(reply.line("+CPMS:")).await;
        }
        let mut cnmi_set = false;
        for params in self.config.cnmi.clone() {
            if self
                .run_ok(&format!("AT+CNMI={params}"))
                .await
                .map_err(lost)?
                .is_some()
            {
                info!(message = "New-message indications set.", transport = %self.config.name, cnmi = %params);
                cnmi_set = true;
                break;
            }
        }
        if !cnmi_set {
            warn!(message = "Modem refused every AT+CNMI; storage is swept AT each keepalive.", transport = %self.config.name);
        }
        self.learn_memories().await.map_err(lost)?;
        for line in self.config.init_commands.clone() {
            self.required(&line).await?;
        }
        Ok((imei, imsi))
    }

    /// The first information line of an identity command, if the modem answers OK.
    async fn identity(&mut self, line: &str) -> Result<Option<String>, Stop> {
        let reply = self.run_ok(line).await.map_err(lost)?;
        Ok(reply.and_then(|r| {
            r.lines.first().map(|l| {
                let text = String::from_utf8_lossy(l);
                text.trim_start_matches("+CGSN:").trim().to_owned()
            })
        }))
    }

    /// `AT+CPIN?`, the PIN once if asked, then wait until the SIM is ready.
    async fn sim(&mut self) -> Result<(), Stop> {
        let mut sent_here = false;
        for _ in 0..SIM_READY_POLLS {
            let reply = self
                .link
                .exec("AT+CPIN?\r", None, self.config.command_timeout)
                .await
                .map_err(lost)?;
            let state = reply
                .line("+CPIN:")
                .and_then(|l| fields::cpin(l).ok())
                .map(|s| String::from_utf8_lossy(s).into_owned());
            match state.as_deref() {
                Some("READY") => return Ok(()),
                Some("SIM PIN") if sent_here => {} // accepted; the SIM is getting ready
                Some("SIM PIN") if self.pin_uncertain => {
                    return Err(Stop::Fatal(
                        "the PIN was sent before and its answer never came; not entering it again"
                            .into(),
                    ));
                }
                Some("SIM PIN") => {
                    let Some(pin) = self.config.pin.clone() else {
                        return Err(Stop::Fatal(
                            "the SIM asks for a PIN and none is configured".into(),
                        ));
                    };
                    let Some(q) = command::quoted(&pin) else {
                        return Err(Stop::Fatal("the configured PIN is not usable".into()));
                    };
                    // Until the modem answers, this try may have counted: no second one.
                    self.pin_uncertain = true;
                    let r = self
                        .link
                        .exec(&format!("AT+CPIN={q}\r"), None, self.config.command_timeout)
                        .await
                        .map_err(lost)?;
                    if check(&r).is_err() {
                        return Err(Stop::Fatal(
                            "the SIM rejected the PIN; not retrying (a wrong PIN three times locks the SIM)"
                                .into(),
                        ));
                    }
                    // Accepted: the same PIN may be entered again after a modem reset.
                    self.pin_uncertain = false;
                    sent_here = true;
                }
                None => {}
                Some(other) => {
                    return Err(Stop::Fatal(format!("the SIM wants {other}")));
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(Stop::Lost("SIM not ready".into()))
    }

    /// Signal, registration and storage; sweeps again when storage holds messages no URC
    /// announced (a `+CMTI` lost while the port was closed).
    pub(super) async fn keepalive(&mut self) -> Result<(), Fail> {
        let name = self.config.name.clone();
        if let Some(reply) = self.run_ok("AT+CSQ").await?
            && let Some(Ok((rssi, _))) = reply.line("+CSQ:").map(fields::csq)
        {
            if let Some(dbm) = fields::rssi_dbm(rssi) {
                gauge!("richmond_modem_signal_dbm", "transport" => name.clone())
                    .set(f64::from(dbm));
            }
            self.emit(Event::Signal { rssi }).await;
        }
        if let Some(reply) = self.run_ok("AT+CREG?").await?
            && let Some(Ok(stat)) = reply.line("+CREG:").map(fields::registration_reply)
        {
            gauge!("richmond_modem_registration", "transport" => name.clone(), "kind" => "cs")
                .set(f64::from(stat));
            self.emit(Event::Registration {
                kind: crate::modem::Registration::Cs,
                stat,
            })
            .await;
        }
        if let Some(reply) = self.run_ok("AT+CPMS?").await?
            && let Some((used, _)) = self.storage_gauges(reply.line("+CPMS:")).await
            && used > 0
        {
            self.sweep().await?;
        }
        Ok(())
    }

    async fn storage_gauges(&self, line: Option<&[u8]>) -> Option<(u32, u32)> {
        let (used, total) = fields::cpms(line?).ok()?;
        let name = self.config.name.clone();
        gauge!("richmond_modem_storage_used", "transport" => name.clone()).set(f64::from(used));
        gauge!("richmond_modem_storage_total", "transport" => name).set(f64::from(total));
        self.emit(Event::Storage { used, total }).await;
        Some((used, total))
    }
}
