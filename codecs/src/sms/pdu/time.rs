//! Service centre time stamps (TP-SCTS, TP-DT, absolute TP-VP) and the validity period.
//!
//! Reference: 3GPP TS 23.040 §9.2.3.11 (time stamp: seven swapped-nibble BCD octets, the zone
//! in signed quarter hours with the sign in bit 3), §9.2.3.12 (validity period: relative,
//! absolute, enhanced); reference/modem.md §2.6.
//!
//! * Years are read as 20YY (modem.md §2.6: implementations disagree about 90–99).
//! * Field values are not range-checked on input (an SC may send a zero discharge time):
//!   any two BCD digits are kept; [`Timestamp::unix_seconds`] still gives a number for them.
//! * A zone of "−0" (octet `08`, the tutorial example) reads as 0.
//!
//! Not handled: the meaning of enhanced validity periods (kept as their seven octets).

use super::Error;

/// A TP time stamp: local time of the service centre and its offset from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// 2000 + YY.
    pub year: u16,
    /// 1–12 (as sent; not checked).
    pub month: u8,
    /// 1–31 (as sent; not checked).
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59.
    pub second: u8,
    /// Offset from UTC in signed quarter hours (−79..=79): +8 is +02:00.
    pub offset_quarters: i8,
}

/// TP-VP: how long the SC keeps trying to deliver a submitted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// No TP-VP field (TP-VPF 00): the SC default.
    None,
    /// Relative (TP-VPF 10): see [`Validity::relative_seconds`].
    Relative(u8),
    /// Absolute (TP-VPF 11).
    Absolute(Timestamp),
    /// Enhanced (TP-VPF 01): the seven octets as they are.
    Enhanced([u8; 7]),
}

impl Validity {
    /// The duration of a relative TP-VP: 0–143 → (VP+1) × 5 min; 144–167 → 12 h + (VP−143) ×
    /// 30 min; 168–196 → (VP−166) days; 197–255 → (VP−192) weeks.
    pub const fn relative_seconds(vp: u8) -> u64 {
        let vp = vp as u64;
        match vp {
            0..=143 => (vp + 1) * 300,
            144..=167 => 12 * 3600 + (vp - 143) * 1800,
            168..=196 => (vp - 166) * 86_400,
            _ => (vp - 192) * 7 * 86_400,
        }
    }

    /// The TP-VPF bits (4–3 of the first octet) for this validity.
    pub(super) const fn vpf(&self) -> u8 {
        match self {
            Self::None => 0b00,
            Self::Enhanced(_) => 0b01,
            Self::Relative(_) => 0b10,
            Self::Absolute(_) => 0b11,
        }
    }
}

fn bcd(octet: u8) -> Result<u8, Error> {
    let (lo, hi) = (octet & 0x0F, octet >> 4);
    if lo > 9 || hi > 9 {
        return Err(Error::BadTimestamp);
    }
    Ok(lo * 10 + hi)
}

fn to_bcd(value: u8) -> Result<u8, Error> {
    if value > 99 {
        return Err(Error::BadTimestamp);
    }
    Ok(((value % 10) << 4) | (value / 10))
}

const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (any month value is accepted).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Timestamp {
    /// UTC seconds since the Unix epoch (the zone applied).
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days * DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_quarters) * 900
    }

    /// The local time and zone of `secs` (UTC seconds since the epoch) at `offset_quarters`.
    /// Years outside 0–65535 are clamped.
    pub fn from_unix(secs: i64, offset_quarters: i8) -> Self {
        let local = secs.saturating_add(i64::from(offset_quarters) * 900);
        let (days, rem) = (local.div_euclid(DAY), local.rem_euclid(DAY));
        let (year, month, day) = civil_from_days(days);
        Self {
            year: u16::try_from(year.max(0)).unwrap_or(u16::MAX),
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            offset_quarters,
        }
    }

    /// RFC 3339 local time with its offset: `2013-03-08T15:02:16+02:00`.
    pub fn to_rfc3339(&self) -> String {
        let q = i32::from(self.offset_quarters);
        let sign = if q < 0 { '-' } else { '+' };
        let minutes = q.abs() * 15;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            minutes / 60,
            minutes % 60
        )
    }

    /// Reads the seven octets of a TP time stamp.
    pub(super) fn read(octets: [u8; 7]) -> Result<Self, Error> {
        let [yy, mo, dd, hh, mi, ss, tz] = octets;
        let units = tz >> 4;
        if units > 9 {
            return Err(Error::BadTimestamp);
        }
        let quarters = ((tz & 0x07) * 10 + units) as i8;
        Ok(Self {
            year: 2000 + u16::from(bcd(yy)?),
            month: bcd(mo)?,
            day: bcd(dd)?,
            hour: bcd(hh)?,
            minute: bcd(mi)?,
            second: bcd(ss)?,
            offset_quarters: if tz & 0x08 != 0 { -quarters } else { quarters },
        })
    }

    /// The seven octets of this time stamp.
    ///
    /// # Errors
    /// [`Error::BadTimestamp`] for a year outside 2000–2099, a field above 99 or a zone
    /// beyond ±79 quarter hours.
    pub fn to_octets(&self) -> Result<[u8; 7], Error> {
        let yy = self
            .year
            .checked_sub(2000)
            .and_then(|y| u8::try_from(y).ok())
            .ok_or(Error::BadTimestamp)?;
        let q = self.offset_quarters.unsigned_abs();
        if q > 79 {
            return Err(Error::BadTimestamp);
        }
        let sign = if self.offset_quarters < 0 { 0x08 } else { 0 };
        Ok([
            to_bcd(yy)?,
            to_bcd(self.month)?,
            to_bcd(self.day)?,
            to_bcd(self.hour)?,
            to_bcd(self.minute)?,
            to_bcd(self.second)?,
            ((q % 10) << 4) | sign | (q / 10),
        ])
    }
}
