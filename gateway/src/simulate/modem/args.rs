//! The options of `richmond simulate modem`.

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
        }
    }
}
