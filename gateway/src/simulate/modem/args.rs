//! The options of `richmond simulate modem`.

/// A message storage of the simulated modem (TS 27.005 §3.2.2 `<mem1>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Memory {
    /// The SIM storage: received messages (and status reports unless `--report-memory SR`).
    #[default]
    #[value(name = "SM")]
    Sm,
    /// The status report memory.
    #[value(name = "SR")]
    Sr,
}

impl Memory {
    /// The name AT commands use: `SM` or `SR`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sm => "SM",
            Self::Sr => "SR",
        }
    }
}

/// Options of `richmond simulate modem`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Also make a symlink at this path to the pty (removed at exit), e.g. /tmp/ttyFAKE0.
    #[arg(long)]
    pub link: Option<std::path::PathBuf>,
    /// The IMEI (`AT+CGSN`).
    #[arg(long, default_value = "356938035643809")]
    pub imei: String,
    /// The IMSI (`AT+CIMI`).
    #[arg(long, default_value = "655010000000001")]
    pub imsi: String,
    /// Lock the SIM with this PIN (`AT+CPIN?` answers `SIM PIN` until it is entered; three
    /// wrong tries leave it needing the PUK).
    #[arg(long)]
    pub pin: Option<String>,
    /// Number of SIM storage slots (indices from 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=255))]
    pub slots: u16,
    /// The SMSC address (`AT+CSCA?`, the SMSC field of stored PDUs).
    #[arg(long, default_value = "+27830000000")]
    pub smsc: String,
    /// Reject `AT+CNMI` with ds=2 (`+CMS ERROR: 303`) while still advertising it, like
    /// Qualcomm-based devices: status reports then come routed (`+CDS`) with ds=1.
    #[arg(long)]
    pub cnmi_ds_routed: bool,
    /// Where status reports are stored: SM (with the messages) or SR, a separate memory with
    /// its own slots (as many as `--slots`), announced `+CDSI: "SR",<index>` and read,
    /// listed and deleted after `AT+CPMS="SR"`.
    #[arg(long, value_enum, default_value = "SM", ignore_case = true)]
    pub report_memory: Memory,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            link: None,
            imei: "356938035643809".into(),
            imsi: "655010000000001".into(),
            pin: None,
            slots: 30,
            smsc: "+27830000000".into(),
            cnmi_ds_routed: false,
            report_memory: Memory::Sm,
        }
    }
}
