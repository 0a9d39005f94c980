//! Unit tests of the value formats.

use super::*;

#[test]
fn timestamps_are_coerced_to_utc_nanoseconds() {
    let fmt = |s: &str| parse_timestamp(s).map(attio_time);
    assert_eq!(
        fmt("2023").as_deref(),
        Some("2023-01-01T00:00:00.000000000Z")
    );
    assert_eq!(
        fmt("2023-01-02T13:00").as_deref(),
        Some("2023-01-02T13:00:00.000000000Z")
    );
    assert_eq!(
        fmt("2023-01-02T13:00:00.5+02:00").as_deref(),
        Some("2023-01-02T11:00:00.500000000Z")
    );
    assert_eq!(
        fmt("2023-01-02T13:00:00Z").as_deref(),
        Some("2023-01-02T13:00:00.000000000Z")
    );
    assert_eq!(fmt("yesterday"), None);
    assert_eq!(
        fmt("2023-01-02T10:00+1\u{e9}1"),
        None,
        "no panic on odd offsets"
    );
    assert_eq!(fmt("2023-13-01"), None);
    // Pinned when chrono replaced `time`: the same inputs read, the same bytes written.
    assert_eq!(
        fmt("2023-01-02 13:00:00.123456789z").as_deref(),
        Some("2023-01-02T13:00:00.123456789Z")
    );
    assert_eq!(
        fmt("2023-01-02T13:00-2559").as_deref(),
        Some("2023-01-03T14:59:00.000000000Z")
    );
    assert_eq!(fmt("2023-01-02T13:00+26:00"), None);
    assert_eq!(fmt("2023-01-02T13:00:00.1234567890Z"), None);
    assert_eq!(fmt("10000-01-01"), None);
    assert_eq!(
        fmt("9999-12-31T23:00-01:00").as_deref(),
        Some("10000-01-01T00:00:00.000000000Z"),
        "past year 9999 in UTC: no panic"
    );
    let t = DateTime::from_timestamp(1_669_036_969, 61_281_000).expect("in range");
    assert_eq!(attio_time(t), "2022-11-21T13:22:49.061281000Z");
}

#[test]
fn domains_and_emails_are_normalized() {
    assert_eq!(
        normalize_domain("HTTPS://App.Attio.com/path?q=1").as_deref(),
        Some("app.attio.com")
    );
    assert_eq!(root_domain("app.attio.com"), "attio.com");
    assert_eq!(root_domain("a.b.example.co.uk"), "example.co.uk");
    assert_eq!(normalize_domain("not a domain"), None);
    let e = email("Person@Company.com").expect("valid");
    assert_eq!(e["email_address"], "person@company.com");
    assert_eq!(e["original_email_address"], "Person@Company.com");
    assert_eq!(e["email_local_specifier"], "person");
    assert!(email("no-at-sign").is_none());
    assert!(email("a@b").is_none());
}

#[test]
fn phone_numbers_become_e164() {
    assert_eq!(
        phone("+1 (555) 867-5309", None),
        Some(("+15558675309".into(), "US".into()))
    );
    assert_eq!(
        phone("020 7946 0958", Some("GB")),
        Some(("+442079460958".into(), "GB".into()))
    );
    assert_eq!(phone("12", None), None);
}
