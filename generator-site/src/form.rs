//! Validation of the generator form, shared by the server (no-JS path) and the WASM island,
//! so both answer the same input with the same message next to the same field.
//!
//! Written with plain string handling instead of the `url` crate: the island ships to the
//! browser, and `url` (with its IDNA tables) would weigh more than the rest of the page.
//! Every value accepted here is also accepted by `attio_auth_shared::connection`, and
//! normalized the same way (checked by the tests).

use serde::{Deserialize, Serialize};

/// The base path Better Auth mounts its routes under when the app does not say otherwise.
pub const DEFAULT_BASE: &str = "/api/auth";

/// One message per field, shown next to it; `None` when the field is fine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors {
    /// Problem with the app URL.
    pub uri: Option<String>,
    /// Problem with the base path.
    pub base: Option<String>,
}

impl FieldErrors {
    /// True when no field has a problem.
    pub fn is_empty(&self) -> bool {
        self.uri.is_none() && self.base.is_none()
    }
}

/// A form that passed validation, normalized: what goes into the connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidInput {
    /// Scheme and host (and port, and path if the app lives under one), no trailing slash.
    pub uri: String,
    /// Starts with `/`, no trailing slash.
    pub base: String,
}

impl ValidInput {
    /// The auth server URL Attio will call: `uri + base`.
    pub fn url(&self) -> String {
        format!("{}{}", self.uri, self.base)
    }
}

/// Validates both fields and returns every problem at once.
pub fn validate(uri: &str, base: &str) -> Result<ValidInput, FieldErrors> {
    let uri = validate_uri(uri);
    let base = validate_base(base);
    match (uri, base) {
        (Ok(uri), Ok(base)) => {
            // A common slip: the full auth URL in the first field and the default base
            // path left in the second, which would make Attio call /api/auth/api/auth.
            if uri.ends_with(&base) && uri.len() > base.len() + "https://".len() {
                let origin = &uri[..uri.len() - base.len()];
                return Err(FieldErrors {
                    uri: Some(format!(
                        "This URL already ends with the base path {base}: enter {origin} here."
                    )),
                    base: None,
                });
            }
            Ok(ValidInput { uri, base })
        }
        (uri, base) => Err(FieldErrors {
            uri: uri.err(),
            base: base.err(),
        }),
    }
}

/// Hosts for which plain `http://` is allowed: the developer's own machine.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host.starts_with("127.")
            && host.split('.').count() == 4
            && host.split('.').all(|p| p.parse::<u8>().is_ok())
}

/// Checks and normalizes the app's URL: `https://` (added when no scheme is given),
/// `http://` only for localhost, a host, an optional port, no credentials, query or
/// fragment, and no trailing slash.
pub fn validate_uri(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("Enter the URL where your app runs, e.g. https://app.example.com.".into());
    }
    if t.chars().any(char::is_whitespace) {
        return Err("A URL cannot contain spaces.".into());
    }
    let (scheme, rest) = match t.find("://") {
        Some(i) => (t[..i].to_ascii_lowercase(), &t[i + 3..]),
        None => {
            // "javascript:..." or "mailto:..." are schemes, "localhost:3000" is a port.
            if let Some((before, after)) = t.split_once(':') {
                let looks_like_port = after.chars().next().is_some_and(|c| c.is_ascii_digit());
                if !before.contains('/') && !looks_like_port {
                    return Err("Use a web address starting with https://.".into());
                }
            }
            ("https".to_owned(), t)
        }
    };
    if scheme != "https" && scheme != "http" {
        return Err(format!(
            "{scheme}:// is not supported: use an address starting with https://."
        ));
    }
    if rest.contains('?') {
        return Err("Remove the query (the part from ?): Attio calls fixed paths.".into());
    }
    if rest.contains('#') {
        return Err("Remove the fragment (the part from #).".into());
    }
    if rest.contains('\\') {
        return Err("Use / in the URL, not \\.".into());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err("Add the host name, e.g. https://app.example.com.".into());
    }
    if authority.contains('@') {
        return Err("Remove the user name or password from the URL.".into());
    }
    let (host, port) = split_host_port(authority)?;
    let host = host.to_lowercase();
    check_host(&host)?;
    if scheme == "http" && !is_loopback(&host) {
        return Err(
            "Use https://: plain http:// is only allowed for localhost and 127.0.0.1.".into(),
        );
    }
    let path = path.trim_end_matches('/');
    if path.contains("//") {
        return Err("The path of the URL has an empty segment (//).".into());
    }
    if let Some(c) = path.chars().find(|c| !is_path_char(*c)) {
        return Err(format!(
            "The character {c} is not allowed in the URL's path."
        ));
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}{path}"))
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let rest = &authority[end + 1..];
                let port = match rest.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if rest.is_empty() => None,
                    None => return Err("Unexpected text after the IPv6 address.".into()),
                };
                (&authority[..=end], port)
            }
            None => return Err("The IPv6 address is missing its closing ].".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Some(n),
            _ => return Err(format!("The port \"{p}\" is not a number from 1 to 65535.")),
        },
    };
    Ok((host, port))
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("Add the host name, e.g. https://app.example.com.".into());
    }
    if host.starts_with('[') {
        let inner = &host[1..host.len() - 1];
        if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("That IPv6 address is not valid.".into());
        }
        return Ok(());
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!("The character {c} is not allowed in a host name."));
    }
    if host.split('.').any(|label| label.is_empty()) {
        return Err("The host name has an empty part (two dots, or a dot at an end).".into());
    }
    if host
        .split('.')
        .any(|label| label.starts_with('-') || label.ends_with('-'))
    {
        return Err("A part of the host name cannot start or end with -.".into());
    }
    Ok(())
}

/// Characters allowed in a path without encoding (RFC 3986 pchar), plus `/` and `%`.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c)
}

/// Checks and normalizes the auth base path: empty means [`DEFAULT_BASE`]; a leading `/`
/// is added, repeated and trailing slashes are removed.
pub fn validate_base(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(DEFAULT_BASE.to_owned());
    }
    if t.contains("://") {
        return Err("Enter only the path, e.g. /api/auth: the URL goes in the field above.".into());
    }
    if t.chars().any(char::is_whitespace) {
        return Err("A path cannot contain spaces.".into());
    }
    if t.contains('?') || t.contains('#') {
        return Err("Remove the ? or # part: the base path is only a path.".into());
    }
    if let Some(c) = t.chars().find(|c| !is_path_char(*c)) {
        return Err(format!("The character {c} is not allowed in a path."));
    }
    let segments: Vec<&str> = t.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return Err(format!(
            "The base path cannot be the root: Better Auth uses {DEFAULT_BASE} unless configured otherwise."
        ));
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err("The base path cannot contain . or .. segments.".into());
    }
    Ok(format!("/{}", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri_ok(raw: &str) -> String {
        validate_uri(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
    }

    #[test]
    fn accepts_and_normalizes_urls() {
        assert_eq!(uri_ok("https://app.example.com"), "https://app.example.com");
        assert_eq!(
            uri_ok(" https://App.Example.com/ "),
            "https://app.example.com"
        );
        assert_eq!(uri_ok("app.example.com"), "https://app.example.com");
        assert_eq!(
            uri_ok("HTTPS://app.example.com:8443//"),
            "https://app.example.com:8443"
        );
        assert_eq!(
            uri_ok("https://example.com/tenant/a/"),
            "https://example.com/tenant/a"
        );
        assert_eq!(uri_ok("http://localhost:3000"), "http://localhost:3000");
        assert_eq!(uri_ok("localhost:3000"), "https://localhost:3000");
        assert_eq!(uri_ok("http://127.0.0.1:4100"), "http://127.0.0.1:4100");
        assert_eq!(uri_ok("http://app.localhost"), "http://app.localhost");
        assert_eq!(uri_ok("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(uri_ok("https://bücher.example"), "https://bücher.example");
    }

    #[test]
    fn refuses_bad_urls_with_a_reason() {
        let cases = [
            ("", "Enter the URL"),
            ("   ", "Enter the URL"),
            ("http://app.example.com", "only allowed for localhost"),
            ("http://127.0.0.1.example.com", "only allowed for localhost"),
            ("ftp://app.example.com", "ftp:// is not supported"),
            ("javascript:alert(1)", "https://"),
            ("https://app.example.com/?x=1", "query"),
            ("https://app.example.com/#top", "fragment"),
            ("https://user:pw@app.example.com", "user name or password"),
            ("https://", "host name"),
            ("https://app example.com", "spaces"),
            ("https://app..example.com", "empty part"),
            ("https://-app.example.com", "start or end with -"),
            ("https://app.example.com:0", "port"),
            ("https://app.example.com:99999", "port"),
            ("https://app.example.com:80a", "port"),
            ("https://app_x.example.com", "not allowed in a host"),
            (
                "https://app.example.com/a<b",
                "not allowed in the URL's path",
            ),
            ("https://app.example.com/a//b", "empty segment"),
            ("https://[::1", "closing ]"),
        ];
        for (input, expected) in cases {
            let err = validate_uri(input).expect_err(input);
            assert!(
                err.contains(expected),
                "{input:?}: {err:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn normalizes_base_paths() {
        assert_eq!(validate_base(""), Ok(DEFAULT_BASE.to_owned()));
        assert_eq!(validate_base("  "), Ok(DEFAULT_BASE.to_owned()));
        assert_eq!(validate_base("/api/auth"), Ok("/api/auth".to_owned()));
        assert_eq!(validate_base("api/auth/"), Ok("/api/auth".to_owned()));
        assert_eq!(validate_base("//auth//v1/"), Ok("/auth/v1".to_owned()));
        for (input, expected) in [
            ("/", "root"),
            ("https://x.com/api/auth", "only the path"),
            ("/api auth", "spaces"),
            ("/api?x", "? or #"),
            ("/api/<x>", "not allowed"),
            ("/api/../auth", ". or .."),
        ] {
            let err = validate_base(input).expect_err(input);
            assert!(
                err.contains(expected),
                "{input:?}: {err:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn reports_both_fields_at_once() {
        let errors = validate("http://example.com", "/a b").expect_err("both bad");
        assert!(errors.uri.is_some() && errors.base.is_some());
        assert!(!errors.is_empty());
    }

    #[test]
    fn catches_the_base_path_typed_into_the_url() {
        let errors = validate("https://app.example.com/api/auth", "").expect_err("doubled");
        let msg = errors.uri.expect("message on the URL field");
        assert!(msg.contains("enter https://app.example.com here"), "{msg}");
        assert!(errors.base.is_none());
    }

    #[test]
    fn joins_uri_and_base() {
        let valid = validate("app.example.com/", "api/auth/").expect("valid");
        assert_eq!(valid.url(), "https://app.example.com/api/auth");
    }
}
