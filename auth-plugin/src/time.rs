//! Timestamps as Better Auth writes them: ISO-8601 UTC with milliseconds and `Z`
//! (`2026-11-23T08:49:06.382Z`), so that text comparison orders them on SQLite; and dates
//! from requests read as the original reads them (JavaScript's `new Date(text)`), with
//! checked arithmetic so that no input can overflow a computation.
//!
//! Instants are [`Instant`]s (chrono's `DateTime<Utc>`); the text forms are written and
//! read here, by hand where chrono's own parser is more lenient or stricter than the
//! forms the store has always accepted, so that the bytes in a database do not depend on
//! the date library.

use chrono::{DateTime, Datelike, TimeDelta, Utc};

/// An instant in UTC, the one type every timestamp of the plugin passes through.
pub(crate) type Instant = DateTime<Utc>;

/// The earliest instant the store holds (`0001-01-01T00:00:00.000Z`): the canonical text
/// form has four-digit years, and PostgreSQL has no year 0.
pub(crate) const MIN_STORABLE_UNIX: i64 = -62_135_596_800;
/// The latest instant the store holds (`9999-12-31T23:59:59.999Z`, in whole seconds).
pub(crate) const MAX_STORABLE_UNIX: i64 = 253_402_300_799;

/// The canonical text form: exactly three fraction digits (truncated, never rounded, as
/// JavaScript's `toISOString`) and `Z`.
const ISO_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// Why a date from a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateError {
    /// Not an ISO 8601 date the original would read.
    Invalid,
    /// A date, but outside what the store can hold ([`MIN_STORABLE_UNIX`]..=
    /// [`MAX_STORABLE_UNIX`]).
    OutOfRange,
}

/// Formats an instant in the canonical form (`2026-11-23T08:49:05.810Z`). Within the
/// store's range the year has four digits; beyond it chrono writes `+10000`, which no
/// stored value carries.
pub(crate) fn iso(t: Instant) -> String {
    t.format(ISO_FORMAT).to_string()
}

/// Now, canonical.
pub(crate) fn now_iso() -> String {
    iso(Utc::now())
}

/// `now + seconds`, canonical; saturates at the store's range (never overflows).
pub(crate) fn iso_in(seconds: i64) -> String {
    iso(in_seconds(seconds).unwrap_or_else(|| {
        let edge = if seconds < 0 {
            MIN_STORABLE_UNIX
        } else {
            MAX_STORABLE_UNIX
        };
        from_unix(edge).unwrap_or(DateTime::UNIX_EPOCH)
    }))
}

/// `now + seconds` when it lies within the store's range, `None` otherwise.
pub(crate) fn in_seconds(seconds: i64) -> Option<Instant> {
    let t = Utc::now().checked_add_signed(TimeDelta::try_seconds(seconds)?)?;
    (MIN_STORABLE_UNIX..=MAX_STORABLE_UNIX)
        .contains(&t.timestamp())
        .then_some(t)
}

/// Now in unix seconds.
pub(crate) fn now_unix() -> i64 {
    Utc::now().timestamp()
}

/// Whole unix seconds as an instant (`None` beyond chrono's range).
pub(crate) fn from_unix(seconds: i64) -> Option<Instant> {
    DateTime::from_timestamp(seconds, 0)
}

/// Parses RFC 3339 (what Better Auth and JSON clients send, and what the store holds):
/// `YYYY-MM-DD`, any one separator byte (`T`, `t`, a space...), `HH:MM:SS`, optionally
/// `.` and one or more fraction digits (those past the ninth ignored), then `Z`/`z` or
/// `±HH:MM`; surrounding whitespace is ignored. A leap second (`:60`) is read as the
/// nanosecond before the next minute, and only as the last second of a month in UTC.
/// These are the rules of the `time` crate's RFC 3339 parser, which this replaced; chrono's
/// own differs at the edges (separators, leap seconds).
pub(crate) fn parse_iso(s: &str) -> Option<Instant> {
    let mut p = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let year = p.digits(4).ok()?;
    p.expect(b'-').ok()?;
    let month = p.digits(2).ok()?;
    p.expect(b'-').ok()?;
    let day = p.digits(2).ok()?;
    // Any one byte between date and time (RFC 3339 allows a space for `T`).
    p.peek()?;
    p.i += 1;
    let hour = p.digits(2).ok()?;
    p.expect(b':').ok()?;
    let minute = p.digits(2).ok()?;
    p.expect(b':').ok()?;
    let mut second = p.digits(2).ok()?;
    let mut nanos = 0;
    if p.eat(b'.') {
        nanos = p.fraction().ok()?;
    }
    let offset_secs = match p.peek()? {
        b'Z' | b'z' => {
            p.i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            p.i += 1;
            let h = p.digits(2).ok()?;
            p.expect(b':').ok()?;
            let m = p.digits(2).ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            (h * 3600 + m * 60) * if sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    if p.i != p.b.len() {
        return None;
    }
    let leap = second == 60;
    if leap {
        second = 59;
        nanos = 999_999_999;
    }
    if day < 1 || day > days_in_month(year, month)? || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    let t = DateTime::from_timestamp(seconds, u32::try_from(nanos).ok()?)?;
    // A leap second stands for 23:59:59.999999999 UTC on a month's last day, nothing else.
    let next = t.checked_add_signed(TimeDelta::nanoseconds(1))?;
    if leap && !(next.timestamp().rem_euclid(86_400) == 0 && next.day() == 1) {
        return None;
    }
    Some(t)
}

/// A date as the original reads it with JavaScript's `new Date(text)`, limited to the ISO
/// 8601 forms (JavaScript's own formats such as `"Jan 1 2030"` or `"0"` are refused):
///
/// - `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or an expanded year `±YYYYYY` (not `-000000`);
/// - optionally a time after `T` (or `t`, or a space): `HH:mm`, `HH:mm:ss`,
///   `HH:mm:ss.fff` (any number of fraction digits; `24:00` is the next midnight);
/// - then `Z`, an offset `±HH:mm` / `±HHmm` / `±HH`, or nothing.
///
/// Without an offset the time is UTC: JavaScript reads date-only forms as UTC and the
/// others in the server's zone, and the original runs in UTC (its recordings do).
/// [`DateError::OutOfRange`] for a real date beyond what the store can hold.
pub(crate) fn parse_js_iso(text: &str) -> Result<Instant, DateError> {
    let mut p = Cursor {
        b: text.trim().as_bytes(),
        i: 0,
    };
    let year: i64 = match p.peek() {
        Some(sign @ (b'+' | b'-')) => {
            p.i += 1;
            let y = p.digits(6)?;
            if sign == b'-' && y == 0 {
                return Err(DateError::Invalid);
            }
            if sign == b'-' { -y } else { y }
        }
        _ => p.digits(4)?,
    };
    let (mut month, mut day) = (1, 1);
    if p.eat(b'-') {
        month = p.digits(2)?;
        if p.eat(b'-') {
            day = p.digits(2)?;
        }
    }
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0i64);
    let mut offset_secs = 0;
    if matches!(p.peek(), Some(b'T' | b't' | b' ')) {
        p.i += 1;
        hour = p.digits(2)?;
        p.expect(b':')?;
        minute = p.digits(2)?;
        if p.eat(b':') {
            second = p.digits(2)?;
            if p.eat(b'.') {
                nanos = p.fraction()?;
            }
        }
        match p.peek() {
            Some(b'Z' | b'z') => p.i += 1,
            Some(sign @ (b'+' | b'-')) => {
                p.i += 1;
                let h = p.digits(2)?;
                // `±HH:mm`, `±HHmm` or `±HH`
                let colon = p.eat(b':');
                let m = if colon || p.peek().is_some() {
                    p.digits(2)?
                } else {
                    0
                };
                if h > 23 || m > 59 {
                    return Err(DateError::Invalid);
                }
                offset_secs = (h * 3600 + m * 60) * if sign == b'-' { -1 } else { 1 };
            }
            _ => {}
        }
    }
    if p.i != p.b.len() {
        return Err(DateError::Invalid);
    }
    let days_in_month = days_in_month(year, month).ok_or(DateError::Invalid)?;
    let midnight_next = hour == 24 && minute == 0 && second == 0 && nanos == 0;
    if !(1..=days_in_month).contains(&day)
        || (hour > 23 && !midnight_next)
        || minute > 59
        || second > 59
    {
        return Err(DateError::Invalid);
    }
    // A syntactically valid date from here on; only its range can fail.
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    if !(MIN_STORABLE_UNIX..=MAX_STORABLE_UNIX).contains(&seconds) {
        return Err(DateError::OutOfRange);
    }
    u32::try_from(nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(seconds, nanos))
        .ok_or(DateError::OutOfRange)
}

/// Whether an ISO 8601 text names a year before 1 (`-YYYYYY-...` or `+000000-...`), the
/// side of [`DateError::OutOfRange`] that lies in the past.
pub(crate) fn before_year_one(text: &str) -> bool {
    let t = text.trim();
    match t.as_bytes().first() {
        Some(b'-') => true,
        Some(b'+') => t.get(1..7).is_some_and(|y| y.bytes().all(|b| b == b'0')),
        _ => t.get(0..4) == Some("0000"),
    }
}

/// The number of days of a month of the proleptic Gregorian calendar (`None`: no such month).
fn days_in_month(year: i64, month: i64) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`);
/// exact for the expanded years JavaScript accepts (±275760) in `i64`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), DateError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(DateError::Invalid)
        }
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Result<i64, DateError> {
        let s = self.b.get(self.i..self.i + n).ok_or(DateError::Invalid)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return Err(DateError::Invalid);
        }
        self.i += n;
        Ok(s.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0')))
    }

    /// One or more fraction digits after a `.`, as nanoseconds (digits past the ninth
    /// are ignored, not rounded).
    fn fraction(&mut self) -> Result<i64, DateError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let frac = &self.b[start..self.i];
        if frac.is_empty() {
            return Err(DateError::Invalid);
        }
        Ok((0..9).fold(0, |n, k| {
            n * 10 + frac.get(k).map_or(0, |c| i64::from(c - b'0'))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_before_one_are_past_and_beyond_9999_future() {
        for past in [
            "-000001-01-01T00:00:00.000Z",
            "+000000-06-01T00:00:00Z",
            "0000-01-01",
        ] {
            assert!(before_year_one(past), "{past}");
        }
        for future in [
            "+275760-09-13T00:00:00.000Z",
            "2030-01-01",
            "+010000-01-01T00:00:00Z",
        ] {
            assert!(!before_year_one(future), "{future}");
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        let t = parse_iso("2026-11-30T08:49:14.730Z").expect("parse");
        assert_eq!(iso(t), "2026-11-30T08:49:14.730Z");
        let t = parse_iso("2026-11-30T09:49:14+01:00").expect("parse");
        assert_eq!(iso(t), "2026-11-30T08:49:14.000Z");
        assert!(parse_iso("not-a-date").is_none());
    }

    /// The bytes written are those the `time` crate wrote before chrono replaced it (and
    /// those Better Auth writes): four-digit year, exactly three fraction digits,
    /// truncated, never rounded, and `Z`.
    #[test]
    fn canonical_bytes_are_pinned() {
        let at = |secs, nanos| iso(DateTime::from_timestamp(secs, nanos).expect("in range"));
        assert_eq!(at(1_795_423_745, 810_000_000), "2026-11-23T08:49:05.810Z");
        assert_eq!(at(1_795_423_745, 810_999_999), "2026-11-23T08:49:05.810Z");
        assert_eq!(at(1_795_423_745, 999_999_999), "2026-11-23T08:49:05.999Z");
        assert_eq!(at(1_795_423_745, 0), "2026-11-23T08:49:05.000Z");
        assert_eq!(at(1_795_423_745, 1), "2026-11-23T08:49:05.000Z");
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(-1, 500_000_000), "1969-12-31T23:59:59.500Z");
        assert_eq!(at(MIN_STORABLE_UNIX, 0), "0001-01-01T00:00:00.000Z");
        assert_eq!(
            at(MAX_STORABLE_UNIX, 999_999_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(now_iso().len(), "2026-11-23T08:49:05.810Z".len());
        assert_eq!(
            from_unix(1_795_423_745).map(iso).as_deref(),
            Some("2026-11-23T08:49:05.000Z")
        );
    }

    /// What the store reads back: every form the `time` crate's RFC 3339 parser took
    /// (cross-checked against it on millions of generated strings when chrono came in).
    #[test]
    fn stored_forms_read_as_before() {
        let read = |s: &str| parse_iso(s).map(iso);
        for (text, want) in [
            // as Better Auth and this plugin write them
            ("2026-11-23T08:49:05.810Z", "2026-11-23T08:49:05.810Z"),
            ("2026-11-23T08:49:05Z", "2026-11-23T08:49:05.000Z"),
            (
                "2026-11-23T08:49:05.8109999999999Z",
                "2026-11-23T08:49:05.810Z",
            ),
            (" 2026-11-23T08:49:05.810Z ", "2026-11-23T08:49:05.810Z"),
            // any separator, either case of `z`, offsets with a colon
            ("2026-11-23 08:49:05.810z", "2026-11-23T08:49:05.810Z"),
            ("2026-11-23x08:49:05Z", "2026-11-23T08:49:05.000Z"),
            ("2026-11-23T08:49:05+23:59", "2026-11-22T08:50:05.000Z"),
            ("2026-11-23T08:49:05-00:00", "2026-11-23T08:49:05.000Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z"),
            // a leap second is the last nanosecond of a month, in UTC
            ("2026-12-31T23:59:60Z", "2026-12-31T23:59:59.999Z"),
            ("2026-12-31T23:59:60.5Z", "2026-12-31T23:59:59.999Z"),
            ("2026-11-30T23:59:60Z", "2026-11-30T23:59:59.999Z"),
            ("2027-01-01T00:59:60+01:00", "2026-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(read(text).as_deref(), Some(want), "{text}");
        }
        for text in [
            "",
            "2026-11-23",
            "2026-11-23T08:49:05",
            "2026-11-23T08:49:05.Z",
            "2026-11-23T08:49:05+0100",
            "2026-11-23T08:49:05+01",
            "2026-11-23T08:49:05+24:00",
            "2026-11-23T08:49:05+01:60",
            "2026-11-23T08:49:60Z",
            "2026-11-23T24:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-23T08:49:05Zx",
            "+002026-11-23T08:49:05Z",
            "2026-11-23\u{e9}08:49:05Z",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    fn js(s: &str) -> Result<String, DateError> {
        parse_js_iso(s).map(iso)
    }

    /// What `new Date(text).toISOString()` answers in Node with TZ=UTC.
    #[test]
    fn reads_dates_as_javascript_does() {
        for (text, want) in [
            ("2030-01-01", "2030-01-01T00:00:00.000Z"),
            ("2030", "2030-01-01T00:00:00.000Z"),
            ("2030-06", "2030-06-01T00:00:00.000Z"),
            ("2030-06-01T12:00:00", "2030-06-01T12:00:00.000Z"),
            ("2030-06-01 12:00:00", "2030-06-01T12:00:00.000Z"),
            ("2030-06-01T12:00", "2030-06-01T12:00:00.000Z"),
            ("2030-06-01T12:00:00.5Z", "2030-06-01T12:00:00.500Z"),
            ("2030-06-01T12:00:00.123456789Z", "2030-06-01T12:00:00.123Z"),
            ("2030-06-01T12:00:00+02:00", "2030-06-01T10:00:00.000Z"),
            ("2030-06-01T12:00:00-0130", "2030-06-01T13:30:00.000Z"),
            ("2030-06-01T24:00:00Z", "2030-06-02T00:00:00.000Z"),
            ("2028-02-29T00:00:00Z", "2028-02-29T00:00:00.000Z"),
            ("+002030-01-01T00:00:00.000Z", "2030-01-01T00:00:00.000Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
            ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
            (" 2030-01-01 ", "2030-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(js(text).as_deref(), Ok(want), "{text}");
        }
        for text in [
            "",
            "0",
            "Jan 1 2030",
            "not-a-date",
            "2030-13-01",
            "2030-02-30",
            "2029-02-29",
            "2030-01-01T25:00:00Z",
            "2030-01-01T24:00:01Z",
            "2030-01-01T12:60:00Z",
            "2030-01-01T12:00:00+24:00",
            "-000000-01-01T00:00:00Z",
            "2030-01-01T12:00:00.Z",
            "2030-01-01T12",
            "2030-1-01",
        ] {
            assert_eq!(js(text), Err(DateError::Invalid), "{text}");
        }
        for text in [
            "+275760-09-13T00:00:00.000Z",
            "-271821-04-20T00:00:00.000Z",
            "+010000-01-01T00:00:00Z",
            "0000-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
        ] {
            assert_eq!(js(text), Err(DateError::OutOfRange), "{text}");
        }
    }

    #[test]
    fn arithmetic_never_overflows() {
        let edge = parse_iso("9999-12-31T23:59:59-01:00").expect("parse");
        assert!(
            !iso(edge).is_empty(),
            "formatting beyond year 9999 in UTC does not panic"
        );
        assert_eq!(iso_in(i64::MAX), "9999-12-31T23:59:59.000Z");
        assert_eq!(iso_in(i64::MIN), "0001-01-01T00:00:00.000Z");
        assert!(in_seconds(999_999_999_999).is_none());
        assert!(in_seconds(60).is_some());
    }
}
