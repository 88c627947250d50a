//! `[transports.<id>]` with `type = "smpp_server"`: the listener and the client accounts.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// An SMPP server for client ESMEs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmppServerConfig {
    /// Where to listen, e.g. `0.0.0.0:2775`.
    pub listen: SocketAddr,
    /// The `system_id` sent back in bind responses.
    #[serde(default = "own_id")]
    pub system_id: String,
    /// The client accounts.
    pub accounts: Vec<Account>,
    /// `submit_sm` of one bind handled at once (the rest wait unread).
    #[serde(default = "window")]
    pub window: usize,
    /// A bind that sends nothing for this long is dropped.
    #[serde(default = "five_minutes")]
    pub inactivity_timeout_seconds: u64,
    /// A bind that has sent nothing for this long is sent an `enquire_link`; one that does
    /// not answer within `response_timeout_seconds` is dropped.
    #[serde(default = "thirty")]
    pub enquire_link_seconds: u64,
    /// How long a client has to answer a `deliver_sm` (or an `enquire_link`) before the next
    /// bind is tried (or the silent one dropped).
    #[serde(default = "thirty")]
    pub response_timeout_seconds: u64,
    /// How long a message for a client account waits for a receiving bind before it is
    /// nacked.
    #[serde(default = "hour")]
    pub deliver_ttl_seconds: u64,
    /// How long a submit that asked for a receipt is remembered for its events.
    #[serde(default = "week")]
    pub receipt_ttl_seconds: u64,
    /// How long the parts of a long message (UDH or SAR) wait for the rest; then the parts
    /// that came go on as one message, flagged incomplete.
    #[serde(default = "five_minutes")]
    pub multipart_timeout_seconds: u64,
    /// TLS: the certificate chain (PEM) the listener serves; with `tls_key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// TLS: the certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Longest PDU accepted from a client.
    #[serde(default = "max_pdu")]
    pub max_pdu_bytes: usize,
}

/// One client: who may bind, from where, how often and how fast.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub system_id: String,
    /// argon2 PHC string, as the API's accounts (`richmond hash-password`).
    pub password_hash: String,
    /// Networks binds may come from (CIDR); empty: anywhere.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    /// Binds at once, every mode counted.
    #[serde(default = "max_binds")]
    pub max_binds: usize,
    /// `submit_sm` per second (a token bucket: bursts up to one second's worth); 0: no limit.
    /// Above it the client gets `ESME_RTHROTTLED`.
    #[serde(default)]
    pub mt_tps: u32,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("system_id", &self.system_id)
            .field("allowed_networks", &self.allowed_networks)
            .field("max_binds", &self.max_binds)
            .field("mt_tps", &self.mt_tps)
            .finish_non_exhaustive()
    }
}

fn own_id() -> String {
    "richmond".into()
}
const fn window() -> usize {
    64
}
const fn five_minutes() -> u64 {
    300
}
const fn thirty() -> u64 {
    30
}
const fn hour() -> u64 {
    3600
}
const fn week() -> u64 {
    7 * 24 * 3600
}
const fn max_pdu() -> usize {
    65_536
}
const fn max_binds() -> usize {
    4
}

/// Parsed `allowed_networks`: any address when none is listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Networks(crate::api::callback_policy::Networks);

impl Networks {
    /// # Errors
    /// The first entry that is not an address or address/prefix.
    pub(crate) fn parse(list: &[String]) -> Result<Self, String> {
        crate::api::callback_policy::Networks::parse(list).map(Self)
    }

    /// Whether `ip` may bind.
    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.contain(ip)
    }
}

impl SmppServerConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        crate::listener_tls::check(
            "smpp_server",
            self.tls_cert_file.as_deref(),
            self.tls_key_file.as_deref(),
        )?;
        if self.accounts.is_empty() {
            return Err("accounts: at least one".into());
        }
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            return Err("system_id: 1 to 15 characters".into());
        }
        if self.window == 0 || self.window > 10_000 {
            return Err("window: 1 to 10000".into());
        }
        for (key, v) in [
            (
                "inactivity_timeout_seconds",
                self.inactivity_timeout_seconds,
            ),
            ("response_timeout_seconds", self.response_timeout_seconds),
            ("enquire_link_seconds", self.enquire_link_seconds),
            ("deliver_ttl_seconds", self.deliver_ttl_seconds),
            ("receipt_ttl_seconds", self.receipt_ttl_seconds),
            ("multipart_timeout_seconds", self.multipart_timeout_seconds),
        ] {
            crate::config::error::check_seconds(key, v)?;
        }
        for (i, a) in self.accounts.iter().enumerate() {
            let key = format!("accounts[{i}]");
            if a.system_id.is_empty() || a.system_id.len() > 15 {
                return Err(format!("{key}.system_id: 1 to 15 characters"));
            }
            if self.accounts[..i]
                .iter()
                .any(|b| b.system_id == a.system_id)
            {
                return Err(format!(
                    "{key}.system_id: {:?} is listed twice",
                    a.system_id
                ));
            }
            crate::api::auth::check_phc(&a.password_hash)
                .map_err(|e| format!("{key}.password_hash: {e}"))?;
            Networks::parse(&a.allowed_networks)
                .map_err(|e| format!("{key}.allowed_networks: {e}"))?;
            if a.max_binds == 0 {
                return Err(format!("{key}.max_binds: at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Networks;

    #[test]
    fn networks_permit_their_addresses_only() {
        let n = Networks::parse(&["10.1.0.0/16".into(), "::1".into()]).unwrap();
        assert!(n.permits("10.1.200.3".parse().unwrap()));
        assert!(!n.permits("10.2.0.1".parse().unwrap()));
        assert!(n.permits("::1".parse().unwrap()));
        assert!(n.permits("::ffff:10.1.0.9".parse().unwrap()));
        assert!(
            Networks::parse(&[])
                .unwrap()
                .permits("192.0.2.1".parse().unwrap())
        );
        assert!(Networks::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(Networks::parse(&["nope".into()]).is_err());
    }
}
