//! Calendar dates without a clock: parsing `YYYY-MM-DD` and counting days.
//!
//! The core never reads the system clock; the as-of date is always passed in,
//! so the same input scores the same way on any day.

use std::fmt;
use std::str::FromStr;

/// A calendar date (proleptic Gregorian), stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i32,
}

impl Date {
    /// 1970-01-01.
    pub const UNIX_EPOCH: Date = Date { days: 0 };

    /// Builds a date from year, month (1-12) and day (1-31); `None` if it does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if !(-9999..=9999).contains(&year) {
            return None;
        }
        Some(Date {
            days: days_from_civil(year, month, day),
        })
    }

    /// The date `days` days after 1970-01-01 (what a clock reading divides down to).
    pub fn from_unix_days(days: i64) -> Option<Date> {
        let days = i32::try_from(days).ok()?;
        let (year, _, _) = civil_from_days(days);
        (-9999..=9999).contains(&year).then_some(Date { days })
    }

    /// Parses the date at the start of `text`: `YYYY-MM-DD`, optionally followed by a
    /// time (`T...` or ` ...`), as CRMs export timestamps. Surrounding blanks are ignored.
    pub fn parse(text: &str) -> Option<Date> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        if bytes.len() > 10 && !matches!(bytes[10], b'T' | b't' | b' ') {
            return None;
        }
        let year = parse_digits(&bytes[0..4])?;
        let month = parse_digits(&bytes[5..7])?;
        let day = parse_digits(&bytes[8..10])?;
        Date::from_ymd(year as i32, month, day)
    }

    /// Days since 1970-01-01.
    pub fn unix_days(self) -> i64 {
        i64::from(self.days)
    }

    /// Days from `earlier` to `self` (negative when `earlier` is later).
    pub fn days_since(self, earlier: Date) -> i64 {
        i64::from(self.days) - i64::from(earlier.days)
    }

    /// The year, month and day of this date.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl FromStr for Date {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s).ok_or_else(|| format!("`{s}` is not a date; write it as YYYY-MM-DD"))
    }
}

fn parse_digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil: exact for every proleptic Gregorian date.
fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe as i32 + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_dates_and_timestamps() {
        assert_eq!(
            Date::parse("2024-02-29").map(Date::ymd),
            Some((2024, 2, 29))
        );
        assert_eq!(
            Date::parse(" 2018-02-26 19:58:54 ").map(Date::ymd),
            Some((2018, 2, 26))
        );
        assert_eq!(
            Date::parse("2018-02-26T19:58:54Z").map(Date::ymd),
            Some((2018, 2, 26))
        );
    }

    #[test]
    fn rejects_impossible_or_malformed_dates() {
        for text in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "24-01-01",
            "2024/01/01",
            "",
            "2024-01-01x",
        ] {
            assert_eq!(Date::parse(text), None, "{text}");
        }
    }

    #[test]
    fn counts_days_across_months_and_leap_years() {
        let a = Date::parse("2024-02-28").unwrap();
        let b = Date::parse("2024-03-01").unwrap();
        assert_eq!(b.days_since(a), 2);
        assert_eq!(a.days_since(b), -2);
        assert_eq!(Date::parse("1970-01-01").unwrap().days, 0);
    }

    #[test]
    fn round_trips_through_display() {
        for text in ["1900-03-01", "2000-02-29", "2026-11-27", "0001-01-01"] {
            assert_eq!(Date::parse(text).unwrap().to_string(), text);
        }
    }
}
