//! Connection strings: what a customer pastes into the Attio app to join it to their auth
//! server.
//!
//! Format (DESIGN.md, "Connection string"): standard base64 (with padding) of a JSON object
//! `{"uri": "https://app.example.com", "base": "/api/auth", "secret": "whsec_...",
//! "protocol": "signed-v1"}`. `uri`, `base` and `secret` are the original generator's
//! fields; `protocol` is ours and optional:
//!
//! - absent: [`Protocol::Legacy`], a string made by the original generator; the secret is
//!   an arbitrary shared string that travels in request bodies;
//! - `"signed-v1"`: [`Protocol::SignedV1`], the secret is a Standard Webhooks `whsec_`
//!   secret used to sign requests (see [`crate::signing`]) and never travels.
//!
//! Strings we make still decode in the original Attio app: its decoder
//! (`decodeConnection` in `tobimori/better-auth-attio-app`, `src/utils/connection.ts`)
//! parses with a zod object that drops unknown keys. That decoder turns base64 into a
//! Latin-1 string before `JSON.parse`, so we escape every non-ASCII character as `\uXXXX`
//! when encoding: the JSON is then pure ASCII and reads the same both ways.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::signing::{SECRET_PREFIX, SigningKey};

/// Base path of Better Auth's routes, used when none is given.
pub const DEFAULT_BASE: &str = "/api/auth";
/// Random bytes in a new secret.
pub const SECRET_BYTES: usize = 32;
/// Longest connection string we try to decode (they are ~200 characters).
const MAX_ENCODED_LEN: usize = 8 * 1024;

/// Standard alphabet; padding optional on input (people trim `=` when copying), always
/// written on output.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which protocol the two sides speak, chosen by the connection string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `protocol` absent: the original's protocol, the secret is put in request bodies.
    Legacy,
    /// `"signed-v1"`: Standard Webhooks signatures with the `whsec_` secret.
    SignedV1,
}

impl Protocol {
    /// The name used by `attio-auth connection inspect`: `"legacy"` or `"signed-v1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::SignedV1 => "signed-v1",
        }
    }

    /// The value of the JSON `protocol` field, `None` for legacy (the field is left out so
    /// the string is exactly what the original generator makes).
    fn wire_value(self) -> Option<&'static str> {
        match self {
            Self::Legacy => None,
            Self::SignedV1 => Some("signed-v1"),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a connection string (or the parts of a new one) cannot be used. No variant ever
/// contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// Nothing was given.
    #[error("the connection string is empty")]
    Empty,
    /// Longer than any connection string we make.
    #[error("the connection string is too long ({0} characters)")]
    TooLong(usize),
    /// Not standard base64.
    #[error("the connection string is not base64 (standard alphabet)")]
    NotBase64,
    /// Base64, but what it holds is not JSON; says where parsing stopped.
    #[error("the connection string does not hold JSON (stopped at line {line}, column {column})")]
    NotJson {
        /// Line where parsing stopped.
        line: usize,
        /// Column where parsing stopped.
        column: usize,
    },
    /// JSON, but not an object.
    #[error("the connection string holds JSON that is not an object")]
    NotAnObject,
    /// A required field is absent.
    #[error("the connection string has no `{0}` field")]
    MissingField(&'static str),
    /// A field is present with the wrong type or an empty value; says which and why.
    #[error("the connection string's `{field}` field {problem}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// What is wrong with it (never its value when it is the secret).
        problem: String,
    },
    /// `protocol` names a protocol we do not speak.
    #[error(
        "the connection string's protocol {0:?} is not supported (known: \"signed-v1\", or none for legacy)"
    )]
    UnknownProtocol(String),
    /// `uri` + `base` do not make a usable http(s) URL.
    #[error("bad URL {url:?}: {reason}")]
    BadUrl {
        /// The normalized URL (uri + base: never secret).
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// A signed-v1 secret that cannot be a signing key (not `whsec_`, not base64, short).
    #[error("the secret is not a usable signing secret: {0}")]
    BadSecret(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
}

/// A decoded (or newly generated) connection. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The auth server's origin as typed (`https://app.example.com`, maybe without
    /// scheme); see [`Connection::url`] for the normalized form.
    pub uri: String,
    /// Better Auth's base path as typed (`/api/auth`).
    pub base: String,
    /// Which protocol the sides speak.
    pub protocol: Protocol,
    secret: SecretString,
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        self.uri == other.uri
            && self.base == other.base
            && self.protocol == other.protocol
            && bool::from(
                self.secret
                    .expose_secret()
                    .as_bytes()
                    .ct_eq(other.secret.expose_secret().as_bytes()),
            )
    }
}

impl Eq for Connection {}

impl Connection {
    /// A new signed-v1 connection with a fresh secret, for `uri` and `base` (default
    /// [`DEFAULT_BASE`]). Both are stored normalized.
    pub fn generate(uri: &str, base: Option<&str>) -> Result<Self, ConnectionError> {
        let uri = normalize_uri(uri);
        let base = normalize_base(base.unwrap_or(DEFAULT_BASE));
        Self::new(uri, base, Protocol::SignedV1, new_secret()?)
    }

    /// A connection from its parts, checked as [`Connection::decode`] checks them: a
    /// usable URL, a non-empty secret, and for signed-v1 a usable `whsec_` secret.
    pub fn new(
        uri: impl Into<String>,
        base: impl Into<String>,
        protocol: Protocol,
        secret: SecretString,
    ) -> Result<Self, ConnectionError> {
        let connection = Self {
            uri: uri.into(),
            base: base.into(),
            protocol,
            secret,
        };
        connection.check()?;
        Ok(connection)
    }

    /// Decodes a pasted connection string (surrounding whitespace ignored). Strings of the
    /// original generator (no `protocol`) are [`Protocol::Legacy`].
    pub fn decode(encoded: &str) -> Result<Self, ConnectionError> {
        let encoded = encoded.trim();
        if encoded.is_empty() {
            return Err(ConnectionError::Empty);
        }
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(ConnectionError::TooLong(encoded.len()));
        }
        let bytes = LENIENT
            .decode(encoded)
            .map_err(|_| ConnectionError::NotBase64)?;
        // The original generator used `btoa`, which encodes Latin-1; valid UTF-8 is what we
        // and JSON.stringify-then-btoa of ASCII make, Latin-1 is the fallback.
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| ConnectionError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let Value::Object(mut object) = value else {
            return Err(ConnectionError::NotAnObject);
        };
        let uri = take_string(&mut object, "uri")?;
        let base = take_string(&mut object, "base")?;
        let secret = SecretString::from(take_string(&mut object, "secret")?);
        let protocol = match object.remove("protocol") {
            None | Some(Value::Null) => Protocol::Legacy,
            Some(Value::String(p)) if p == "signed-v1" => Protocol::SignedV1,
            Some(Value::String(p)) => {
                return Err(ConnectionError::UnknownProtocol(
                    p.chars().take(40).collect(),
                ));
            }
            Some(_) => {
                return Err(ConnectionError::InvalidField {
                    field: "protocol",
                    problem: "is not a string".into(),
                });
            }
        };
        Self::new(uri, base, protocol, secret)
    }

    /// The connection string: standard base64 with padding of
    /// `{"uri","base","secret"[,"protocol"]}` (that order, the original generator's), with
    /// non-ASCII escaped so the original app's Latin-1 decoder reads it right.
    pub fn encode(&self) -> String {
        let mut json = String::with_capacity(160);
        json.push('{');
        push_field(&mut json, "uri", &self.uri);
        json.push(',');
        push_field(&mut json, "base", &self.base);
        json.push(',');
        push_field(&mut json, "secret", self.secret.expose_secret());
        if let Some(protocol) = self.protocol.wire_value() {
            json.push(',');
            push_field(&mut json, "protocol", protocol);
        }
        json.push('}');
        let encoded = STANDARD.encode(json.as_bytes());
        // The JSON held the secret: do not leave it behind in freed memory.
        secrecy::zeroize::Zeroize::zeroize(&mut json);
        encoded
    }

    /// The auth server's URL: `normalize_uri(uri) + normalize_base(base)`, as the
    /// original app's `getBaseUrl`.
    pub fn url(&self) -> String {
        normalize_uri(&self.uri) + &normalize_base(&self.base)
    }

    /// The shared secret (`whsec_...` for signed-v1, any string for legacy).
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// The checks common to every way of making a connection.
    fn check(&self) -> Result<(), ConnectionError> {
        if self.uri.trim().is_empty() {
            return Err(ConnectionError::InvalidField {
                field: "uri",
                problem: "is empty".into(),
            });
        }
        // The origin alone must be a URL with a host (`https://` + `/api` would otherwise
        // parse as host `api`), and the whole must be one too.
        check_url(&normalize_uri(&self.uri))?;
        check_url(&self.url())?;
        let secret = self.secret.expose_secret();
        if secret.is_empty() {
            return Err(ConnectionError::InvalidField {
                field: "secret",
                problem: "is empty".into(),
            });
        }
        if self.protocol == Protocol::SignedV1 {
            SigningKey::from_secret(secret).map_err(|e| match e {
                crate::signing::SigningError::InvalidSecret(reason) => {
                    ConnectionError::BadSecret(reason)
                }
                other => ConnectionError::BadSecret(other.to_string()),
            })?;
        }
        Ok(())
    }
}

/// Removes a string field from the decoded object, naming it when absent or not a string
/// (without quoting its value: it may be the secret).
fn take_string(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, ConnectionError> {
    match object.remove(field) {
        None => Err(ConnectionError::MissingField(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ConnectionError::InvalidField {
            field,
            problem: format!("is {}, not a string", json_kind(&other)),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Appends `"name":"value"` with the value JSON-escaped and non-ASCII as `\uXXXX`.
fn push_field(out: &mut String, name: &str, value: &str) {
    push_json_string(out, name);
    out.push(':');
    push_json_string(out, value);
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// The origin part of the URL, exactly as the original app's `getBaseUrl`
/// (`tobimori/better-auth-attio-app`, `src/utils/connection.ts` @ 13bccccf): trim; prefix
/// `https://` unless it starts with `http://` or `https://` (case-sensitive, as there);
/// drop one trailing `/`.
pub fn normalize_uri(uri: &str) -> String {
    let uri = uri.trim();
    let mut out = if uri.starts_with("http://") || uri.starts_with("https://") {
        uri.to_owned()
    } else {
        format!("https://{uri}")
    };
    if out.ends_with('/') {
        out.pop();
    }
    out
}

/// The base path, exactly as the original app's `getBaseUrl` (same source as
/// [`normalize_uri`]): trim; when not empty and not starting with `/`, prefix `/`; drop one
/// trailing `/` (so `"/"` becomes `""`).
pub fn normalize_base(base: &str) -> String {
    let base = base.trim();
    let mut out = if !base.is_empty() && !base.starts_with('/') {
        format!("/{base}")
    } else {
        base.to_owned()
    };
    if out.ends_with('/') {
        out.pop();
    }
    out
}

/// Refuses what the original would turn into an unusable URL: not parseable, not http(s),
/// no host, credentials, a query or a fragment (paths are appended to it).
fn check_url(url: &str) -> Result<(), ConnectionError> {
    let bad = |reason: &str| ConnectionError::BadUrl {
        url: url.chars().take(200).collect(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme is not http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("there is no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("it holds credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it has a query or fragment"));
    }
    if url
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains("://"))
    {
        return Err(bad(
            "it has two schemes (only http:// and https:// are recognized, in lower case)",
        ));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(bad("it contains whitespace"));
    }
    Ok(())
}

/// A new signing secret: `whsec_` + standard base64 of [`SECRET_BYTES`] bytes from the
/// operating system's CSPRNG (`getrandom`).
pub fn new_secret() -> Result<SecretString, ConnectionError> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut key).map_err(|_| ConnectionError::Random)?;
    let secret = format!("{SECRET_PREFIX}{}", general_purpose::STANDARD.encode(key));
    secrecy::zeroize::Zeroize::zeroize(&mut key);
    Ok(SecretString::from(secret))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        STANDARD.encode(json)
    }

    #[test]
    fn original_string_decodes_as_legacy() {
        let s =
            b64(r#"{"uri":"app.example.com/","base":"api/auth/","secret":"attio-test-secret"}"#);
        let c = Connection::decode(&s).unwrap();
        assert_eq!(c.protocol, Protocol::Legacy);
        assert_eq!(c.url(), "https://app.example.com/api/auth");
        assert_eq!(c.secret().expose_secret(), "attio-test-secret");
        // Re-encoding a legacy connection gives the original's exact string.
        assert_eq!(c.encode(), s);
    }

    #[test]
    fn generated_round_trips_and_reads_like_the_original() {
        let c = Connection::generate("app.example.com/", None).unwrap();
        assert_eq!(c.protocol, Protocol::SignedV1);
        assert_eq!(c.uri, "https://app.example.com");
        assert_eq!(c.base, DEFAULT_BASE);
        let s = c.encode();
        assert_eq!(Connection::decode(&s).unwrap(), c);
        // The original's zod schema only needs uri/base/secret as strings.
        let json: Value = serde_json::from_slice(&STANDARD.decode(&s).unwrap()).unwrap();
        for field in ["uri", "base", "secret", "protocol"] {
            assert!(json[field].is_string(), "{field}");
        }
        assert_eq!(json["protocol"], "signed-v1");
    }

    #[test]
    fn new_secret_is_whsec_32_bytes() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        let a = a.expose_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&a[6..]).unwrap().len(), 32);
        assert_ne!(a, b.expose_secret());
    }

    #[test]
    fn normalization_matches_get_base_url() {
        let cases = [
            ("example.com", "/api/auth", "https://example.com/api/auth"),
            (
                "http://localhost:3000/",
                "api/auth",
                "http://localhost:3000/api/auth",
            ),
            ("  https://x.io  ", " /auth/ ", "https://x.io/auth"),
            ("https://x.io", "", "https://x.io"),
            ("https://x.io", "/", "https://x.io"),
            ("https://x.io//", "//", "https://x.io//"),
        ];
        for (uri, base, want) in cases {
            assert_eq!(
                normalize_uri(uri) + &normalize_base(base),
                want,
                "{uri} {base}"
            );
        }
    }

    #[test]
    fn errors_name_the_problem_and_hide_the_secret() {
        let secret = "whsec_SUPERSECRETSUPERSECRETSUPERSECRET";
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("%%%not base64%%%".into(), "not base64"),
            (b64("not json"), "JSON"),
            (b64("[1]"), "not an object"),
            (
                b64(&format!(r#"{{"base":"/a","secret":"{secret}"}}"#)),
                "`uri`",
            ),
            (
                b64(&format!(r#"{{"uri":"x.io","secret":"{secret}"}}"#)),
                "`base`",
            ),
            (b64(r#"{"uri":"x.io","base":"/a"}"#), "`secret`"),
            (
                b64(r#"{"uri":"x.io","base":"/a","secret":12345678901234}"#),
                "not a string",
            ),
            (
                b64(&format!(
                    r#"{{"uri":"ftp://x.io","base":"/a","secret":"{secret}"}}"#
                )),
                "bad URL",
            ),
            (
                b64(&format!(
                    r#"{{"uri":"https://","base":"/a","secret":"{secret}"}}"#
                )),
                "bad URL",
            ),
            (
                b64(&format!(
                    r#"{{"uri":"x.io?a=1","base":"/a","secret":"{secret}"}}"#
                )),
                "bad URL",
            ),
            (
                b64(&format!(
                    r#"{{"uri":"x.io","base":"/a","secret":"{secret}","protocol":"v9"}}"#
                )),
                "not supported",
            ),
            (
                b64(
                    r#"{"uri":"x.io","base":"/a","secret":"SUPERSECRETSUPERSECRET","protocol":"signed-v1"}"#,
                ),
                "signing secret",
            ),
            (
                b64(
                    r#"{"uri":"x.io","base":"/a","secret":"whsec_U1VQRVJTRUNSRVQ=","protocol":"signed-v1"}"#,
                ),
                "signing secret",
            ),
        ];
        for (input, want) in cases {
            let err = Connection::decode(&input).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(want), "{input}: {text}");
            assert!(!text.contains("SUPERSECRET"), "{text}");
            assert!(!format!("{err:?}").contains("SUPERSECRET"), "{err:?}");
            assert!(!text.contains("U1VQRVJTRUNSRVQ"), "{text}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Connection::generate("x.io", None).unwrap();
        let text = format!("{c:?}");
        let secret = c.secret().expose_secret();
        assert!(!text.contains(&secret[6..]), "{text}");
    }

    #[test]
    fn non_ascii_is_escaped_for_the_original_decoder() {
        let c = Connection::new(
            "https://bücher.example",
            "/api/auth",
            Protocol::Legacy,
            SecretString::from("sëcret😀"),
        )
        .unwrap();
        let s = c.encode();
        let raw = STANDARD.decode(&s).unwrap();
        assert!(raw.is_ascii());
        assert_eq!(Connection::decode(&s).unwrap(), c);
    }

    #[test]
    fn accepts_missing_padding_and_latin1() {
        let json = r#"{"uri":"x.io","base":"/a","secret":"s1"}"#;
        let padded = b64(json);
        let unpadded = padded.trim_end_matches('=');
        assert_ne!(padded, unpadded);
        Connection::decode(unpadded).unwrap();
        // btoa("...é...") is Latin-1 bytes.
        let latin1: Vec<u8> = r#"{"uri":"x.io","base":"/a","secret":"s\xe9"}"#
            .replace("\\xe9", "\u{e9}")
            .chars()
            .map(|c| c as u8)
            .collect();
        let c = Connection::decode(&STANDARD.encode(latin1)).unwrap();
        assert_eq!(c.secret().expose_secret(), "s\u{e9}");
    }
}
