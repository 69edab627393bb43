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
        match plain_ymd(text.as_bytes()) {
            Some((year, month, day)) => Date::from_ymd(year, month, day),
            None => Date::parse_general(text),
        }
    }

    /// [`Date::parse`] for any text: blanks around it, a time after it.
    fn parse_general(text: &str) -> Option<Date> {
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

/// A point in time read from a record: a date (`2026-03-02`) or an RFC 3339 time
/// (`2026-03-02T09:30:00Z`, `2026-03-02T09:30:00.250+01:00`; a space may stand for the
/// `T`, as CRM exports write it, and a time without an offset is taken as UTC).
///
/// It keeps two readings: the calendar [`date`](Timestamp::date) as written (what a
/// lead is scored as of) and the instant in UTC (what updates are ordered by; a date
/// alone is its midnight UTC).
///
/// ```
/// use leadscore::{Date, Timestamp};
/// let t = Timestamp::parse("2026-03-02T00:30:00+02:00").unwrap();
/// assert_eq!(t.date(), Date::parse("2026-03-02").unwrap());
/// assert!(t.instant() < Timestamp::parse("2026-03-02").unwrap().instant()); // 22:30 UTC the day before
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    date: Date,
    /// Seconds since 1970-01-01T00:00:00Z and nanoseconds past them.
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// Parses a date or an RFC 3339 time; surrounding blanks are ignored. `None` for
    /// anything else (an impossible date, an hour 24, a malformed offset, trailing text).
    pub fn parse(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() < 10 || !text.is_char_boundary(10) {
            return None;
        }
        let date = Date::parse(&text[..10])?;
        let midnight = date.unix_days() * 86_400;
        if bytes.len() == 10 {
            return Some(Timestamp {
                date,
                secs: midnight,
                nanos: 0,
            });
        }
        let rest = &bytes[10..];
        if rest.len() < 9
            || !matches!(rest[0], b'T' | b't' | b' ')
            || rest[3] != b':'
            || rest[6] != b':'
        {
            return None;
        }
        let hour = parse_digits(&rest[1..3]).filter(|h| *h < 24)?;
        let minute = parse_digits(&rest[4..6]).filter(|m| *m < 60)?;
        // 60 is a leap second: it orders as the last second of the minute.
        let second = parse_digits(&rest[7..9]).filter(|s| *s <= 60)?.min(59);
        let mut rest = &rest[9..];
        let mut nanos = 0u32;
        if let [b'.' | b',', tail @ ..] = rest {
            let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            // Nanosecond precision; finer digits only break ties no input can tell apart.
            for i in 0..9 {
                let d = tail
                    .get(i)
                    .filter(|_| i < digits)
                    .map_or(0, |b| u32::from(b - b'0'));
                nanos = nanos * 10 + d;
            }
            rest = &tail[digits..];
        }
        let offset = match rest {
            [] | [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
                let h = parse_digits(&[*h1, *h2]).filter(|h| *h < 24)?;
                let m = parse_digits(&[*m1, *m2]).filter(|m| *m < 60)?;
                let minutes = i64::from(h * 60 + m);
                if *sign == b'+' { minutes } else { -minutes }
            }
            _ => return None,
        };
        let local = midnight + i64::from(hour * 3600 + minute * 60 + second);
        Some(Timestamp {
            date,
            secs: local - offset * 60,
            nanos,
        })
    }

    /// The calendar date as written (before any offset is applied).
    pub fn date(self) -> Date {
        self.date
    }

    /// The instant in UTC, as (seconds since 1970-01-01T00:00:00Z, nanoseconds): the
    /// order of events.
    pub fn instant(self) -> (i64, u32) {
        (self.secs, self.nanos)
    }
}

/// Year, month and day of text that is exactly `YYYY-MM-DD`, the way leads and CRMs
/// nearly always write a date; `None` for anything else, which [`Date::parse`] then
/// reads the general way. Why: a lead's date is parsed by each condition on it, and the
/// general way (trimming, then a loop per number) cost half as much again: 177
/// instructions per parse against 118 (BENCHMARKS.md, issue 14, session 11).
fn plain_ymd(bytes: &[u8]) -> Option<(i32, u32, u32)> {
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = bytes else {
        return None;
    };
    let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let [y0, y1, y2, y3, m0, m1, d0, d1] = digits.map(|b| u32::from(b - b'0'));
    let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
    Some((year as i32, m0 * 10 + m1, d0 * 10 + d1))
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
    use proptest::prelude::*;

    proptest! {
        /// The plain `YYYY-MM-DD` path reads every text as the general one does: dates
        /// valid and not (month 13, February 30), digits where dashes go and the
        /// reverse, blanks, times, other lengths.
        #[test]
        fn plain_dates_read_as_the_general_path_reads_them(
            text in prop_oneof![
                "[0-9]{4}-[0-1][0-9]-[0-3][0-9]",
                "[0-9-]{10}",
                "[ 0-9T:-]{8,14}",
                "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:]{0,8}",
            ],
            // A valid date with one byte replaced: a near miss of the plain shape.
            valid in "[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
            at in 0usize..10,
            byte in prop::sample::select(b"0189- Tx".to_vec()),
        ) {
            prop_assert_eq!(Date::parse(&text), Date::parse_general(&text));
            let mut near = valid.into_bytes();
            near[at] = byte;
            let near = String::from_utf8(near).unwrap();
            prop_assert_eq!(Date::parse(&near), Date::parse_general(&near));
        }
    }

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
    fn timestamps_read_dates_and_rfc3339_times() {
        let t = |s: &str| Timestamp::parse(s).map(|t| (t.date().to_string(), t.instant()));
        let day = Date::parse("2026-03-02").unwrap().unix_days() * 86_400;
        assert_eq!(t("2026-03-02"), Some(("2026-03-02".into(), (day, 0))));
        assert_eq!(
            t(" 2026-03-02T09:30:05Z "),
            Some(("2026-03-02".into(), (day + 34_205, 0)))
        );
        assert_eq!(
            t("2026-03-02 09:30:05"),
            Some(("2026-03-02".into(), (day + 34_205, 0)))
        );
        assert_eq!(
            t("2026-03-02t09:30:05.25+01:30"),
            Some(("2026-03-02".into(), (day + 34_205 - 5_400, 250_000_000)))
        );
        assert_eq!(
            t("2026-03-02T00:30:00-0100"),
            Some(("2026-03-02".into(), (day + 1_800 + 3_600, 0)))
        );
        assert_eq!(
            t("2026-03-02T23:59:60Z").map(|x| x.1),
            Some((day + 86_399, 0))
        );
    }

    #[test]
    fn timestamps_refuse_what_is_not_a_time() {
        for text in [
            "",
            "2026-02-30",
            "2026-03-02T",
            "2026-03-02T24:00:00Z",
            "2026-03-02T09:60:00Z",
            "2026-03-02T09:30",
            "2026-03-02T09:30:00.Z",
            "2026-03-02T09:30:00+1",
            "2026-03-02T09:30:00+24:00",
            "2026-03-02T09:30:00Zjunk",
            "2026-03-02x",
            "2026-03-0é",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse(text), None, "{text}");
        }
    }

    #[test]
    fn round_trips_through_display() {
        for text in ["1900-03-01", "2000-02-29", "2026-11-27", "0001-01-01"] {
            assert_eq!(Date::parse(text).unwrap().to_string(), text);
        }
    }
}
