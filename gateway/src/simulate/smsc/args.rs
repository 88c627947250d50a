//! The options of `richmond simulate smsc` (also built from `[simulator.smsc]` for the
//! in-process simulator) and how message ids are written.

/// How message ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IdFormat {
    /// Decimal digits.
    Dec,
    /// Lowercase hexadecimal digits.
    Hex,
}

impl IdFormat {
    pub(super) fn format(self, n: u64) -> String {
        match self {
            Self::Dec => n.to_string(),
            Self::Hex => format!("{n:x}"),
        }
    }
}

/// The USSD-over-SMPP conventions (reference/vumi.md §3.3, §3.6), as the gateway's `ussd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UssdFlavor {
    /// Vumi's default processor: ops 01/12/11, the session in its_session_info.
    Vumi,
    /// 6D: ops 01/12/81, the session in its_session_info.
    Sixdee,
    /// Mica: ops 01/12/81, the session in user_message_reference.
    Mica,
}

/// Options of `richmond simulate smsc`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the `listening` event names it).
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub listen: std::net::SocketAddr,
    /// The system_id binds must use.
    #[arg(long, default_value = "richmond")]
    pub system_id: String,
    /// The password binds must use.
    #[arg(long, default_value = "richmond")]
    pub password: String,
    /// Delay before the delivery receipt of each submit_sm that asks for one, in
    /// milliseconds.
    #[arg(long, default_value_t = 200)]
    pub receipt_delay_ms: u64,
    /// How message ids are written in submit_sm_resp.
    #[arg(long, value_enum, default_value = "dec")]
    pub message_id_format: IdFormat,
    /// How message ids are written in receipts (default: like --message-id-format); real
    /// SMSCs sometimes answer in hex and report in decimal.
    #[arg(long, value_enum)]
    pub receipt_id_format: Option<IdFormat>,
    /// Delay before a deliver_sm that failed (error status, no answer, link lost) is sent
    /// again, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub redeliver_delay_ms: u64,
    /// How long to wait for a deliver_sm_resp before sending the deliver_sm again, in
    /// milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub deliver_timeout_ms: u64,
    /// How many times one deliver_sm is sent at most before the simulator gives up on it.
    #[arg(long, default_value_t = 10)]
    pub max_deliver_attempts: u32,
    /// Do not print an event per submit_sm, message or deliver_sm (for load tests); binds,
    /// unbinds, errors and command results are still printed.
    #[arg(long)]
    pub quiet: bool,
    /// A command run after every successful bind (repeatable), e.g. "mo 2782 1234 hello".
    #[arg(long)]
    pub on_bind: Vec<String>,
    /// The simulated handsets answer every whole message they receive with an MO of this
    /// text, sent from the recipient to the sender after the receipt delay; `{text}` stands
    /// for the message received, e.g. "Thanks! You said: {text}".
    #[arg(long)]
    pub reply: Option<String>,
    /// Which USSD-over-SMPP convention the `ussd-*` commands and the replies follow.
    #[arg(long, value_enum, default_value = "vumi")]
    pub ussd: UssdFlavor,
    /// Serve SMPP over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 2775)),
            system_id: "richmond".into(),
            password: "richmond".into(),
            receipt_delay_ms: 200,
            message_id_format: IdFormat::Dec,
            receipt_id_format: None,
            redeliver_delay_ms: 1000,
            deliver_timeout_ms: 10_000,
            max_deliver_attempts: 10,
            quiet: false,
            on_bind: Vec::new(),
            reply: None,
            ussd: UssdFlavor::Vumi,
            tls_cert: None,
            tls_key: None,
        }
    }
}
