//! Vumi timestamps: naive UTC instants written as `"%Y-%m-%d %H:%M:%S.%f"`.
//!
//! Reference: reference/vumi.md §1.6 (`VUMI_DATE_FORMAT`, `parse_vumi_date`) and the date vectors
//! of §6.2. vumi2 rejects a `T` separator (§8), and so does this parser.
//!
//! Handles: formatting with always six fraction digits, parsing with or without a fraction of
//! one to six digits (right-padded, as Python's `%f`), proleptic Gregorian years 0001–9999.
//! Does not handle: time zones or offsets (the value is UTC by convention), leap seconds,
//! single-digit fields, or surrounding whitespace — all rejected. Instants outside years
//! 0001–9999 can be built with [`Timestamp::from_unix_micros`] and displayed, but the text does
//! not parse back.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Error;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// Length of `YYYY-MM-DD HH:MM:SS`.
const SECONDS_LEN: usize = 19;
/// Length of `YYYY-MM-DD HH:MM:SS.ffffff`.
const FULL_LEN: usize = 26;

/// UTC instant with microsecond precision; Display/encode as `"%Y-%m-%d %H:%M:%S.%f"`
/// (always 6 fraction digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => Self(-i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }

    /// The instant `micros` microseconds after 1970-01-01 00:00:00 UTC (negative: before).
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since 1970-01-01 00:00:00 UTC.
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` optionally followed by `.` and 1–6 fraction digits.
    ///
    /// # Errors
    /// [`Error::BadTimestamp`] for anything else (a `T` separator, a zone, an impossible date).
    pub fn parse(s: &str) -> Result<Self, Error> {
        parse_bytes(s.as_bytes()).ok_or(Error::BadTimestamp)
    }

    /// The fixed-width text for years 0000–9999, without allocating.
    pub(crate) fn to_fixed(self) -> Option<[u8; FULL_LEN]> {
        let parts = Parts::of(self.0);
        if !(0..=9999).contains(&parts.year) {
            return None;
        }
        let mut out = *b"0000-00-00 00:00:00.000000";
        put_digits(&mut out[0..4], parts.year.unsigned_abs());
        put_digits(&mut out[5..7], u64::from(parts.month));
        put_digits(&mut out[8..10], u64::from(parts.day));
        put_digits(&mut out[11..13], u64::from(parts.hour));
        put_digits(&mut out[14..16], u64::from(parts.minute));
        put_digits(&mut out[17..19], u64::from(parts.second));
        put_digits(&mut out[20..26], u64::from(parts.micro));
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fixed) = self.to_fixed()
            && let Ok(text) = std::str::from_utf8(&fixed)
        {
            return f.write_str(text);
        }
        let p = Parts::of(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
            p.year, p.month, p.day, p.hour, p.minute, p.second, p.micro
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.to_fixed() {
            Some(fixed) => match std::str::from_utf8(&fixed) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => serializer.collect_str(self),
            },
            None => serializer.collect_str(self),
        }
    }
}

/// Broken-down civil time.
struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micro: u32,
}

impl Parts {
    fn of(micros: i64) -> Self {
        let days = micros.div_euclid(MICROS_PER_DAY);
        let in_day = micros.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let seconds = in_day / MICROS_PER_SECOND;
        // All of these are bounded by the rem_euclid above, so the casts cannot truncate.
        Self {
            year,
            month,
            day,
            hour: (seconds / 3600) as u32,
            minute: (seconds / 60 % 60) as u32,
            second: (seconds % 60) as u32,
            micro: (in_day % MICROS_PER_SECOND) as u32,
        }
    }
}

fn put_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn parse_bytes(b: &[u8]) -> Option<Timestamp> {
    if b.len() != SECONDS_LEN && !(SECONDS_LEN + 2..=FULL_LEN).contains(&b.len()) {
        return None;
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, sep)| b.get(at) != Some(&sep)) {
        return None;
    }
    let year = digits(b.get(0..4)?)?;
    let month = digits(b.get(5..7)?)?;
    let day = digits(b.get(8..10)?)?;
    let hour = digits(b.get(11..13)?)?;
    let minute = digits(b.get(14..16)?)?;
    let second = digits(b.get(17..19)?)?;
    let micro = match b.get(SECONDS_LEN..) {
        Some([]) | None => 0,
        Some([b'.', fraction @ ..]) => {
            // Python's %f right-pads: ".5" is 500000 microseconds.
            let width = u32::try_from(fraction.len()).ok()?;
            digits(fraction)? * 10u32.checked_pow(6u32.checked_sub(width)?)?
        }
        Some(_) => return None,
    };
    if year == 0
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Some(Timestamp(
        days * MICROS_PER_DAY + seconds * MICROS_PER_SECOND + i64::from(micro),
    ))
}

/// ASCII decimal digits to a number; `None` on any other byte or an empty slice.
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12, day 1–31).
///
/// Counts in 400-year eras that start on 1 March, so the leap day falls at the end of each
/// year of the era.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (year, month as u32, day as u32)
}
