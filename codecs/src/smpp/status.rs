//! SMPP `command_status` values: their names and a small set of classes for metrics and
//! retry decisions.
//!
//! Reference: SMPP 3.4 §5.1.3 (and 5.0 §4.7.6 for the 0x100.. range); reference/smpp.md
//! ("Statuses worth classifying"); reference/vumi.md §3.4 (Vumi puts the status *name* in
//! `nack_reason`, so [`name`] gives exactly those names).
//!
//! Classes ([`StatusClass`]): `ok`, `throttled` (ESME_RTHROTTLED), `queue_full`
//! (ESME_RMSGQFUL), `invalid_destination` (destination address, TON, NPI), `bind_error` (what a
//! bind can be refused with), `other`. The first two mean "slow down and resend": the driver
//! handles them and a caller never sees them for a submit. [`is_transient`] marks the statuses
//! that SMSCs commonly return for a passing fault (ESME_RSYSERR, ESME_RSUBMITFAIL, 0xFE, 0xFF,
//! ESME_RX_T_APPN); whether to retry them is the transport's decision.
//!
//! Not handled here: which PDU a status answers (the driver's session).

/// `ESME_ROK`.
pub const ROK: u32 = 0x0000_0000;
/// `ESME_RINVCMDLEN`: invalid command length.
pub const RINVCMDLEN: u32 = 0x0000_0002;
/// `ESME_RINVCMDID`: invalid command id.
pub const RINVCMDID: u32 = 0x0000_0003;
/// `ESME_RINVBNDSTS`: incorrect bind status for the command.
pub const RINVBNDSTS: u32 = 0x0000_0004;
/// `ESME_RALYBND`: already bound.
pub const RALYBND: u32 = 0x0000_0005;
/// `ESME_RSYSERR`: system error.
pub const RSYSERR: u32 = 0x0000_0008;
/// `ESME_RINVDSTADR`: invalid destination address.
pub const RINVDSTADR: u32 = 0x0000_000B;
/// `ESME_RBINDFAIL`: bind failed.
pub const RBINDFAIL: u32 = 0x0000_000D;
/// `ESME_RINVPASWD`: invalid password.
pub const RINVPASWD: u32 = 0x0000_000E;
/// `ESME_RINVSYSID`: invalid system id.
pub const RINVSYSID: u32 = 0x0000_000F;
/// `ESME_RMSGQFUL`: message queue full.
pub const RMSGQFUL: u32 = 0x0000_0014;
/// `ESME_RINVESMCLASS`: invalid `esm_class`.
pub const RINVESMCLASS: u32 = 0x0000_0043;
/// `ESME_RSUBMITFAIL`: submit_sm failed.
pub const RSUBMITFAIL: u32 = 0x0000_0045;
/// `ESME_RTHROTTLED`: throttling error (the ESME exceeded its allowed message limits).
pub const RTHROTTLED: u32 = 0x0000_0058;
/// `ESME_RX_T_APPN`: temporary application error (a `deliver_sm_resp` asking for redelivery).
pub const RX_T_APPN: u32 = 0x0000_0064;
/// `ESME_RX_P_APPN`: permanent application error.
pub const RX_P_APPN: u32 = 0x0000_0065;
/// `ESME_RINVOPTPARAMVAL` (5.0: `ESME_RINVTLVVAL`): an optional parameter (TLV) has a bad
/// value.
pub const RINVOPTPARAMVAL: u32 = 0x0000_00C4;
/// `ESME_RDELIVERYFAILURE`: delivery failure (a `deliver_sm_resp` / `data_sm_resp`).
pub const RDELIVERYFAILURE: u32 = 0x0000_00FE;
/// `ESME_RUNKNOWNERR`: unknown error.
pub const RUNKNOWNERR: u32 = 0x0000_00FF;

/// A coarse class of a `command_status`, for metric labels and retry decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusClass {
    /// `ESME_ROK`.
    Ok,
    /// `ESME_RTHROTTLED`: slow down and resend.
    Throttled,
    /// `ESME_RMSGQFUL`: slow down and resend.
    QueueFull,
    /// The destination is wrong for good: `ESME_RINVDSTADR`, `ESME_RINVDSTTON`,
    /// `ESME_RINVDSTNPI`.
    InvalidDestination,
    /// A bind refusal: `ESME_RALYBND`, `ESME_RBINDFAIL`, `ESME_RINVPASWD`, `ESME_RINVSYSID`,
    /// `ESME_RINVSYSTYP`, `ESME_RINVBNDSTS`.
    BindError,
    /// Anything else.
    Other,
}

impl StatusClass {
    /// The class of a raw `command_status`.
    pub const fn of(status: u32) -> Self {
        match status {
            ROK => Self::Ok,
            RTHROTTLED => Self::Throttled,
            RMSGQFUL => Self::QueueFull,
            RINVDSTADR | 0x50 | 0x51 => Self::InvalidDestination,
            RINVBNDSTS | RALYBND | RBINDFAIL | RINVPASWD | RINVSYSID | 0x53 => Self::BindError,
            _ => Self::Other,
        }
    }

    /// A stable snake_case code, usable as a metric label.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Throttled => "throttled",
            Self::QueueFull => "queue_full",
            Self::InvalidDestination => "invalid_destination",
            Self::BindError => "bind_error",
            Self::Other => "other",
        }
    }

    /// `throttled` or `queue_full`: the SMSC asks the ESME to slow down and resend.
    pub const fn is_slow_down(self) -> bool {
        matches!(self, Self::Throttled | Self::QueueFull)
    }
}

/// Statuses SMSCs commonly return for a passing fault: ESME_RSYSERR, ESME_RSUBMITFAIL,
/// ESME_RX_T_APPN, ESME_RDELIVERYFAILURE (0xFE), ESME_RUNKNOWNERR (0xFF), and the two
/// slow-down statuses. Address, length and esm_class errors are not transient.
pub const fn is_transient(status: u32) -> bool {
    matches!(
        status,
        RSYSERR | RSUBMITFAIL | RX_T_APPN | RDELIVERYFAILURE | RUNKNOWNERR | RTHROTTLED | RMSGQFUL
    )
}

/// The specification's name of a status (`"ESME_RINVDSTADR"`), as Vumi reports it in
/// `nack_reason`; `None` for a value the specifications do not define.
pub const fn name(status: u32) -> Option<&'static str> {
    Some(match status {
        0x0000 => "ESME_ROK",
        0x0001 => "ESME_RINVMSGLEN",
        0x0002 => "ESME_RINVCMDLEN",
        0x0003 => "ESME_RINVCMDID",
        0x0004 => "ESME_RINVBNDSTS",
        0x0005 => "ESME_RALYBND",
        0x0006 => "ESME_RINVPRTFLG",
        0x0007 => "ESME_RINVREGDLVFLG",
        0x0008 => "ESME_RSYSERR",
        0x000a => "ESME_RINVSRCADR",
        0x000b => "ESME_RINVDSTADR",
        0x000c => "ESME_RINVMSGID",
        0x000d => "ESME_RBINDFAIL",
        0x000e => "ESME_RINVPASWD",
        0x000f => "ESME_RINVSYSID",
        0x0011 => "ESME_RCANCELFAIL",
        0x0013 => "ESME_RREPLACEFAIL",
        0x0014 => "ESME_RMSGQFUL",
        0x0015 => "ESME_RINVSERTYP",
        0x0033 => "ESME_RINVNUMDESTS",
        0x0034 => "ESME_RINVDLNAME",
        0x0040 => "ESME_RINVDESTFLAG",
        0x0042 => "ESME_RINVSUBREP",
        0x0043 => "ESME_RINVESMCLASS",
        0x0044 => "ESME_RCNTSUBDL",
        0x0045 => "ESME_RSUBMITFAIL",
        0x0048 => "ESME_RINVSRCTON",
        0x0049 => "ESME_RINVSRCNPI",
        0x0050 => "ESME_RINVDSTTON",
        0x0051 => "ESME_RINVDSTNPI",
        0x0053 => "ESME_RINVSYSTYP",
        0x0054 => "ESME_RINVREPFLAG",
        0x0055 => "ESME_RINVNUMMSGS",
        0x0058 => "ESME_RTHROTTLED",
        0x0061 => "ESME_RINVSCHED",
        0x0062 => "ESME_RINVEXPIRY",
        0x0063 => "ESME_RINVDFTMSGID",
        0x0064 => "ESME_RX_T_APPN",
        0x0065 => "ESME_RX_P_APPN",
        0x0066 => "ESME_RX_R_APPN",
        0x0067 => "ESME_RQUERYFAIL",
        0x00c0 => "ESME_RINVTLVSTREAM",
        0x00c1 => "ESME_RTLVNOTALLWD",
        0x00c2 => "ESME_RINVTLVLEN",
        0x00c3 => "ESME_RMISSINGTLV",
        0x00c4 => "ESME_RINVTLVVAL",
        0x00fe => "ESME_RDELIVERYFAILURE",
        0x00ff => "ESME_RUNKNOWNERR",
        0x0100 => "ESME_RSERTYPUNAUTH",
        0x0101 => "ESME_RPROHIBITED",
        0x0102 => "ESME_RSERTYPUNAVAIL",
        0x0103 => "ESME_RSERTYPDENIED",
        0x0104 => "ESME_RINVDCS",
        0x0105 => "ESME_RINVSRCADDRSUBUNIT",
        0x0106 => "ESME_RINVDSTADDRSUBUNIT",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(StatusClass::of(0), StatusClass::Ok);
        assert_eq!(StatusClass::of(0x58), StatusClass::Throttled);
        assert_eq!(StatusClass::of(0x14), StatusClass::QueueFull);
        assert_eq!(StatusClass::of(0x0B), StatusClass::InvalidDestination);
        assert_eq!(StatusClass::of(0x51), StatusClass::InvalidDestination);
        for bind in [0x04, 0x05, 0x0D, 0x0E, 0x0F, 0x53] {
            assert_eq!(StatusClass::of(bind), StatusClass::BindError, "{bind:#x}");
        }
        assert_eq!(StatusClass::of(0x45), StatusClass::Other);
        assert_eq!(StatusClass::of(u32::MAX), StatusClass::Other);
        assert!(StatusClass::of(0x58).is_slow_down() && StatusClass::of(0x14).is_slow_down());
        assert!(!StatusClass::of(0x0B).is_slow_down());
        assert_eq!(
            StatusClass::InvalidDestination.code(),
            "invalid_destination"
        );
    }

    #[test]
    fn names_as_vumi_reports_them() {
        assert_eq!(name(0x0B), Some("ESME_RINVDSTADR"));
        assert_eq!(name(0x45), Some("ESME_RSUBMITFAIL"));
        assert_eq!(name(0x64), Some("ESME_RX_T_APPN"));
        assert_eq!(name(0xFE), Some("ESME_RDELIVERYFAILURE"));
        assert_eq!(name(0x09), None);
        assert!(is_transient(RSYSERR) && !is_transient(RINVDSTADR));
    }
}
