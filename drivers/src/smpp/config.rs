//! Settings of one SMPP bind (one TCP connection to an SMSC).
//!
//! Reference: SMPP 3.4 §4.1 (bind parameters), reference/vumi.md §3.1 (Vumi's options and
//! their defaults), reference/smpp.md (windowing, throttling).
//!
//! A transport with several binds, or a transmitter/receiver pair, runs one session and task
//! per bind, each with its own `Config` (same credentials, different [`BindMode`]).
//!
//! Not handled here: loading or validating a config file (the gateway does that, including
//! the 8-octet password limit; [`super::Session::new`] refuses what cannot be encoded).

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{self, DEFAULT_MAX_PDU_BYTES, id};
use richmond_codecs::smpp::rusmpp::{self, CommandStatus};

use super::Error;

/// How the ESME binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// `bind_transceiver`: submit and receive on one connection.
    Transceiver,
    /// `bind_transmitter`: submit only.
    Transmitter,
    /// `bind_receiver`: receive only.
    Receiver,
}

impl BindMode {
    /// The bind request's command id.
    pub const fn command_id(self) -> u32 {
        match self {
            Self::Transceiver => id::BIND_TRANSCEIVER,
            Self::Transmitter => id::BIND_TRANSMITTER,
            Self::Receiver => id::BIND_RECEIVER,
        }
    }

    /// The mode of a bind request's command id.
    pub const fn from_command_id(command_id: u32) -> Option<Self> {
        match command_id {
            id::BIND_TRANSCEIVER => Some(Self::Transceiver),
            id::BIND_TRANSMITTER => Some(Self::Transmitter),
            id::BIND_RECEIVER => Some(Self::Receiver),
            _ => None,
        }
    }

    /// May send `submit_sm`.
    pub const fn can_submit(self) -> bool {
        matches!(self, Self::Transceiver | Self::Transmitter)
    }

    /// May be sent `deliver_sm`.
    pub const fn can_receive(self) -> bool {
        matches!(self, Self::Transceiver | Self::Receiver)
    }

    /// A stable snake_case code (`"transceiver"`, …).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Transceiver => "transceiver",
            Self::Transmitter => "transmitter",
            Self::Receiver => "receiver",
        }
    }
}

/// Settings of one bind. [`Config::new`] gives the defaults.
#[derive(Clone)]
pub struct Config {
    /// SMSC host name or address.
    pub host: String,
    /// SMSC port.
    pub port: u16,
    /// The transport id: the `transport` metric label and log field.
    pub transport: String,
    /// `system_id` of the bind (at most 15 octets).
    pub system_id: String,
    /// `password` of the bind (at most 8 octets in SMPP 3.4; never shown by `Debug`).
    pub password: String,
    /// `system_type` of the bind (at most 12 octets; often empty).
    pub system_type: String,
    /// Transceiver, transmitter or receiver.
    pub bind_mode: BindMode,
    /// `interface_version` (0x34 for SMPP 3.4).
    pub interface_version: u8,
    /// `addr_ton` of the bind.
    pub addr_ton: u8,
    /// `addr_npi` of the bind.
    pub addr_npi: u8,
    /// `address_range` of the bind (often empty).
    pub address_range: String,
    /// Most `submit_sm` outstanding (sent or waiting to be sent) at once; at least 1.
    pub window: usize,
    /// How long a request waits for its response.
    pub response_timeout: Duration,
    /// How long the bind waits for its `bind_*_resp`.
    pub bind_timeout: Duration,
    /// Idle time after which an `enquire_link` is sent.
    pub enquire_link_interval: Duration,
    /// How long an `enquire_link` waits for its response before the link counts as dead.
    pub enquire_link_timeout: Duration,
    /// How long a closing session waits for `unbind_resp`.
    pub unbind_timeout: Duration,
    /// First reconnect delay (also the delay after a bound link drops).
    pub reconnect_backoff_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_backoff_max: Duration,
    /// Most `submit_sm` per second on this bind; 0 means no limit.
    pub mt_tps: u32,
    /// Pause after `ESME_RTHROTTLED` / `ESME_RMSGQFUL` before sending again (doubles while the
    /// SMSC keeps throttling, up to [`Config::throttle_backoff_max`]).
    pub throttle_backoff: Duration,
    /// Largest throttle pause.
    pub throttle_backoff_max: Duration,
    /// Largest PDU accepted from the SMSC, in octets.
    pub max_pdu_bytes: usize,
    /// Give up a TCP connect after this long.
    pub connect_timeout: Duration,
    /// Treat the connection as lost when a write takes longer than this.
    pub write_timeout: Duration,
    /// Seed of the reconnect jitter; random when `None`.
    pub seed: Option<u64>,
    /// TLS over the TCP connection; plain TCP when `None`.
    pub tls: Option<crate::tls::Tls>,
}

impl Config {
    /// Defaults: transceiver, SMPP 3.4, window 10, response timeout 30 s, bind timeout 30 s,
    /// enquire_link after 30 s idle with a 10 s timeout, unbind timeout 2 s, reconnect backoff
    /// 2 s doubling to 120 s, no TPS limit, throttle pause 100 ms doubling to 10 s.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        transport: impl Into<String>,
        system_id: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            transport: transport.into(),
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            bind_mode: BindMode::Transceiver,
            interface_version: 0x34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
            window: 10,
            response_timeout: Duration::from_secs(30),
            bind_timeout: Duration::from_secs(30),
            enquire_link_interval: Duration::from_secs(30),
            enquire_link_timeout: Duration::from_secs(10),
            unbind_timeout: Duration::from_secs(2),
            reconnect_backoff_min: Duration::from_secs(2),
            reconnect_backoff_max: Duration::from_secs(120),
            mt_tps: 0,
            throttle_backoff: Duration::from_millis(100),
            throttle_backoff_max: Duration::from_secs(10),
            max_pdu_bytes: DEFAULT_MAX_PDU_BYTES,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            seed: None,
            tls: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.transport)
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("system_type", &self.system_type)
            .field("bind_mode", &self.bind_mode)
            .field("interface_version", &self.interface_version)
            .field("window", &self.window)
            .field("response_timeout", &self.response_timeout)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("mt_tps", &self.mt_tps)
            .field("throttle_backoff", &self.throttle_backoff)
            .finish_non_exhaustive()
    }
}

/// The bind PDU of `config`, sequence number 0.
pub(crate) fn encode_bind(config: &Config) -> Result<Bytes, Error> {
    use richmond_codecs::smpp::rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter};
    use richmond_codecs::smpp::rusmpp::types::COctetString;
    use richmond_codecs::smpp::rusmpp::values::{InterfaceVersion, Npi, Ton};

    fn field<const MIN: usize, const MAX: usize>(
        name: &'static str,
        value: &str,
    ) -> Result<COctetString<MIN, MAX>, Error> {
        value
            .parse()
            .map_err(|_| Error::InvalidConfig { field: name })
    }
    let system_id = field("system_id", &config.system_id)?;
    let password = field("password", &config.password)?;
    let system_type = field("system_type", &config.system_type)?;
    let address_range = field("address_range", &config.address_range)?;
    let version = InterfaceVersion::from(config.interface_version);
    let ton = Ton::from(config.addr_ton);
    let npi = Npi::from(config.addr_npi);
    let pdu: rusmpp::Pdu = match config.bind_mode {
        BindMode::Transceiver => BindTransceiver::new(
            system_id,
            password,
            system_type,
            version,
            ton,
            npi,
            address_range,
        )
        .into(),
        BindMode::Transmitter => BindTransmitter::new(
            system_id,
            password,
            system_type,
            version,
            ton,
            npi,
            address_range,
        )
        .into(),
        BindMode::Receiver => BindReceiver::new(
            system_id,
            password,
            system_type,
            version,
            ton,
            npi,
            address_range,
        )
        .into(),
    };
    let mut frame = BytesMut::new();
    pdu::encode(
        &rusmpp::Command::new(CommandStatus::EsmeRok, 0, pdu),
        &mut frame,
    );
    Ok(frame.freeze())
}
