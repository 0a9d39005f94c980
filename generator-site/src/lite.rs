//! The connection string codec as the browser runs it: the same format and checks as
//! `attio_auth_shared::connection`, without the `url` crate (its IDNA tables alone would
//! push the page's WASM past its weight budget). The server uses the shared codec itself;
//! the tests below hold this one to it, output for output.

use attio_auth_shared::connection::{SECRET_BYTES, normalize_base, normalize_uri};
use attio_auth_shared::signing::{MIN_KEY_LEN, SECRET_PREFIX};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::Value;

/// Longest string decoded, as the shared codec.
const MAX_ENCODED_LEN: usize = 8 * 1024;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A new secret: `whsec_` + base64 of 32 bytes from `getrandom` (in the browser,
/// `crypto.getRandomValues`).
pub fn new_secret() -> Result<String, String> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut key)
        .map_err(|_| "the browser's random generator failed".to_owned())?;
    let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode(key));
    key.fill(0);
    Ok(secret)
}

/// A secret for the original TypeScript plugin (`better-auth-attio-plugin`), which compares
/// the body's `secret` with its own as plain strings: 32 bytes from `getrandom` as 64 hex
/// digits. No `whsec_` prefix: such a string is a legacy secret to every decoder, and hex
/// needs no quoting in an `.env` file.
pub fn new_legacy_secret() -> Result<String, String> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut key)
        .map_err(|_| "the browser's random generator failed".to_owned())?;
    let secret = key.iter().map(|b| format!("{b:02x}")).collect();
    key.fill(0);
    Ok(secret)
}

/// A signed-v1 connection string, byte for byte what `Connection::encode` makes.
pub fn encode(uri: &str, base: &str, secret: &str) -> String {
    encode_fields(uri, base, secret, Some("signed-v1"))
}

/// An original-protocol (legacy) connection string, as the original generator made it:
/// `{uri, base, secret}` without `protocol`; byte for byte what `Connection::encode` makes
/// of a legacy connection.
pub fn encode_legacy(uri: &str, base: &str, secret: &str) -> String {
    encode_fields(uri, base, secret, None)
}

fn encode_fields(uri: &str, base: &str, secret: &str, protocol: Option<&str>) -> String {
    let mut json = String::with_capacity(160);
    json.push('{');
    let mut fields = vec![("uri", uri), ("base", base), ("secret", secret)];
    if let Some(protocol) = protocol {
        fields.push(("protocol", protocol));
    }
    for (i, (name, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_json_string(&mut json, name);
        json.push(':');
        push_json_string(&mut json, value);
    }
    json.push('}');
    STANDARD.encode(json.as_bytes())
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

/// A decoded connection string.
#[derive(Clone, PartialEq, Eq)]
pub struct Decoded {
    /// `uri` as stored.
    pub uri: String,
    /// `base` as stored.
    pub base: String,
    /// `"legacy"` or `"signed-v1"`.
    pub protocol: &'static str,
    /// The secret (only ever shown masked).
    pub secret: String,
}

impl Decoded {
    /// `normalize_uri(uri) + normalize_base(base)`, as `Connection::url`.
    pub fn url(&self) -> String {
        normalize_uri(&self.uri) + &normalize_base(&self.base)
    }
}

/// Decodes and checks a pasted string as `Connection::decode` does; the messages say what
/// is wrong and never quote the secret.
pub fn decode(encoded: &str) -> Result<Decoded, String> {
    let encoded = encoded.trim();
    if encoded.is_empty() {
        return Err("the connection string is empty".into());
    }
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(format!(
            "the connection string is too long ({} characters)",
            encoded.len()
        ));
    }
    let bytes = LENIENT
        .decode(encoded)
        .map_err(|_| "the connection string is not base64 (standard alphabet)".to_owned())?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "the connection string does not hold JSON (stopped at line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(mut object) = value else {
        return Err("the connection string holds JSON that is not an object".into());
    };
    let mut take = |field: &str| match object.remove(field) {
        None => Err(format!("the connection string has no `{field}` field")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "the connection string's `{field}` field is {}, not a string",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        )),
    };
    let uri = take("uri")?;
    let base = take("base")?;
    let secret = take("secret")?;
    let protocol = match object.remove("protocol") {
        None | Some(Value::Null) => "legacy",
        Some(Value::String(p)) if p == "signed-v1" => "signed-v1",
        Some(Value::String(p)) => {
            let p: String = p.chars().take(40).collect();
            return Err(format!(
                "the connection string's protocol {p:?} is not supported (known: \"signed-v1\", or none for legacy)"
            ));
        }
        Some(_) => return Err("the connection string's `protocol` field is not a string".into()),
    };
    let decoded = Decoded {
        uri,
        base,
        protocol,
        secret,
    };
    if decoded.uri.trim().is_empty() {
        return Err("the connection string's `uri` field is empty".into());
    }
    check_url(&normalize_uri(&decoded.uri))?;
    check_url(&decoded.url())?;
    if decoded.secret.is_empty() {
        return Err("the connection string's `secret` field is empty".into());
    }
    if decoded.protocol == "signed-v1" {
        check_signing_secret(&decoded.secret)?;
    }
    Ok(decoded)
}

/// The parts of the shared codec's URL check that matter for strings people paste: an
/// http(s) scheme, a host, no credentials, query, fragment or whitespace.
fn check_url(url: &str) -> Result<(), String> {
    let bad = |reason: &str| {
        let shown: String = url.chars().take(200).collect();
        Err(format!("bad URL {shown:?}: {reason}"))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("the scheme is not http or https");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return bad("the scheme is not http or https");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(_) => host,
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return bad("there is no host");
    }
    if authority.contains('@') {
        return bad("it holds credentials");
    }
    if rest.contains('?') || rest.contains('#') {
        return bad("it has a query or fragment");
    }
    if rest.contains("://") {
        return bad("it has two schemes (only http:// and https:// are recognized, in lower case)");
    }
    if url.chars().any(char::is_whitespace) {
        return bad("it contains whitespace");
    }
    Ok(())
}

fn check_signing_secret(secret: &str) -> Result<(), String> {
    let prefix = "the secret is not a usable signing secret";
    let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
        return Err(format!(
            "{prefix}: a signing secret starts with `{SECRET_PREFIX}`"
        ));
    };
    let key = STANDARD.decode(encoded.trim()).map_err(|_| {
        format!("{prefix}: the part after `{SECRET_PREFIX}` is not standard base64")
    })?;
    if key.len() < MIN_KEY_LEN {
        return Err(format!(
            "{prefix}: the key is {} bytes, at least {MIN_KEY_LEN} are required",
            key.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attio_auth_shared::connection::{Connection, Protocol};
    use secrecy::{ExposeSecret, SecretString};

    #[test]
    fn encodes_exactly_as_the_shared_codec() {
        for (uri, base) in [
            ("https://app.example.com", "/api/auth"),
            ("http://localhost:3000", "/auth"),
            ("https://bücher.example", "/api/auth"),
            ("https://example.com/a\"b", "/x"),
        ] {
            let secret = new_secret().expect("random");
            let shared = Connection::new(
                uri,
                base,
                Protocol::SignedV1,
                SecretString::from(secret.clone()),
            )
            .expect("valid parts");
            assert_eq!(encode(uri, base, &secret), shared.encode(), "{uri}");
        }
    }

    #[test]
    fn legacy_strings_encode_exactly_as_the_shared_codec() {
        for (uri, base) in [
            ("https://app.example.com", "/api/auth"),
            ("http://localhost:3000", "/auth"),
            ("https://bücher.example", "/api/auth"),
        ] {
            let secret = new_legacy_secret().expect("random");
            let shared = Connection::new(
                uri,
                base,
                Protocol::Legacy,
                SecretString::from(secret.clone()),
            )
            .expect("valid parts");
            let encoded = encode_legacy(uri, base, &secret);
            assert_eq!(encoded, shared.encode(), "{uri}");
            let json = String::from_utf8(STANDARD.decode(&encoded).expect("b64")).expect("utf8");
            assert!(!json.contains("protocol"), "{json}");
            assert_eq!(
                Connection::decode(&encoded).expect("decodes").protocol,
                Protocol::Legacy
            );
        }
    }

    #[test]
    fn legacy_secrets_are_32_random_bytes_in_hex() {
        let a = new_legacy_secret().expect("random");
        let b = new_legacy_secret().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(!a.starts_with("whsec_"));
    }

    #[test]
    fn new_secrets_are_32_random_bytes() {
        let a = new_secret().expect("random");
        let b = new_secret().expect("random");
        assert_ne!(a, b);
        let key = STANDARD
            .decode(a.strip_prefix("whsec_").expect("prefix"))
            .expect("b64");
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn decodes_what_the_shared_codec_decodes_and_refuses_what_it_refuses() {
        let good = new_secret().expect("random");
        let json = |s: &str| STANDARD.encode(s);
        let cases = vec![
            json(&format!(
                r#"{{"uri":"https://a.example.com","base":"/api/auth","secret":"{good}","protocol":"signed-v1"}}"#
            )),
            json(r#"{"uri":"a.example.com/","base":"api/auth/","secret":"legacy-secret"}"#),
            json(r#"{"uri":"http://localhost:3000","base":"","secret":"x","protocol":null}"#),
            json(&format!(
                r#"{{"uri":"https://a.example.com","base":"/","secret":"{good}","protocol":"signed-v1","extra":1}}"#
            )),
            json(r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"s"}"#)
                .trim_end_matches('=')
                .to_owned(),
            // refused by both
            String::new(),
            "   ".into(),
            "!!!".into(),
            json("not json"),
            json("[1,2]"),
            json(r#"{"base":"/api/auth","secret":"s"}"#),
            json(r#"{"uri":"https://a.example.com","secret":"s"}"#),
            json(r#"{"uri":"https://a.example.com","base":"/api/auth"}"#),
            json(r#"{"uri":5,"base":"/api/auth","secret":"s"}"#),
            json(r#"{"uri":"https://a.example.com","base":"/api/auth","secret":""}"#),
            json(r#"{"uri":"","base":"/api/auth","secret":"s"}"#),
            json(
                r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"s","protocol":"v9"}"#,
            ),
            json(r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"s","protocol":1}"#),
            json(
                r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"s","protocol":"signed-v1"}"#,
            ),
            json(
                r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"whsec_c2hvcnQ=","protocol":"signed-v1"}"#,
            ),
            json(
                r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"whsec_***","protocol":"signed-v1"}"#,
            ),
            json(r#"{"uri":"ftp://a.example.com","base":"/api/auth","secret":"s"}"#),
            json(r#"{"uri":"https://user:pw@a.example.com","base":"/api/auth","secret":"s"}"#),
            json(r#"{"uri":"https://a.example.com?x=1","base":"/api/auth","secret":"s"}"#),
            json(r#"{"uri":"https://a.example.com","base":"/api#x","secret":"s"}"#),
            json(r#"{"uri":"https://a.example.com","base":"/api auth","secret":"s"}"#),
            json(r#"{"uri":"https://","base":"/api/auth","secret":"s"}"#),
            json(r#"{"uri":"https://https://a.example.com","base":"/api/auth","secret":"s"}"#),
            "A".repeat(9000),
        ];
        for case in cases {
            let shared = Connection::decode(&case);
            let lite = decode(&case);
            match (&shared, &lite) {
                (Ok(s), Ok(l)) => {
                    assert_eq!(s.uri, l.uri);
                    assert_eq!(s.base, l.base);
                    assert_eq!(s.protocol.as_str(), l.protocol);
                    assert_eq!(s.secret().expose_secret(), l.secret);
                    assert_eq!(s.url(), l.url());
                }
                (Err(s), Err(l)) => {
                    let s = s.to_string();
                    // Same wording up to the first colon (the detail after it may differ).
                    let head = |m: &str| m.split(':').next().unwrap_or_default().to_owned();
                    assert_eq!(head(&s), head(l), "{case:?}");
                }
                _ => panic!(
                    "{case:?}: shared {:?} vs lite {:?}",
                    shared.map(|_| ()),
                    lite.map(|_| ())
                ),
            }
        }
    }
}
