//! RFC 3339 UTC timestamps, the form of every time berth writes (`2026-12-07T09:30:05.25Z`),
//! without a date-time library: the civil-date arithmetic of Howard Hinnant's `days_from_civil`
//! and `civil_from_days`, valid over RFC 3339's years 0001 to 9999.
//!
//! The format is the one the AWS SDKs write (`aws_smithy_types::date_time::Format::DateTime`):
//! microseconds at most, trailing zeros dropped, always `Z`; a differential test in the `berth`
//! crate holds both to the same output and the same reading.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds from 0001-01-01T00:00:00Z to the epoch, and from the epoch to 9999-12-31T23:59:59Z.
const FIRST: i64 = -62_135_596_800;
const LAST: i64 = 253_402_300_799;

/// Days since the epoch of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) `days` after the epoch.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `secs` and `nanos` after the epoch as RFC 3339 UTC; `None` outside years 0001 to 9999.
pub fn format(secs: i64, nanos: u32) -> Option<String> {
    if !(FIRST..=LAST).contains(&secs) || nanos >= 1_000_000_000 {
        return None;
    }
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    let micros = nanos / 1000;
    if micros > 0 {
        let digits = format!("{micros:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

/// RFC 3339 UTC time, the format of every timestamp berth writes.
pub fn timestamp(at: SystemTime) -> String {
    let (secs, nanos) = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (secs, 0),
                n => (secs - 1, 1_000_000_000 - n),
            }
        }
    };
    format(secs, nanos).unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// `n` ASCII digits at the start of `s`, as a number, and the rest.
fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let (head, rest) = s.split_at_checked(n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, rest))
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (`t` for `T` too; no offsets other than `Z`) as
/// (seconds, nanoseconds) since the epoch. Digits past nanoseconds are dropped.
pub fn parse(s: &str) -> Option<(i64, u32)> {
    let (year, s) = digits(s, 4)?;
    let s = s.strip_prefix('-')?;
    let (month, s) = digits(s, 2)?;
    let s = s.strip_prefix('-')?;
    let (day, s) = digits(s, 2)?;
    let s = s.strip_prefix(['T', 't'])?;
    let (hour, s) = digits(s, 2)?;
    let s = s.strip_prefix(':')?;
    let (minute, s) = digits(s, 2)?;
    let s = s.strip_prefix(':')?;
    let (second, s) = digits(s, 2)?;
    let (nanos, s) = fraction(s)?;
    if s != "Z" {
        return None;
    }
    let year = i64::from(year);
    let valid = year >= 1
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        (secs, nanos)
    })
}

/// An optional `.digits` fraction as nanoseconds, and the rest.
fn fraction(s: &str) -> Option<(u32, &str)> {
    let Some(s) = s.strip_prefix('.') else {
        return Some((0, s));
    };
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let (frac, rest) = s.split_at(len);
    let nanos = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    Some((nanos, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_as_the_sdks_do() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00Z"),
            (482_196_050, 520_000_000, "1985-04-12T23:20:50.52Z"),
            (951_782_400, 0, "2000-02-29T00:00:00Z"),
            (1_796_117_405, 250_000_000, "2026-12-01T09:30:05.25Z"),
            (1_796_117_405, 999, "2026-12-01T09:30:05Z"),
            (1_796_117_405, 1_000, "2026-12-01T09:30:05.000001Z"),
            (-1, 0, "1969-12-31T23:59:59Z"),
            (FIRST, 0, "0001-01-01T00:00:00Z"),
            (LAST, 0, "9999-12-31T23:59:59Z"),
        ];
        for (secs, nanos, text) in cases {
            assert_eq!(format(secs, nanos).as_deref(), Some(text), "{secs}");
        }
    }

    #[test]
    fn instants_outside_rfc_3339_years_have_no_form() {
        assert_eq!(format(FIRST - 1, 0), None);
        assert_eq!(format(LAST + 1, 0), None);
        assert_eq!(format(0, 1_000_000_000), None);
    }

    #[test]
    fn written_timestamps_read_back() {
        assert_eq!(
            parse("1985-04-12T23:20:50.52Z"),
            Some((482_196_050, 520_000_000))
        );
        assert_eq!(parse("1985-04-12t23:20:50Z"), Some((482_196_050, 0)));
        assert_eq!(parse("2000-02-29T00:00:00Z"), Some((951_782_400, 0)));
        assert_eq!(parse("0001-01-01T00:00:00Z"), Some((FIRST, 0)));
        assert_eq!(
            parse("2026-12-01T09:30:05.1234567891Z"),
            Some((1_796_117_405, 123_456_789))
        );
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for bad in [
            "",
            "1985-04-12",
            "1985-04-12T23:20:50",
            "1985-04-12T23:20:50+02:00",
            "1985-04-12 23:20:50Z",
            "1985-04-12T23:20:50.Z",
            "1985-13-12T23:20:50Z",
            "1985-02-29T23:20:50Z",
            "1985-04-31T23:20:50Z",
            "1985-04-12T24:00:00Z",
            "1985-04-12T23:60:00Z",
            "1985-04-12T23:20:60Z",
            "0000-01-01T00:00:00Z",
            "+985-04-12T23:20:50Z",
            "1985-04-12T23:20:50Zjunk",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_before_the_epoch_keep_their_fraction() {
        let before = UNIX_EPOCH - std::time::Duration::from_millis(1500);
        assert_eq!(timestamp(before), "1969-12-31T23:59:58.5Z");
    }
}
