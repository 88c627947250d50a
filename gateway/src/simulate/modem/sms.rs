//! The SMS PDUs of the simulated modem, over the codec `richmond_codecs::sms::pdu`: the
//! SMS-SUBMIT typed after the `+CMGS` prompt, the SMS-DELIVER parts of an MO message, and
//! the SMS-STATUS-REPORT the network sends back.
//!
//! Reference: TS 23.040 §9.2.2.1 (SMS-DELIVER), §9.2.2.2 (SMS-SUBMIT), §9.2.2.3
//! (SMS-STATUS-REPORT), §9.2.3.15 (TP-ST); TS 27.005 §3.5.1 (`<length>` of +CMGS counts the
//! TPDU, not the SMSC field); reference/modem.md §2.6.
//!
//! Not handled here: text mode, SMS-COMMAND, national language shift tables on MO.

use richmond_codecs::sms::pdu::{self, Address, Direction, Pdu, StatusReport, Timestamp, Tpdu};
use richmond_codecs::sms::{self, Concat, Encoding, Method};

/// What the modem understood of an SMS-SUBMIT.
#[derive(Debug)]
pub(super) struct Submitted {
    pub(super) to: String,
    pub(super) recipient: Address,
    pub(super) text: String,
    pub(super) dcs: u8,
    pub(super) srr: bool,
    pub(super) concat: Option<Concat>,
}

/// A submitted message whose status report is due.
#[derive(Clone, Debug)]
pub(super) struct SentReport {
    pub(super) mr: u8,
    pub(super) recipient: Address,
    pub(super) submitted_at: Timestamp,
    pub(super) status: u8,
}

impl SentReport {
    /// The SMS-STATUS-REPORT (SMSC field + TPDU) and its TPDU length, discharged now.
    pub(super) fn encode(&self, smsc: &str) -> Result<(Vec<u8>, usize), String> {
        let smsc = Address::from_msisdn(smsc).map_err(|e| format!("--smsc: {e}"))?;
        let encoded = pdu::encode(&Pdu {
            smsc: Some(smsc),
            tpdu: Tpdu::StatusReport(StatusReport {
                mr: self.mr,
                recipient: self.recipient.clone(),
                scts: self.submitted_at,
                discharge: now(),
                status: self.status,
                more_messages: false,
            }),
        })
        .map_err(|e| e.to_string())?;
        Ok((encoded.octets, encoded.tpdu_len))
    }
}

/// Decodes the hex typed after `AT+CMGS=<declared>`; the reason when it is not a good
/// SMS-SUBMIT of that TPDU length.
pub(super) fn decode_submit(hex: &[u8], declared: usize) -> Result<Submitted, String> {
    let octets = pdu::from_hex(hex).map_err(|e| e.to_string())?;
    let smsc_len = usize::from(*octets.first().ok_or("empty PDU")?);
    let tpdu_len = octets
        .len()
        .checked_sub(1 + smsc_len)
        .ok_or("the SMSC field is longer than the PDU")?;
    if tpdu_len != declared {
        return Err(format!(
            "AT+CMGS={declared} but the TPDU has {tpdu_len} octets"
        ));
    }
    let decoded = pdu::decode(&octets, Direction::FromMs).map_err(|e| e.to_string())?;
    let Tpdu::Submit(submit) = decoded.tpdu else {
        return Err("not an SMS-SUBMIT".into());
    };
    Ok(Submitted {
        to: submit.recipient.to_msisdn(),
        recipient: submit.recipient,
        text: submit.user_data.text,
        dcs: submit.dcs,
        srr: submit.status_report_request,
        concat: submit.user_data.concat,
    })
}

/// The SMS-DELIVER parts of an MO message (GSM-7 unless the text needs UCS2), each as
/// (SMSC field + TPDU, TPDU length).
pub(super) fn deliver_parts(
    smsc: &str,
    from: &str,
    text: &str,
    reference: u16,
    method: Method,
) -> Result<Vec<(Vec<u8>, usize)>, String> {
    let smsc = Address::from_msisdn(smsc).map_err(|e| format!("--smsc: {e}"))?;
    let originator = Address::from_msisdn(from).map_err(|e| format!("<from>: {e}"))?;
    let parts = pdu::deliver_parts(
        Some(&smsc),
        &originator,
        text,
        now(),
        sms::choose(text, Encoding::Gsm7),
        reference,
        method,
    )
    .map_err(|e| e.to_string())?;
    Ok(parts.into_iter().map(|e| (e.octets, e.tpdu_len)).collect())
}

/// The current time as a TP-SCTS (UTC).
pub(super) fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp::from_unix(i64::try_from(secs).unwrap_or(0), 0)
}

/// Uppercase hex.
pub(super) fn hex(octets: &[u8]) -> String {
    pdu::to_hex(octets)
}
