//! What a line from the modem is: a final result code, an unsolicited result code (URC), or
//! information text belonging to the command in flight.
//!
//! Reference: V.250 §5.7 (result codes), TS 27.007 §9.2 (+CME ERROR), TS 27.005 §3.2.5
//! (+CMS ERROR), §3.4.1 (+CMTI, +CMT, +CDSI, +CDS), TS 27.007 §7.2 (+CREG), §7.15 (+CUSD);
//! reference/modem.md §2.1 (finals, vendor finals, ambiguous prefixes) and §2.4 (vendor URCs).
//!
//! Ambiguity is resolved by the caller: [`classify`] takes the information prefixes the
//! command in flight expects (`+CREG:` while `AT+CREG?` runs). A line with one of those
//! prefixes is information text even when the same prefix can be a URC; otherwise the URC
//! reading wins. `+CUSD:` is always a URC here: modems send the network's answer before or
//! after the `OK` of `AT+CUSD=1,…`, or much later.

use super::fields;

/// A final result code: the command in flight is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Final {
    /// `OK`.
    Ok,
    /// `ERROR` (also with `+CMEE=0`, where the cause is not given).
    Error,
    /// `+CME ERROR: <n>` (None: text form or unreadable, `+CMEE=2`).
    CmeError(Option<u16>),
    /// `+CMS ERROR: <n>` (None: text form or unreadable).
    CmsError(Option<u16>),
    /// `NO CARRIER`, `BUSY`, `NO ANSWER`, `NO DIALTONE` (call results; never expected here).
    CallFailed,
    /// Vendor finals: Huawei `COMMAND NOT SUPPORT`, Motorola `MODEM ERROR: <n>`, u-blox
    /// `ABORTED` — each an error.
    VendorError,
}

impl Final {
    /// Whether the command succeeded.
    pub const fn is_ok(self) -> bool {
        matches!(self, Self::Ok)
    }
}

/// Registration URC family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// `+CREG` (circuit switched).
    Cs,
    /// `+CGREG` (GPRS).
    Gprs,
    /// `+CEREG` (EPS / LTE).
    Eps,
}

/// An unsolicited result code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urc<'a> {
    /// `+CMTI: <mem>,<index>`: an SMS was stored.
    Cmti { mem: &'a [u8], index: u32 },
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    Cdsi { mem: &'a [u8], index: u32 },
    /// `+CMT: [<alpha>],<length>`: an SMS follows on the next line (its TPDU is `length` octets).
    Cmt { length: usize },
    /// `+CDS: <length>`: a status report follows on the next line.
    Cds { length: usize },
    /// `+CUSD: <m>[,<str>[,<dcs>]]` (the line itself; parse with [`fields::cusd`]).
    Cusd(&'a [u8]),
    /// `+CREG: <stat>…` and friends as URCs: the registration state.
    Registration { kind: Registration, stat: u8 },
    /// `RING` or `+CRING: …`: an incoming call (the driver ignores it; SMS only).
    Ring,
    /// `+CPIN: <code>` outside a command: the SIM changed state.
    Cpin(&'a [u8]),
    /// Vendor status lines: Huawei `^RSSI:`/`^MODE:`/…, Quectel `+QIND:`/`RDY`, SIMCom
    /// `SMS Ready`/`Call Ready`, `PB DONE`, Telit `#QSS:`, Sierra `+PACSP`, Wavecom `+WIND:`,
    /// Cinterion `^SYSSTART`.
    Vendor(&'a [u8]),
}

/// The class of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// The command in flight is over.
    Final(Final),
    /// An unsolicited result code.
    Urc(Urc<'a>),
    /// Anything else: information text for the command in flight (or, with no command in
    /// flight, an unexpected line).
    Info(&'a [u8]),
}

/// Parses a final result code.
pub fn final_result(line: &[u8]) -> Option<Final> {
    match line {
        b"OK" => return Some(Final::Ok),
        b"ERROR" => return Some(Final::Error),
        b"NO CARRIER" | b"BUSY" | b"NO ANSWER" | b"NO DIALTONE" => {
            return Some(Final::CallFailed);
        }
        b"COMMAND NOT SUPPORT" | b"ABORTED" => return Some(Final::VendorError),
        _ => {}
    }
    if let Some(rest) = line.strip_prefix(b"+CME ERROR:") {
        return Some(Final::CmeError(error_number(rest)));
    }
    if let Some(rest) = line.strip_prefix(b"+CMS ERROR:") {
        return Some(Final::CmsError(error_number(rest)));
    }
    if line.starts_with(b"MODEM ERROR:") {
        return Some(Final::VendorError);
    }
    None
}

fn error_number(rest: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(rest).ok()?.trim();
    text.parse().ok()
}

const VENDOR_PREFIXES: &[&[u8]] = &[
    b"^",
    b"+QIND:",
    b"+QUSIM:",
    b"RDY",
    b"SMS Ready",
    b"Call Ready",
    b"SMS DONE",
    b"PB DONE",
    b"POWERED DOWN",
    b"#QSS:",
    b"+PACSP",
    b"+WIND:",
    b"+CNSMOD:",
    b"+CSQN:",
];

/// Parses a URC, whatever command is in flight.
pub fn urc(line: &[u8]) -> Option<Urc<'_>> {
    if let Some(rest) = line.strip_prefix(b"+CMTI:") {
        let (mem, index) = fields::storage_index(rest)?;
        return Some(Urc::Cmti { mem, index });
    }
    if let Some(rest) = line.strip_prefix(b"+CDSI:") {
        let (mem, index) = fields::storage_index(rest)?;
        return Some(Urc::Cdsi { mem, index });
    }
    if let Some(rest) = line.strip_prefix(b"+CMT:") {
        return fields::last_number(rest).map(|length| Urc::Cmt { length });
    }
    if let Some(rest) = line.strip_prefix(b"+CDS:") {
        return fields::last_number(rest).map(|length| Urc::Cds { length });
    }
    if line.starts_with(b"+CUSD:") {
        return Some(Urc::Cusd(line));
    }
    for (prefix, kind) in [
        (&b"+CREG:"[..], Registration::Cs),
        (b"+CGREG:", Registration::Gprs),
        (b"+CEREG:", Registration::Eps),
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let stat = fields::registration_urc(rest)?;
            return Some(Urc::Registration { kind, stat });
        }
    }
    if line == b"RING" || line.starts_with(b"+CRING:") {
        return Some(Urc::Ring);
    }
    if let Some(rest) = line.strip_prefix(b"+CPIN:") {
        return Some(Urc::Cpin(fields::trim(rest)));
    }
    VENDOR_PREFIXES
        .iter()
        .any(|p| line.starts_with(p))
        .then_some(Urc::Vendor(line))
}

/// Classifies a line. `solicited` holds the information prefixes the command in flight
/// expects (e.g. `b"+CREG:"`); a line starting with one of them is [`Kind::Info`].
pub fn classify<'a>(line: &'a [u8], solicited: &[&[u8]]) -> Kind<'a> {
    if let Some(f) = final_result(line) {
        return Kind::Final(f);
    }
    if solicited.iter().any(|p| line.starts_with(p)) {
        return Kind::Info(line);
    }
    match urc(line) {
        Some(u) => Kind::Urc(u),
        None => Kind::Info(line),
    }
}
