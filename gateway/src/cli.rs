//! Command line: `richmond [run]`, `check-config [--print]`, `spool-status`, `simulate <kind>`,
//! `hash-password`, `create-token`.
//!
//! Exit codes live in [`exit`]; clap itself exits 2 on usage errors.
//! Reference: DESIGN.md "Conventions / CLI", style-and-operations.md B.2 and B.9.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Process exit codes (sysexits where one fits).
pub mod exit {
    /// Clean exit, including a completed drain.
    pub const OK: u8 = 0;
    /// A runtime failure.
    pub const FAILURE: u8 = 1;
    /// A usage error (clap exits with this itself).
    pub const USAGE: u8 = 2;
    /// The drain deadline passed; unfinished work was handed back for redelivery.
    pub const DRAIN_TIMEOUT: u8 = 75;
    /// The configuration is invalid.
    pub const CONFIG: u8 = 78;
}

const LONG_ABOUT: &str = "\
Richmond connects mobile operators to applications. It speaks the carriers' protocols (SMPP \
to SMSCs, TruTeq SSMI for USSD and SMS, AT commands to GSM modems) and turns their traffic into \
Vumi messages on a message bus: RabbitMQ (exchange \"vumi\", queues <transport>.inbound, \
.outbound, .event) or, with no external service at all, an embedded durable bus.

FILES:
    config/richmond.toml        default configuration (embedded bus, redb store)
    <data_dir>/spool.redb       embedded bus spool: accepted messages not yet acknowledged
    <data_dir>/store.redb       transport state: id maps, multipart buffers, sessions

ENVIRONMENT:
    RICHMOND_CONFIG             path of the configuration file (like --config)
    RICHMOND__<SECTION>__<KEY>  overrides one config key, e.g. RICHMOND__ADMIN__ADDRESS or
                                RICHMOND__TRANSPORTS__SMSC1__PASSWORD; values are TOML
                                (numbers, booleans) or plain strings
    RUST_LOG                    log filter; overrides --log-level

SIGNALS:
    SIGTERM, SIGINT   drain: /ready turns 503, intake stops, in-flight work finishes or is
                      handed back to the bus for redelivery, then exit 0 within
                      shutdown.drain_timeout_seconds; a second signal exits at once
    SIGHUP            re-reads the TLS certificates of the listeners (API, admin, SMPP
                      servers); the rest of the config applies only after a restart

EXIT STATUS:
    0    clean exit, including a completed drain
    1    runtime failure
    2    usage error
    75   the drain deadline passed; unfinished messages will be redelivered
    78   invalid configuration";

/// Richmond: an SMS/USSD gateway between mobile operators and Vumi applications.
#[derive(Debug, Parser)]
#[command(name = "richmond", version, about, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "RICHMOND_CONFIG",
        default_value = "config/richmond.toml"
    )]
    pub config: PathBuf,
    /// Log format; default: text on a terminal, JSON lines otherwise.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Run,
    /// Check the configuration and exit 0, or 78 with the reasons.
    CheckConfig {
        /// Print the effective configuration (defaults and overrides applied, secrets redacted).
        #[arg(long)]
        print: bool,
    },
    /// List each embedded-bus queue's depth, bytes and oldest message age from the spool.
    /// Works while the gateway is stopped.
    SpoolStatus,
    /// Read a password from stdin and print its argon2id PHC string, for
    /// `[[api.accounts]] password_hash` or an SMPP server account's. Needs no config file.
    HashPassword,
    /// Make a new random API token: prints the token (give it to the client; it is shown
    /// once and stored nowhere) and its digest (`sha256:<hex>`) for `[[api.accounts]]
    /// token_digests` or a `tokens_file`. Needs no config file.
    CreateToken,
    /// Run a carrier simulator on loopback (for tests, demos and the quick start); it prints
    /// JSON events on stdout and takes commands on stdin (`help`). Needs no config file.
    Simulate {
        #[command(subcommand)]
        kind: Box<crate::simulate::SimulateKind>,
    },
}

impl Cli {
    /// The subcommand, `run` when none was given.
    pub fn command(&self) -> &Command {
        self.command.as_ref().unwrap_or(&Command::Run)
    }
}
