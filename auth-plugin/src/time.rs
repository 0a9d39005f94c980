//! Timestamps as Better Auth writes them: ISO-8601 UTC with milliseconds and `Z`
//! (`2026-11-23T08:49:06.382Z`), so that text comparison orders them on SQLite.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Formats an instant in the canonical form.
pub fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Formatting a UTC instant with a fixed description cannot fail for years 0..=9999;
    // fall back to RFC 3339 rather than panic.
    t.format(&fmt)
        .or_else(|_| t.format(&Rfc3339))
        .unwrap_or_default()
}

/// Now, canonical.
pub fn now_iso() -> String {
    iso(OffsetDateTime::now_utc())
}

/// `now + seconds`, canonical.
pub fn iso_in(seconds: i64) -> String {
    iso(OffsetDateTime::now_utc() + Duration::seconds(seconds))
}

/// Parses RFC 3339 / ISO-8601 with offset (what Better Auth and JSON clients send).
pub fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

/// Now in unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_round_trips() {
        let t = parse_iso("2026-11-30T08:49:14.730Z").expect("parse");
        assert_eq!(iso(t), "2026-11-30T08:49:14.730Z");
        let t = parse_iso("2026-11-30T09:49:14+01:00").expect("parse");
        assert_eq!(iso(t), "2026-11-30T08:49:14.000Z");
        assert!(parse_iso("not-a-date").is_none());
    }
}
