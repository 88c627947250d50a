//! Command lines the modem driver sends (V.250 §5.2, TS 27.005 §3–§4, TS 27.007), each ended
//! by CR (S3). Strings are quoted without escaping: the caller passes only characters the
//! modem's `+CSCS` set carries and no `"` (checked by [`quoted`]).
//!
//! The information prefix a command's answer carries ([`info_prefix`]) is what
//! `response::classify` needs to tell a reply from a URC of the same name.

/// Ctrl-Z: ends the PDU after the `> ` prompt and submits it.
pub const CTRL_Z: u8 = 0x1A;
/// ESC: abandons the PDU after the prompt (and clears a stuck prompt at start).
pub const ESC: u8 = 0x1B;

/// `"<s>"`, or None when `s` holds a quote or a control character.
pub fn quoted(s: &str) -> Option<String> {
    (!s.chars().any(|c| c == '"' || c.is_control())).then(|| format!("\"{s}\""))
}

/// `AT+CMGS=<tpdu_len>\r`.
pub fn cmgs(tpdu_len: usize) -> String {
    format!("AT+CMGS={tpdu_len}\r")
}

/// The PDU line after the prompt: hex of SMSC field + TPDU, then Ctrl-Z.
pub fn pdu_body(hex: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(hex.len() + 1);
    body.extend_from_slice(hex.as_bytes());
    body.push(CTRL_Z);
    body
}

/// The information prefix the answer to `command` (a line starting `AT`) carries: `+CSQ:` for
/// `AT+CSQ`, `+CREG:` for `AT+CREG?`, `^SYSINFO:` for `AT^SYSINFO`. None for basic commands
/// (`ATE0`, `ATZ`) and for `+CUSD`, whose answer the driver always reads as a URC.
pub fn info_prefix(command: &str) -> Option<String> {
    let body = command.get(2..)?.trim_end();
    let first = body.chars().next()?;
    if !matches!(first, '+' | '^' | '$' | '!' | '#' | '%') {
        return None;
    }
    let name_len = body[1..]
        .find(|c: char| !c.is_ascii_alphanumeric())
        .map_or(body.len(), |i| i + 1);
    let name = &body[..name_len];
    (!name.eq_ignore_ascii_case("+CUSD")).then(|| format!("{}:", name.to_ascii_uppercase()))
}
